"""Feature-extraction throughput of ``LMFeatureMap`` (SmolLM2-135M) against a plain ``model(**batch)`` loop.

Both sides run on the same KJV passages in the same length-sorted, right-padded batches (the
tokenization, truncation and batching of :func:`multisource.learners.lm_features.encode_texts`)
and mean-pool the same hidden states. Ours is what ``encode_texts`` does per batch:
:func:`~multisource.learners.lm_features.block_output` runs the decoder up to block ``l`` and stops
(a forward hook raises after the block). The baseline is what one writes without it:
``model(input_ids=..., attention_mask=..., output_hidden_states=True)`` through all 30 blocks, the
final norm and the LM head (576 x 49 152, the largest matmul of the model), pooling
``hidden_states[l]``; its cost does not depend on ``l``, so one pass serves every block.

Timing is interleaved batch by batch (baseline, then ours for each block) so that both sides see
the same load on a shared machine; tokenization is outside both timings. "speed-up" is baseline
time / ours (above 1: ours is faster); "max abs diff" compares the pooled features (at the last
block the baseline's ``hidden_states[30]`` is after the final norm and ours before it, so that row
has no comparison). About 5 minutes at the defaults on 2 busy cores.

    python benchmarks/lm_features.py [--passages 256] [--threads 2] [--layers 8 15 30]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from multisource.compress.models import load_smollm2
from multisource.data.verses import load_kjv_divisions
from multisource.learners.lm_features import block_output, padded_batches, pool_states


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


@torch.no_grad()
def interleaved_times(
    model: torch.nn.Module, batches: list[tuple], layers: Sequence[int], n_rows: int
) -> tuple[float, dict[int, float], dict[int, np.ndarray], dict[int, np.ndarray]]:
    """Per batch, the baseline forward then ours for every block, so both see the same machine load.

    Returns the baseline seconds, ours per block, and the pooled features of both per block.
    """
    dim = int(model.config.hidden_size)
    ours = {layer: np.zeros((n_rows, dim), dtype=np.float32) for layer in layers}
    base = {layer: np.zeros((n_rows, dim), dtype=np.float32) for layer in layers}
    t_base, t_ours = 0.0, dict.fromkeys(layers, 0.0)
    for rows, batch, mask in tqdm(batches, desc="batches", leave=False):
        seconds, output = timed(
            lambda batch=batch, mask=mask: model(
                input_ids=batch, attention_mask=mask, output_hidden_states=True, use_cache=False
            )
        )
        t_base += seconds
        for layer in layers:
            base[layer][rows] = pool_states(output.hidden_states[layer], mask, "mean").numpy()
            # encode_texts' work per batch: the decoder up to the block, then the pooling
            seconds, pooled = timed(
                lambda layer=layer, batch=batch, mask=mask: pool_states(
                    block_output(model, batch, mask, layer), mask, "mean"
                ).numpy()
            )
            t_ours[layer] += seconds
            ours[layer][rows] = pooled
    return t_base, t_ours, ours, base


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--passages", type=int, default=256, help="KJV passages to encode")
    parser.add_argument("--threads", type=int, default=2, help="torch threads")
    parser.add_argument("--layers", type=int, nargs="+", default=[8, 15, 30], help="blocks to pool (1..30)")
    parser.add_argument("--max-length", type=int, default=64, help="tokens kept per passage")
    parser.add_argument("--batch-size", type=int, default=32, help="passages per forward pass")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    model, tokenizer = load_smollm2(device="cpu")
    texts = list(load_kjv_divisions(seed=0).texts[: args.passages])
    n_tokens = sum(
        len(row)
        for row in tokenizer(texts, add_special_tokens=False, truncation=True, max_length=args.max_length)["input_ids"]
    )
    n_blocks = int(model.config.num_hidden_layers)
    print(
        f"SmolLM2-135M, float32, CPU, torch {torch.__version__}, {args.threads} thread(s); {len(texts)} passages, "
        f"{n_tokens} tokens (max {args.max_length} per passage), batches of {args.batch_size}"
    )
    print("| block | ours tokens/s | model(**batch) tokens/s | speed-up | max abs diff |")
    print("|---:|---:|---:|---:|---:|")
    batches = padded_batches(tokenizer, texts, args.max_length, args.batch_size)
    interleaved_times(model, batches[:1], args.layers, len(texts))  # warm-up
    t_base, t_ours, ours, base = interleaved_times(model, batches, args.layers, len(texts))
    for layer in args.layers:
        diff = "(after the norm)" if layer == n_blocks else f"{float(np.abs(ours[layer] - base[layer]).max()):.1e}"
        print(
            f"| {layer} | {n_tokens / t_ours[layer]:,.0f} | {n_tokens / t_base:,.0f} | "
            f"{t_base / t_ours[layer]:.2f}x | {diff} |"
        )


if __name__ == "__main__":
    main()
