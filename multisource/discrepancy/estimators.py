"""The N x N discrepancy matrix of a multi-source dataset, with a registry of estimators."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from multisource.data.dataset import MultiSourceDataset
from multisource.discrepancy.linear import linear_pairwise_matrix, sklearn_discrepancy
from multisource.discrepancy.mlp import mlp_pairwise_matrix
from multisource.discrepancy.stumps import stump_discrepancy
from multisource.utils.registry import Registry
from multisource.utils.threads import single_threaded_blas
from multisource.utils.validation import SeedLike, check_random_state

DeviceLike = str | torch.device | None

DISCREPANCY_ESTIMATORS: Registry[Callable[..., np.ndarray]] = Registry("discrepancy estimator")
"""Estimator name -> ``fn(dataset, *, device, rng, **options) -> (N, N) disc``; options are keywords
of the estimator, so a misspelt one is a ``TypeError``."""


def _per_pair(dataset: MultiSourceDataset, pair_discrepancy: Callable[..., float], **options: Any) -> np.ndarray:
    """Fill the upper triangle one pair at a time and mirror it."""
    sources = [dataset.source_data(i) for i in range(dataset.n_sources)]
    disc = np.zeros((dataset.n_sources, dataset.n_sources))
    for a, b in zip(*np.triu_indices(dataset.n_sources, k=1), strict=True):
        disc[a, b] = pair_discrepancy(*sources[a], *sources[b], n_classes=dataset.n_classes, **options)
    return disc + disc.T


@DISCREPANCY_ESTIMATORS.register("linear")
def _linear(dataset: MultiSourceDataset, *, device: DeviceLike, rng: np.random.Generator, **options: Any) -> np.ndarray:
    return linear_pairwise_matrix(
        dataset.X,
        dataset.y,
        dataset.source,
        n_sources=dataset.n_sources,
        n_classes=dataset.n_classes,
        device=device,
        rng=rng,
        **options,
    )


@DISCREPANCY_ESTIMATORS.register("mlp")
def _mlp(dataset: MultiSourceDataset, *, device: DeviceLike, rng: np.random.Generator, **options: Any) -> np.ndarray:
    return mlp_pairwise_matrix(
        dataset.X,
        dataset.y,
        dataset.source,
        n_sources=dataset.n_sources,
        n_classes=dataset.n_classes,
        rng=rng,
        device=device,
        **options,
    )


@DISCREPANCY_ESTIMATORS.register("sklearn")
@single_threaded_blas
def _sklearn(
    dataset: MultiSourceDataset, *, device: DeviceLike, rng: np.random.Generator, **options: Any
) -> np.ndarray:
    return _per_pair(dataset, sklearn_discrepancy, **options)


@DISCREPANCY_ESTIMATORS.register("stumps")
def _stumps(dataset: MultiSourceDataset, *, device: DeviceLike, rng: np.random.Generator) -> np.ndarray:
    return _per_pair(dataset, stump_discrepancy)


def pairwise(
    dataset: MultiSourceDataset,
    *,
    estimator: str = "linear",
    device: DeviceLike = "auto",
    seed: SeedLike = None,
    **options: Any,
) -> np.ndarray:
    """Symmetric (N, N) matrix of empirical 0-1 H-discrepancies ``disc_H(S_i, S_j)`` (KL2019 eq. 5).

    Parameters
    ----------
    dataset : the (possibly corrupted) sources.
    estimator : a name in ``DISCREPANCY_ESTIMATORS``:

        - "linear": H = linear classifiers with intercept; label-flip ERM with a weighted logistic
          surrogate, all pairs and problems trained together in torch on ``device``. Options:
          ``l2=1e-3`` (``= 1/C`` of scikit-learn; 0 unregularised), ``scaling="none"|"pair"``
          (per-pair standardisation, FLEA), ``solver="mm"|"newton"``, ``max_iter``, ``tol``,
          ``chunk_size``, ``dtype``, ``progress``, ``pair_sample`` (each source against a random
          sample of about s others, NaN elsewhere: for ``quantile`` and ``multi_krum``); see
          :func:`~multisource.discrepancy.linear.linear_pairwise_matrix` and ``docs/discrepancy.md``.
          A lower bound on the supremum.
        - "mlp": H = one-hidden-layer MLPs (``hidden=16`` ReLU units), label-flip ERM on the weighted
          cross-entropy, every pair's net trained at once by batched full-batch Adam or M-FAC
          (``optimizer="adam"|"mfac"``, one gradient window per net: ``ngrads``, ``damp``) with
          early stopping (options ``hidden``, ``lr``, ``max_epochs``, ``patience``, ``tol``,
          ``chunk_size``); see :func:`~multisource.discrepancy.mlp.mlp_pairwise_matrix`. Draws
          the nets' initial weights from ``rng``.
        - "sklearn": the same estimator as "linear", one scikit-learn ``LogisticRegression`` per pair and problem
          (options ``l2``, ``scaling``, ``max_iter``, ``tol``); the slow reference.
        - "stumps": H = decision stumps, computed exactly (no options).
    device : torch device for "linear" ("auto" picks CUDA when present); ignored by the others.
    seed : int, numpy Generator or None. Every estimator receives ``rng = check_random_state(seed)``
        and draws from it where it has randomness ("mlp": initial weights, so the same seed gives
        the same matrix; "linear" with ``pair_sample``: the sampled pairs); otherwise "linear",
        "sklearn" and "stumps" are deterministic (the matrix is the same for every seed), so for
        them the seed is accepted and unused. A seed
        of the wrong type is refused (``TypeError``) whatever the estimator.
    **options : keyword options of the estimator; one it does not take is a ``TypeError``.

    Returns
    -------
    disc : (N, N) float64, symmetric, zero diagonal, entries in [0, 1] (NaN for the pairs not
        sampled with ``pair_sample``).

    Notes
    -----
    Multiclass (K > 2): the loss is the multiclass 0-1 loss and H the argmax of K linear scores
    ("linear", "sklearn") or the two-class stumps ``k1 if x_f > theta else k2`` ("stumps"). The
    label-flip ERM maps one sample's labels by ``y -> (y + 1) mod K`` and trains both orientations
    as one-vs-rest logistic problems (2K per pair); see :mod:`multisource.discrepancy.reduction`.
    The gap of every trained classifier is evaluated exactly, so "linear" and "sklearn" are lower
    bounds of the supremum; "stumps" is exact. For K = 2 all three are the binary discrepancy.
    The linear estimates are only informative when m is large compared to the dimension d: with
    m <~ d two clean sources can already be separated and the discrepancy is close to 1.
    """
    if not isinstance(dataset, MultiSourceDataset):
        raise TypeError(f"dataset must be a MultiSourceDataset, got {type(dataset).__name__}")
    rng = check_random_state(seed)
    disc = DISCREPANCY_ESTIMATORS.get(estimator)(dataset, device=device, rng=rng, **options)
    np.fill_diagonal(disc, 0.0)
    return disc
