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
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from itertools import islice

import torch
from tqdm.auto import tqdm

from multisource.compress.masks import check_sparsity, unstructured_mask
from multisource.optim import StaticInverseFisher
from multisource.optim.checks import check_damp, check_ngrads
from multisource.utils.validation import check_int

LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
SCOPES = ("global", "layer")


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
        return unstructured_mask(scores.view(1, -1), sparsity).view(-1)
    return torch.cat([unstructured_mask(part.view(1, -1), sparsity).view(-1) for part in scores.split(sizes)])


def _check_scope(scope: str) -> None:
    if scope not in SCOPES:
        raise ValueError(f"scope must be one of {SCOPES}, got {scope!r}")


def magnitude_prune(
    model: torch.nn.Module,
    sparsity: float,
    *,
    params: Mapping[str, torch.nn.Parameter] | None = None,
    scope: str = "global",
) -> dict[str, torch.Tensor]:
    """Baseline: zero the ``sparsity`` fraction of smallest |w| (same selection as :func:`mfac_obs_prune`)."""
    sparsity = check_sparsity(sparsity)
    _check_scope(scope)
    params = dict(prunable_parameters(model) if params is None else params)
    sizes = [p.numel() for p in params.values()]
    with torch.no_grad():
        scores = torch.cat([p.detach().abs().reshape(-1) for p in params.values()])
        removed = _select(scores, sizes, sparsity, scope)
        for p, part in zip(params.values(), removed.split(sizes)):
            p.masked_fill_(part.view_as(p), 0.0)
    return {name: part.view_as(p) for (name, p), part in zip(params.items(), removed.split(sizes))}


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
    ngrads : int
        m, gradients per inverse-Fisher estimate (paper/official default 64).
    damp : float
        lambda in F = lambda I + (1/m) G^T G (official default 1e-5).
    blocksize : int or None
        Block size of the block-diagonal Fisher over the concatenated weights (official 128);
        None for the full Fisher.
    nrecomps : int
        Pruning steps, each with fresh gradients and a rebuilt inverse (paper: recomputation).
    scope : {"global", "layer"}
        ``sparsity`` over all pruned weights together, or within every parameter.
    dtype : torch.dtype
        Precision of the gradients and of F^-1 (float64 default).
    progress : bool
        tqdm bar over the recomputation steps.
    """
    sparsity = check_sparsity(sparsity)
    ngrads, damp = check_ngrads(ngrads), check_damp(damp)
    _check_scope(scope)
    params = dict(prunable_parameters(model) if params is None else params)
    if not params:
        raise ValueError("model has no parameters to prune (weights with >= 2 dimensions)")
    sizes = [p.numel() for p in params.values()]
    device = next(iter(params.values())).device
    removed = torch.zeros(sum(sizes), dtype=torch.bool, device=device)
    was_training = model.training
    model.eval()
    try:
        for step_sparsity in tqdm(recompute_schedule(0.0, sparsity, nrecomps), desc="M-FAC OBS", disable=not progress):
            keep = (~removed).to(dtype)
            grads = collect_gradients(model, loss_fn, batches, params, ngrads, keep, dtype=dtype)
            finv = StaticInverseFisher(grads, damp, blocksize=blocksize, dtype=dtype)
            with torch.no_grad():
                weights = torch.cat([p.detach().reshape(-1) for p in params.values()]).to(dtype)
                scores = obs_scores(weights, finv.diag()).masked_fill(removed, -torch.inf)
                new_removed = _select(scores, sizes, step_sparsity, scope)
                updated = obs_update(weights, finv, new_removed & ~removed)
                updated = updated.masked_fill(new_removed, 0.0)
                for p, part in zip(params.values(), updated.split(sizes)):
                    p.copy_(part.view_as(p))
            removed = new_removed
    finally:
        model.train(was_training)
    return {name: part.view_as(p) for (name, p), part in zip(params.items(), removed.split(sizes))}
