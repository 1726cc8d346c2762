"""Model adapters: where a model's sequential blocks are, and which of its layers can be pruned.

The sequential driver only needs the list of blocks (applied one after another to the hidden
state) and, per block, its prunable layers. The order in which a block calls its layers and which
layers read the *same* input tensor (q/k/v, gate/up) are found by tracing one forward pass, so a new
family needs one ``BLOCK_FINDERS`` entry, not a new driver.

Families: Hugging Face Llama-like (``model.model.layers``: Llama, SmolLM2, Mistral, Qwen2), OPT
(``model.model.decoder.layers``), GPT-2 (``model.transformer.h``, transposed ``Conv1D`` weights),
and any other torch net whose prunable layers are ``nn.Linear`` or ``Conv1d`` / ``Conv2d`` (the whole
net is one block; a convolution is a Linear on its unfolded input patches, ``compress.conv``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from multisource.compress.conv import (
    conv_weight_matrix,
    is_patch_conv,
    patch_geometry,
    set_conv_weight_matrix,
    unfold_patches,
    unsupported_reason,
)


def is_prunable(module: nn.Module) -> bool:
    """``nn.Linear``, GPT-2's ``transformers.pytorch_utils.Conv1D`` (weight stored in x out), or a
    ``Conv1d`` / ``Conv2d`` with ``groups=1`` (a Linear on its unfolded input patches, ``compress.conv``)."""
    return (
        isinstance(module, nn.Linear)
        or (type(module).__name__ == "Conv1D" and hasattr(module, "nf"))
        or is_patch_conv(module)
    )


def weight_matrix(module: nn.Module) -> torch.Tensor:
    """The layer's weight as outputs x inputs (a transposed view for ``Conv1D``, a permuted copy for a convolution)."""
    if is_patch_conv(module):
        return conv_weight_matrix(module)
    weight = module.get_parameter("weight")
    return weight if isinstance(module, nn.Linear) else weight.T


def set_weight_matrix(module: nn.Module, W: torch.Tensor) -> None:
    """Write an outputs x inputs matrix back into the layer's own layout, in place."""
    if is_patch_conv(module):
        set_conv_weight_matrix(module, W)
        return
    with torch.no_grad():
        weight = module.get_parameter("weight")
        weight_matrix(module).copy_(W.to(dtype=weight.dtype, device=weight.device))


def layer_inputs(module: nn.Module, inp: torch.Tensor) -> torch.Tensor:
    """What the layer's weight matrix multiplies: ``inp`` itself, or a convolution's unfolded patches."""
    return unfold_patches(module, inp) if is_patch_conv(module) else inp


def prunable_layers(module: nn.Module, prefix: str = "") -> dict[str, nn.Module]:
    """Full name -> prunable layer, in registration order."""
    return {(prefix + name).rstrip(".") or "layer": m for name, m in module.named_modules() if is_prunable(m)}


def unsupported_layers(module: nn.Module, prefix: str = "") -> dict[str, nn.Module]:
    """Full name -> layer with a weight matrix or kernel (>= 2-D) that is not prunable (e.g. a grouped convolution)."""
    found = {}
    for name, m in module.named_modules():
        weight = dict(m.named_parameters(recurse=False)).get("weight")
        if weight is not None and weight.ndim >= 2 and not is_prunable(m):
            found[(prefix + name).rstrip(".") or "layer"] = m
    return found


def not_prunable_reason(module: nn.Module) -> str:
    """Why a layer of ``unsupported_layers`` is left dense, for ``PruneReport.skipped``."""
    kinds = "nn.Linear, Conv1D, Conv1d/Conv2d with groups=1"
    return unsupported_reason(module) or f"{type(module).__name__} is not a layer type the pruners handle ({kinds})"


def _path(model: nn.Module, path: str) -> nn.Module | None:
    obj: Any = model
    for part in path.split("."):
        obj = getattr(obj, part, None)
        if obj is None:
            return None
    return obj


# family -> attribute path of the nn.ModuleList of decoder blocks
BLOCK_PATHS: dict[str, str] = {
    "opt": "model.decoder.layers",
    "llama": "model.layers",
    "gpt2": "transformer.h",
}


@dataclass(frozen=True)
class ModelAdapter:
    """How to walk one model: its family, its blocks and their full-name prefixes.

    For a causal LM the blocks receive hidden states and the driver captures the first block's
    inputs by running the model on token ids; for a ``"generic"`` net the single block is the net
    itself and the calibration tensors are its inputs.
    """

    family: str
    blocks: tuple[nn.Module, ...]
    prefixes: tuple[str, ...]

    @property
    def is_causal_lm(self) -> bool:
        return self.family != "generic"


def find_adapter(model: nn.Module, family: str | None = None) -> ModelAdapter:
    """The adapter for ``model``; ``family`` in {"llama", "opt", "gpt2", "generic"} or None (detect).

    Raises
    ------
    ValueError
        If the model has no ``nn.Linear`` / ``Conv1D`` layer, or ``family`` does not fit it.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    valid = [*sorted(BLOCK_PATHS), "generic"]
    if family is not None and family not in valid:
        raise ValueError(f"family must be one of {valid} or None, got {family!r}")
    candidates = [family] if family in BLOCK_PATHS else ([] if family == "generic" else list(BLOCK_PATHS))
    for name in candidates:
        blocks = _path(model, BLOCK_PATHS[name])
        if isinstance(blocks, nn.ModuleList) and len(blocks):
            prefixes = tuple(f"{BLOCK_PATHS[name]}.{i}." for i in range(len(blocks)))
            adapter = ModelAdapter(family=name, blocks=tuple(blocks), prefixes=prefixes)
            break
    else:
        if family is not None and family != "generic":
            raise ValueError(f"model has no {BLOCK_PATHS[family]!r} block list, so it is not a {family} model")
        adapter = ModelAdapter(family="generic", blocks=(model,), prefixes=("",))
    if not any(prunable_layers(block) for block in adapter.blocks):
        raise ValueError(
            f"{type(model).__name__} has no nn.Linear (or Conv1D, Conv1d, Conv2d) layers inside its blocks to prune"
        )
    return adapter


def trace_layer_groups(block: nn.Module, run: Callable[[], object], prefix: str = "") -> list[list[str]]:
    """Prunable layers of ``block`` in the order ``run()`` calls them, grouped by shared input.

    Layers that receive the very same input tensor (e.g. q/k/v_proj, gate/up_proj) form one group;
    they share one Hessian. Convolutions share it only with the same patch geometry (kernel,
    stride, padding, dilation), which decides their unfolded inputs. Layers never called are left out.
    """
    layers = prunable_layers(block, prefix)
    seen: list[tuple[torch.Tensor, tuple | None, list[str]]] = []
    handles = []

    def record(name: str) -> Callable:
        def hook(module: nn.Module, args: tuple) -> None:
            if any(name in group for _, _, group in seen):
                return
            for inp, geometry, group in seen:
                if inp is args[0] and geometry == patch_geometry(module):
                    group.append(name)
                    return
            seen.append((args[0], patch_geometry(module), [name]))

        return hook

    for name, layer in layers.items():
        handles.append(layer.register_forward_pre_hook(record(name)))
    try:
        run()
    finally:
        for handle in handles:
            handle.remove()
    return [group for _, _, group in seen]
