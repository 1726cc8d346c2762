"""Compressed export: save a pruned (and quantized) model in the ``compressed-tensors`` format.

``compressed-tensors`` is the checkpoint format vLLM and llm-compressor read (``docs/sparsegpt.md``,
"Compressed export"). Every layer the pruning run touched is stored as its library's compressor writes it:

* unstructured sparsity: ``sparse-bitmask`` (the non-zero values, a packed bitmask, row offsets);
* 2:4 sparsity (every aligned group of 4 input columns holds at most 2 non-zeros):
  ``sparse-24-bitmask`` (half the values and a packed bitmask);
* ``bits``-bit quantization (2..8 bits): ``pack-quantized``, the integer codes packed into int32 with the
  per-row scale and zero point of our min-max grid (``compress.quant``), as ``QuantizationArgs(
  num_bits=bits, type="int", symmetric=False, strategy="channel")``. Our codes ``q`` in ``[0, 2^b - 1]``
  with zero ``z`` are the format's signed codes ``q - 2^(b-1)`` with zero point ``z - 2^(b-1)``; both
  decode to ``scale * (q - z)``.

Sparse and quantized at once: compressed-tensors 0.13 stacks no sparse compressor on packed integer
weights (its only sparse + int4 format, ``marlin-24``, is symmetric, 2:4 only and cannot be decompressed),
so a quantized layer is stored ``pack-quantized`` and its zeros cost 4 bits each like any other code;
the sparsity config then records the sparsity with ``format="dense"`` as metadata.

A layer is stored as its outputs x inputs matrix (``adapters.weight_matrix``): the weight itself for
``nn.Linear`` (the layout vLLM reads), the transpose for GPT-2's ``Conv1D``, the channels-last kernel matrix
for a convolution. ``config.json`` holds the ``quantization_config`` (the model's Hugging Face config
next to it when there is one), ``model.safetensors`` the tensors. ``load_compressed`` decodes every layer
with compressed-tensors' own compressor classes, one layer at a time (its ``ModelCompressor.decompress``
fails on asymmetric ``pack-quantized`` weights in 0.13).
"""

from __future__ import annotations

import importlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from multisource.compress.adapters import prunable_layers, set_weight_matrix, weight_matrix
from multisource.compress.models import is_gguf_loaded
from multisource.compress.quant import QuantGrid
from multisource.compress.records import PruneReport

__all__ = ["ExportSizes", "load_compressed", "require_compressed_tensors", "save_compressed"]

CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"
MAX_PACKED_BITS = 8


@dataclass(frozen=True)
class ExportSizes:
    """Bytes of the dense tensors (what ``save_pruned`` writes, less its small header) and of the compressed file."""

    dense_bytes: int
    compressed_bytes: int

    @property
    def ratio(self) -> float:
        """compressed / dense."""
        return self.compressed_bytes / self.dense_bytes


def require_compressed_tensors(submodule: str = "") -> Any:
    """``compressed_tensors`` or one of its submodules, with an install hint when it is missing."""
    try:
        return importlib.import_module("compressed_tensors" + (f".{submodule}" if submodule else ""))
    except ImportError:
        raise ImportError(
            "the compressed export needs compressed-tensors: pip install compressed-tensors==0.13.0"
        ) from None


def _unique_state(model: nn.Module) -> dict[str, torch.Tensor]:
    """The state dict without tied duplicates (safetensors refuses shared storage): the first name of each tensor."""
    seen: set[tuple[int, tuple[int, ...]]] = set()
    state = {}
    for name, tensor in model.state_dict().items():
        key = (tensor.data_ptr(), tuple(tensor.shape))
        if key not in seen:
            seen.add(key)
            state[name] = tensor
    return state


def _is_24(W: torch.Tensor) -> bool:
    """At most 2 non-zeros in every aligned group of 4 columns (the column count a multiple of 4)."""
    return W.shape[1] % 4 == 0 and bool(((W != 0).reshape(W.shape[0], -1, 4).sum(-1) <= 2).all())


def _check_export(model: nn.Module, report: PruneReport) -> dict[str, nn.Module]:
    """The pruned layers of ``report`` found in ``model``; every grid packable. Raises before any work."""
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    if not isinstance(report, PruneReport):
        raise TypeError(f"report must be the PruneReport of the pruning run, got {type(report).__name__}")
    layers = prunable_layers(model)
    names = [record.name for record in report.layers]
    missing = [name for name in names if name not in layers]
    if missing:
        raise ValueError(f"report names layers that model does not have: {missing[:5]}")
    for name, grid in report.grids.items():
        bits = grid.maxq.bit_length()
        if bits > MAX_PACKED_BITS:
            raise ValueError(
                f"layer {name!r} is quantized to {bits} bits; pack-quantized stores at most {MAX_PACKED_BITS} bits"
            )
    return {name: layers[name] for name in names}


