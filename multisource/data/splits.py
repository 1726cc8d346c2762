"""Ways to deal a pool of samples into N sources, and to hold out a stratified test set.

Every split is a :class:`Split` record in ``SPLITS``; the record says which of two kinds it is.

*Simulated* splits deal the pool into sources of chosen sizes::

    deal(X, y, *, sizes, n_classes, rng, **params) -> list of N index arrays into the pool

``sizes`` is the (N,) array of source sizes m_i (all equal to m when ``make_multisource`` gets an
int ``m``); the N arrays are disjoint and array i has ``sizes[i]`` rows.

*Natural* splits (``by_groups=True``; the split ``"by_column"``) take the sources from the data's own
groups, e.g. the district of each woman in the contraception survey::

    deal(groups, group_names, **params) -> NaturalSources

Users add a simulated split with ``@register_split("name")`` on such a function.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from multisource.utils.registry import Registry
from multisource.utils.validation import check_int, check_real

OTHER = "other"
SMALL_POLICIES = ("drop", "merge")


@dataclass(frozen=True)
class Split:
    """A registered split: its ``deal`` function and whether it uses the data's groups (see the module doc)."""

    deal: Callable[..., Any]
    by_groups: bool = False


SPLITS: Registry[Split] = Registry("split")


def register_split(name: str, *, by_groups: bool = False) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Decorator registering ``deal`` in ``SPLITS`` under ``name`` as a :class:`Split`; returns ``deal``."""

    add = SPLITS.register(name)  # checks the name now, before the decorator is applied

    def decorator(deal: Callable[..., Any]) -> Callable[..., Any]:
        add(Split(deal=deal, by_groups=by_groups))
        return deal

    return decorator


def _cut(order: np.ndarray, sizes: np.ndarray) -> list[np.ndarray]:
    """Consecutive blocks of ``order`` of lengths ``sizes``."""
    return np.split(order[: int(sizes.sum())], np.cumsum(sizes)[:-1])


@register_split("iid")
def iid_split(
    X: np.ndarray, y: np.ndarray, *, sizes: np.ndarray, n_classes: int, rng: np.random.Generator
) -> list[np.ndarray]:
    """Every source is a uniform random sample without replacement: all sources follow one distribution."""
    return _cut(rng.permutation(len(y)), sizes)


@register_split("dirichlet")
def dirichlet_split(
    X: np.ndarray,
    y: np.ndarray,
    *,
    sizes: np.ndarray,
    n_classes: int,
    rng: np.random.Generator,
    concentration: float = 1.0,
) -> list[np.ndarray]:
    """Label skew: source i draws its class proportions ``q_i ~ Dirichlet(concentration * 1_K)``.

    Small ``concentration`` gives sources dominated by few classes; large gives nearly iid sources.
    When a class runs out, the source's remaining samples come from its other classes in proportion
    to ``q_i`` (or to what is left, if all of its classes are exhausted).
    """
    concentration = check_real("concentration", concentration, low=0.0, low_open=True)
    pools = [rng.permutation(np.flatnonzero(y == k)) for k in range(n_classes)]
    taken = np.zeros(n_classes, dtype=np.int64)
    proportions = rng.dirichlet(np.full(n_classes, concentration), size=len(sizes))
    rows = []
    for i, m_i in enumerate(sizes):
        chosen: list[np.ndarray] = []
        need = int(m_i)
        while need:
            available = np.array([len(p) for p in pools]) - taken
            weights = proportions[i] * (available > 0)
            if weights.sum() == 0:
                weights = available.astype(np.float64)
            counts = np.minimum(rng.multinomial(need, weights / weights.sum()), available)
            for k in np.flatnonzero(counts):
                chosen.append(pools[k][taken[k] : taken[k] + counts[k]])
                taken[k] += counts[k]
            need -= int(counts.sum())
        rows.append(rng.permutation(np.concatenate(chosen)))
    return rows


@register_split("covariate_shift")
def covariate_shift_split(
    X: np.ndarray,
    y: np.ndarray,
    *,
    sizes: np.ndarray,
    n_classes: int,
    rng: np.random.Generator,
    strength: float = 0.5,
) -> list[np.ndarray]:
    """Covariate shift: sources cover different ranges of the leading principal direction of X.

    Each sample gets the key ``strength * r + (1 - strength) * u`` with ``r`` its rank quantile along
    the first principal component and ``u ~ U(0, 1)``; sorting by the key and cutting consecutive blocks
    of m_i gives the sources. ``strength=0`` is an iid split, ``strength=1`` gives disjoint slabs.
    """
    strength = check_real("strength", strength, low=0.0, high=1.0)
    centred = X - X.mean(axis=0)
    direction = np.linalg.svd(centred, full_matrices=False)[2][0]
    rank = np.argsort(np.argsort(centred @ direction)) / max(len(y) - 1, 1)
    key = strength * rank + (1.0 - strength) * rng.random(len(y))
    # Spreading the blocks over the whole key range (the pool may hold more than sum(m_i) samples)
    # keeps the sources' shifts symmetric around the pool's centre: the unused samples form N-1
    # equal gaps between consecutive blocks.
    n_sources = len(sizes)
    gap = (len(y) - int(sizes.sum())) / max(n_sources - 1, 1)
    starts = np.rint(np.concatenate([[0], np.cumsum(sizes)[:-1]]) + np.arange(n_sources) * gap).astype(np.int64)
    order = np.argsort(key)
    return [rng.permutation(order[start : start + m_i]) for start, m_i in zip(starts, sizes, strict=True)]


@dataclass(frozen=True)
class NaturalSources:
    """Sources taken from groups of rows (e.g. districts).

    Attributes
    ----------
    source : (n,) int64 source id of each row in ``0 .. N-1``, or -1 where the row's group was dropped.
    names : (N,) the name of each source: its group's name, or ``"other"`` for the merged tiny groups.
    """

    source: np.ndarray
    names: tuple[Hashable, ...]


def check_small_sources(min_size: object, small: object) -> int:
    """``min_size`` as an int >= 1, after checking that ``small`` is "drop" or "merge"."""
    if small not in SMALL_POLICIES:
        raise ValueError(f"small must be one of {list(SMALL_POLICIES)}, got {small!r}")
    return check_int("min_size", min_size, minimum=1)


@register_split("by_column", by_groups=True)
def natural_sources(
    groups: np.ndarray, group_names: Sequence[Hashable], *, min_size: int = 1, small: str = "drop"
) -> NaturalSources:
    """One source per group with at least ``min_size`` rows; smaller groups are dropped or merged.

    Sources keep the order of ``group_names`` (which callers sort). With ``small="drop"`` the rows of
    every group smaller than ``min_size`` are left out; with ``small="merge"`` they form one extra
    source named ``"other"``, placed last, which is itself dropped if it still has fewer than
    ``min_size`` rows (so every source has at least ``min_size`` rows). Source sizes stay unequal.

    Parameters
    ----------
    groups : (n,) int group code of each row in ``0 .. len(group_names)-1``.
    group_names : the name of each group, e.g. a district number.
    min_size : smallest source size kept, >= 1.
    small : ``"drop"`` or ``"merge"``.

    Raises
    ------
    ValueError : on a bad ``min_size`` or ``small``, a group called "other" when merging, or when no
        source is left.
    """
    min_size = check_small_sources(min_size, small)
    groups = np.asarray(groups, dtype=np.int64)
    names = tuple(group_names)
    counts = np.bincount(groups, minlength=len(names))
    big = counts >= min_size
    new_id = np.where(big, np.cumsum(big) - 1, -1)
    kept_names = tuple(name for name, keep in zip(names, big, strict=True) if keep)
    if small == "merge" and counts[~big].sum() >= min_size:
        if OTHER in kept_names:
            raise ValueError(f"a group is already named {OTHER!r}; rename it to merge the small groups")
        new_id[~big] = len(kept_names)
        kept_names += (OTHER,)
    if not kept_names:
        raise ValueError(f"min_size = {min_size} leaves no source: the largest group has {counts.max(initial=0)} rows")
    return NaturalSources(source=new_id[groups], names=kept_names)


def source_order(source: np.ndarray) -> np.ndarray:
    """Indices of the rows with a source (id >= 0), ordered by source id; each source keeps its row order."""
    kept = np.flatnonzero(source >= 0)
    return kept[np.argsort(source[kept], kind="stable")]


def stratified_holdout(strata: np.ndarray, fraction: float, rng: np.random.Generator) -> np.ndarray:
    """(n,) bool mask of held-out rows: ``floor(fraction * n_k + 1/2)`` random rows of each stratum k.

    Used for a test set stratified by class (``from_frame``) or by group (natural sources), so each
    class or group keeps its share on both sides.
    """
    fraction = check_real("fraction", fraction, low=0.0, high=1.0, low_open=True, high_open=True)
    strata = np.asarray(strata, dtype=np.int64)
    order = rng.permutation(len(strata))
    order = order[np.argsort(strata[order], kind="stable")]
    counts = np.bincount(strata)
    first = np.concatenate([[0], np.cumsum(counts)[:-1]])
    rank = np.empty(len(strata), dtype=np.int64)
    rank[order] = np.arange(len(strata)) - first[strata[order]]
    return rank < np.floor(fraction * counts + 0.5)[strata]
