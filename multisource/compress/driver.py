"""Sequential one-shot pruning of a whole model, block by block (SparseGPT section 3, "Algorithm").

1. Capture the inputs of the first block once: run the model on the calibration token ids with a
   forward pre-hook on block 0 that stores the hidden state and every keyword the block receives
   (attention mask, ``position_ids``, ``position_embeddings``...) and then aborts the forward pass.
2. For each block, for each group of layers that read the same input, in the order the block calls
   them (``sequential="layer"``, like the official ``--true-sequential``): run the calibration
   inputs through the block, whose earlier groups are already pruned, accumulate the group's
   Hessian ``H = 2 X X^T / n`` and abort the pass right there; then prune every layer of the group
   with that one H. ``sequential="block"`` collects all Hessians of a block in a single pass on the
   dense block, as the official OPT script does (fewer forward passes, slightly worse).
3. Run the calibration inputs through the pruned block; its outputs feed the next block, so each
   block is fitted to the outputs of the already-pruned model.

Embeddings and the LM head are never pruned. A generic torch net is one block whose inputs are the
calibration tensors themselves. A model pruner (M-FAC OBS) is handed the whole model and its
calibration data instead. A layer that could not be pruned (a layer type no pruner handles, or one
no calibration input reaches) is listed in ``PruneReport.skipped`` with the reason.
"""

from __future__ import annotations

import contextlib
import dataclasses
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch
from torch import nn
from tqdm.auto import tqdm

from multisource.compress.adapters import (
    ModelAdapter,
    find_adapter,
    layer_inputs,
    not_prunable_reason,
    prunable_layers,
    set_weight_matrix,
    trace_layer_groups,
    unsupported_layers,
    weight_matrix,
)
from multisource.compress.hessian import HessianAccumulator
from multisource.compress.layer import Pattern, PruneTarget, check_target
from multisource.compress.masks import check_sparsity
from multisource.compress.methods import LayerPruner, ModelPruner, OptionsLike, Pruner, get_pruner
from multisource.compress.records import LayerRecord, PruneReport
from multisource.utils.device import resolve_device
from multisource.utils.validation import check_bool, check_int

SparsitySpec = float | Mapping[str, float] | Callable[[str], float]
TargetOf = Callable[[str], PruneTarget | None]
Extra = tuple[tuple, dict]
SEQUENTIAL = ("layer", "block")
KEPT_DENSE = "kept dense by request (dense_layers)"

__all__ = ["LayerRecord", "PruneReport", "PruningPlan", "plan_pruning", "prune_model"]


class _StopForward(Exception):  # noqa: N818 (a control-flow signal like StopIteration, not an error)
    """Raised by a hook to end a forward pass once the needed inputs are captured."""


@dataclasses.dataclass(frozen=True)
class PruningPlan:
    """A validated pruning request: the pruner, its options and the target of every layer.

    ``target`` is the one target of all layers (a single sparsity or a pattern), None when the
    sparsity is given per layer; ``target_of(name)`` gives a layer's target, None to leave it dense.
    """

    pruner: Pruner
    options: Any
    target: PruneTarget | None
    target_of: TargetOf


def plan_pruning(
    method: str | Pruner = "sparsegpt",
    sparsity: SparsitySpec = 0.5,
    pattern: Pattern = None,
    bits: int | None = None,
    options: OptionsLike = None,
) -> PruningPlan:
    """Validate a pruning request once, before any model is touched (see ``prune_model``).

    Raises
    ------
    ValueError
        On an unknown method or option, a target out of range, or a target the method cannot serve.
    """
    pruner = get_pruner(method)
    solver_options = pruner.make_options(options)
    bits = check_target(0.0, None, bits).bits
    known: list[PruneTarget] = []  # every target known before pruning, for the pruner's own check
    target: PruneTarget | None = None
    target_of: TargetOf
    if pattern is not None:  # the pattern fixes the sparsity (N/M) of every layer
        target = check_target(0.0, pattern, bits)
        target_of = _every_layer(target)
    elif isinstance(sparsity, Mapping):
        by_name = {
            name: PruneTarget(sparsity=check_sparsity(value, f"sparsity[{name!r}]"), bits=bits)
            for name, value in sparsity.items()
        }
        target_of = by_name.get
        known = list(by_name.values())
    elif callable(sparsity):
        target_of = _called_targets(sparsity, bits)
    else:
        target = check_target(sparsity, None, bits)
        target_of = _every_layer(target)
    if pruner.check is not None:
        for each in known if target is None else [target]:
            pruner.check(each, solver_options)
    return PruningPlan(pruner, solver_options, target, target_of)


