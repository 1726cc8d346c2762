"""Ways to deal a pool of samples into N sources of m samples each.

A split is a function ``split(X, y, *, n_sources, m, n_classes, rng, **params) -> (N, m) int array``
of row indices into the pool, without repetition. Registered in ``SPLITS``.
"""

from __future__ import annotations

import numpy as np

from multisource.utils.registry import Registry
from multisource.utils.validation import check_real

SPLITS: Registry = Registry("split")


@SPLITS.register("iid")
def iid_split(
    X: np.ndarray, y: np.ndarray, *, n_sources: int, m: int, n_classes: int, rng: np.random.Generator
) -> np.ndarray:
    """Every source is a uniform random sample without replacement: all sources follow one distribution."""
    return rng.permutation(len(y))[: n_sources * m].reshape(n_sources, m)


@SPLITS.register("dirichlet")
def dirichlet_split(
    X: np.ndarray,
    y: np.ndarray,
    *,
    n_sources: int,
    m: int,
    n_classes: int,
    rng: np.random.Generator,
    concentration: float = 1.0,
) -> np.ndarray:
    """Label skew: source i draws its class proportions ``q_i ~ Dirichlet(concentration * 1_K)``.

    Small ``concentration`` gives sources dominated by few classes; large gives nearly iid sources.
    When a class runs out, the source's remaining samples come from its other classes in proportion
    to ``q_i`` (or to what is left, if all of its classes are exhausted).
    """
    concentration = check_real("concentration", concentration, low=0.0, low_open=True)
    pools = [rng.permutation(np.flatnonzero(y == k)) for k in range(n_classes)]
    taken = np.zeros(n_classes, dtype=np.int64)
    proportions = rng.dirichlet(np.full(n_classes, concentration), size=n_sources)
    rows = np.empty((n_sources, m), dtype=np.int64)
    for i in range(n_sources):
        chosen: list[np.ndarray] = []
        need = m
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
        rows[i] = rng.permutation(np.concatenate(chosen))
    return rows


@SPLITS.register("covariate_shift")
def covariate_shift_split(
    X: np.ndarray,
    y: np.ndarray,
    *,
    n_sources: int,
    m: int,
    n_classes: int,
    rng: np.random.Generator,
    strength: float = 0.5,
) -> np.ndarray:
    """Covariate shift: sources cover different ranges of the leading principal direction of X.

    Each sample gets the key ``strength * r + (1 - strength) * u`` with ``r`` its rank quantile along
    the first principal component and ``u ~ U(0, 1)``; sorting by the key and cutting consecutive blocks
    of m gives the sources. ``strength=0`` is an iid split, ``strength=1`` gives disjoint slabs.
    """
    strength = check_real("strength", strength, low=0.0, high=1.0)
    centred = X - X.mean(axis=0)
    direction = np.linalg.svd(centred, full_matrices=False)[2][0]
    rank = np.argsort(np.argsort(centred @ direction)) / max(len(y) - 1, 1)
    key = strength * rank + (1.0 - strength) * rng.random(len(y))
    # Spreading the blocks over the whole key range (the pool may hold more than N*m samples) keeps
    # the sources' shifts symmetric around the pool's centre; consecutive starts are >= m apart.
    starts = np.rint(np.linspace(0, len(y) - m, n_sources)).astype(np.int64)
    blocks = np.argsort(key)[starts[:, None] + np.arange(m)]
    return np.stack([rng.permutation(b) for b in blocks])