def _quant_args(bits: int) -> Any:
    return require_compressed_tensors("quantization").QuantizationArgs(
        num_bits=bits, type="int", symmetric=False, strategy="channel", observer="minmax"
    )


def _compression_config(matrices: dict[str, torch.Tensor], grids: dict[str, QuantGrid]) -> dict[str, Any]:
    """The ``quantization_config`` entry of config.json, serialized by compressed-tensors' own ``ModelCompressor``."""
    quant = require_compressed_tensors("quantization")
    sparse = [name for name in matrices if name not in grids]
    total = sum(W.numel() for W in matrices.values())
    zeros = sum(int((W == 0).sum()) for W in matrices.values())
    two_four = bool(matrices) and all(_is_24(W) for W in matrices.values())
    if sparse:
        fmt = "sparse-24-bitmask" if all(_is_24(matrices[name]) for name in sparse) else "sparse-bitmask"
    else:
        fmt = "dense"  # quantized layers carry their zeros as codes: the sparsity is metadata only
    sparsity = require_compressed_tensors("config").SparsityCompressionConfig.load_from_registry(
        fmt,
        targets=sparse or list(matrices),
        global_sparsity=zeros / max(total, 1),
        sparsity_structure="2:4" if two_four else "unstructured",
    )
    quantization = None
    if grids:
        by_bits: dict[int, list[str]] = {}
        for name, grid in grids.items():
            by_bits.setdefault(grid.maxq.bit_length(), []).append(name)
        groups = {
            f"group_{i}": quant.QuantizationScheme(targets=names, weights=_quant_args(bits), format="pack-quantized")
            for i, (bits, names) in enumerate(sorted(by_bits.items()))
        }
        quantization = quant.QuantizationConfig(
            config_groups=groups, format="pack-quantized", quantization_status=quant.QuantizationStatus.COMPRESSED
        )
    compressor = require_compressed_tensors("compressors").ModelCompressor(
        sparsity_config=sparsity, quantization_config=quantization
    )
    return {
        "quant_method": "compressed-tensors",
        "version": require_compressed_tensors().__version__,
        "sparsity_config": compressor.sparsity_config.model_dump(),
        **(compressor.quantization_config.model_dump(exclude=["quant_method"]) if quantization else {}),
    }


def _packed(quantizer: Any, name: str, W: torch.Tensor, grid: QuantGrid) -> dict[str, torch.Tensor]:
    """``W`` (on ``grid``) as the pack-quantized tensors: packed codes, scale, packed zero point, shape."""
    bits = grid.maxq.bit_length()
    offset = 2 ** (bits - 1)  # our unsigned codes [0, 2^b - 1] -> the format's signed [-2^(b-1), 2^(b-1) - 1]
    scale = grid.scale.detach().to(device="cpu", dtype=W.dtype).reshape(-1, 1)
    zero = (grid.zero.detach().cpu().reshape(-1, 1) - offset).to(torch.int8)
    tensors = quantizer.compress_weight(weight=W, scale=scale, zero_point=zero, quantization_args=_quant_args(bits))
    return {f"{name}.{key}": value for key, value in {**tensors, "weight_scale": scale}.items()}


def save_compressed(
    model: nn.Module, path: str | os.PathLike, report: PruneReport, *, tokenizer: Any = None
) -> ExportSizes:
    """Write ``model`` pruned (and quantized) by the run ``report`` describes in the compressed-tensors format.

    Parameters
    ----------
    model : nn.Module
        The pruned model (a Hugging Face causal LM or any torch net); not modified.
    path : str or PathLike
        Folder to write ``config.json`` and ``model.safetensors`` (and the tokenizer) into.
    report : PruneReport
        What ``prune_model`` / ``prune_classifier`` returned: its layers are compressed (sparse
        bitmask, 2:4 bitmask or, with a quantization grid in ``report.grids``, pack-quantized);
        every other tensor is stored dense.
    tokenizer : optional
        Saved next to the model with ``save_pretrained``.

    Returns
    -------
    ExportSizes
        Tensor bytes of the dense state dict and bytes of the written ``model.safetensors``.
    """
    layers = _check_export(model, report)
    from safetensors.torch import save_file

    matrices = {name: weight_matrix(layer).detach().cpu().contiguous() for name, layer in layers.items()}
    config = _compression_config(matrices, report.grids)
    compressor = require_compressed_tensors("compressors").ModelCompressor.from_compression_config(config)
    state = _unique_state(model)
    tensors = {
        name: tensor.detach().cpu().contiguous()
        for name, tensor in state.items()
        if name.removesuffix(".weight") not in layers or not name.endswith(".weight")
    }
    for name, W in matrices.items():
        if name in report.grids:
            quantizer = next(iter(compressor.quantization_compressor.values()))
            tensors.update(_packed(quantizer, name, W, report.grids[name]))
        else:
            tensors.update(compressor.sparsity_compressor.compress_weight(name, W))
    out = Path(path)
    out.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(out / WEIGHTS_FILE))
    hf_config: Any = getattr(model, "config", None)
    full = hf_config.to_dict() if hasattr(hf_config, "to_dict") else {}
    if is_gguf_loaded(model) or "quantization_config" in full:
        full.pop("quantization_config", None)
    full["quantization_config"] = config
    (out / CONFIG_FILE).write_text(json.dumps(full, indent=2, sort_keys=True, default=str))
    if tokenizer is not None:
        tokenizer.save_pretrained(out)
    dense = sum(t.numel() * t.element_size() for t in state.values())
    return ExportSizes(dense_bytes=dense, compressed_bytes=(out / WEIGHTS_FILE).stat().st_size)