def _every_layer(target: PruneTarget) -> TargetOf:
    """The same target for every layer."""
    return lambda name: target


def _called_targets(sparsity: Callable[[str], float], bits: int | None) -> TargetOf:
    """Targets from a function of the layer name, validated as each layer asks for its own."""

    def target_of(name: str) -> PruneTarget:
        return PruneTarget(sparsity=check_sparsity(sparsity(name), f"sparsity({name!r})"), bits=bits)

    return target_of


@dataclasses.dataclass
class _LayerRun:
    """What every layer of one ``prune_model`` call shares: pruner and plan, the report being filled, the callback."""

    pruner: LayerPruner
    plan: PruningPlan
    report: PruneReport
    callback: Callable[[LayerRecord], None] | None
    dense_layers: frozenset[str] = frozenset()

    def prune(self, name: str, layer: nn.Module, H: torch.Tensor | None) -> None:
        """Prune one layer in place to its target (if it has one) and record it."""
        target = self.plan.target_of(name)
        if target is None:
            return
        if name in self.dense_layers:
            self.report.skipped[name] = KEPT_DENSE
            return
        W = weight_matrix(layer).detach()
        try:
            result = self.pruner.prune(W, H, target, self.plan.options)
        except ValueError as error:
            raise ValueError(f"layer {name!r}: {error}") from error
        set_weight_matrix(layer, result.weight)
        if result.grid is not None:
            self.report.grids[name] = result.grid
        self.report.solve_seconds += result.seconds
        record = LayerRecord(
            name=name,
            shape=(W.shape[0], W.shape[1]),
            target_sparsity=target.sparsity,
            sparsity=float(result.mask.float().mean()),
            error=result.error,
            damping_used=result.damping_used,
            seconds=result.seconds,
        )
        self.report.layers.append(record)
        if self.callback is not None:
            self.callback(record)

    def skip(self, name: str, reason: str) -> None:
        """Record a layer that should have been pruned but could not be."""
        if self.plan.target_of(name) is not None:
            self.report.skipped[name] = reason


def _full_name(prefix: str, relative: str) -> str:
    return f"{prefix}{relative}".rstrip(".") or "layer"


def _run_block(block: nn.Module, inp: torch.Tensor, extra: Extra) -> torch.Tensor:
    args, kwargs = extra
    out = block(inp, *args, **kwargs)
    return out[0] if isinstance(out, tuple) else out


def _batches(
    calibration: torch.Tensor | Sequence[torch.Tensor], batch_size: int, device: torch.device
) -> list[torch.Tensor]:
    if isinstance(calibration, torch.Tensor):
        if calibration.ndim < 2 or len(calibration) == 0:
            raise ValueError(
                f"calibration must have shape (samples, ...) with at least one sample, got {tuple(calibration.shape)}"
            )
        return [b.to(device) for b in torch.split(calibration, batch_size)]
    batches = [b.to(device) for b in calibration]
    if not batches:
        raise ValueError("calibration must contain at least one batch")
    return batches


