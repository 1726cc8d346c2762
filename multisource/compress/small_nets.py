"""One entry point to prune a small classifier net with any registered method, M-FAC OBS included.

The layer pruners (SparseGPT, Wanda, magnitude) need only inputs and go through the sequential
driver; a model pruner that needs labels (M-FAC OBS, ``multisource.compress.mfac_obs``) receives
``(X, y)``, because it scores weights with the inverse empirical Fisher of the loss gradients
rather than with the layer-wise Hessian ``2 X X^T``. Which one a method is, its registry record
says (``docs/sparsegpt.md``, "Methods"); all prune the same layers to the same per-layer sparsity
and return the same ``PruneReport``.
"""

from __future__ import annotations

import torch
from torch import nn

from multisource.compress.driver import PruneReport, prune_model
from multisource.compress.layer import Pattern
from multisource.compress.methods import OptionsLike, Pruner, get_pruner


def prune_classifier(
    model: nn.Module,
    X: torch.Tensor,
    y: torch.Tensor,
    *,
    method: str | Pruner = "sparsegpt",
    sparsity: float = 0.5,
    pattern: Pattern = None,
    bits: int | None = None,
    options: OptionsLike = None,
    device: str | torch.device = "auto",
) -> PruneReport:
    """Prune every ``nn.Linear`` (and ``Conv1d`` / ``Conv2d``) weight of ``model`` in place to ``sparsity``.

    Parameters
    ----------
    model : nn.Module
        A classifier mapping features ``X`` (n x d) to logits.
    X, y : torch.Tensor
        Calibration features and integer labels (labels reach only pruners that need them).
    method : str or a pruner record
        Any name in ``PRUNING_METHODS``.
    sparsity, pattern, bits
        The target (see ``check_target``); pattern and bits only for layer pruners.
    options : dict or the method's options dataclass, optional
        E.g. ``{"ngrads": 16}`` for M-FAC OBS (``MFACOBSOptions``).
    device : str or torch.device
        Where to prune ("auto": CUDA when present).
    """
    pruner = get_pruner(method)
    calibration = (X, y) if pruner.needs_labels else X
    return prune_model(
        model,
        calibration,
        method=pruner,
        sparsity=sparsity,
        pattern=pattern,
        bits=bits,
        options=options,
        family="generic",
        device=device,
        progress=False,
    )
