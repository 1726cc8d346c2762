"""Per-source models as vectors of one space and back: what one-shot parameter aggregation aggregates.

* A scikit-learn linear classifier (``coef_``/``intercept_``; a single-class source's constant
  classifier too) is its ``(K, d + 1)`` matrix of centred softmax logits
  (:func:`~multisource.learners.linear_logits`), so binary and multi-class fits and sources that
  miss a class share one space; a vector is read back by :func:`~multisource.learners.softmax_proba`.
* A torch classifier exposing its network as ``module_`` (:class:`~multisource.learners.TorchClassifier`)
  or ``estimator_.module_`` (``compressed_mlp``) is its flattened parameters
  (:func:`~multisource.aggregation.flatten_parameters`). A source that saw fewer than the K classes
  has a smaller last Linear layer: its rows are placed at the classes it saw, and an absent class
  gets zero weights and the bias ``log(1e-6)`` (the linear convention). A vector is read back by
  writing it into a copy of a model that saw every class (:func:`~multisource.aggregation.unflatten_parameters`).

Averaging networks is meaningful because the per-source networks share their initialisation (one
``random_state`` for every source's clone): the one-shot setting of ``docs/aggregation.md``.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np
import torch
from sklearn.base import BaseEstimator
from sklearn.dummy import DummyClassifier

from multisource.aggregation import flatten_parameters, unflatten_parameters
from multisource.learners import aligned_proba, linear_logits, softmax_proba
from multisource.learners.per_source import ABSENT_CLASS_LOGIT


def torch_module(model: BaseEstimator) -> torch.nn.Module | None:
    """The trained network of a torch classifier (``module_`` or ``estimator_.module_``), None for other models."""
    for owner in (model, getattr(model, "estimator_", None)):
        module = getattr(owner, "module_", None)
        if isinstance(module, torch.nn.Module):
            return module
    return None


def _padded_vector(model: BaseEstimator, n_classes: int) -> np.ndarray:
    """The flattened parameters of a torch classifier, its last Linear layer padded to all K classes."""
    module = torch_module(model)
    assert module is not None
    classes = np.asarray(model.classes_, dtype=np.int64)
    vector = flatten_parameters(module).to(torch.float64).numpy()
    if len(classes) == n_classes:
        return vector
    last = [m for m in module.modules() if isinstance(m, torch.nn.Linear)][-1]
    params = list(module.parameters())
    if last.bias is None or params[-2] is not last.weight or params[-1] is not last.bias:
        raise TypeError(
            f"{type(model).__name__}'s network does not end in a Linear layer with a bias, so a source that saw "
            f"{len(classes)} of the {n_classes} classes cannot be aligned with the others"
        )
    weight = np.zeros((n_classes, last.in_features))
    bias = np.full(n_classes, ABSENT_CLASS_LOGIT)
    weight[classes] = last.weight.detach().to(torch.float64).numpy()
    bias[classes] = last.bias.detach().to(torch.float64).numpy()
    head = last.weight.numel() + last.bias.numel()
    return np.concatenate([vector[: vector.size - head], weight.ravel(), bias])


@dataclass(frozen=True)
class ModelSpace:
    """How the per-source models of one grid point become vectors and a vector becomes predictions.

    Build it with :meth:`of`; ``template`` is a model that saw every class (torch models only).
    """

    kind: str
    n_classes: int
    n_features: int
    template: BaseEstimator | None = None

    @classmethod
    def of(cls, models: list[BaseEstimator], n_classes: int, n_features: int) -> ModelSpace:
        """The space of ``models`` (all linear or all torch); a TypeError says which model fits neither."""
        if all(torch_module(m) is None for m in models):
            for model in models:
                linear_logits(model, n_classes, n_features)  # the TypeError names a non-linear learner
            return cls("linear", n_classes, n_features)
        for i, model in enumerate(models):
            if torch_module(model) is None:
                kind = "a single-class source" if isinstance(model, DummyClassifier) else type(model).__name__
                raise TypeError(
                    f"source {i} has no torch network ({kind}): parameter aggregation of a torch learner needs a "
                    "network per source; use a prediction aggregator ('proba:<name>') for such sources"
                )
        complete = [m for m in models if len(m.classes_) == n_classes]
        if not complete:
            raise ValueError(
                f"no source's model saw all {n_classes} classes, so no network can hold the aggregate; "
                "use a prediction aggregator ('proba:<name>')"
            )
        return cls("torch", n_classes, n_features, complete[0])

    def vectors(self, models: list[BaseEstimator]) -> np.ndarray:
        """The (N, p) float64 matrix of the models' vectors, one row per source."""
        if self.kind == "linear":
            return np.stack([linear_logits(m, self.n_classes, self.n_features).ravel() for m in models])
        return np.stack([_padded_vector(m, self.n_classes) for m in models])

    def predict_proba(self, vector: np.ndarray, X: np.ndarray) -> np.ndarray:
        """(n, K) class probabilities on ``X`` of the model whose vector is ``vector``."""
        if self.kind == "linear":
            return softmax_proba(np.asarray(vector).reshape(self.n_classes, self.n_features + 1), X)
        model = copy.deepcopy(self.template)
        module = torch_module(model)
        assert module is not None
        unflatten_parameters(module, torch.from_numpy(np.ascontiguousarray(vector)))
        return aligned_proba(model, X, self.n_classes)