def _capture_first_block_inputs(
    model: nn.Module, adapter: ModelAdapter, batches: list[torch.Tensor]
) -> tuple[list, list]:
    """Step 1: the hidden states and keywords block 0 receives, one entry per calibration batch."""
    if not adapter.is_causal_lm:
        return list(batches), [((), {})] * len(batches)
    inps, extras = [], []

    def catch(module: nn.Module, args: tuple, kwargs: dict) -> None:
        inps.append(args[0])
        extras.append((args[1:], kwargs))
        raise _StopForward

    handle = adapter.blocks[0].register_forward_pre_hook(catch, with_kwargs=True)
    try:
        for ids in batches:
            if ids.dtype not in (torch.int32, torch.int64):
                raise TypeError(f"calibration for a causal LM must be token ids (int64), got {ids.dtype}")
            with contextlib.suppress(_StopForward):
                model(input_ids=ids, use_cache=False)
    finally:
        handle.remove()
    return inps, extras


def _collect_hessians(
    block: nn.Module,
    layers: dict[str, nn.Module],
    groups: list[list[str]],
    inps: list[torch.Tensor],
    extras: list,
    *,
    stop_early: bool,
    dtype: torch.dtype,
) -> dict[str, HessianAccumulator]:
    """Step 2: run the block on all inputs with hooks on each group's first layer; one H per group."""
    accumulators: dict[str, HessianAccumulator] = {}
    handles = []
    for group in groups:
        first = layers[group[0]]
        acc = accumulators[group[0]] = HessianAccumulator(weight_matrix(first).shape[1], dtype=dtype)

        def hook(module: nn.Module, args: tuple, acc: HessianAccumulator = acc) -> None:
            acc.add_batch(layer_inputs(module, args[0]))
            if stop_early:
                raise _StopForward

        handles.append(first.register_forward_pre_hook(hook))
    try:
        for inp, extra in zip(inps, extras, strict=True):
            with contextlib.suppress(_StopForward):
                _run_block(block, inp, extra)
    finally:
        for handle in handles:
            handle.remove()
    return accumulators


def _prune_group(
    prefix: str, group: list[str], layers: dict[str, nn.Module], acc: HessianAccumulator, run: _LayerRun
) -> None:
    """Step 3: prune every layer of a group that reads one input with that input's H."""
    if acc.nsamples == 0:
        for relative in group:
            run.skip(_full_name(prefix, relative), "no calibration input reached it in this block")
        return
    H = acc.hessian()
    for relative in group:
        run.prune(_full_name(prefix, relative), layers[relative], H)


def _record_unprunable(block: nn.Module, prefix: str, groups: list[list[str]] | None, run: _LayerRun) -> None:
    """List the block's layers with weights that no pruner handles, or that its forward pass never calls."""
    for name, module in unsupported_layers(block, prefix).items():
        run.skip(name, not_prunable_reason(module))
    if groups is not None:
        traced = {relative for group in groups for relative in group}
        for relative in prunable_layers(block):
            if relative not in traced:
                run.skip(_full_name(prefix, relative), "the block's forward pass never calls it: no calibration input")


def _prune_block(
    block: nn.Module,
    prefix: str,
    groups: list[list[str]],
    inps: list,
    extras: list,
    run: _LayerRun,
    *,
    sequential: str,
    dtype: torch.dtype,
) -> None:
    """Steps 2-3 for one block: a forward pass per group (or one for all), then the group's layers."""
    layers = prunable_layers(block)
    _record_unprunable(block, prefix, groups, run)
    for stage in [[group] for group in groups] if sequential == "layer" else [groups]:
        start = time.perf_counter()
        accumulators = _collect_hessians(
            block, layers, stage, inps, extras, stop_early=sequential == "layer", dtype=dtype
        )
        run.report.forward_seconds += time.perf_counter() - start
        for group in stage:
            _prune_group(prefix, group, layers, accumulators[group[0]], run)


