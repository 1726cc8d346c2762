"""Empirical 0-1 discrepancy of linear classifiers by label-flip ERM (KL2019 supplement B.2, eq. 16).

    disc(S_a, S_b) = sup_h |err_a(h) - err_b(h)|
                   = 1 - inf_h [ (1/m_a) sum_{S_a} 1{h(x) != y} + (1/m_b) sum_{S_b} 1{h(x) != flip(y)} ]

(for two classes; see :mod:`multisource.discrepancy.reduction` for K > 2): flip the labels of one
sample, pool with weights 1/m_a and 1/m_b, and train. The 0-1 ERM is intractable, so weighted L2
logistic regressions are trained instead and the exact gap of the classifier they give is reported:
a LOWER BOUND on the supremum. ``docs/discrepancy.md`` derives the solver and lists the options.

Regularisation. Each pooled problem minimises ``sum_n s_n log-loss_n + (l2/2) ||w||^2`` (intercept
unpenalised) with ``sum_n s_n = 2``; scikit-learn's ``LogisticRegression`` minimises
``C sum_n s_n log-loss_n + (1/2) ||w||^2``, the same objective times C when ``l2 = 1 / C``. So
``l2 = 1`` is ``C = 1`` fitted with ``sample_weight = s``, and ``l2 = 0`` is ``C = inf``.

Scaling. With ``scaling="pair"`` each pair's features are standardised by the pooled pair's mean and
standard deviation before the fit (FLEA refits a ``StandardScaler`` per pair). With an unpenalised
intercept that equals fitting the unscaled features with the ridge ``l2 sigma_ab,j^2`` on coordinate
j, so the per-pair scaling is a per-pair diagonal penalty and no pooled data is ever rescaled.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TypeVar

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler
from tqdm.auto import tqdm

from multisource.discrepancy.bound_hessian import SourceDesigns, fit_pairs_bound_hessian, pair_scores
from multisource.discrepancy.logistic import fit_weighted_logistic
from multisource.discrepancy.reduction import flip_discrepancy, label_flip_targets, n_problems
from multisource.discrepancy.sampling import band_half_width, sampled_pair_tiles
from multisource.utils.device import resolve_device
from multisource.utils.threads import limit_threads
from multisource.utils.validation import (
    SeedLike,
    check_bool,
    check_int,
    check_labeled_pair,
    check_labeled_sample,
    check_random_state,
    check_real,
    check_source_ids,
)

SCALINGS: tuple[str, ...] = ("none", "pair")
"""Feature scaling of each pooled pair: none, or standardised by the pair's own statistics (FLEA)."""

SOLVERS: dict[str, tuple[int, torch.dtype]] = {"mm": (1000, torch.float32), "newton": (50, torch.float64)}
"""Solver name -> (default ``max_iter``, default GEMM ``dtype``)."""

T = TypeVar("T")
R = TypeVar("R")

# Elements of float workspace one chunk of pairs may use (bound inverses, logits, iterates).
_CHUNK_ELEMENTS = 2**24


def _check_options(l2: object, scaling: object, solver: object, tol: object) -> tuple[float, str, str, float]:
    l2 = check_real("l2", l2, low=0.0)
    if scaling not in SCALINGS:
        raise ValueError(f"scaling must be one of {list(SCALINGS)}, got {scaling!r}")
    if solver not in SOLVERS:
        raise ValueError(f"solver must be one of {sorted(SOLVERS)}, got {solver!r}")
    tol = check_real("tol", tol, low=0.0, low_open=True)
    return l2, str(scaling), str(solver), tol


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
    scaling: str = "none",
    max_iter: int = 1000,
    tol: float = 1e-8,
) -> float:
    """Label-flip ERM discrepancy of one pair with scikit-learn's ``LogisticRegression`` (the reference).

    One fit per binary problem of :func:`~multisource.discrepancy.reduction.label_flip_targets` with
    ``C = 1 / l2`` (``C = inf`` when ``l2 = 0``) and ``sample_weight = 1/m_a, 1/m_b``, after a
    ``StandardScaler`` fitted on the pooled pair when ``scaling="pair"``. A problem whose target is
    constant gets the constant score +-inf, its ridge solution's limit.
    """
    l2, scaling, _, tol = _check_options(l2, scaling, "mm", tol)
    max_iter = check_int("max_iter", max_iter, minimum=1)
    X_a, y_a, X_b, y_b = check_labeled_pair(X_a, y_a, X_b, y_b, n_classes)
    X = np.concatenate([X_a, X_b])
    if scaling == "pair":
        X = StandardScaler().fit_transform(X)
    y = np.concatenate([y_a, y_b])
    signed = _signed_weights(len(y_a), len(y_b))
    targets = label_flip_targets(np.asarray(y_a), np.asarray(y_b), n_classes)
    scores = np.empty_like(targets)
    C = np.inf if l2 == 0 else 1.0 / l2
    for p in range(targets.shape[1]):
        z = targets[:, p]
        if np.all(z == z[0]):
            scores[:, p] = np.inf if z[0] == 1 else -np.inf
            continue
        model = LogisticRegression(C=C, tol=tol, max_iter=max_iter).fit(X, z, sample_weight=np.abs(signed))
        scores[:, p] = model.decision_function(X)
    return float(flip_discrepancy(scores, y, signed, n_classes))


