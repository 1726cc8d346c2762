"""Multi-Krum (Blanchard et al., NeurIPS 2017) run on the discrepancy matrix instead of parameter distances.

Krum scores source ``i`` by the sum of its ``N - n_bad - 2`` smallest discrepancies to *other*
sources; Multi-Krum keeps the ``N - n_bad`` sources with the smallest scores. Blanchard et al. score
gradients by squared Euclidean distances (their Section 4); with ``disc_H`` in their place the rule
filters sources of samples (our "Krum on disc" variant: the discrepancy is a pseudo-metric on sources).

On a sampled matrix (NaN = pair not evaluated, ``pair_sample`` of the linear discrepancy) the score
of a row with ``n_i`` evaluated others is estimated from the same fraction of them: the sum of its
``u_i = ceil((N - n_bad - 2) n_i / (N - 1))`` smallest, times ``(N - n_bad - 2) / u_i`` (exact on a
complete row).
"""

from __future__ import annotations

import warnings

import numpy as np

from multisource.data.selection import Selection
from multisource.filtering.checks import check_disc, check_disc_matrix, evaluated_rows, keep_smallest, rule_n_bad
from multisource.filtering.registry import FILTERING_RULES
from multisource.utils.validation import check_int


def krum_scores(disc: np.ndarray, n_bad: int) -> np.ndarray:
    """(N,) Krum scores ``sum of the N - n_bad - 2 smallest d_ij over j != i`` (estimated on a sampled matrix)."""
    return _krum_scores(check_disc(disc, partial=True), check_int("n_bad", n_bad, minimum=0))


def _krum_scores(disc: np.ndarray, n_bad: int) -> np.ndarray:
    """:func:`krum_scores` of a matrix already checked (by :func:`check_disc` or :func:`check_disc_matrix`)."""
    n = disc.shape[0]
    n_neighbours = n - n_bad - 2
    if n_neighbours < 1:
        raise ValueError(f"n_bad must be <= N - 3 = {n - 3} for Krum (N - n_bad - 2 >= 1 neighbours), got {n_bad}")
    if np.isnan(disc).any():
        values, counts = evaluated_rows(disc, self_included=False)
        used = -(-n_neighbours * counts // (n - 1))
        return np.cumsum(values, axis=1)[np.arange(n), used - 1] * n_neighbours / used
    # Putting +inf on the diagonal excludes the self-distance from the neighbours.
    off_diagonal = disc + np.diag(np.full(n, np.inf))
    return np.partition(off_diagonal, n_neighbours - 1, axis=1)[:, :n_neighbours].sum(axis=1)


@FILTERING_RULES.register("multi_krum", partial=True)
def multi_krum(
    disc: np.ndarray, sizes: np.ndarray, alpha: float | None = None, *, n_bad: int | None = None
) -> Selection:
    """Keep the ``N - n_bad`` sources with the smallest Krum scores on ``disc``.

    ``n_bad = floor(alpha N)`` unless given. Ties with the last kept score are kept too, so the result is
    permutation-equivariant. Warns (RuntimeWarning) when ``N < 2 n_bad + 3``, outside the condition of
    Blanchard et al.'s guarantee (their Proposition 1, ``2 n_bad + 2 < N``).
    """
    disc, sizes = check_disc_matrix(disc, sizes, partial=True)
    n = disc.shape[0]
    n_bad = rule_n_bad(n, alpha, n_bad, rule="multi_krum")
    scores = _krum_scores(disc, n_bad)
    if n < 2 * n_bad + 3:
        warnings.warn(
            f"multi_krum with n_bad={n_bad} needs N >= 2 n_bad + 3 = {2 * n_bad + 3} sources for its guarantee, "
            f"got N={n}",
            RuntimeWarning,
            stacklevel=2,
        )
    return Selection.from_mask(keep_smallest(scores, n - n_bad), sizes, scores=scores, n_bad=n_bad, fell_back=False)
