"""Who is bad: the adversary corrupts ``n_bad = floor(alpha N)`` sources, chosen before (fixed) or after
(adaptive) seeing the clean data and the learner (Konstantinov et al., ICML 2020; ``docs/bounds.md``,
"Setting and notation")."""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, clone
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import log_loss

from multisource.corruption.registry import ATTACKS
from multisource.data.dataset import MultiSourceDataset
from multisource.utils.threads import single_threaded_blas
from multisource.utils.validation import (
    ADVERSARY_SELECTIONS,
    SeedLike,
    check_alpha,
    check_bad_sources,
    check_random_state,
    n_bad_sources,
)

# Keywords of the attack signature that the Adversary supplies itself.
_SUPPLIED = ("rng", "n_classes", "image_shape")


@dataclass(frozen=True)
class CorruptionResult:
    """The corrupted dataset, the true bad mask (N,) and, for adaptive selection, each source's score."""

    dataset: MultiSourceDataset
    bad: np.ndarray
    scores: np.ndarray | None = None


def _default_learner() -> LogisticRegression:
    return LogisticRegression(max_iter=1000)


def _linear_model(learner: BaseEstimator, X: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(coef, intercept) of ``learner`` fitted on the clean pooled data; a learner without a linear
    form is replaced by logistic regression, the attack's model of it."""
    fitted = clone(learner).fit(X, y)
    if hasattr(fitted, "coef_") and hasattr(fitted, "intercept_"):
        return np.asarray(fitted.coef_), np.asarray(fitted.intercept_)
    fitted = _default_learner().fit(X, y)
    return fitted.coef_, fitted.intercept_


def _clean_training_loss(model: BaseEstimator, X: np.ndarray, y: np.ndarray, n_classes: int) -> float:
    """Loss of ``model`` on the clean pooled training data: log loss when it gives probabilities, else 0-1."""
    if hasattr(model, "predict_proba"):
        proba = np.zeros((len(y), n_classes))
        proba[:, np.asarray(model.classes_, dtype=np.int64)] = model.predict_proba(X)
        return float(log_loss(y, np.clip(proba, 1e-12, 1.0), labels=np.arange(n_classes)))
    return float(np.mean(model.predict(X) != y))


class Adversary:
    """Corrupts ``n_bad = floor(alpha N)`` sources of a :class:`MultiSourceDataset` with one attack.

    Parameters
    ----------
    alpha : fraction of bad sources, in [0, 1/2).
    attack : a name in ``ATTACKS``.
    selection : "fixed" picks the bad sources uniformly at random before looking at the data;
        "adaptive" corrupts each source alone, refits the learner on the pooled data and picks the
        ``floor(alpha N)`` sources whose corruption raises the fitted model's loss on the clean pooled
        training data the most (no test data is used).
    bad : the indices of the sources to corrupt, chosen by the user (a fixed set): distinct, fewer
        than N/2, and exactly ``floor(alpha N)`` of them. None lets ``selection`` choose.
    params : keyword parameters of the attack, e.g. ``{"p": 0.5}``.
    seed : seed or numpy Generator. Each source's corruption uses its own stream drawn from it, so a
        source is corrupted the same way whichever sources are picked.

    Examples
    --------
    >>> from multisource.data import make_multisource
    >>> data = make_multisource("iris", n_sources=5, m=20, seed=0)
    >>> result = Adversary(0.4, "label_flip", params={"p": 1.0}, seed=0).corrupt(data)
    >>> int(result.bad.sum())
    2
    >>> Adversary(0.4, "label_flip", bad=[3, 4], seed=0).corrupt(data).bad.tolist()
    [False, False, False, True, True]
    """

    def __init__(
        self,
        alpha: float,
        attack: str,
        *,
        selection: str = "fixed",
        bad: list[int] | tuple[int, ...] | None = None,
        params: dict[str, Any] | None = None,
        seed: SeedLike = None,
    ) -> None:
        self.alpha = check_alpha(alpha)
        self.attack_fn = ATTACKS.get(attack)
        if selection not in ADVERSARY_SELECTIONS:
            raise ValueError(f"selection must be one of {ADVERSARY_SELECTIONS}, got {selection!r}")
        self.bad = None if bad is None else check_bad_sources(bad)
        if self.bad is not None and selection != "fixed":
            raise ValueError(
                f"selection must be 'fixed' when the bad sources are given (bad={list(self.bad)}), got {selection!r}"
            )
        if params is not None and not isinstance(params, dict):
            raise TypeError(f"params must be a dict of attack parameters or None, got {type(params).__name__}")
        signature = inspect.signature(self.attack_fn).parameters
        tunable = [name for name in signature if name not in ("X", "y", *_SUPPLIED)]
        takes_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in signature.values())
        unknown = sorted(set(params or {}) - set(tunable))
        if unknown and not takes_any:
            raise TypeError(f"attack {attack!r} has no parameter(s) {unknown}; its parameters are {tunable}")
        self.attack = attack
        self.selection = selection
        self.params = dict(params or {})
        self.seed = seed

    def n_bad(self, n_sources: int) -> int:
        """``floor(alpha N)`` bad sources (:func:`multisource.utils.validation.n_bad_sources`)."""
        return n_bad_sources(self.alpha, n_sources)

    @single_threaded_blas
    def corrupt(self, dataset: MultiSourceDataset, learner: BaseEstimator | None = None) -> CorruptionResult:
        """Return the corrupted dataset and the true bad mask.

        ``learner`` (an unfitted scikit-learn estimator, default ``LogisticRegression``) is what the
        adaptive adversary attacks and what the omniscient "shift" attack models.
        """
        if not isinstance(dataset, MultiSourceDataset):
            raise TypeError(f"dataset must be a MultiSourceDataset, got {type(dataset).__name__}")
        learner = _default_learner() if learner is None else learner
        n_sources, n_bad = dataset.n_sources, self.n_bad(dataset.n_sources)
        if self.bad is not None:
            check_bad_sources(self.bad, n_sources)
            if len(self.bad) != n_bad:
                raise ValueError(
                    f"bad must name floor(alpha N) = {n_bad} sources for alpha={self.alpha} and N={n_sources}, "
                    f"got {list(self.bad)}"
                )
        rng = check_random_state(self.seed)
        source_seeds = rng.integers(2**63 - 1, size=n_sources)
        params = dict(self.params)
        if getattr(self.attack_fn, "omniscient", False) and params.get("coef") is None:
            params["coef"], params["intercept"] = _linear_model(learner, dataset.X, dataset.y)

        def corrupted(i: int) -> tuple[np.ndarray, np.ndarray]:
            X_i, y_i = dataset.source_data(i)
            return self.attack_fn(
                X_i,
                y_i,
                rng=np.random.default_rng(source_seeds[i]),
                n_classes=dataset.n_classes,
                image_shape=dataset.image_shape,
                **params,
            )

        scores = None
        if self.bad is not None:
            bad_ids = np.array(self.bad, dtype=np.int64)
        elif self.selection == "fixed" or n_bad == 0:
            bad_ids = rng.choice(n_sources, size=n_bad, replace=False)
        else:
            versions = [corrupted(i) for i in range(n_sources)]
            scores = np.array([self._score(dataset, i, versions[i], learner) for i in range(n_sources)])
            bad_ids = np.argsort(-scores, kind="stable")[:n_bad]
        X, y = dataset.X.copy(), dataset.y.copy()
        for i in bad_ids:
            rows = dataset.source == i
            X[rows], y[rows] = versions[i] if scores is not None else corrupted(int(i))
        bad = np.zeros(n_sources, dtype=bool)
        bad[bad_ids] = True
        return CorruptionResult(dataset=dataset.with_training_data(X, y), bad=bad, scores=scores)

    @staticmethod
    def _score(
        dataset: MultiSourceDataset, i: int, version: tuple[np.ndarray, np.ndarray], learner: BaseEstimator
    ) -> float:
        """Clean pooled training loss of the learner refitted with source ``i`` alone corrupted."""
        rows = dataset.source == i
        X, y = dataset.X.copy(), dataset.y.copy()
        X[rows], y[rows] = version
        model = clone(learner).fit(X, y)
        return _clean_training_loss(model, dataset.X, dataset.y, dataset.n_classes)

    def __repr__(self) -> str:
        return (
            f"Adversary(alpha={self.alpha}, attack={self.attack!r}, selection={self.selection!r}, "
            f"bad={None if self.bad is None else list(self.bad)}, params={self.params})"
        )
