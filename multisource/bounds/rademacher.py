"""Empirical Rademacher complexity of a hypothesis class on given data (``docs/bounds.md``, "Complexity measures").

.. math::

    \\widehat{\\mathrm{Rad}}_S(H) = \\mathbb{E}_\\sigma \\sup_{h \\in H} \\frac1n \\sum_{i=1}^n \\sigma_i h(x_i),
    \\qquad \\sigma_i \\text{ i.i.d. uniform on } \\{-1, +1\\},\\; h(x) \\in \\{-1, +1\\}.

The value computed here is for the hypothesis class ``H`` itself. For the 0-1 loss the loss class
has half of it, ``Rad_S(l o H) = Rad_S(H) / 2``; :func:`multisource.bounds.complexity.as_complexity`
halves an :class:`Estimate` when it is plugged into a bound.

The supremum is an ERM on the random sign labels ``sigma``: for a finite class it is exact
(:class:`FiniteClass`, :class:`DecisionStumps`); for linear classifiers it is a convex-surrogate fit
(:class:`LinearClass`), whose correlation is only a lower bound of the supremum.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler
from sklearn.svm import LinearSVC
from tqdm.auto import tqdm

from multisource.utils.threads import single_threaded_blas
from multisource.utils.validation import (
    SeedLike,
    check_bool,
    check_finite_array,
    check_int,
    check_random_state,
    check_real,
)

#: The largest sample size :func:`exact_rademacher` enumerates (2^n sign vectors).
MAX_EXACT_N = 20
_CHUNK = 1 << 14


class HypothesisClass(Protocol):
    """A class of +-1 classifiers that can solve ERM on sign labels."""

    def max_correlation(self, X: np.ndarray, sigma: np.ndarray) -> np.ndarray:
        """(B,) ``sup_h (1/n) sum_i sigma[b, i] h(X[i])`` for every row of ``sigma`` (B, n)."""
        ...


@dataclass(frozen=True)
class Estimate:
    """A Monte-Carlo estimate of ``Rad_S(H)``: mean over sign draws and its standard error."""

    value: float
    stderr: float
    n_draws: int
    n_samples: int

    def __str__(self) -> str:
        return f"Rad_S(H) = {self.value:.4f} +- {self.stderr:.4f} (n={self.n_samples}, {self.n_draws} sign draws)"


@dataclass(frozen=True)
class FiniteClass:
    """A finite class given by ``predict(X) -> (K, n)`` matrix of +-1 predictions of its K members.

    The supremum is exact: ``max_k (P sigma^T)_k / n`` for all draws at once.
    """

    predict: Callable[[np.ndarray], np.ndarray]

    def __post_init__(self) -> None:
        if not callable(self.predict):
            raise TypeError(f"predict must be a callable X -> (K, n) matrix of +-1, got {self.predict!r}")

    def max_correlation(self, X: np.ndarray, sigma: np.ndarray) -> np.ndarray:
        P = np.asarray(self.predict(X), dtype=np.float64)
        if P.ndim != 2 or P.shape[1] != X.shape[0] or not np.all(np.abs(P) == 1.0):
            raise ValueError(
                f"predict(X) must return a (K, {X.shape[0]}) matrix of +-1 predictions, got shape {P.shape}"
            )
        return (sigma @ P.T).max(axis=1) / X.shape[0]


@dataclass(frozen=True)
class DecisionStumps:
    """Axis-aligned stumps ``h(x) = s * (+1 if x_j > t else -1)``, ``s = +-1``, every feature ``j`` and threshold ``t``.

    On 1-D data this is the class of thresholds (VC dimension 2 with both orientations). On ``n``
    points a feature has ``u + 1`` distinct behaviours (``u`` distinct values), so the class is finite
    and the supremum is exact: with ``c_k`` the sum of ``sigma`` over the ``k`` smallest points of a
    feature and ``T`` the total, putting those ``k`` on the -1 side gives correlation
    ``+-(T - 2 c_k) / n``; the supremum is ``max_{j, k} |T - 2 c_k| / n`` over the cuts ``k`` between
    distinct values (``k = 0`` and ``k = n`` are the constant hypotheses).
    """

    def max_correlation(self, X: np.ndarray, sigma: np.ndarray) -> np.ndarray:
        n = X.shape[0]
        total = sigma.sum(axis=1, keepdims=True)
        best = np.abs(total[:, 0])  # the constant hypotheses
        for j in range(X.shape[1]):
            order = np.argsort(X[:, j], kind="stable")
            xs = X[order, j]
            prefix = np.cumsum(sigma[:, order], axis=1)
            # A cut after position k (1-based) is a real threshold only between two distinct values.
            cuts = np.flatnonzero(xs[:-1] < xs[1:])
            if cuts.size:
                best = np.maximum(best, np.abs(total - 2.0 * prefix[:, cuts]).max(axis=1))
        return best / n


@dataclass(frozen=True)
class LinearClass:
    """Linear classifiers ``sign(w . x + b)`` (VC dimension ``p + 1`` in ``p`` features).

    ERM on the sign labels is replaced by a convex surrogate fitted with scikit-learn
    (``"hinge"``: ``LinearSVC``, the default and much faster; ``"logistic"``: ``LogisticRegression``)
    with a weak penalty ``1/C``;
    the correlation of the fitted classifier with ``sigma`` is therefore a **lower bound** of the
    supremum, and so is the resulting estimate of ``Rad_S(H)``. Features are standardised first,
    which leaves the class (affine functions) unchanged and helps the solver.
    """

    surrogate: str = "hinge"
    C: float = 10.0
    max_iter: int = 1000

    def __post_init__(self) -> None:
        if self.surrogate not in ("hinge", "logistic"):
            raise ValueError(f"surrogate must be 'hinge' or 'logistic', got {self.surrogate!r}")
        check_real("C", self.C, low=0.0, low_open=True)
        check_int("max_iter", self.max_iter, minimum=1)

    def _estimator(self) -> LinearSVC | LogisticRegression:
        if self.surrogate == "logistic":
            return LogisticRegression(C=self.C, max_iter=self.max_iter)
        return LinearSVC(C=self.C, max_iter=self.max_iter, random_state=0)

    @single_threaded_blas
    def max_correlation(self, X: np.ndarray, sigma: np.ndarray) -> np.ndarray:
        Xs = StandardScaler().fit_transform(X)
        out = np.empty(sigma.shape[0])
        for b, labels in enumerate(sigma):
            if np.all(labels == labels[0]):
                out[b] = 1.0  # a constant classifier (w = 0) fits one-sign labels exactly
                continue
            with warnings.catch_warnings():
                # A non-converged fit is still a member of H; its correlation stays a valid lower bound.
                warnings.simplefilter("ignore", ConvergenceWarning)
                pred = self._estimator().fit(Xs, labels).predict(Xs)
            out[b] = float(np.mean(labels * pred))
        return out


def _check_sample(X: object, hypothesis_class: object) -> np.ndarray:
    """``X`` as a finite (n, p) array; ``hypothesis_class`` must be a :class:`HypothesisClass`."""
    if not callable(getattr(hypothesis_class, "max_correlation", None)):
        raise TypeError(
            "hypothesis_class must be a HypothesisClass such as DecisionStumps() or LinearClass(), "
            f"got {hypothesis_class!r}"
        )
    X = check_finite_array("X", X)
    if X.ndim == 1:
        X = X[:, None]
    if X.ndim != 2 or X.shape[0] < 1:
        raise ValueError(f"X must be an (n, p) array with n >= 1 (or (n,) for one feature), got shape {X.shape}")
    return X


def monte_carlo_rademacher(
    X: object,
    hypothesis_class: HypothesisClass,
    n_draws: int = 200,
    seed: SeedLike = None,
    *,
    batch_size: int = 256,
    progress: bool = False,
) -> Estimate:
    """Monte-Carlo estimate of the empirical Rademacher complexity ``Rad_S(H)`` (an ERM on random sign labels).

    Parameters
    ----------
    X : (n, p) or (n,) the sample ``S`` (labels do not enter ``Rad_S(H)``).
    hypothesis_class : a :class:`HypothesisClass`, e.g. :class:`DecisionStumps` or :class:`LinearClass`.
    n_draws : number of sign vectors ``sigma``; the standard error falls as ``1/sqrt(n_draws)``.
    seed : int, Generator or None.
    batch_size : sign vectors handed to the class at once (vectorised classes use them together).
    progress : show a tqdm bar over the batches (useful for :class:`LinearClass`, one fit per draw).

    Returns
    -------
    Estimate
        ``value`` = mean of the per-draw suprema, ``stderr`` = their sample standard deviation / sqrt(n_draws).
    """
    X = _check_sample(X, hypothesis_class)
    n_draws = check_int("n_draws", n_draws, minimum=2)
    batch_size = check_int("batch_size", batch_size, minimum=1)
    progress = check_bool("progress", progress)
    rng = check_random_state(seed)
    n = X.shape[0]
    sups = np.empty(n_draws)
    starts = range(0, n_draws, batch_size)
    for start in tqdm(starts, desc="Rademacher draws", disable=not progress):
        stop = min(start + batch_size, n_draws)
        sigma = rng.choice(np.array([-1.0, 1.0]), size=(stop - start, n))
        sups[start:stop] = hypothesis_class.max_correlation(X, sigma)
    return Estimate(
        value=float(sups.mean()), stderr=float(sups.std(ddof=1) / np.sqrt(n_draws)), n_draws=n_draws, n_samples=n
    )


def all_sign_vectors(n: int) -> np.ndarray:
    """(2^n, n) every vector in {-1, +1}^n (row ``k`` holds the bits of ``k``)."""
    n = check_int("n", n, minimum=1, maximum=MAX_EXACT_N)
    bits = (np.arange(2**n)[:, None] >> np.arange(n)[None, :]) & 1
    return 2.0 * bits - 1.0


def exact_rademacher(X: object, hypothesis_class: HypothesisClass) -> float:
    """``Rad_S(H)`` exactly, as the average of the supremum over all ``2^n`` sign vectors (``n <= 20``).

    The oracle for :func:`monte_carlo_rademacher` on finite classes; exact only when the class's
    ``max_correlation`` is (true of :class:`FiniteClass` and :class:`DecisionStumps`).
    """
    X = _check_sample(X, hypothesis_class)
    n = X.shape[0]
    if n > MAX_EXACT_N:
        raise ValueError(f"exact enumeration needs n <= {MAX_EXACT_N} samples (2^n sign vectors), got n={n}")
    signs = all_sign_vectors(n)
    total = sum(
        float(hypothesis_class.max_correlation(X, signs[i : i + _CHUNK]).sum()) for i in range(0, len(signs), _CHUNK)
    )
    return total / len(signs)
