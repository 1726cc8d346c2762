"""A scikit-learn compatible MLP or small CNN (``learners.cnn``) trained in torch with Adam, SGD or M-FAC."""

from __future__ import annotations

import itertools
import numbers
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.exceptions import NotFittedError
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import _check_sample_weight, validate_data
from tqdm.auto import tqdm

from multisource.learners.cnn import ARCHITECTURES, build_cnn, check_input_shape
from multisource.learners.registry import LEARNERS
from multisource.optim import make_optimizer
from multisource.utils.device import resolve_device
from multisource.utils.validation import (
    check_class_labels,
    check_feature_rows,
    check_finite_array,
    check_int,
    check_random_state,
    check_real,
)

_DTYPES = {"float32": torch.float32, "float64": torch.float64, "bfloat16": torch.bfloat16, "float16": torch.float16}


def _resolve_dtype(dtype: str | torch.dtype) -> torch.dtype:
    if isinstance(dtype, torch.dtype) and dtype.is_floating_point:
        return dtype
    if isinstance(dtype, str) and dtype in _DTYPES:
        return _DTYPES[dtype]
    raise ValueError(f"dtype must be a floating torch dtype or one of {sorted(_DTYPES)}, got {dtype!r}")


def build_mlp(n_features: int, hidden_sizes: Sequence[int], n_classes: int) -> torch.nn.Sequential:
    """Linear -> ReLU blocks of the given widths, then a linear layer to ``n_classes`` logits."""
    widths = [n_features, *hidden_sizes]
    layers: list[torch.nn.Module] = []
    for width_in, width_out in itertools.pairwise(widths):
        layers += [torch.nn.Linear(width_in, width_out), torch.nn.ReLU()]
    layers.append(torch.nn.Linear(widths[-1], n_classes))
    return torch.nn.Sequential(*layers)


