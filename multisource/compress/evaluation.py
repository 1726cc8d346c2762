"""Evaluation of pruned models: perplexity on held-out text and what was actually pruned."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn.functional import cross_entropy

from multisource.compress.adapters import find_adapter, prunable_layers, weight_matrix
from multisource.compress.masks import is_nm_sparse, parse_nm
from multisource.utils.validation import check_int


def perplexity(
    model: nn.Module,
    tokens: torch.Tensor,
    *,
    seqlen: int = 512,
    stride: int | None = None,
    batch_size: int = 4,
) -> float:
    """``exp(mean NLL)`` of a 1-D token sequence under a causal LM, with a strided window.

    Windows of ``seqlen`` tokens start every ``stride`` tokens (default: ``seqlen``, i.e.
    non-overlapping windows as in the SparseGPT evaluation, where the first token of each window is
    not predicted). With ``stride < seqlen`` every window after the first scores only the targets
    the previous window did not reach (its last ``stride`` tokens), so every token from the second
    to the end of the last window is predicted exactly once, from at least ``seqlen - stride``
    tokens of context.
    """
    seqlen = check_int("seqlen", seqlen, minimum=2)
    stride = seqlen if stride is None else check_int("stride", stride, minimum=1, maximum=seqlen)
    batch_size = check_int("batch_size", batch_size, minimum=1)
    tokens = tokens.reshape(-1)
    if len(tokens) < seqlen:
        raise ValueError(f"evaluation text has {len(tokens)} tokens, shorter than one window of seqlen={seqlen}")
    device = next(model.parameters()).device
    # Window k covers tokens [s_k, s_k + seqlen) and scores targets from max(s_k, previous end) on.
    starts = list(range(0, len(tokens) - seqlen + 1, stride))
    total_nll, total_count = 0.0, 0
    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode():
            for b in range(0, len(starts), batch_size):
                batch_starts = starts[b : b + batch_size]
                ids = torch.stack([tokens[s : s + seqlen] for s in batch_starts]).to(device)
                logits = model(input_ids=ids, use_cache=False).logits[:, :-1].float()
                nll = cross_entropy(logits.transpose(1, 2), ids[:, 1:], reduction="none")
                for row, s in enumerate(batch_starts):
                    first = 0 if s == 0 else max(seqlen - stride - 1, 0)
                    total_nll += float(nll[row, first:].sum())
                    total_count += nll.shape[1] - first
    finally:
        model.train(was_training)
    return math.exp(total_nll / total_count)


@dataclass(frozen=True)
class LayerSparsity:
    """Zeros in one prunable layer; ``nm_ok`` tells whether it satisfies the checked N:M pattern."""

    name: str
    shape: tuple[int, int]
    sparsity: float
    nm_ok: bool | None


def sparsity_report(model: nn.Module, *, pattern: str | None = None, family: str | None = None) -> list[LayerSparsity]:
    """Measured fraction of exact zeros of every prunable layer inside the model's blocks.

    With ``pattern="N:M"`` each layer is also checked by the N:M mask checker ``is_nm_sparse``.
    """
    nm = parse_nm(pattern) if pattern is not None else None
    adapter = find_adapter(model, family)
    rows = []
    for block, prefix in zip(adapter.blocks, adapter.prefixes, strict=True):
        for name, layer in prunable_layers(block, prefix).items():
            W = weight_matrix(layer).detach()
            rows.append(
                LayerSparsity(
                    name=name,
                    shape=(W.shape[0], W.shape[1]),
                    sparsity=float((W == 0).float().mean()),
                    nm_ok=None if nm is None else is_nm_sparse(W, *nm),
                )
            )
    return rows
