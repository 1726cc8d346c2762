"""The omniscient "shift" attack: the lower-bound adversary that moves a source by about 1/sqrt(m).

A source of m samples cannot be told apart from a clean one when its distribution moves by
O(1/sqrt(m)) in total variation (Qiao & Valiant, "Learning discrete distributions from untrusted
batches", ITCS 2018; the lower bound of ``docs/bounds.md``, "The bounds"); pushing that move in
the direction that hurts the learner most shifts the pooled risk by ~alpha/sqrt(m).
The attack knows the clean linear model ``(coef, intercept)``; :class:`~multisource.corruption.Adversary`
fits it on the clean pooled data and passes it in.
"""

from __future__ import annotations

import numpy as np
from scipy.special import softmax

from multisource.corruption.registry import ATTACKS
from multisource.utils.validation import check_finite_array, check_real


def _multiclass_linear(
    coef: np.ndarray, intercept: np.ndarray, n_classes: int, d: int
) -> tuple[np.ndarray, np.ndarray]:
    """(K, d) weights and (K,) biases of softmax logits; a binary model ``w`` becomes ``[0, w]``."""
    coef = check_finite_array("coef", coef, ndim=2)
    intercept = check_finite_array("intercept", np.atleast_1d(intercept), ndim=1)
    if n_classes == 2 and coef.shape[0] == 1:
        coef = np.vstack([np.zeros_like(coef), coef])
        intercept = np.concatenate([[0.0], intercept])
    if coef.shape != (n_classes, d) or intercept.shape != (n_classes,):
        raise ValueError(
            f"coef and intercept must have shapes ({n_classes}, {d}) and ({n_classes},) "
            f"(or (1, {d}) and (1,) for two classes), got {coef.shape} and {intercept.shape}"
        )
    return coef, intercept


@ATTACKS.register("shift")
def shift(
    X: np.ndarray,
    y: np.ndarray,
    *,
    rng: np.random.Generator,
    n_classes: int,
    image_shape: tuple[int, int] | None = None,
    coef: np.ndarray | None = None,
    intercept: np.ndarray | None = None,
    c: float = 1.0,
    mode: str = "features",
) -> tuple[np.ndarray, np.ndarray]:
    """Move the source by ~c/sqrt(m) against the clean linear (softmax) model ``(coef, intercept)``.

    ``mode="features"``: every sample moves by ``c * s / sqrt(m)`` along its loss gradient
    ``grad_x CE = W^T (softmax(W x + b) - e_y)`` (for labels +-1 and logistic loss this is ``-y w``),
    where ``s`` is the root-mean-square feature standard deviation of the source (1 for standardised
    data): the source mean moves by about one standard error, the most a clean-looking source can.
    ``mode="labels"``: the ``ceil(c * sqrt(m))`` samples with the smallest margin
    ``logit_y - max_{k != y} logit_k`` get the runner-up class as label.
    The attack is deterministic; ``rng`` is accepted for the common attack signature.
    """
    if coef is None or intercept is None:
        raise ValueError(
            "the 'shift' attack is omniscient: it needs the clean model's coef and intercept; "
            "use Adversary(alpha, 'shift'), which fits the learner on the clean data"
        )
    c = check_real("c", c, low=0.0)
    if mode not in ("features", "labels"):
        raise ValueError(f"mode must be 'features' or 'labels', got {mode!r}")
    m, d = X.shape
    W, b = _multiclass_linear(coef, intercept, n_classes, d)
    logits = X @ W.T + b
    if mode == "features":
        gradient = (softmax(logits, axis=1) - np.eye(n_classes)[y]) @ W
        norms = np.linalg.norm(gradient, axis=1, keepdims=True)
        direction = np.divide(gradient, norms, out=np.zeros_like(gradient), where=norms > 0)
        scale = np.sqrt(np.mean(X.var(axis=0))) if m > 1 else 1.0
        return X + (c * scale / np.sqrt(m)) * direction, y.copy()
    rival_logits = np.where(np.eye(n_classes, dtype=bool)[y], -np.inf, logits)
    runner_up = rival_logits.argmax(axis=1)
    margin = logits[np.arange(m), y] - rival_logits[np.arange(m), runner_up]
    flip = np.argsort(margin, kind="stable")[: min(m, int(np.ceil(c * np.sqrt(m))))]
    y_new = y.copy()
    y_new[flip] = runner_up[flip]
    return X.copy(), y_new


# Tells the Adversary to fit the clean model and pass it as ``coef`` / ``intercept``.
shift.omniscient = True  # type: ignore[attr-defined]  # a flag on a function object, read by getattr
