"""Empirical 0-1 discrepancy of linear classifiers by label-flip ERM (reference 2.4, KL2019 eq. 16).

    disc(S_a, S_b) = sup_h |err_a(h) - err_b(h)|
                   = 1 - inf_h [ (1/m_a) sum_{S_a} 1{h(x) != y} + (1/m_b) sum_{S_b} 1{h(x) != flip(y)} ]

(for two classes; see :mod:`multisource.discrepancy.reduction` for K > 2): flip the labels of one
sample, pool with weights 1/m_a and 1/m_b, and train. The 0-1 ERM is intractable, so weighted L2
logistic regressions (strength ``l2`` on the coefficients) are trained instead and the exact gap of
the classifier they give is reported: a LOWER BOUND on the supremum.
"""

from __future__ import annotations

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression
from tqdm.auto import tqdm

from multisource.discrepancy.logistic import fit_weighted_logistic
from multisource.discrepancy.reduction import flip_discrepancy, label_flip_targets, n_problems
from multisource.utils.device import resolve_device
from multisource.utils.validation import check_int, check_real

# Elements of float workspace one chunk of pairs may use (Hessians, weighted designs, logits).
_CHUNK_ELEMENTS = 2**24


def _signed_weights(m_a: int, m_b: int) -> np.ndarray:
    return np.concatenate([np.full(m_a, 1.0 / m_a), np.full(m_b, -1.0 / m_b)])


def sklearn_discrepancy(
    X_a: np.ndarray,
    y_a: np.ndarray,
    X_b: np.ndarray,
    y_b: np.ndarray,
    *,
    n_classes: int,
    l2: float = 1e-3,
    max_iter: int = 1000,
) -> float:
    """Label-flip ERM discrepancy of one pair with scikit-learn's ``LogisticRegression`` (the reference).

    One fit per binary problem of :func:`~multisource.discrepancy.reduction.label_flip_targets`
    (a problem whose target is constant gets the constant score +-inf, its ridge solution's limit).
    """
    l2 = check_real("l2", l2, low=0.0, low_open=True)
    X = np.concatenate([X_a, X_b])
    y = np.concatenate([y_a, y_b])
    signed = _signed_weights(len(y_a), len(y_b))
    targets = label_flip_targets(np.asarray(y_a), np.asarray(y_b), n_classes)
    scores = np.empty_like(targets)
    for p in range(targets.shape[1]):
        z = targets[:, p]
        if np.all(z == z[0]):
            scores[:, p] = np.inf if z[0] == 1 else -np.inf
            continue
        model = LogisticRegression(C=1.0 / l2, tol=1e-8, max_iter=max_iter).fit(X, z, sample_weight=np.abs(signed))
        scores[:, p] = model.decision_function(X)
    return float(flip_discrepancy(scores, y, signed, n_classes))


def _source_rows(source: np.ndarray, n_sources: int) -> tuple[np.ndarray, np.ndarray]:
    """(N, M) row indices of every source padded with row 0, and the (N, M) mask of real rows."""
    sizes = np.bincount(source, minlength=n_sources)
    order = np.argsort(source, kind="stable")
    position = np.arange(len(source)) - np.repeat(np.cumsum(sizes) - sizes, sizes)
    rows = np.zeros((n_sources, sizes.max()), dtype=np.int64)
    real = np.zeros((n_sources, sizes.max()), dtype=bool)
    rows[source[order], position] = order
    real[source[order], position] = True
    return rows, real


def linear_pairwise_matrix(
    X: np.ndarray,
    y: np.ndarray,
    source: np.ndarray,
    *,
    n_sources: int,
    n_classes: int,
    l2: float = 1e-3,
    max_iter: int = 50,
    tol: float = 1e-8,
    chunk_size: int | None = None,
    device: str | torch.device | None = "auto",
    dtype: torch.dtype = torch.float64,
    progress: bool = False,
) -> np.ndarray:
    """(N, N) label-flip ERM discrepancies of all pairs, trained together by batched Newton steps.

    All pairs (a < b) and all their binary problems are weighted logistic regressions that
    :func:`fit_weighted_logistic` solves at once on ``device``, in chunks of ``chunk_size`` pairs
    (default: what fits a fixed workspace). Sources are padded to the largest size with weight 0.
    """
    l2 = check_real("l2", l2, low=0.0, low_open=True)
    max_iter = check_int("max_iter", max_iter, minimum=1)
    sizes = np.bincount(source, minlength=n_sources)
    if np.any(sizes == 0):
        empty = np.flatnonzero(sizes == 0).tolist()
        raise ValueError(f"every source needs at least one sample; empty sources: {empty}")
    device = resolve_device(device)
    rows, real = _source_rows(source, n_sources)
    M, d = rows.shape[1], X.shape[1]
    a_idx, b_idx = np.triu_indices(n_sources, k=1)
    per_pair = n_problems(n_classes) * (2 * M * (d + 1) + (d + 1) ** 2) + 2 * M * (d + 1)
    if chunk_size is None:
        chunk_size = max(1, _CHUNK_ELEMENTS // per_pair)
    chunk_size = check_int("chunk_size", chunk_size, minimum=1)
    design = torch.as_tensor(np.hstack([X, np.ones((len(X), 1))]), dtype=dtype, device=device)
    weights = np.where(real, 1.0 / sizes[:, None], 0.0)  # (N, M); padding weighs nothing
    disc = np.zeros((n_sources, n_sources))
    for start in tqdm(range(0, len(a_idx), chunk_size), disable=not progress, desc="pairwise disc"):
        a, b = a_idx[start : start + chunk_size], b_idx[start : start + chunk_size]
        pair_rows = np.hstack([rows[a], rows[b]])  # (B, 2M)
        signed = np.hstack([weights[a], -weights[b]])
        targets = label_flip_targets(y[rows[a]], y[rows[b]], n_classes)
        X_pairs = design[torch.as_tensor(pair_rows, device=device)]  # (B, 2M, d+1)
        W = fit_weighted_logistic(
            X_pairs,
            torch.as_tensor(targets, dtype=dtype, device=device),
            torch.as_tensor(np.abs(signed), dtype=dtype, device=device),
            l2=l2,
            max_iter=max_iter,
            tol=tol,
        )
        scores = torch.einsum("bnd,bkd->bnk", X_pairs, W)
        disc[a, b] = flip_discrepancy(scores.cpu().numpy(), y[pair_rows], signed, n_classes)
    return disc + disc.T
