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
calibration tensors themselves.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import torch
from torch import nn
from tqdm.auto import tqdm

from multisource.compress.adapters import ModelAdapter, find_adapter, prunable_layers, set_weight_matrix, trace_layer_groups, weight_matrix
from multisource.compress.hessian import HessianAccumulator
from multisource.compress.layer import Pattern, check_target
from multisource.compress.methods import PRUNING_METHODS, PruningMethod
from multisource.compress.masks import check_sparsity
from multisource.utils.device import resolve_device
from multisource.utils.validation import check_int

SparsitySpec = float | Mapping[str, float] | Callable[[str], float]


class _StopForward(Exception):
    """Raised by a hook to end a forward pass once the needed inputs are captured."""


@dataclass(frozen=True)
class LayerRecord:
    """One pruned layer: full name, (rows, columns), asked and achieved sparsity, error, damping, time."""

    name: str
    shape: tuple[int, int]
    target_sparsity: float
    sparsity: float
    error: float
    damping_used: float
    seconds: float


@dataclass
class PruneReport:
    """What ``prune_model`` did: per-layer records, the forward-pass / solve time split."""

    method: str
    family: str
    calibration: str
    layers: list[LayerRecord] = field(default_factory=list)
    forward_seconds: float = 0.0
    solve_seconds: float = 0.0
    total_seconds: float = 0.0

    @property
    def sparsity(self) -> float:
        """Fraction of zeros over all pruned layers' weights."""
        total = sum(r.shape[0] * r.shape[1] for r in self.layers)
        return sum(r.sparsity * r.shape[0] * r.shape[1] for r in self.layers) / max(total, 1)

    def table(self) -> str:
        """A markdown table, one row per layer."""
        lines = ["| layer | shape | target | sparsity | error | damping | seconds |", "|---|---|---|---|---|---|---|"]
        lines += [
            f"| {r.name} | {r.shape[0]}x{r.shape[1]} | {r.target_sparsity:.3f} | {r.sparsity:.3f} | "
            f"{r.error:.4g} | {r.damping_used:g} | {r.seconds:.3f} |"
            for r in self.layers
        ]
        return "\n".join(lines)


def _layer_sparsity(sparsity: SparsitySpec, name: str) -> float | None:
    if isinstance(sparsity, Mapping):
        value = sparsity.get(name)
        return None if value is None else check_sparsity(value, f"sparsity[{name!r}]")
    if callable(sparsity):
        return check_sparsity(sparsity(name), f"sparsity({name!r})")
    return sparsity


def _run_block(block: nn.Module, inp: torch.Tensor, extra: tuple[tuple, dict]) -> torch.Tensor:
    args, kwargs = extra
    out = block(inp, *args, **kwargs)
    return out[0] if isinstance(out, tuple) else out


def _batches(calibration: torch.Tensor | Sequence[torch.Tensor], batch_size: int, device: torch.device) -> list[torch.Tensor]:
    if isinstance(calibration, torch.Tensor):
        if calibration.ndim < 2 or len(calibration) == 0:
            raise ValueError(f"calibration must have shape (samples, ...) with at least one sample, got {tuple(calibration.shape)}")
        return [b.to(device) for b in torch.split(calibration, batch_size)]
    batches = [b.to(device) for b in calibration]
    if not batches:
        raise ValueError("calibration must contain at least one batch")
    return batches


def _capture_first_block_inputs(model: nn.Module, adapter: ModelAdapter, batches: list[torch.Tensor]) -> tuple[list, list]:
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
            try:
                model(input_ids=ids, use_cache=False)
            except _StopForward:
                pass
    finally:
        handle.remove()
    return inps, extras