def _prune_sequentially(
    model: nn.Module,
    adapter: ModelAdapter,
    batches: list[torch.Tensor],
    run: _LayerRun,
    *,
    sequential: str,
    dtype: torch.dtype,
    progress: bool,
) -> None:
    """Steps 1-4: capture block 0's inputs, then prune each block and feed its outputs to the next."""
    start = time.perf_counter()
    inps, extras = _capture_first_block_inputs(model, adapter, batches)
    # All blocks of a model share one structure: trace block 0 once, reuse relative names.
    groups = trace_layer_groups(adapter.blocks[0], lambda: _run_block(adapter.blocks[0], inps[0], extras[0]))
    run.report.forward_seconds += time.perf_counter() - start
    blocks = list(zip(adapter.blocks, adapter.prefixes, strict=True))
    for index, (block, prefix) in enumerate(tqdm(blocks, desc=f"{run.report.method} blocks", disable=not progress)):
        _prune_block(block, prefix, groups, inps, extras, run, sequential=sequential, dtype=dtype)
        if index + 1 < len(blocks):  # step 4: the pruned block's outputs are the next block's inputs
            start = time.perf_counter()
            inps = [_run_block(block, inp, extra) for inp, extra in zip(inps, extras, strict=True)]
            run.report.forward_seconds += time.perf_counter() - start


def _prune_without_calibration(adapter: ModelAdapter, run: _LayerRun) -> None:
    """A pruner that reads no Hessian: every layer of every block, no forward pass."""
    for block, prefix in zip(adapter.blocks, adapter.prefixes, strict=True):
        _record_unprunable(block, prefix, None, run)
        for name, layer in prunable_layers(block, prefix).items():
            run.prune(name, layer, None)


def _prune_whole_model(
    pruner: ModelPruner, plan: PruningPlan, model: nn.Module, calibration: Any, report: PruneReport
) -> PruneReport:
    """A model pruner takes the model and its calibration data at once and returns its own report."""
    if plan.target is None:
        raise ValueError(f"method {pruner.name!r} prunes the whole model at once: give one sparsity, not one per layer")
    pruned = pruner.prune(model, calibration, plan.target, plan.options)
    return dataclasses.replace(pruned, method=report.method, family=report.family, calibration=report.calibration)


def _check_dense_layers(names: Sequence[str], adapter: ModelAdapter, pruner: Pruner) -> frozenset[str]:
    """The layers to keep dense, each a prunable layer of the model's blocks (checked before any work)."""
    if isinstance(names, str):
        raise TypeError(f"dense_layers must be a sequence of layer names, got the string {names!r}")
    dense = frozenset(names)
    if dense and isinstance(pruner, ModelPruner):
        raise ValueError(f"dense_layers applies to the layer pruners, not to method={pruner.name!r}")
    known = {
        n
        for block, prefix in zip(adapter.blocks, adapter.prefixes, strict=True)
        for n in prunable_layers(block, prefix)
    }
    unknown = sorted(dense - known)
    if unknown:
        raise ValueError(
            f"dense_layers names {unknown[:3]}, not prunable layers of the model; valid: {sorted(known)[:8]}"
        )
    return dense


