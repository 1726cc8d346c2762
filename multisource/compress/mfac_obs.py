"""One-shot M-FAC OBS pruning (Frantar, Kurtic & Alistarh 2021, sec. 4.1).

The loss change of removing weight q with the optimal compensating update (Optimal Brain
Surgeon, Hassibi & Stork 1993) under the quadratic model with the empirical Fisher F is

    rho_q = w_q^2 / (2 [F^-1]_qq),        delta w = -(w_q / [F^-1]_qq) F^-1 e_q.

M-FAC supplies F^-1 from m calibration gradients (blocked, :class:`StaticInverseFisher`): the
diagonal in O(m) per weight and the update in O(m d). A pruning step removes the lowest scores
and applies the sum of their single-weight updates (each dropped weight is treated independently,
as in the paper, not by a joint OBS solve); the target sparsity is reached in ``nrecomps`` steps of
geometrically shrinking density, each with fresh gradients and a rebuilt inverse.

Coordinates already pruned keep a zero gradient, so their rows of F decouple (F_qq = lambda) and
F^-1 on the surviving coordinates is exactly the inverse of F restricted to them: the update
never moves a pruned weight.

``mfac_obs_prune`` is the functional form (any loss, any batches, global or per-layer sparsity);
``mfac_obs_pruner`` is the registered model pruner ``"mfac_obs"`` (``docs/sparsegpt.md``, "Methods")
that ``prune_model``, ``prune_classifier`` and ``CompressedClassifier`` call with labelled
calibration data ``(X, y)``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from itertools import islice
from typing import Any

import torch
from torch.nn.functional import cross_entropy
from tqdm.auto import tqdm

from multisource.compress.adapters import prunable_layers, weight_matrix
from multisource.compress.layer import PruneTarget
from multisource.compress.masks import check_sparsity, lowest_mask
from multisource.compress.methods import model_pruner
from multisource.compress.records import LayerRecord, PruneReport
from multisource.optim import StaticInverseFisher
from multisource.optim.checks import check_damp, check_ngrads
from multisource.utils.validation import check_bool, check_int

LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
SCOPES = ("global", "layer")


@dataclass(frozen=True)
class MFACOBSOptions:
    """Options of M-FAC OBS pruning (Frantar, Kurtic & Alistarh 2021, sec. 4.1).

    Attributes
    ----------
    ngrads : int
        m, gradients per inverse-Fisher estimate, one per calibration mini-batch.
    damp : float
        lambda in F = lambda I + (1/m) G^T G (official default 1e-5).
    blocksize : int or None
        Block size of the block-diagonal Fisher over the concatenated weights; None: the full Fisher.
    nrecomps : int
        Pruning steps, each with fresh gradients and a rebuilt inverse.
    scope : {"layer", "global"}
        The sparsity within every layer (like every registered pruner) or over all weights together.
    seed : int
        Seeds the split of the calibration set into ``ngrads`` mini-batches (registered pruner).
    loss : callable
        ``loss(model(inputs), targets) -> scalar`` (registered pruner; default cross-entropy).
    dtype : torch.dtype
        Precision of the gradients and of F^-1.
    """

    ngrads: int = 32
    damp: float = 1e-5
    blocksize: int | None = 128
    nrecomps: int = 4
    scope: str = "layer"
    seed: int = 0
    loss: LossFn = cross_entropy
    dtype: torch.dtype = torch.float64

    def __post_init__(self) -> None:
        check_ngrads(self.ngrads)
        check_damp(self.damp)
        if self.blocksize is not None:
            check_int("blocksize", self.blocksize, minimum=1)
        check_int("nrecomps", self.nrecomps, minimum=1)
        if self.scope not in SCOPES:
            raise ValueError(f"scope must be one of {SCOPES}, got {self.scope!r}")
        check_int("seed", self.seed, minimum=0)
        if not callable(self.loss):
            raise TypeError(f"loss must be callable as loss(outputs, targets), got {self.loss!r}")
        if self.dtype not in (torch.float32, torch.float64):
            raise ValueError(f"dtype must be torch.float32 or torch.float64, got {self.dtype}")


def obs_scores(weights: torch.Tensor, inverse_diag: torch.Tensor) -> torch.Tensor:
    """rho_q = w_q^2 / (2 [F^-1]_qq): the loss increase of pruning q alone with the OBS update."""
    return weights.square() / (2.0 * inverse_diag)


def obs_update(weights: torch.Tensor, finv: StaticInverseFisher, drop: torch.Tensor) -> torch.Tensor:
    """w - F^-1 sum_{q in drop} (w_q / [F^-1]_qq) e_q, with the dropped weights set exactly to 0."""
    inverse_diag = finv.diag()
    w = weights.to(inverse_diag.dtype)
    coefficients = torch.where(drop, w / inverse_diag, torch.zeros_like(w))
    updated = w - finv.mul(coefficients)
    return torch.where(drop, torch.zeros_like(updated), updated).to(weights.dtype)


def recompute_schedule(start: float, target: float, nrecomps: int) -> list[float]:
    """Sparsities 1 - (1 - start) f^j, j = 1..nrecomps, with f = ((1 - target) / (1 - start))^(1/nrecomps).

    The density shrinks by the same factor at every recomputation and ends exactly at ``target``.
    """
    start, target = check_sparsity(start, "start"), check_sparsity(target)
    nrecomps = check_int("nrecomps", nrecomps, minimum=1)
    if target < start:
        raise ValueError(f"sparsity ({target}) must be >= the starting sparsity ({start})")
    factor = ((1.0 - target) / (1.0 - start)) ** (1.0 / nrecomps)
    return [1.0 - (1.0 - start) * factor**j for j in range(1, nrecomps)] + [target]


def prunable_parameters(model: torch.nn.Module) -> dict[str, torch.nn.Parameter]:
    """The weight matrices/kernels (parameters with >= 2 dimensions), by name; biases and norms are kept."""
    return {name: p for name, p in model.named_parameters() if p.ndim >= 2 and p.requires_grad}


def collect_gradients(
    model: torch.nn.Module,
    loss_fn: LossFn,
    batches: Iterable[tuple[torch.Tensor, torch.Tensor]],
    params: Mapping[str, torch.nn.Parameter],
    ngrads: int,
    keep: torch.Tensor,
    *,
    dtype: torch.dtype = torch.float64,
) -> torch.Tensor:
    """One flattened gradient of ``loss_fn(model(x), y)`` per batch (m x d), zero on pruned coordinates."""
    device = next(iter(params.values())).device
    grads = torch.empty(ngrads, int(keep.numel()), dtype=dtype, device=device)
    count = 0
    for count, (inputs, targets) in enumerate(islice(batches, ngrads), start=1):
        loss = loss_fn(model(inputs), targets)
        pieces = torch.autograd.grad(loss, list(params.values()))
        grads[count - 1] = torch.cat([piece.reshape(-1) for piece in pieces]).to(dtype) * keep
    if count < ngrads:
        raise ValueError(f"batches gave {count} calibration batches but ngrads={ngrads} gradients are needed")
    return grads


def _select(scores: torch.Tensor, sizes: list[int], sparsity: float, scope: str) -> torch.Tensor:
    """Boolean mask of the lowest scores: ``sparsity`` of all weights, or of each layer's."""
    if scope == "global":
        return lowest_mask(scores.view(1, -1), sparsity).view(-1)
    return torch.cat([lowest_mask(part.view(1, -1), sparsity).view(-1) for part in scores.split(sizes)])


