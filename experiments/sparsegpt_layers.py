"""Layer-level reconstruction error on real SmolLM2-135M activations: magnitude vs Wanda vs SparseGPT.

For a few layers of blocks 0, 15 and 29 of the *dense* model, H = 2 X X^T / n is taken from a
forward pass over calibration windows from the train portions of both corpora; each method prunes
the layer alone and its error ||W X - W' X||^2 / n is printed as a markdown table.

    python experiments/sparsegpt_layers.py [--windows 8] [--seqlen 256]
"""

from __future__ import annotations

import argparse
import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch

from multisource.compress.baselines import magnitude_prune_layer, wanda_prune_layer
from multisource.compress.hessian import HessianAccumulator
from multisource.compress.models import load_smollm2
from multisource.compress.sparsegpt import sparsegpt_prune_layer
from multisource.data.text import calibration_windows

LAYERS = [
    f"model.layers.{b}.{name}"
    for b in (0, 15, 29)
    for name in ("self_attn.q_proj", "self_attn.o_proj", "mlp.gate_proj", "mlp.down_proj")
]
METHODS = {"magnitude": magnitude_prune_layer, "wanda": wanda_prune_layer, "sparsegpt": sparsegpt_prune_layer}
TARGETS = {"50%": dict(sparsity=0.5), "2:4": dict(pattern="2:4")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--windows", type=int, default=8)
    parser.add_argument("--seqlen", type=int, default=256)
    args = parser.parse_args()
    model, tokenizer = load_smollm2(device="cpu")
    calib = calibration_windows(tokenizer, n_windows=args.windows, seqlen=args.seqlen, seed=0)
    modules = dict(model.named_modules())
    accumulators = {name: HessianAccumulator(modules[name].in_features) for name in LAYERS}
    handles = [
        modules[n].register_forward_pre_hook(lambda m, a, acc=accumulators[n]: acc.add_batch(a[0])) for n in LAYERS
    ]
    with torch.inference_mode():
        for batch in torch.split(calib, 4):
            model(input_ids=batch, use_cache=False)
    for handle in handles:
        handle.remove()
    print(f"{args.windows} x {args.seqlen} calibration tokens (kjv+pydocs); error = ||WX - W'X||^2 / n\n")
    print("| layer | shape | target | magnitude | Wanda | SparseGPT | SparseGPT / Wanda |")
    print("|---|---|---|---|---|---|---|")
    for name in LAYERS:
        W, H = modules[name].weight.detach(), accumulators[name].hessian()
        for label, target in TARGETS.items():
            errors = {m: f(W, H, **target).error for m, f in METHODS.items()}
            print(
                f"| {name.removeprefix('model.')} | {W.shape[0]}x{W.shape[1]} | {label} | {errors['magnitude']:.4g} | "
                f"{errors['wanda']:.4g} | {errors['sparsegpt']:.4g} | {errors['sparsegpt'] / errors['wanda']:.2f} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