def prune_model(
    model: nn.Module,
    calibration: torch.Tensor | Sequence[torch.Tensor] | tuple[torch.Tensor, torch.Tensor] | None,
    *,
    method: str | Pruner = "sparsegpt",
    sparsity: SparsitySpec = 0.5,
    pattern: Pattern = None,
    bits: int | None = None,
    options: OptionsLike = None,
    family: str | None = None,
    sequential: str = "layer",
    batch_size: int = 8,
    hessian_dtype: torch.dtype = torch.float32,
    calibration_name: str = "",
    device: str | torch.device = "auto",
    progress: bool = True,
    callback: Callable[[LayerRecord], None] | None = None,
    dense_layers: Sequence[str] = (),
) -> PruneReport:
    """Prune every Linear (Conv1D, Conv1d, Conv2d) layer inside the blocks of ``model``, in place, sequentially.

    Parameters
    ----------
    model : nn.Module
        A Hugging Face causal LM (Llama-like, OPT, GPT-2) or any torch net of ``nn.Linear`` and
        ``Conv1d`` / ``Conv2d`` layers (a convolution is pruned as a Linear on its unfolded input
        patches, ``multisource.compress.conv``; grouped convolutions are listed as skipped).
        Moved to ``device`` and pruned in place.
    calibration : Tensor, sequence of Tensors, (inputs, targets) or None
        Token ids (samples x seqlen) for a causal LM; input features (samples x features) for a
        generic net; split into batches of ``batch_size``. ``(inputs, targets)`` for a model
        pruner that needs labels (M-FAC OBS). May be None for a pruner that reads no Hessian (magnitude).
    method : str or a pruner record
        A name in ``PRUNING_METHODS`` ("sparsegpt", "wanda", "magnitude", "mfac_obs", or one you
        registered) or a ``LayerPruner`` / ``ModelPruner``.
    sparsity : float, dict or callable
        Ignored when ``pattern`` is given. One sparsity for all layers; a dict full layer name ->
        sparsity (layers not in it are left dense), e.g. from ``owl_layer_sparsity``; or a function
        of the full layer name.
    pattern, bits
        The layer target, see ``check_target``.
    options : dict or the method's options dataclass, optional
        E.g. ``{"blocksize": 64, "percdamp": 0.01}`` for SparseGPT (``SparseGPTOptions``); a name the
        method does not have is a ``ValueError`` listing the valid ones.
    family : str, optional
        Force the adapter family ("llama", "opt", "gpt2", "generic").
    sequential : {"layer", "block"}
        Hessians of later layer groups from the partly pruned block ("layer") or all from the
        dense block ("block").
    hessian_dtype : torch.dtype
        float32 (default) or float64 accumulation and solve.
    calibration_name : str
        The calibration domain, recorded in the report (e.g. "kjv+pydocs").
    callback : callable, optional
        Called with each ``LayerRecord`` as soon as the layer is pruned (progress per layer).
    dense_layers : sequence of str
        Full names of layers to leave dense (e.g. a CNN's first convolution, ``docs/sparsegpt.md``,
        "Convolutions"); each is listed in ``PruneReport.skipped`` as kept dense by request. Layer
        pruners only; a name the model's blocks do not hold is a ``ValueError``.

    Returns
    -------
    PruneReport
    """
    plan = plan_pruning(method, sparsity, pattern, bits, options)
    if sequential not in SEQUENTIAL:
        raise ValueError(f"sequential must be one of {list(SEQUENTIAL)}, got {sequential!r}")
    batch_size = check_int("batch_size", batch_size, minimum=1)
    progress = check_bool("progress", progress)
    adapter = find_adapter(model, family)
    dense = _check_dense_layers(dense_layers, adapter, plan.pruner)
    if calibration is None and (plan.pruner.needs_hessian or plan.pruner.kind == "model"):
        raise ValueError(f"method {plan.pruner.name!r} needs calibration inputs")
    device = resolve_device(device)
    report = PruneReport(method=plan.pruner.name, family=adapter.family, calibration=calibration_name)
    start = time.perf_counter()
    was_training = model.training
    model.to(device).eval()
    try:
        if isinstance(plan.pruner, ModelPruner):
            report = _prune_whole_model(plan.pruner, plan, model, calibration, report)
        else:
            run = _LayerRun(plan.pruner, plan, report, callback, dense)
            with torch.inference_mode():
                if not plan.pruner.needs_hessian:
                    _prune_without_calibration(adapter, run)
                else:
                    batches = _batches(calibration, batch_size, device)  # type: ignore[arg-type]
                    _prune_sequentially(
                        model, adapter, batches, run, sequential=sequential, dtype=hessian_dtype, progress=progress
                    )
    finally:
        model.train(was_training)
    if plan.pruner.kind == "model" and callback is not None:
        for record in report.layers:
            callback(record)
    report.total_seconds = time.perf_counter() - start
    return report