def mfac_obs_prune(
    model: torch.nn.Module,
    loss_fn: LossFn,
    batches: Iterable[tuple[torch.Tensor, torch.Tensor]],
    sparsity: float,
    *,
    params: Mapping[str, torch.nn.Parameter] | None = None,
    ngrads: int = 64,
    damp: float = 1e-5,
    blocksize: int | None = 128,
    nrecomps: int = 4,
    scope: str = "global",
    dtype: torch.dtype = torch.float64,
    progress: bool = False,
) -> dict[str, torch.Tensor]:
    """Prune ``model`` in place to ``sparsity`` with M-FAC OBS; returns masks (True = removed) by name.

    Parameters
    ----------
    model : torch.nn.Module
        The network; its weights are updated in place.
    loss_fn : callable
        ``loss_fn(model(inputs), targets) -> scalar`` (e.g. ``torch.nn.functional.cross_entropy``).
    batches : iterable of (inputs, targets)
        Calibration mini-batches, one gradient per batch; it is iterated once per recomputation
        (pass a list or a DataLoader) and must yield at least ``ngrads`` batches.
    sparsity : float
        Target fraction of removed weights in [0, 1).
    params : mapping of name to parameter, optional
        What to prune; default :func:`prunable_parameters` (all weights with >= 2 dimensions).
    ngrads, damp, blocksize, nrecomps, scope, dtype
        See ``MFACOBSOptions``; the defaults here are the paper's for a whole network (m = 64,
        one sparsity over all weights).
    progress : bool
        tqdm bar over the recomputation steps.
    """
    sparsity = check_sparsity(sparsity)
    progress = check_bool("progress", progress)
    options = MFACOBSOptions(ngrads=ngrads, damp=damp, blocksize=blocksize, nrecomps=nrecomps, scope=scope, dtype=dtype)
    params = dict(prunable_parameters(model) if params is None else params)
    return _obs_prune(model, loss_fn, batches, sparsity, params, options, progress=progress)