def prune_model(
    model: nn.Module,
    calibration: torch.Tensor | Sequence[torch.Tensor] | None,
    *,
    method: str | PruningMethod = "sparsegpt",
    sparsity: SparsitySpec = 0.5,
    pattern: Pattern = None,
    bits: int | None = None,
    blocksize: int = 128,
    percdamp: float = 0.01,
    family: str | None = None,
    sequential: str = "layer",
    batch_size: int = 8,
    hessian_dtype: torch.dtype = torch.float32,
    calibration_name: str = "",
    device: str | torch.device = "auto",
    progress: bool = True,
    callback: Callable[[LayerRecord], None] | None = None,
) -> PruneReport:
    """Prune every Linear (or Conv1D) layer inside the blocks of ``model``, in place, sequentially.

    Parameters
    ----------
    model : nn.Module
        A Hugging Face causal LM (Llama-like, OPT, GPT-2) or any torch net of ``nn.Linear`` layers.
        Moved to ``device`` and pruned in place.
    calibration : Tensor or sequence of Tensors
        Token ids (samples x seqlen) for a causal LM; input features (samples x features) for a
        generic net. Split into batches of ``batch_size``. May be None for ``method="magnitude"``.
    method : str or PruningMethod
        A name in ``PRUNING_METHODS`` ("sparsegpt", "wanda", "magnitude") or a ``PruningMethod``.
    sparsity : float, dict or callable
        Ignored when ``pattern`` is given. One sparsity for all layers; a dict full layer name -> sparsity (layers not in it are left
        dense), e.g. from ``owl_layer_sparsity``; or a function of the full layer name.
    pattern, bits, blocksize, percdamp
        The layer target and solver options, see ``sparsegpt_prune_layer``.
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

    Returns
    -------
    PruneReport
    """
    pruner = method if isinstance(method, PruningMethod) else PRUNING_METHODS.get(method)
    method_name = method if isinstance(method, str) else getattr(pruner.prune, "__name__", "custom")
    if pattern is not None:  # the pattern fixes the sparsity (N/M) of every layer
        check_target(0.0, pattern, bits)
        sparsity = 0.0
    elif isinstance(sparsity, Mapping):
        for name, value in sparsity.items():
            check_sparsity(value, f"sparsity[{name!r}]")
        check_target(0.0, None, bits)
    elif not callable(sparsity):
        sparsity = check_target(sparsity, None, bits).sparsity
    if sequential not in ("layer", "block"):
        raise ValueError(f"sequential must be 'layer' or 'block', got {sequential!r}")
    batch_size = check_int("batch_size", batch_size, minimum=1)
    adapter = find_adapter(model, family)
    device = resolve_device(device)
    report = PruneReport(method=method_name, family=adapter.family, calibration=calibration_name)
    start = time.perf_counter()
    was_training = model.training
    model.to(device).eval()
    options = dict(pattern=pattern, bits=bits, blocksize=blocksize, percdamp=percdamp)

    def prune_layer(name: str, layer: nn.Module, H: torch.Tensor | None) -> None:
        layer_sparsity = _layer_sparsity(sparsity, name)
        if layer_sparsity is None:
            return
        W = weight_matrix(layer).detach()
        result = pruner.prune(W, H, sparsity=layer_sparsity, **options)
        set_weight_matrix(layer, result.weight)
        report.solve_seconds += result.seconds
        record = LayerRecord(
            name=name,
            shape=tuple(W.shape),
            target_sparsity=check_target(layer_sparsity, pattern, None).sparsity,
            sparsity=float(result.mask.float().mean()),
            error=result.error,
            damping_used=result.damping_used,
            seconds=result.seconds,
        )
        report.layers.append(record)
        if callback is not None:
            callback(record)

    try:
        with torch.inference_mode():
            if not pruner.needs_hessian:
                for block, prefix in zip(adapter.blocks, adapter.prefixes):
                    for name, layer in prunable_layers(block, prefix).items():
                        prune_layer(name, layer, None)
            else:
                if calibration is None:
                    raise ValueError(f"method {method_name!r} needs calibration inputs")
                t0 = time.perf_counter()
                inps, extras = _capture_first_block_inputs(model, adapter, _batches(calibration, batch_size, device))
                # All blocks of a model share one structure: trace block 0 once, reuse relative names.
                groups = trace_layer_groups(adapter.blocks[0], lambda: _run_block(adapter.blocks[0], inps[0], extras[0]))
                report.forward_seconds += time.perf_counter() - t0
                bar = tqdm(list(zip(adapter.blocks, adapter.prefixes)), desc=f"{method_name} blocks", disable=not progress)
                for index, (block, prefix) in enumerate(bar):
                    layers = prunable_layers(block)
                    passes = [[g] for g in groups] if sequential == "layer" else [groups]
                    for stage in passes:
                        t0 = time.perf_counter()
                        accumulators = _collect_hessians(block, layers, stage, inps, extras, stop_early=sequential == "layer", dtype=hessian_dtype)
                        report.forward_seconds += time.perf_counter() - t0
                        for group in stage:
                            H = accumulators[group[0]].hessian()
                            for relative in group:
                                prune_layer(f"{prefix}{relative}".rstrip(".") or "layer", layers[relative], H)
                    if index + 1 < len(adapter.blocks):
                        t0 = time.perf_counter()
                        inps = [_run_block(block, inp, extra) for inp, extra in zip(inps, extras)]
                        report.forward_seconds += time.perf_counter() - t0
    finally:
        model.train(was_training)
    report.total_seconds = time.perf_counter() - start
    return report


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
    """Run the block on all inputs with hooks on each group's first layer; one H per group."""
    accumulators: dict[str, HessianAccumulator] = {}
    handles = []
    for group in groups:
        first = layers[group[0]]
        acc = accumulators[group[0]] = HessianAccumulator(weight_matrix(first).shape[1], dtype=dtype)

        def hook(module: nn.Module, args: tuple, acc: HessianAccumulator = acc) -> None:
            acc.add_batch(args[0])
            if stop_early:
                raise _StopForward

        handles.append(first.register_forward_pre_hook(hook))
    try:
        for inp, extra in zip(inps, extras):
            try:
                _run_block(block, inp, extra)
            except _StopForward:
                pass
    finally:
        for handle in handles:
            handle.remove()
    return accumulators
