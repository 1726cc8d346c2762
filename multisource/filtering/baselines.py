"""Baselines every robust rule is compared with: all data, the clean-only oracle, one trusted source."""

from __future__ import annotations

import numpy as np

from multisource.data.selection import Selection
from multisource.filtering.checks import check_disc_matrix
from multisource.filtering.registry import FILTERING_RULES
from multisource.utils.validation import check_int


def _check_bad_mask(bad: object, n_sources: int, rule: str) -> np.ndarray:
    if bad is None:
        raise ValueError(
            f"rule {rule!r} is an oracle: pass bad=<(N,) bool mask of the bad sources> or context=RuleContext(bad=...)"
        )
    bad = np.asarray(bad)
    if bad.shape != (n_sources,) or bad.dtype != bool:
        raise ValueError(f"bad must be a boolean mask of shape ({n_sources},), got {bad.dtype} {bad.shape}")
    if bad.all():
        raise ValueError(f"bad must leave at least one clean source for an oracle, got {bad.tolist()}")
    return bad


@FILTERING_RULES.register("all_data", kind="baseline")
def all_data(disc: np.ndarray, sizes: np.ndarray, alpha: float | None = None) -> Selection:
    """Keep every source: pooled ERM on all data, the naive baseline."""
    disc, sizes = check_disc_matrix(disc, sizes)
    return Selection.from_mask(np.ones(disc.shape[0], dtype=bool), sizes, fell_back=False)


@FILTERING_RULES.register("clean_only", kind="baseline", needs_bad=True)
def clean_only(
    disc: np.ndarray, sizes: np.ndarray, alpha: float | None = None, *, bad: np.ndarray | None = None
) -> Selection:
    """Oracle: keep exactly the clean sources, given the true mask ``bad`` of corrupted ones."""
    disc, sizes = check_disc_matrix(disc, sizes)
    bad = _check_bad_mask(bad, disc.shape[0], "clean_only")
    return Selection.from_mask(~bad, sizes, fell_back=False)


@FILTERING_RULES.register("single_trusted", kind="baseline", needs_bad=True)
def single_trusted(
    disc: np.ndarray,
    sizes: np.ndarray,
    alpha: float | None = None,
    *,
    trusted: int | None = None,
    bad: np.ndarray | None = None,
) -> Selection:
    """Keep one source known to be clean: ``trusted`` (an index) or, given ``bad``, the first clean source.

    Registered with ``needs_bad``: run from a spec or with a ``RuleContext`` it receives the true mask.
    """
    disc, sizes = check_disc_matrix(disc, sizes)
    n = disc.shape[0]
    if trusted is None:
        trusted = int(np.flatnonzero(~_check_bad_mask(bad, n, "single_trusted"))[0])
    trusted = check_int("trusted", trusted, minimum=0, maximum=n - 1)
    return Selection.from_mask(np.arange(n) == trusted, sizes, trusted=trusted, fell_back=False)
