"""Input checks specific to the filtering rules (the discrepancy matrix, the number of bad sources), built on
:mod:`multisource.utils.validation`."""

from __future__ import annotations

import numpy as np

from multisource.utils.validation import check_finite_array, check_int, n_bad_sources


def check_disc_matrix(disc: object, sizes: object, *, partial: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """``disc`` as a symmetric (N, N) float64 matrix with zero diagonal (:func:`check_disc`) and ``sizes`` as
    (N,) positive ints.

    Raises
    ------
    ValueError
        When ``disc`` is refused by :func:`check_disc`, or ``sizes`` does not hold one positive count per source.
    """
    disc = check_disc(disc, partial=partial)
    sizes_arr = np.asarray(sizes)
    if sizes_arr.shape != (disc.shape[0],):
        raise ValueError(f"sizes must have shape ({disc.shape[0]},) (one count per source), got {sizes_arr.shape}")
    if not np.issubdtype(sizes_arr.dtype, np.integer) and not np.all(sizes_arr == np.round(sizes_arr)):
        raise ValueError(f"sizes must hold integer sample counts, got {sizes_arr.tolist()}")
    if np.any(sizes_arr < 1):
        raise ValueError(f"sizes must be >= 1: every source needs at least one sample, got {sizes_arr.tolist()}")
    return disc, sizes_arr.astype(np.int64)


def check_disc(disc: object, *, partial: bool = False) -> np.ndarray:
    """``disc`` as a symmetric (N, N) float64 matrix, N >= 1, with non-negative entries and zero diagonal.

    With ``partial``, NaN marks a pair that was not evaluated (a sampled matrix, ``pair_sample`` of
    the linear discrepancy): allowed off the diagonal, in a symmetric pattern, and kept in the result.

    Raises
    ------
    ValueError
        When ``disc`` is not square, has NaN/inf or negative entries, is not symmetric or has a non-zero
        diagonal (a discrepancy is a pseudo-metric, ``disc(S_i, S_i) = 0``).
    """
    unevaluated = np.isnan(np.asarray(disc, dtype=np.float64)) if partial else None
    if unevaluated is not None and unevaluated.ndim == 2 and len(set(unevaluated.shape)) == 1:
        if not np.array_equal(unevaluated, unevaluated.T) or np.diag(unevaluated).any():
            raise ValueError("disc must have a symmetric pattern of NaN (unevaluated pairs) off the diagonal")
        lonely = np.flatnonzero(unevaluated.sum(axis=1) >= max(1, len(unevaluated) - 1))
        if lonely.size:
            raise ValueError(f"disc must have an evaluated pair in every row, got none in rows {lonely.tolist()}")
        disc = np.where(unevaluated, 0.0, np.asarray(disc, dtype=np.float64))
    elif np.isnan(np.asarray(disc, dtype=np.float64)).any():
        raise ValueError(
            "disc must hold every pair, got NaN (pairs not evaluated, e.g. pair_sample of the linear discrepancy); "
            "only the rules 'quantile' and 'multi_krum' read a sampled matrix"
        )
    disc = check_finite_array("disc", disc, ndim=2)
    if disc.shape[0] != disc.shape[1] or disc.shape[0] < 1:
        raise ValueError(f"disc must be a square (N, N) matrix with N >= 1, got shape {disc.shape}")
    if np.any(disc < 0):
        raise ValueError(f"disc must be non-negative (a discrepancy is a pseudo-metric), got min {disc.min()}")
    if not np.allclose(disc, disc.T, rtol=0.0, atol=1e-9):
        raise ValueError(
            f"disc must be symmetric: disc[i, j] == disc[j, i], got max |disc - disc.T| = {np.abs(disc - disc.T).max()}"
        )
    if np.any(np.abs(np.diag(disc)) > 1e-9):
        raise ValueError(f"disc must have a zero diagonal: disc(S_i, S_i) = 0, got diagonal {np.diag(disc).tolist()}")
    if unevaluated is not None and unevaluated.any():
        disc = np.where(unevaluated, np.nan, disc)
    return disc


def rule_n_bad(n_sources: int, alpha: float | None, n_bad: int | None, *, rule: str) -> int:
    """The number of bad sources a known-alpha rule guards against: ``n_bad``, or ``floor(alpha N)``.

    Exactly one of ``alpha`` and ``n_bad`` must be given; ``n_bad`` must be < N/2 (the adversary
    controls a minority of the sources, ``docs/bounds.md``, "Setting and notation").
    """
    if (alpha is None) == (n_bad is None):
        raise ValueError(
            f"rule {rule!r} needs exactly one of alpha (fraction of bad sources) or n_bad (their number), "
            f"got alpha={alpha}, n_bad={n_bad}"
        )
    if n_bad is None:
        return n_bad_sources(alpha, n_sources)
    n_bad = check_int("n_bad", n_bad, minimum=0)
    if 2 * n_bad >= n_sources:
        raise ValueError(f"n_bad must be < N/2 = {n_sources / 2} (a minority of the {n_sources} sources), got {n_bad}")
    return n_bad


def evaluated_rows(disc: np.ndarray, *, self_included: bool) -> tuple[np.ndarray, np.ndarray]:
    """The evaluated (non-NaN) entries of every row, sorted, padded with +inf, and their (N,) counts.

    ``self_included=False`` leaves out the diagonal. One pass over the matrix, then a sort of the
    (N, max count) compressed rows only, so a sampled matrix costs its samples, not N^2 log N.
    """
    evaluated = ~np.isnan(disc)
    if not self_included:
        np.fill_diagonal(evaluated, False)
    counts = evaluated.sum(axis=1)
    rows, cols = np.nonzero(evaluated)
    position = np.arange(len(rows)) - np.repeat(np.cumsum(counts) - counts, counts)
    values = np.full((disc.shape[0], max(1, int(counts.max(initial=0)))), np.inf)
    values[rows, position] = disc[rows, cols]
    return np.sort(values, axis=1), counts


def kth_smallest_per_row(disc: np.ndarray, k: int) -> np.ndarray:
    """(N,) the k-th smallest entry (1-based) of every row of ``disc``, the zero self-distance included."""
    return np.partition(disc, k - 1, axis=1)[:, k - 1]


def keep_smallest(scores: np.ndarray, n_keep: int) -> np.ndarray:
    """Mask of the ``n_keep`` smallest scores; ties at the cut are all kept, so the mask is permutation-equivariant."""
    cut = np.partition(scores, n_keep - 1)[n_keep - 1]
    return scores <= cut
