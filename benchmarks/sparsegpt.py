"""SparseGPT speed: per-layer solve time against a plain dense-inverse OBS baseline, and a whole model.

Layer table (CPU, and CUDA when present): rows x columns = outputs x inputs of SmolLM2-135M's
q/o_proj (576x576), down_proj (576x1536), gate/up_proj (1536x576) and OPT-125M's fc2 (768x3072),
50% unstructured. The baseline is the exact OBS pass the paper starts from: per column, update the
remaining weights with the first row of the current ``H^-1`` and drop that row/column from it by
Gaussian elimination (O(d^2) per column, O(d^3) per layer, the same result on the same mask).

``--model`` also prunes all 210 Linear layers of SmolLM2-135M (32 x 512 calibration tokens by
default) and prints the split between forward passes and solves.

    python benchmarks/sparsegpt.py [--model] [--no-layers] [--calib-windows 32]
"""

from __future__ import annotations

import argparse
import os
import time

import torch

from multisource.compress.sparsegpt import sparsegpt_prune_layer

SHAPES = [(576, 576), (576, 1536), (1536, 576), (768, 3072)]


def dense_inverse_obs(W: torch.Tensor, H: torch.Tensor, mask: torch.Tensor, percdamp: float = 0.01) -> torch.Tensor:
    """OBS column by column with an explicit inverse Hessian downdated per column (the baseline)."""
    W = W.clone()
    H = H + percdamp * torch.mean(torch.diag(H)) * torch.eye(H.shape[0], dtype=H.dtype, device=H.device)
    Hinv = torch.linalg.inv(H)
    for j in range(W.shape[1]):
        q = W[:, j].masked_fill(mask[:, j], 0.0)
        W[:, j:] -= torch.outer((W[:, j] - q) / Hinv[0, 0], Hinv[0])
        W[:, j] = q
        # inv(H[j+1:, j+1:]) from inv(H[j:, j:]) by eliminating the first row/column
        Hinv = Hinv[1:, 1:] - torch.outer(Hinv[1:, 0], Hinv[0, 1:]) / Hinv[0, 0]
    return W


def _time(fn, device: torch.device, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        if device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return min(times)


def layer_table(devices: list[torch.device]) -> None:
    print("| device | layer (rows x cols) | SparseGPT (s) | dense-inverse OBS (s) | speedup | max |dW| diff, same mask |")
    print("|---|---|---|---|---|---|")
    for device in devices:
        for rows, columns in SHAPES:
            g = torch.Generator().manual_seed(0)
            X = torch.randn(4096, columns, generator=g) * torch.exp(torch.randn(columns, generator=g))
            W = torch.randn(rows, columns, generator=g).to(device)
            H = (2 * X.T @ X / len(X)).to(device)
            sparsegpt_prune_layer(W, H, sparsity=0.5)  # warm-up
            result = sparsegpt_prune_layer(W, H, sparsity=0.5)
            t_sgpt = _time(lambda: sparsegpt_prune_layer(W, H, sparsity=0.5), device, 3)
            baseline = {}
            t_obs = _time(lambda: baseline.setdefault("W", dense_inverse_obs(W, H, result.mask)), device, 1)
            diff = float((baseline["W"] - result.weight).abs().max())
            print(f"| {device.type} | {rows}x{columns} | {t_sgpt:.3f} | {t_obs:.3f} | {t_obs / t_sgpt:.1f}x | {diff:.1e} |", flush=True)


def model_run(calib_windows: int, seqlen: int) -> None:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from multisource.compress.driver import prune_model
    from multisource.compress.models import load_smollm2
    from multisource.data.text import calibration_windows

    model, tokenizer = load_smollm2()
    calib = calibration_windows(tokenizer, n_windows=calib_windows, seqlen=seqlen, seed=0)
    report = prune_model(model, calib, method="sparsegpt", sparsity=0.5, calibration_name="kjv+pydocs")
    print(f"\nSmolLM2-135M, {len(report.layers)} layers, {calib_windows} x {seqlen} calibration tokens, "
          f"{torch.get_num_threads()} threads: total {report.total_seconds:.1f}s = forward passes "
          f"{report.forward_seconds:.1f}s + solves {report.solve_seconds:.1f}s (+ bookkeeping)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", action="store_true", help="also prune the whole SmolLM2-135M")
    parser.add_argument("--no-layers", action="store_true", help="skip the per-layer table")
    parser.add_argument("--calib-windows", type=int, default=32)
    parser.add_argument("--seqlen", type=int, default=512)
    parser.add_argument("--threads", type=int, default=1, help="CPU threads for the layer table (both methods)")
    args = parser.parse_args()
    previous = torch.get_num_threads()
    torch.set_num_threads(args.threads)
    devices = [torch.device("cpu")] + ([torch.device("cuda")] if torch.cuda.is_available() else [])
    if not args.no_layers:
        print(f"CPU threads for the layer table: {args.threads}")
        layer_table(devices)
    torch.set_num_threads(previous)
    if args.model:
        model_run(args.calib_windows, args.seqlen)


if __name__ == "__main__":
    main()
