"""Label-flip ERM for the 0-1 loss, as binary logistic problems, and the exact gap of what they find.

Binary labels (K = 2), KL2019 supplement B.2 eq. (16) (``docs/discrepancy.md``): flipping the labels
of S_b and minimising the weighted error on the pooled data maximises
``acc_a(h) - acc_b(h) = err_b(h) - err_a(h)``; the class of linear classifiers with intercept is
closed under complement, so one orientation suffices.

Multiclass labels (K > 2), H = ``{x -> argmax_k (w_k . x + b_k)}`` with the multiclass 0-1 loss:
"flipping" maps the labels of one sample by the cyclic derangement ``y -> (y + 1) mod K``, so a
classifier that fits the flipped labels is wrong on that sample. Multiclass H is not closed under
complement, so both orientations are trained: (S_a true, S_b flipped) and (S_a flipped, S_b true),
each as K one-vs-rest logistic problems whose argmax is the candidate h. That is 2K binary problems.

Whatever h comes out, its gap ``|acc_a(h) - acc_b(h)|`` (= ``|err_a(h) - err_b(h)|``) is computed
exactly, so the estimate is a lower bound on ``disc_H`` (KL2019 eq. 5) however well the surrogate
did. The K constant classifiers are in H as well, so their gap ``max_k |P_a(y=k) - P_b(y=k)|`` is
folded in by a maximum.
"""

from __future__ import annotations

import numpy as np


def n_problems(n_classes: int) -> int:
    """Binary logistic problems per pair: 1 for K = 2, else 2K (two orientations, one-vs-rest)."""
    return 1 if n_classes == 2 else 2 * n_classes


def label_flip_targets(y_a: np.ndarray, y_b: np.ndarray, n_classes: int) -> np.ndarray:
    """(..., m_a + m_b, P) binary training targets of the label-flip problems of S_a and S_b.

    ``y_a`` and ``y_b`` may carry leading batch dimensions (one row per pair).
    """
    if n_classes == 2:
        return np.concatenate([y_a, 1 - y_b], axis=-1)[..., None].astype(np.float64)
    classes = np.arange(n_classes)
    flip = lambda y: (y + 1) % n_classes  # noqa: E731  (the cyclic derangement)
    true_a = np.concatenate([y_a, flip(y_b)], axis=-1)
    true_b = np.concatenate([flip(y_a), y_b], axis=-1)
    return np.concatenate([true_a[..., None] == classes, true_b[..., None] == classes], axis=-1).astype(np.float64)


def candidate_predictions(scores: np.ndarray, n_classes: int) -> np.ndarray:
    """(..., n, O) labels predicted by the O candidate classifiers from (..., n, P) problem scores."""
    if n_classes == 2:
        return (scores > 0).astype(np.int64)
    return np.stack([scores[..., :n_classes].argmax(-1), scores[..., n_classes:].argmax(-1)], axis=-1)


def flip_discrepancy(scores: np.ndarray, y: np.ndarray, signed_weights: np.ndarray, n_classes: int) -> np.ndarray:
    """Discrepancy lower bound ``max(|acc_a(h) - acc_b(h)| over candidates h, constant gap)``.

    Parameters
    ----------
    scores : (..., n, P) scores of the trained problems on the pooled samples of S_a and S_b.
    y : (..., n) true (observed) labels of those samples.
    signed_weights : (..., n) ``+1/m_a`` on S_a, ``-1/m_b`` on S_b, 0 on padding.
    n_classes : K.

    Returns
    -------
    (...) discrepancy estimates in [0, 1].
    """
    correct = candidate_predictions(scores, n_classes) == y[..., None]
    candidate_gap = np.abs(np.einsum("...n,...no->...o", signed_weights, correct.astype(np.float64))).max(-1)
    one_hot = (y[..., None] == np.arange(n_classes)).astype(np.float64)
    class_shares = np.einsum("...n,...nk->...k", signed_weights, one_hot)
    return np.clip(np.maximum(candidate_gap, np.abs(class_shares).max(-1)), 0.0, 1.0)