def source_rows(source: np.ndarray, n_sources: int) -> tuple[np.ndarray, np.ndarray]:
    """(N, M) row indices of every source padded with row 0, and the (N, M) mask of real rows."""
    sizes = np.bincount(source, minlength=n_sources)
    order = np.argsort(source, kind="stable")
    position = np.arange(len(source)) - np.repeat(np.cumsum(sizes) - sizes, sizes)
    rows = np.zeros((n_sources, sizes.max()), dtype=np.int64)
    real = np.zeros((n_sources, sizes.max()), dtype=bool)
    rows[source[order], position] = order
    real[source[order], position] = True
    return rows, real


def pair_tiles(n_sources: int, chunk_size: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """The pairs a < b in tiles of the upper triangle with at most ``chunk_size`` pairs each.

    A tile is a block of T x T sources (T(T-1)/2 pairs on the diagonal), T = floor(sqrt(chunk_size)),
    so every source of a tile is in as many of its pairs and the per-source GEMM stacks are balanced.
    """
    side = max(1, int(np.sqrt(chunk_size)))
    starts = list(range(0, n_sources, side))
    for k, i in enumerate(starts):
        for j in starts[k:]:
            grid = np.meshgrid(
                np.arange(i, min(i + side, n_sources)), np.arange(j, min(j + side, n_sources)), indexing="ij"
            )
            keep = grid[0] < grid[1]
            if keep.any():
                yield grid[0][keep], grid[1][keep]


@dataclass(frozen=True)
class SourceMoments:
    """Per-source feature means and variances, from which every pooled pair's scaling follows.

    The solver works on ``x~ = (x - center) / scale`` (global statistics: an exact reparametrisation,
    since the intercept is free), where the unscaled ridge ``l2 ||w||^2`` is ``l2 sum_j w~_j^2 / scale_j^2``
    and the per-pair-scaled one ``l2 sum_j (sigma_ab,j / scale_j)^2 w~_j^2``, ``sigma_ab`` the pooled
    pair's standard deviation (1 for a constant feature, as in scikit-learn's ``StandardScaler``).
    Moments are in the x~ coordinates; variances by two passes, pooled by Chan et al.'s formula.
    """

    mean: np.ndarray  # (N, d)
    var: np.ndarray  # (N, d)
    sizes: np.ndarray  # (N,)
    center: np.ndarray  # (d,)
    scale: np.ndarray  # (d,)

    @classmethod
    def of_sources(
        cls, X: np.ndarray, rows: np.ndarray, real: np.ndarray, center: np.ndarray, scale: np.ndarray
    ) -> SourceMoments:
        """Moments of the padded sources ``X[rows]`` (``real`` marks the real rows)."""
        sizes = real.sum(1)
        mask = real[..., None]
        mean = np.where(mask, X[rows], 0.0).sum(1) / sizes[:, None]
        var = np.where(mask, (X[rows] - mean[:, None]) ** 2, 0.0).sum(1) / sizes[:, None]
        return cls(mean, var, sizes, center, scale)

    def penalty(self, a: np.ndarray, b: np.ndarray, l2: float, scaling: str) -> np.ndarray:
        """(n, d) ridge ``r_ab`` on the coefficients (x~ coordinates) of the pairs (a, b)."""
        if scaling == "none":
            return np.broadcast_to(l2 / self.scale**2, (len(a), len(self.scale)))
        m_a, m_b = self.sizes[a, None], self.sizes[b, None]
        count = m_a + m_b
        mean = (m_a * self.mean[a] + m_b * self.mean[b]) / count
        var = (m_a * self.var[a] + m_b * self.var[b]) / count + m_a * m_b / count**2 * (
            self.mean[a] - self.mean[b]
        ) ** 2
        # StandardScaler's test for a constant feature (sklearn.preprocessing._data._is_constant_feature),
        # in the original units.
        eps = np.finfo(np.float64).eps
        var_raw, mean_raw = var * self.scale**2, mean * self.scale + self.center
        constant = var_raw <= count * eps * var_raw + (count * mean_raw * eps) ** 2
        return l2 * np.where(constant, 1.0 / self.scale**2, var)


def _workspace_per_pair(solver: str, M: int, D: int, P: int) -> int:
    """Float elements one pair occupies in a chunk (bound inverses, logits, iterates, scores)."""
    if solver == "newton":
        return P * (2 * M * D + D * D) + 2 * M * D
    return 3 * D * D + P * (10 * M + 8 * D)


def _source_designs(
    X: np.ndarray, y: np.ndarray, rows: np.ndarray, real: np.ndarray, n_classes: int, device: torch.device
) -> SourceDesigns:
    """Padded per-source designs ``[x~, 1]`` (0 on padding), weights ``1/m_i`` and both target sets."""
    design = np.where(real[..., None], np.concatenate([X[rows], np.ones((*rows.shape, 1))], axis=-1), 0.0)
    weights = np.where(real, 1.0 / real.sum(1, keepdims=True), 0.0)
    y_rows, none = y[rows], np.zeros((len(rows), 0), dtype=y.dtype)
    as_tensor = lambda a: torch.as_tensor(a, dtype=torch.float64, device=device)  # noqa: E731
    return SourceDesigns.build(
        as_tensor(design),
        as_tensor(weights),
        as_tensor(label_flip_targets(y_rows, none, n_classes)),
        as_tensor(label_flip_targets(none, y_rows, n_classes)),
    )


def _scores_mm(
    designs: SourceDesigns,
    a: np.ndarray,
    b: np.ndarray,
    penalty: torch.Tensor,
    *,
    max_iter: int,
    tol: float,
    gemm_dtype: torch.dtype,
) -> torch.Tensor:
    """(n, 2M, P) pooled scores of the pairs' problems trained by bound-Hessian MM."""
    W = fit_pairs_bound_hessian(designs, a, b, penalty, max_iter=max_iter, tol=tol, gemm_dtype=gemm_dtype)
    return torch.cat(pair_scores(designs, a, b, W), dim=1)


def _scores_newton(
    designs: SourceDesigns,
    a: np.ndarray,
    b: np.ndarray,
    penalty: torch.Tensor,
    *,
    max_iter: int,
    tol: float,
    gemm_dtype: torch.dtype,
) -> torch.Tensor:
    """(n, 2M, P) pooled scores of the pairs' problems trained by batched damped Newton steps."""
    a_t, b_t = (torch.as_tensor(i, device=designs.X.device) for i in (a, b))
    X = torch.cat([designs.X[a_t], designs.X[b_t]], dim=1).to(gemm_dtype)
    Z = torch.cat([designs.targets_first[a_t], designs.targets_second[b_t]], dim=1).to(gemm_dtype)
    weights = torch.cat([designs.weights[a_t], designs.weights[b_t]], dim=1).to(gemm_dtype)
    W = fit_weighted_logistic(X, Z, weights, l2=penalty[:, :-1].to(gemm_dtype), max_iter=max_iter, tol=tol)
    return torch.einsum("bnd,bkd->bnk", X, W).to(torch.float64)


_SCORES = {"mm": _scores_mm, "newton": _scores_newton}


def map_tiles(fn: Callable[[T], R], tiles: list[T], device: torch.device) -> Iterator[R]:
    """``fn`` over the tiles, in order: on CPU one tile per torch thread, each tile's ops on one thread.

    The tiles' ops are small (d x d systems, GEMMs of a few hundred rows), so OpenMP inside each op
    mostly waits at barriers: on the shared 2-core machine a 2-thread run of the N = 1000 matrix took
    193 s against 14 s on one thread. Whole tiles on separate threads (torch releases the GIL in its
    ops) keep every core busy instead. Every tile's values depend on its own pairs only, so the result
    is the same whatever the number of threads.
    """
    workers = torch.get_num_threads() if device.type == "cpu" else 1
    if workers == 1 or len(tiles) == 1:
        yield from map(fn, tiles)
        return
    with limit_threads(1, blas=False), ThreadPoolExecutor(max_workers=workers) as pool:
        yield from pool.map(fn, tiles)


def linear_pairwise_matrix(
    X: np.ndarray,
    y: np.ndarray,
    source: np.ndarray,
    *,
    n_sources: int,
    n_classes: int,
    l2: float = 1e-3,
    scaling: str = "none",
    solver: str = "mm",
    max_iter: int | None = None,
    tol: float = 1e-8,
    chunk_size: int | None = None,
    device: str | torch.device | None = "auto",
    dtype: torch.dtype | None = None,
    progress: bool = False,
    pair_sample: int | None = None,
    rng: SeedLike = None,
) -> np.ndarray:
    """(N, N) label-flip ERM discrepancies of all pairs of sources, every pair's problems trained together.

    Parameters
    ----------
    X, y, source : pooled features (n, d), labels (n,) and source ids (n,) of the N sources.
    n_sources, n_classes : N and K.
    l2 : ridge on the coefficients, >= 0; ``l2 = 1 / C`` of scikit-learn (module docstring), 0 for
        unregularised fits (a pair that the pooled classifier separates has its optimum at infinity;
        the solver stops at ``tol`` or ``max_iter`` and its classifier already separates them).
    scaling : "none", or "pair" to standardise each pooled pair by its own statistics (FLEA).
    solver : "mm" (bound-Hessian majorize-minimize, one GEMM per source per step,
        :func:`~multisource.discrepancy.bound_hessian.fit_pairs_bound_hessian`) or "newton" (damped
        Newton, :func:`~multisource.discrepancy.logistic.fit_weighted_logistic`).
    max_iter : iteration cap per problem; default 1000 (mm) or 50 (newton).
    tol : stop a problem once its decrement ``g^T B^{-1} g`` (mm) or ``g^T H^{-1} g`` (newton) is < tol.
    chunk_size : pairs trained at once (default: what fits a fixed workspace of 2**24 floats).
    device : torch device ("auto": CUDA when present).
    dtype : dtype of the data-sized products: default float32 (mm, whose d x d systems and iterates
        stay float64) or float64 (newton).
    progress : show a progress bar over the pairs.
    pair_sample : None for all pairs, or s: each source against a random sample of ``2 ceil(s/2)``
        others, a symmetric pair set (:mod:`multisource.discrepancy.sampling`), for the rules that read
        row quantiles (``quantile``, ``multi_krum``); all pairs when ``2 ceil(s/2) >= N - 1``.
    rng : seed or Generator of the sample (used only with ``pair_sample``).

    Returns
    -------
    disc : (N, N) float64, symmetric with a zero diagonal; NaN where a pair was not sampled. A sampled
        entry equals the full matrix's.
    """
    X, y = check_labeled_sample(("X", "y"), X, y, n_classes)
    source = check_source_ids(source, n_sources, len(y))
    progress = check_bool("progress", progress)
    l2, scaling, solver, tol = _check_options(l2, scaling, solver, tol)
    default_iter, default_dtype = SOLVERS[solver]
    max_iter = check_int("max_iter", default_iter if max_iter is None else max_iter, minimum=1)
    dtype = default_dtype if dtype is None else dtype
    if dtype not in (torch.float32, torch.float64):
        raise ValueError(f"dtype must be torch.float32 or torch.float64, got {dtype!r}")
    half = None if pair_sample is None else band_half_width(n_sources, pair_sample)
    generator = check_random_state(rng, "rng")
    sizes = np.bincount(source, minlength=n_sources)
    if np.any(sizes == 0):
        raise ValueError(
            f"every source needs at least one sample; empty sources: {np.flatnonzero(sizes == 0).tolist()}"
        )
    device = resolve_device(device)
    center, scale = X.mean(axis=0), X.std(axis=0)
    scale[scale == 0] = 1.0
    X = (X - center) / scale
    rows, real = source_rows(source, n_sources)
    moments = SourceMoments.of_sources(X, rows, real, center, scale)
    designs = _source_designs(X, y, rows, real, n_classes, device)
    per_pair = _workspace_per_pair(solver, rows.shape[1], X.shape[1] + 1, n_problems(n_classes))
    chunk_size = check_int(
        "chunk_size", max(1, _CHUNK_ELEMENTS // per_pair) if chunk_size is None else chunk_size, minimum=1
    )
    y_rows, signed = y[rows], np.where(real, 1.0 / sizes[:, None], 0.0)

    def tile_discrepancies(tile: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
        a, b = tile
        ridge = np.pad(moments.penalty(a, b, l2, scaling), ((0, 0), (0, 1)))  # the intercept is free
        penalty = torch.as_tensor(ridge, dtype=torch.float64, device=device)
        scores = _SCORES[solver](designs, a, b, penalty, max_iter=max_iter, tol=tol, gemm_dtype=dtype)
        pooled_y, pooled_signed = np.hstack([y_rows[a], y_rows[b]]), np.hstack([signed[a], -signed[b]])
        return flip_discrepancy(scores.cpu().numpy(), pooled_y, pooled_signed, n_classes)

    if half is None:
        tiles = list(pair_tiles(n_sources, chunk_size))
    else:
        tiles = list(sampled_pair_tiles(generator.permutation(n_sources), half, chunk_size))
    disc = np.full((n_sources, n_sources), np.nan)
    np.fill_diagonal(disc, 0.0)
    with tqdm(total=sum(len(a) for a, _ in tiles), disable=not progress, desc="pairwise disc") as bar:
        for (a, b), values in zip(tiles, map_tiles(tile_discrepancies, tiles, device), strict=True):
            disc[a, b] = disc[b, a] = values
            bar.update(len(a))
    return disc