def _obs_prune(
    model: torch.nn.Module,
    loss_fn: LossFn,
    batches: Iterable[tuple[torch.Tensor, torch.Tensor]],
    sparsity: float,
    params: dict[str, torch.nn.Parameter],
    options: MFACOBSOptions,
    *,
    progress: bool = False,
) -> dict[str, torch.Tensor]:
    """The pruning steps behind both entry points (arguments validated)."""
    if not params:
        raise ValueError("model has no parameters to prune (weights with >= 2 dimensions)")
    sizes = [p.numel() for p in params.values()]
    dtype = options.dtype
    removed = torch.zeros(sum(sizes), dtype=torch.bool, device=next(iter(params.values())).device)
    was_training = model.training
    model.eval()
    try:
        steps = recompute_schedule(0.0, sparsity, options.nrecomps)
        for step_sparsity in tqdm(steps, desc="M-FAC OBS", disable=not progress):
            grads = collect_gradients(
                model, loss_fn, batches, params, options.ngrads, (~removed).to(dtype), dtype=dtype
            )
            finv = StaticInverseFisher(grads, options.damp, blocksize=options.blocksize, dtype=dtype)
            with torch.no_grad():
                weights = torch.cat([p.detach().reshape(-1) for p in params.values()]).to(dtype)
                scores = obs_scores(weights, finv.diag()).masked_fill(removed, -torch.inf)
                new_removed = _select(scores, sizes, step_sparsity, options.scope)
                updated = obs_update(weights, finv, new_removed & ~removed).masked_fill(new_removed, 0.0)
                for p, part in zip(params.values(), updated.split(sizes), strict=True):
                    p.copy_(part.view_as(p))
            removed = new_removed
    finally:
        model.train(was_training)
    return {name: part.view_as(p) for (name, p), part in zip(params.items(), removed.split(sizes), strict=True)}


def _labelled_batches(
    calibration: Any, options: MFACOBSOptions, device: torch.device
) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Split labelled calibration ``(X, y)`` at random (``options.seed``) into ``ngrads`` mini-batches."""
    if not (
        isinstance(calibration, tuple)
        and len(calibration) == 2
        and all(isinstance(t, torch.Tensor) for t in calibration)
    ):
        raise TypeError(
            "mfac_obs needs labelled calibration data: a tuple (inputs, targets) of tensors, "
            f"got {type(calibration).__name__}"
        )
    X, y = calibration
    if len(X) != len(y):
        raise ValueError(f"calibration inputs and targets differ in length: {len(X)} vs {len(y)}")
    if len(X) < options.ngrads:
        raise ValueError(f"mfac_obs needs at least ngrads={options.ngrads} calibration samples, got {len(X)}")
    order = torch.randperm(len(X), generator=torch.Generator().manual_seed(options.seed))
    return [(X[idx].to(device), y[idx].to(device)) for idx in torch.tensor_split(order, options.ngrads)]


def check_sparsity_target(target: PruneTarget, options: MFACOBSOptions) -> None:
    """M-FAC OBS prunes to a sparsity: no N:M pattern, no quantization, no fixed mask."""
    if target.nm is not None or target.bits is not None:
        raise ValueError("pattern and bits apply to the layer-wise methods, not to method='mfac_obs'")
    if target.mask is not None:
        raise ValueError("a fixed mask applies to the layer-wise methods, not to method='mfac_obs'")


@model_pruner("mfac_obs", options=MFACOBSOptions, check=check_sparsity_target)
def mfac_obs_pruner(
    model: torch.nn.Module, calibration: Any, target: PruneTarget, options: MFACOBSOptions
) -> PruneReport:
    """The registered M-FAC OBS model pruner: every prunable layer of ``model`` to ``target.sparsity``.

    ``calibration`` is ``(X, y)``: inputs and the targets of ``options.loss``, split into
    ``options.ngrads`` mini-batches, one gradient each.
    """
    check_sparsity_target(target, options)
    layers = prunable_layers(model)
    if not layers:
        raise ValueError(f"{type(model).__name__} has no nn.Linear (or Conv1D) layers to prune")
    params = {name: layer.get_parameter("weight") for name, layer in layers.items()}
    batches = _labelled_batches(calibration, options, next(iter(params.values())).device)
    start = time.perf_counter()
    masks = _obs_prune(model, options.loss, batches, target.sparsity, params, options)
    seconds = time.perf_counter() - start
    report = PruneReport(
        method="mfac_obs", family="generic", calibration="", solve_seconds=seconds, total_seconds=seconds
    )
    for name, mask in masks.items():
        shape = tuple(weight_matrix(layers[name]).shape)
        report.layers.append(
            LayerRecord(
                name=name,
                shape=(shape[0], shape[1]),
                target_sparsity=target.sparsity,
                sparsity=float(mask.float().mean()),
                error=float("nan"),
                damping_used=0.0,
                seconds=seconds / len(masks),
            )
        )
    return report
