"""Empirical 0-1 discrepancy of linear classifiers by label-flip ERM (reference 2.4, KL2019 eq. 16).

For a binary target t and the class H of linear classifiers with intercept (closed under complement),

    disc(S_a, S_b) = sup_h err_a(h) - err_b(h) = 1 - inf_h [ (1/m_a) sum_{S_a} 1{h(x) != 1 - t} + (1/m_b) sum_{S_b} 1{h(x) != t} ],

i.e. flip the labels of S_a, pool with weights 1/m_a and 1/m_b, and train. The 0-1 ERM is intractable,
so a weighted logistic regression (L2 strength ``l2`` on the coefficients) is trained instead and
its weighted 0-1 error ``e`` is evaluated exactly: ``|1 - e| = |err_a(h) - err_b(h)|`` for that one h,
a LOWER BOUND on the supremum. The two constant classifiers are in H too, so the gap of the class
proportions is folded in by a maximum (still a lower bound). Flipping S_b instead of S_a gives the
mirrored problem whose solution is ``-w``, so one order suffices.
"""

from __future__ import annotations

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression
from tqdm.auto import tqdm

from multisource.discrepancy.logistic import fit_weighted_logistic
from multisource.discrepancy.reduction import one_vs_rest_targets
from multisource.utils.device import resolve_device
from multisource.utils.validation import check_int, check_real

# Elements of float workspace one chunk of pairs may use (Hessians, weighted designs, logits).
_CHUNK_ELEMENTS = 2**24


def constant_gap(T_a: np.ndarray, T_b: np.ndarray) -> float:
    """Largest discrepancy attained by a constant classifier: ``max_k |mean_a t_k - mean_b t_k|``."""
    return float(np.abs(T_a.mean(axis=0) - T_b.mean(axis=0)).max())


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

    One fit per one-vs-rest problem (one for K = 2); the result is the maximum over problems of
    ``|1 - e|`` and of :func:`constant_gap`.
    """
    l2 = check_real("l2", l2, low=0.0, low_open=True)
    T_a, T_b = one_vs_rest_targets(y_a, n_classes), one_vs_rest_targets(y_b, n_classes)
    X = np.concatenate([X_a, X_b])
    weights = np.concatenate([np.full(len(y_a), 1.0 / len(y_a)), np.full(len(y_b), 1.0 / len(y_b))])
    best = constant_gap(T_a, T_b)
    for k in range(T_a.shape[1]):
        z = np.concatenate([1.0 - T_a[:, k], T_b[:, k]])
        model = LogisticRegression(C=1.0 / l2, tol=1e-8, max_iter=max_iter).fit(X, z, sample_weight=weights)
        error = weights @ (model.predict(X) != z)
        best = max(best, abs(1.0 - error))
    return float(min(best, 1.0))


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
    tol: float = 1e-10,
    chunk_size: int | None = None,
    device: str | torch.device | None = "auto",
    dtype: torch.dtype = torch.float64,
    progress: bool = False,
) -> np.ndarray:
    """(N, N) label-flip ERM discrepancies of all pairs, trained together by batched Newton steps.

    Every pair (a < b) and every one-vs-rest problem is one weighted logistic regression with S_a's
    targets flipped; pairs are processed in chunks of ``chunk_size`` (default: what fits a fixed
    workspace), each chunk in one call of :func:`fit_weighted_logistic` on ``device``.
    """
    l2 = check_real("l2", l2, low=0.0, low_open=True)
    max_iter = check_int("max_iter", max_iter, minimum=1)
    sizes = np.bincount(source, minlength=n_sources)
    if np.any(sizes == 0):
        raise ValueError(f"every source needs at least one sample; empty sources: {np.flatnonzero(sizes == 0).tolist()}")
    device = resolve_device(device)
    T = one_vs_rest_targets(y, n_classes)
    n_problems, d = T.shape[1], X.shape[1]
    rows, real = _source_rows(source, n_sources)
    M = rows.shape[1]
    a_idx, b_idx = np.triu_indices(n_sources, k=1)
    per_pair = n_problems * (2 * M * (d + 1) + (d + 1) ** 2) + 2 * M * (d + 1)
    if chunk_size is None:
        chunk_size = max(1, _CHUNK_ELEMENTS // per_pair)
    chunk_size = check_int("chunk_size", chunk_size, minimum=1)
    as_tensor = lambda a: torch.as_tensor(a, dtype=dtype, device=device)  # noqa: E731
    design = as_tensor(np.hstack([X, np.ones((len(X), 1))]))
    targets = as_tensor(T)
    sample_weight = as_tensor(np.where(real, 1.0 / np.maximum(sizes, 1)[:, None], 0.0))  # (N, M)
    disc = np.zeros((n_sources, n_sources))
    for start in tqdm(range(0, len(a_idx), chunk_size), disable=not progress, desc="pairwise disc"):
        a, b = a_idx[start : start + chunk_size], b_idx[start : start + chunk_size]
        pair_rows = torch.as_tensor(np.hstack([rows[a], rows[b]]), device=device)  # (B, 2M)
        weights = torch.cat([sample_weight[a], sample_weight[b]], dim=1)
        Xp = design[pair_rows]
        Zp = targets[pair_rows]
        Zp[:, :M] = 1.0 - Zp[:, :M]  # flip S_a
        W = fit_weighted_logistic(Xp, Zp, weights, l2=l2, max_iter=max_iter, tol=tol)
        predicted = (torch.einsum("bnd,bkd->bnk", Xp, W) > 0).to(dtype)
        error = torch.einsum("bn,bnk->bk", weights, (predicted != Zp).to(dtype))
        # Class proportions per side (Z on the S_a half is flipped, so 1 - mean is t's mean there).
        mean_a = 1.0 - torch.einsum("bn,bnk->bk", weights[:, :M], Zp[:, :M])
        mean_b = torch.einsum("bn,bnk->bk", weights[:, M:], Zp[:, M:])
        gap = torch.maximum((1.0 - error).abs(), (mean_a - mean_b).abs()).amax(dim=1)
        disc[a, b] = gap.clamp(max=1.0).cpu().numpy()
    return disc + disc.T
