"""The registry of layer-wise pruning methods the sequential driver can run.

Each entry is a ``PruningMethod``: a function ``prune(W, H, *, sparsity, pattern, bits, blocksize,
percdamp) -> LayerResult`` and whether it needs the calibration Hessian (magnitude does not, so the
driver skips all forward passes for it). Register a new one with ``PRUNING_METHODS.register(name)``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from multisource.compress.baselines import magnitude_prune_layer, wanda_prune_layer
from multisource.compress.layer import LayerResult
from multisource.compress.sparsegpt import sparsegpt_prune_layer
from multisource.utils.registry import Registry


@dataclass(frozen=True)
class PruningMethod:
    """A layer pruner and whether it reads the calibration Hessian."""

    prune: Callable[..., LayerResult]
    needs_hessian: bool = True


PRUNING_METHODS: Registry[PruningMethod] = Registry("pruning method")
PRUNING_METHODS.register("sparsegpt")(PruningMethod(sparsegpt_prune_layer))
PRUNING_METHODS.register("wanda")(PruningMethod(wanda_prune_layer))
PRUNING_METHODS.register("magnitude")(PruningMethod(magnitude_prune_layer, needs_hessian=False))
