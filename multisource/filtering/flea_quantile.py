"""FLEA's threshold-free quantile filter (Iofinova, Konstantinov & Lampert, "FLEA: Provably Robust Fair
Multisource Learning from Unreliable Training Data", TMLR 2022: the source-selection step of FLEA).

``q_i`` is the ``(N - n_bad)``-th smallest entry of row ``i`` of the discrepancy matrix (self
included): the radius of the smallest ball around ``i`` holding as many sources as there are clean
ones. The ``N - n_bad`` sources with the smallest ``q_i`` are kept.

On a sampled matrix (NaN = pair not evaluated, ``pair_sample`` of the linear discrepancy, see
:mod:`multisource.discrepancy.sampling`) ``q_i`` is estimated by the same quantile level of the
``n_i`` evaluated entries of row ``i`` (self included): their ``ceil((N - n_bad) n_i / N)``-th
smallest, which is the exact ``q_i`` when the row is complete.
"""

from __future__ import annotations

import numpy as np

from multisource.data.selection import Selection
from multisource.filtering.checks import (
    check_disc_matrix,
    evaluated_rows,
    keep_smallest,
    kth_smallest_per_row,
    rule_n_bad,
)
from multisource.filtering.registry import FILTERING_RULES


def row_quantile(disc: np.ndarray, k: int) -> np.ndarray:
    """(N,) ``q_i``: the k-th smallest of row i, or its sample estimate on a sampled row (module docstring)."""
    if not np.isnan(disc).any():
        return kth_smallest_per_row(disc, k)
    values, counts = evaluated_rows(disc, self_included=True)
    rank = -(-k * counts // disc.shape[0])
    return values[np.arange(len(values)), rank - 1]


@FILTERING_RULES.register("quantile", partial=True)
def quantile(disc: np.ndarray, sizes: np.ndarray, alpha: float | None = None, *, n_bad: int | None = None) -> Selection:
    """Keep the ``N - n_bad`` sources with the smallest ``q_i`` = ``(N - n_bad)``-th smallest of row ``i``.

    ``n_bad = floor(alpha N)`` unless given. Sources tied with the last kept score are kept too, so
    the result does not depend on the order of the sources (it may then keep more than ``N - n_bad``).
    """
    disc, sizes = check_disc_matrix(disc, sizes, partial=True)
    n = disc.shape[0]
    n_bad = rule_n_bad(n, alpha, n_bad, rule="quantile")
    q = row_quantile(disc, n - n_bad)
    return Selection.from_mask(keep_smallest(q, n - n_bad), sizes, scores=q, n_bad=n_bad, fell_back=False)
