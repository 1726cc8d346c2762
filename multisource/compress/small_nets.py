"""One entry point to prune a small classifier net with any method, M-FAC OBS included.

The layer-wise methods (SparseGPT, Wanda, magnitude) need only inputs and go through the
sequential driver; M-FAC OBS (``multisource.compress.mfac_obs``) needs labels and a loss, because it
scores weights with the inverse empirical Fisher of the loss gradients rather than with the
layer-wise Hessian ``2 X X^T``. Both prune the same ``nn.Linear`` weights, to the same per-layer
sparsity, and return the same ``PruneReport``.
"""

from __future__ import annotations

import time

import torch
import torch.nn.functional as F
from torch import nn

from multisource.compress.driver import LayerRecord, PruneReport, prune_model
from multisource.compress.masks import check_sparsity
from multisource.utils.validation import check_int

METHODS = ("sparsegpt", "wanda", "magnitude", "mfac_obs")


def prune_classifier(
    model: nn.Module,
    X: torch.Tensor,
    y: torch.Tensor,
    *,
    method: str = "sparsegpt",
    sparsity: float = 0.5,
    ngrads: int = 32,
    seed: int = 0,
    **options: object,
) -> PruneReport:
    """Prune every ``nn.Linear`` weight of ``model`` in place to ``sparsity`` per layer.

    Parameters
    ----------
    model : nn.Module
        A classifier mapping features ``X`` (n x d) to logits.
    X, y : torch.Tensor
        Calibration features and integer labels (labels are used by "mfac_obs" only).
    method : {"sparsegpt", "wanda", "magnitude", "mfac_obs"}
    ngrads : int
        M-FAC: number of gradients (mini-batches of X, y) per inverse-Fisher estimate.
    options
        Passed to ``prune_model`` (layer-wise methods) or ``mfac_obs_prune``.
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {list(METHODS)}, got {method!r}")
    sparsity = check_sparsity(sparsity)
    if method != "mfac_obs":
        return prune_model(model, X, method=method, sparsity=sparsity, family="generic", progress=False, **options)
    from multisource.compress.mfac_obs import mfac_obs_prune

    ngrads = check_int("ngrads", ngrads, minimum=1)
    if len(X) < ngrads:
        raise ValueError(f"mfac_obs needs at least ngrads={ngrads} calibration samples, got {len(X)}")
    order = torch.randperm(len(X), generator=torch.Generator().manual_seed(seed))
    batches = [(X[idx], y[idx]) for idx in torch.tensor_split(order, ngrads)]
    params = {f"{name}.weight": m.weight for name, m in model.named_modules() if isinstance(m, nn.Linear)}
    if not params:
        raise ValueError(f"{type(model).__name__} has no nn.Linear layers to prune")
    start = time.perf_counter()
    masks = mfac_obs_prune(model, F.cross_entropy, batches, sparsity, params=params, ngrads=ngrads, scope="layer", **options)
    seconds = time.perf_counter() - start
    report = PruneReport(method=method, family="generic", calibration="", solve_seconds=seconds, total_seconds=seconds)
    for name, mask in masks.items():
        report.layers.append(LayerRecord(name=name.removesuffix(".weight"), shape=tuple(mask.shape), target_sparsity=sparsity,
                                         sparsity=float(mask.float().mean()), error=float("nan"), damping_used=0.0, seconds=seconds / len(masks)))
    return report