@LEARNERS.register("torch_mlp")
class TorchClassifier(ClassifierMixin, BaseEstimator):
    """MLP or CNN classifier minimising (sample-weighted) cross-entropy with a torch optimizer chosen by name.

    Parameters
    ----------
    hidden_sizes : sequence of int
        Widths of the hidden ReLU layers (empty: multinomial logistic regression); for the CNN,
        the dense layers after the convolutions.
    architecture : {"mlp", "cnn"}
        ``"cnn"``: a small conv net (:func:`multisource.learners.cnn.build_cnn`) on the features
        reshaped to ``input_shape``; 2-D for images, 1-D for signals.
    input_shape : tuple of int or None
        CNN only: (channels, length) or (channels, height, width), holding all the features;
        None infers one channel, square when the feature count is a perfect square
        (64 -> (1, 8, 8) for the digits), else 1-D (40 -> (1, 40) for MNIST-1D).
    channels : sequence of int
        CNN only: output channels of each conv -> ReLU -> max-pool stage.
    kernel_size : int
        CNN only: odd kernel size of every convolution (same padding).
    pool : int
        CNN only: max-pool window and stride after each convolution (1: no pooling).
    optimizer : str
        ``"adam"``, ``"sgd"``, ``"mfac"`` (:class:`multisource.optim.MFAC`) or any name in
        :data:`multisource.optim.OPTIMIZERS`.
    lr : float
        Learning rate.
    epochs : int
        Passes over the training data.
    batch_size : int
        Mini-batch size (capped at the number of samples).
    weight_decay : float
        L2 coefficient passed to the optimizer.
    optimizer_kwargs : dict or None
        Extra optimizer arguments, e.g. ``{"ngrads": 64, "damp": 1e-4}`` for M-FAC or
        ``{"momentum": 0.9}`` for SGD.
    device : str
        ``"auto"`` (CUDA when present), ``"cpu"``, ``"cuda:0"``, ...
    dtype : str or torch.dtype
        Parameter dtype (``"float32"`` default).
    random_state : int, numpy Generator or None
        Seeds the initialisation and the mini-batch order.
    verbose : bool
        Show a tqdm bar over epochs with the last loss.

    Attributes
    ----------
    classes_ : ndarray
        Class labels seen in ``fit``.
    module_ : torch.nn.Sequential
        The trained network (flat feature rows in, logits over ``classes_`` out).
    loss_curve_ : list of float
        Mean training loss of every epoch.

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> X, y = load_iris(return_X_y=True)
    >>> clf = TorchClassifier(hidden_sizes=(16,), optimizer="mfac", lr=0.03, epochs=30,
    ...                       optimizer_kwargs={"ngrads": 16, "damp": 1e-2}, random_state=0).fit(X, y)
    >>> clf.score(X, y) > 0.9
    True
    """

    def __init__(
        self,
        hidden_sizes: Sequence[int] = (64,),
        architecture: str = "mlp",
        input_shape: Sequence[int] | None = None,
        channels: Sequence[int] = (16, 32),
        kernel_size: int = 3,
        pool: int = 2,
        optimizer: str = "adam",
        lr: float = 1e-3,
        epochs: int = 20,
        batch_size: int = 64,
        weight_decay: float = 0.0,
        optimizer_kwargs: dict[str, Any] | None = None,
        device: str = "auto",
        dtype: str | torch.dtype = "float32",
        random_state: int | np.random.Generator | None = None,
        verbose: bool = False,
    ) -> None:
        self.hidden_sizes = hidden_sizes
        self.architecture = architecture
        self.input_shape = input_shape
        self.channels = channels
        self.kernel_size = kernel_size
        self.pool = pool
        self.optimizer = optimizer
        self.lr = lr
        self.epochs = epochs
        self.batch_size = batch_size
        self.weight_decay = weight_decay
        self.optimizer_kwargs = optimizer_kwargs
        self.device = device
        self.dtype = dtype
        self.random_state = random_state
        self.verbose = verbose

    def _check_fit_inputs(self, X: Any, y: Any, sample_weight: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """X, y and the per-sample weights, checked by the library first, then through scikit-learn's
        ``validate_data`` (which records ``n_features_in_`` and ``feature_names_in_``)."""
        owner = type(self).__name__
        n_samples, _ = check_feature_rows("X", X, owner=owner)
        check_class_labels("y", y, n_samples, owner=owner)
        if isinstance(sample_weight, numbers.Real):
            check_real("sample_weight", sample_weight, low=0.0, low_open=True)
        elif sample_weight is not None:
            given = check_finite_array("sample_weight", sample_weight)
            if given.shape != (n_samples,):
                raise ValueError(f"sample_weight must hold one weight per sample ({n_samples},), got {given.shape}")
            if np.any(given < 0) or not given.sum() > 0:
                raise ValueError("sample_weight must be non-negative and not all zero (a positive sum)")
        X, y = validate_data(self, X, y, dtype=np.float64)
        check_classification_targets(y)
        weights = _check_sample_weight(sample_weight, X, dtype=np.float64)
        return X, y, weights

    def fit(self, X: Any, y: Any, sample_weight: Any = None) -> TorchClassifier:
        """Train from scratch; ``sample_weight`` weights each sample's cross-entropy term."""
        X, y, weights = self._check_fit_inputs(X, y, sample_weight)
        hidden = [check_int("hidden_sizes entry", width, minimum=1) for width in self.hidden_sizes]
        if self.architecture not in ARCHITECTURES:
            raise ValueError(f"architecture must be one of {list(ARCHITECTURES)}, got {self.architecture!r}")
        input_shape = check_input_shape(self.input_shape, X.shape[1]) if self.architecture == "cnn" else None
        epochs = check_int("epochs", self.epochs, minimum=1)
        batch_size = check_int("batch_size", self.batch_size, minimum=1)
        lr = check_real("lr", self.lr, low=0.0)
        weight_decay = check_real("weight_decay", self.weight_decay, low=0.0)
        device, dtype = resolve_device(self.device), _resolve_dtype(self.dtype)
        rng = check_random_state(self.random_state, "random_state")

        self.classes_, codes = np.unique(y, return_inverse=True)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(int(rng.integers(2**63 - 1)))
            if input_shape is None:
                module = build_mlp(X.shape[1], hidden, len(self.classes_))
            else:
                module = build_cnn(input_shape, self.channels, self.kernel_size, self.pool, hidden, len(self.classes_))
            module = module.to(device=device, dtype=dtype)
        optimizer = make_optimizer(
            self.optimizer, module.parameters(), lr=lr, weight_decay=weight_decay, **(self.optimizer_kwargs or {})
        )
        inputs = torch.tensor(X, dtype=dtype, device=device)
        targets = torch.as_tensor(codes, dtype=torch.int64, device=device)
        # weights normalised to mean 1: unit weights give the usual mean loss on every batch
        sample_w = torch.as_tensor(weights / weights.mean(), dtype=torch.float32, device=device)
        n, batch_size = len(X), min(batch_size, len(X))
        self.loss_curve_ = []
        module.train()
        bar = tqdm(range(epochs), desc=f"TorchClassifier[{self.optimizer}]", disable=not self.verbose)
        for _ in bar:
            order = torch.as_tensor(rng.permutation(n), device=device)
            total = torch.zeros((), device=device)
            for start in range(0, n, batch_size):
                idx = order[start : start + batch_size]
                optimizer.zero_grad()
                losses = torch.nn.functional.cross_entropy(module(inputs[idx]).float(), targets[idx], reduction="none")
                loss = (losses * sample_w[idx]).mean()
                loss.backward()
                optimizer.step()
                total += loss.detach() * len(idx)
            self.loss_curve_.append(float(total) / n)
            bar.set_postfix(loss=self.loss_curve_[-1])
        module.eval()
        self.module_ = module
        return self

    def _check_predict_input(self, X: Any) -> np.ndarray:
        """X for a fitted model: checked by the library first (its number of features included), then by
        scikit-learn's ``validate_data`` (feature names)."""
        if not hasattr(self, "module_"):
            raise NotFittedError(f"This {type(self).__name__} instance is not fitted yet; call fit before using it")
        check_feature_rows("X", X, n_features=self.n_features_in_, owner=type(self).__name__)
        return validate_data(self, X, dtype=np.float64, reset=False)

    def _logits(self, X: Any) -> torch.Tensor:
        X = self._check_predict_input(X)
        param = next(self.module_.parameters())
        with torch.no_grad():
            # torch.tensor copies, so read-only inputs (MultiSourceDataset arrays) are fine
            return self.module_(torch.tensor(X, dtype=param.dtype, device=param.device)).float()

    def predict_proba(self, X: Any) -> np.ndarray:
        """Class probabilities (softmax of the logits), columns ordered as ``classes_``."""
        return torch.softmax(self._logits(X), dim=1).cpu().numpy().astype(np.float64)

    def predict(self, X: Any) -> np.ndarray:
        """The most probable class label."""
        codes = self._logits(X).argmax(dim=1).cpu().numpy()
        return self.classes_[codes]

    def score(self, X: Any, y: Any, sample_weight: Any = None) -> float:
        """Accuracy on (X, y); ``y`` must hold one class label per row of ``X``."""
        n_samples, _ = check_feature_rows("X", X, owner=type(self).__name__)
        check_class_labels("y", y, n_samples, owner=type(self).__name__)
        return float(super().score(X, y, sample_weight=sample_weight))


@LEARNERS.register("torch_cnn")
def torch_cnn(**params: Any) -> TorchClassifier:
    """``TorchClassifier(architecture="cnn", **params)``: the CNN by its own learner name in a spec."""
    return TorchClassifier(architecture="cnn", **params)
