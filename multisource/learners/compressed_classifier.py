"""A classifier net compressed one-shot after training by any registered pruner (SparseGPT, Wanda, M-FAC OBS...)."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.utils.validation import check_is_fitted, validate_data

from multisource.compress.driver import plan_pruning
from multisource.compress.small_nets import prune_classifier
from multisource.learners.registry import LEARNERS
from multisource.learners.torch_classifier import TorchClassifier
from multisource.utils.validation import check_int, check_random_state


class CompressedClassifier(ClassifierMixin, BaseEstimator):
    """Train a torch classifier, then prune (and optionally quantize) its Linear and Conv1d/Conv2d layers one-shot.

    ``fit`` trains a clone of ``estimator`` (any estimator exposing the trained network as
    ``module_`` and its labels as ``classes_``, e.g. :class:`TorchClassifier`), then calls
    :func:`multisource.compress.prune_classifier` with the training inputs as calibration data:
    SparseGPT / Wanda use the layer-wise Hessian ``H = 2 X X^T / n`` of each layer's inputs
    (SparseGPT eq. 1-2), M-FAC OBS the inverse empirical Fisher of the loss gradients. No retraining.

    Parameters
    ----------
    estimator : estimator or None
        The dense learner; ``None`` means ``TorchClassifier()``.
    method : str
        Any name in ``multisource.compress.PRUNING_METHODS``: "sparsegpt", "wanda", "magnitude",
        "mfac_obs" or one registered with ``layer_pruner`` / ``model_pruner``.
    sparsity : float
        Fraction of weights removed per layer, in [0, 1) (ignored when ``pattern`` is given).
    pattern : str or None
        An N:M pattern such as ``"2:4"`` (layer-wise methods only).
    bits : int or None
        Also quantize the kept weights to this many bits, 2..16 (layer-wise methods only).
    options : dict or None
        The method's options by name, e.g. ``{"percdamp": 0.001}`` for SparseGPT or ``{"ngrads": 16}``
        for M-FAC OBS; a name the method does not have is an error.
    n_calibration : int or None
        Calibration samples drawn from the training set (None: all of them).
    random_state : int, Generator or None
        Seeds the calibration subsample.

    Attributes
    ----------
    estimator_ : the trained, pruned estimator (predictions come from it).
    classes_ : labels seen in ``fit``.
    report_ : :class:`multisource.compress.PruneReport` with per-layer sparsity and error.
    """

    def __init__(
        self,
        estimator: BaseEstimator | None = None,
        method: str = "sparsegpt",
        sparsity: float = 0.5,
        pattern: str | None = None,
        bits: int | None = None,
        options: dict[str, Any] | None = None,
        n_calibration: int | None = None,
        random_state: int | np.random.Generator | None = None,
    ) -> None:
        self.estimator = estimator
        self.method = method
        self.sparsity = sparsity
        self.pattern = pattern
        self.bits = bits
        self.options = options
        self.n_calibration = n_calibration
        self.random_state = random_state

    def fit(self, X: Any, y: Any, sample_weight: Any = None) -> CompressedClassifier:
        """Train the dense estimator on (X, y, sample_weight), then prune it with X as calibration."""
        plan_pruning(
            self.method, self.sparsity, self.pattern, self.bits, self.options
        )  # bad settings fail before training
        X, y = validate_data(self, X, y, dtype=np.float64)
        dense = clone(self.estimator if self.estimator is not None else TorchClassifier())
        fit_args = {} if sample_weight is None else {"sample_weight": sample_weight}
        dense.fit(X, y, **fit_args)
        if not hasattr(dense, "module_"):
            raise TypeError(f"estimator {type(dense).__name__} exposes no trained torch network as module_")
        rows = np.arange(len(X))
        if self.n_calibration is not None:
            n = check_int("n_calibration", self.n_calibration, minimum=1, maximum=len(X))
            rows = np.sort(check_random_state(self.random_state, "random_state").choice(len(X), size=n, replace=False))
        param = next(dense.module_.parameters())
        calib_X = torch.tensor(X[rows], dtype=param.dtype, device=param.device)
        codes = np.searchsorted(dense.classes_, y[rows])
        calib_y = torch.as_tensor(codes, dtype=torch.int64, device=param.device)
        dense.module_.eval()
        self.report_ = prune_classifier(
            dense.module_,
            calib_X,
            calib_y,
            method=self.method,
            sparsity=self.sparsity,
            pattern=self.pattern,
            bits=self.bits,
            options=self.options,
            device=param.device,
        )
        self.estimator_ = dense
        self.classes_ = dense.classes_
        return self

    def predict_proba(self, X: Any) -> np.ndarray:
        """Class probabilities of the pruned network."""
        check_is_fitted(self, "estimator_")
        return self.estimator_.predict_proba(X)

    def predict(self, X: Any) -> np.ndarray:
        """Most probable class of the pruned network."""
        check_is_fitted(self, "estimator_")
        return self.estimator_.predict(X)


@LEARNERS.register("compressed_mlp")
def compressed_mlp(
    *,
    method: str = "sparsegpt",
    sparsity: float = 0.5,
    pattern: str | None = None,
    bits: int | None = None,
    options: dict[str, Any] | None = None,
    n_calibration: int | None = None,
    random_state: int | None = None,
    **mlp_params: Any,
) -> CompressedClassifier:
    """``CompressedClassifier(TorchClassifier(**mlp_params), ...)``: the spec-friendly form (flat parameters)."""
    return CompressedClassifier(
        TorchClassifier(random_state=random_state, **mlp_params),
        method=method,
        sparsity=sparsity,
        pattern=pattern,
        bits=bits,
        options=options,
        n_calibration=n_calibration,
        random_state=random_state,
    )
