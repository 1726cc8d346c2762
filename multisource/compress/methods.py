"""The one registry of pruning methods, and the two contracts a registered pruner follows.

* A **layer pruner** ``prune(W, H, target, options) -> LayerResult`` prunes one weight matrix ``W``
  (outputs x inputs) given the Hessian ``H = 2 X X^T / n`` of its calibration inputs (SparseGPT
  eq. 1-2); the sequential driver ``prune_model`` calls it layer by layer on the outputs of the
  already-pruned layers. ``needs_hessian=False`` (magnitude) lets the driver skip every forward pass.
* A **model pruner** ``prune(model, calibration, target, options) -> PruneReport`` prunes a whole
  network at once, e.g. M-FAC OBS, which needs gradients of a loss on labelled calibration data
  (``needs_labels=True``: the calibration is ``(inputs, targets)``).

``target`` is a ``PruneTarget`` validated once by ``check_target``; ``options`` an instance of the
method's own small frozen dataclass, built by ``make_options`` from a dict, where a misspelt name is
an error. A user adds a method with one decorator::

    @layer_pruner("my_pruner", options=MyOptions)
    def my_pruner(W, H, target, options): ...

and it is then usable by ``prune_model``, ``prune_classifier``, ``CompressedClassifier`` and the
``multisource prune`` command (``docs/sparsegpt.md``, "Methods").
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import torch
from torch import nn

from multisource.compress.layer import LayerResult, PruneTarget
from multisource.compress.records import PruneReport
from multisource.utils.registry import Registry

LayerPruneFn = Callable[[torch.Tensor, torch.Tensor | None, PruneTarget, Any], LayerResult]
ModelPruneFn = Callable[[nn.Module, Any, PruneTarget, Any], PruneReport]
OptionsLike = Mapping[str, object] | object | None
LF = TypeVar("LF", bound=LayerPruneFn)
MF = TypeVar("MF", bound=ModelPruneFn)


@dataclasses.dataclass(frozen=True)
class NoOptions:
    """The options of a pruner that has none."""


def make_options(options_type: type, given: OptionsLike, method: str) -> Any:
    """``given`` as an instance of ``options_type``: None gives the defaults, a dict is checked name by name.

    Raises
    ------
    ValueError
        Naming the first unknown option and listing the valid ones.
    TypeError
        If ``given`` is neither None, a dict nor an ``options_type``.
    """
    if given is None:
        return options_type()
    if isinstance(given, options_type):
        return given
    if not isinstance(given, Mapping):
        raise TypeError(
            f"options of pruning method {method!r} must be a dict or a {options_type.__name__}, "
            f"got {type(given).__name__}"
        )
    valid = [f.name for f in dataclasses.fields(options_type)]
    unknown = [name for name in given if name not in valid]
    if unknown:
        raise ValueError(f"unknown option {unknown[0]!r} for pruning method {method!r}; valid options: {valid}")
    return options_type(**given)


@dataclasses.dataclass(frozen=True)
class LayerPruner:
    """A registered layer pruner: its name, the function, its options type, whether it reads H.

    ``check(target, options)``, when given, refuses a target the options cannot serve (e.g.
    SparseGPT's blocksize must be a multiple of M); ``prune_model`` calls it before any work.
    """

    name: str
    prune: LayerPruneFn
    options: type = NoOptions
    needs_hessian: bool = True
    check: Callable[[PruneTarget, Any], None] | None = None

    kind = "layer"
    needs_labels = False

    def make_options(self, given: OptionsLike = None) -> Any:
        """This method's options from None, a dict or an instance (see ``make_options``)."""
        return make_options(self.options, given, self.name)


@dataclasses.dataclass(frozen=True)
class ModelPruner:
    """A registered model pruner: its name, the function, its options type, whether it needs labels.

    ``check(target, options)``, when given, refuses a target the method cannot serve (e.g. an N:M
    pattern for M-FAC OBS); ``prune_model`` calls it before any work.
    """

    name: str
    prune: ModelPruneFn
    options: type = NoOptions
    needs_labels: bool = True
    check: Callable[[PruneTarget, Any], None] | None = None

    kind = "model"
    needs_hessian = False

    def make_options(self, given: OptionsLike = None) -> Any:
        """This method's options from None, a dict or an instance (see ``make_options``)."""
        return make_options(self.options, given, self.name)


Pruner = LayerPruner | ModelPruner
PRUNING_METHODS: Registry[Pruner] = Registry("pruning method")


def layer_pruner(
    name: str,
    *,
    options: type = NoOptions,
    needs_hessian: bool = True,
    check: Callable[[PruneTarget, Any], None] | None = None,
    overwrite: bool = False,
) -> Callable[[LF], LF]:
    """Decorator: register ``fn(W, H, target, options) -> LayerResult`` as the layer pruner ``name``."""

    add = PRUNING_METHODS.register(name, overwrite=overwrite)  # checks the name now

    def decorator(fn: LF) -> LF:
        record = LayerPruner(name, fn, options, needs_hessian, check)
        add(record)
        return fn

    return decorator


def model_pruner(
    name: str,
    *,
    options: type = NoOptions,
    needs_labels: bool = True,
    check: Callable[[PruneTarget, Any], None] | None = None,
    overwrite: bool = False,
) -> Callable[[MF], MF]:
    """Decorator: register ``fn(model, calibration, target, options) -> PruneReport`` as the model pruner ``name``."""

    add = PRUNING_METHODS.register(name, overwrite=overwrite)  # checks the name now

    def decorator(fn: MF) -> MF:
        record = ModelPruner(name, fn, options, needs_labels, check)
        add(record)
        return fn

    return decorator


def get_pruner(method: str | Pruner) -> Pruner:
    """The registered pruner ``method`` (a record passes through); an unknown name lists the valid ones."""
    if isinstance(method, LayerPruner | ModelPruner):
        return method
    return PRUNING_METHODS.get(method)
