"""Multi-Krum (Blanchard et al. 2017) run on the discrepancy matrix instead of parameter distances.

Krum scores source ``i`` by the sum of its ``N - f - 2`` smallest discrepancies to *other*
sources; Multi-Krum keeps the ``N - f`` sources with the smallest scores (reference note 4.7,
"Krum on disc").
"""

from __future__ import annotations

import numpy as np

from multisource.filtering.checks import check_disc_matrix, keep_smallest, n_adversarial
from multisource.filtering.registry import FILTERING_RULES, Selection


def krum_scores(disc: np.ndarray, f: int) -> np.ndarray:
    """(N,) Krum scores: ``score_i = sum of the N - f - 2 smallest d_ij over j != i``."""
    n = disc.shape[0]
    n_neighbours = n - f - 2
    if n_neighbours < 1:
        raise ValueError(f"Krum needs N >= f + 3 sources, got N={n} and f={f}")
    # Putting +inf on the diagonal excludes the self-distance from the neighbours.
    off_diagonal = disc + np.diag(np.full(n, np.inf))
    return np.partition(off_diagonal, n_neighbours - 1, axis=1)[:, :n_neighbours].sum(axis=1)


@FILTERING_RULES.register("multi_krum")
def multi_krum(disc: np.ndarray, sizes: np.ndarray, alpha: float | None = None, *, f: int | None = None) -> Selection:
    """Keep the ``N - f`` sources with the smallest Krum scores on ``disc`` (``f = floor(alpha N)`` unless given).

    Ties with the last kept score are kept too, so the result is permutation-equivariant.
    """
    disc, sizes = check_disc_matrix(disc, sizes)
    n = disc.shape[0]
    n_bad = n_adversarial(n, alpha, f, rule="multi_krum")
    scores = krum_scores(disc, n_bad)
    return Selection.from_mask(keep_smallest(scores, n - n_bad), sizes, scores=scores, f=n_bad, fell_back=False)
