"""Sampled pair sets: each source against a random sample of others, for filters that read row quantiles.

FLEA's quantile rule and Multi-Krum on disc read only order statistics of each row of the matrix
(:mod:`multisource.filtering.flea_quantile`, :mod:`multisource.filtering.krum`); both can be
estimated from a random sample of the row. With N = 10,000 sources the full matrix has 5e7 pairs;
a sample of s = 50 others per source has 2.5e5.

The design is a band in a random order: draw a permutation ``pi`` of the sources and pair the source
at position p with those at positions ``p + 1, ..., p + h (mod N)``, ``h = ceil(s / 2)``. Every
source then has exactly ``2h`` others (h after it, h before it), the pair set is symmetric, no pair
repeats while ``2h < N - 1``, and, since ``pi`` is uniform, the others of any one source are a
uniformly random ``2h``-subset of the rest (sampling without replacement). The band keeps the
per-source GEMMs of the solver balanced: a tile of T positions and K offsets holds about 2T + K
sources, each in at most K of its pairs (:func:`sampled_pair_tiles`).
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from multisource.utils.validation import check_int


def band_half_width(n_sources: int, pair_sample: int) -> int | None:
    """``h = ceil(s / 2)`` of a sample of ``pair_sample`` = s others, or None when ``2h >= N - 1`` (all pairs)."""
    pair_sample = check_int("pair_sample", pair_sample, minimum=1)
    half = -(-pair_sample // 2)
    return None if 2 * half >= n_sources - 1 else half


def sampled_pair_tiles(order: np.ndarray, half: int, chunk_size: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """The band's pairs ``(pi[p], pi[p + k mod N])``, k = 1..h, as (a < b) tiles of at most ``chunk_size``.

    A tile is a block of T consecutive positions by K consecutive offsets, K = min(h, sqrt(chunk_size)),
    T = chunk_size // K.
    """
    n = len(order)
    if half < 1 or 2 * half >= n - 1:
        raise ValueError(f"half must lie in [1, {(n - 2) // 2}] (2 half < N - 1) for N = {n}, got {half}")
    width = min(half, max(1, int(np.sqrt(chunk_size))))
    length = max(1, chunk_size // width)
    for k0 in range(1, half + 1, width):
        offsets = np.arange(k0, min(k0 + width, half + 1))
        for p0 in range(0, n, length):
            positions = np.arange(p0, min(p0 + length, n))
            first = order[np.repeat(positions, len(offsets))]
            second = order[(positions[:, None] + offsets).ravel() % n]
            yield np.minimum(first, second), np.maximum(first, second)