def load_compressed(path: str | os.PathLike, model: nn.Module) -> nn.Module:
    """Load what ``save_compressed`` wrote into ``model`` (same architecture), decompressing with compressed-tensors.

    Every compressed layer is decoded by the compressor its config names (``BitmaskCompressor``,
    ``Sparse24BitMaskCompressor``, ``PackedQuantizationCompressor``) and written back through
    ``adapters.set_weight_matrix``; the other tensors are loaded as stored. Returns ``model``.

    Raises
    ------
    FileNotFoundError
        If ``path`` lacks ``config.json`` or ``model.safetensors``.
    ValueError
        If the file's tensors do not match ``model`` (a layer or tensor missing on either side).
    """
    folder = Path(path)
    for file in (CONFIG_FILE, WEIGHTS_FILE):
        if not (folder / file).is_file():
            raise FileNotFoundError(f"{folder / file} not found: path must be a folder written by save_compressed")
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    from safetensors.torch import load_file

    config = json.loads((folder / CONFIG_FILE).read_text()).get("quantization_config")
    if config is None:
        raise ValueError(f"{folder / CONFIG_FILE} has no quantization_config: not a compressed-tensors export")
    compressor = require_compressed_tensors("compressors").ModelCompressor.from_compression_config(config)
    tensors = load_file(str(folder / WEIGHTS_FILE))
    layers = prunable_layers(model)
    decoded, consumed = _decode_layers(compressor, tensors, layers)
    dense = {name: value for name, value in tensors.items() if name not in consumed}
    expected = {name for name in _unique_state(model) if name.removesuffix(".weight") not in decoded}
    if set(dense) != expected:
        extra, missing = sorted(set(dense) - expected), sorted(expected - set(dense))
        raise ValueError(f"{folder} does not fit model: unexpected tensors {extra[:5]}, missing tensors {missing[:5]}")
    model.load_state_dict(dense, strict=False)
    for name, W in decoded.items():
        set_weight_matrix(layers[name], W)
    return model


def _decode_layers(
    compressor: Any, tensors: dict[str, torch.Tensor], layers: dict[str, nn.Module]
) -> tuple[dict[str, torch.Tensor], set[str]]:
    """Layer name -> its outputs x inputs matrix decoded by the compressor of its format; the tensor names read."""
    schemes = {}
    if compressor.quantization_config is not None:
        for scheme in compressor.quantization_config.config_groups.values():
            schemes.update(dict.fromkeys(scheme.targets, scheme))
    quantizer: Any = next(iter(compressor.quantization_compressor.values())) if schemes else None
    sparse = compressor.sparsity_compressor
    dense_format = sparse is None or compressor.sparsity_config.format == "dense"
    decoded: dict[str, torch.Tensor] = {}
    consumed: set[str] = set()
    for name in [*schemes, *([] if dense_format else compressor.sparsity_config.targets)]:
        if name not in layers:
            raise ValueError(f"the export compresses layer {name!r}, which model does not have")
        codec: Any = quantizer if name in schemes else sparse
        keys = [f"{name}.{param}" for param in codec.compression_param_names if f"{name}.{param}" in tensors]
        own = {key.removeprefix(f"{name}."): tensors[key] for key in keys}
        consumed.update(keys)
        if name in schemes:
            decoded[name] = codec.decompress_weight(own, quantization_args=schemes[name].weights)
        else:
            decoded[name] = codec.decompress_weight(own)
    return decoded, consumed
