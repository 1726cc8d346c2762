"""``multisource prune``: prune a causal LM one-shot and print dense vs pruned perplexity.

    multisource prune --model smollm2-135m --method sparsegpt --sparsity 0.5 [--pattern 2:4] \
        [--bits 4] --calib-tokens 16384 --out DIR [--export DIR]

``--export DIR`` also writes the pruned model in the compressed-tensors format (``compress.export``)
and prints the dense and compressed file sizes.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from torch import nn

    from multisource.compress.records import LayerRecord, PruneReport

from multisource.compress.masks import parse_nm
from multisource.utils.validation import check_int


def configure(parser: argparse.ArgumentParser) -> None:
    from multisource.compress.methods import PRUNING_METHODS
    from multisource.compress.models import MODELS
    from multisource.data.text import TEXT_CORPORA

    parser.add_argument(
        "--model", default="smollm2-135m", help=f"{list(MODELS)} or a folder written by save_pruned / save_pretrained"
    )
    # Calibration text has no labels: every registered pruner that needs none is a choice.
    methods = [name for name in PRUNING_METHODS.names() if not PRUNING_METHODS.get(name).needs_labels]
    parser.add_argument("--method", default="sparsegpt", choices=methods)
    parser.add_argument("--sparsity", type=float, default=0.5, help="fraction removed per layer, in [0, 1)")
    parser.add_argument("--pattern", default=None, type=_pattern, help="N:M pattern, e.g. 2:4 (overrides --sparsity)")
    parser.add_argument("--bits", type=int, default=None, help="also quantize kept weights to this many bits (2..16)")
    parser.add_argument(
        "--calib-tokens", type=int, default=16 * 512, help="calibration tokens (rounded up to whole windows)"
    )
    parser.add_argument(
        "--calib-corpora", default=",".join(TEXT_CORPORA), help=f"comma-separated subset of {list(TEXT_CORPORA)}"
    )
    parser.add_argument("--seqlen", type=int, default=512, help="calibration and evaluation window length")
    parser.add_argument("--eval-tokens", type=int, default=4096, help="held-out tokens per corpus for perplexity")
    parser.add_argument("--blocksize", type=int, default=None, help="SparseGPT: columns per block (default 128)")
    parser.add_argument("--percdamp", type=float, default=None, help="SparseGPT: relative damping (default 0.01)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--out", default=None, help="folder to save the pruned model (safetensors)")
    parser.add_argument(
        "--export", default=None, help="folder to write the pruned model in the compressed-tensors format"
    )


def _pattern(text: str) -> str:
    try:
        parse_nm(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None
    return text


def main(args: argparse.Namespace) -> int:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from multisource.compress.driver import plan_pruning, prune_model
    from multisource.compress.evaluation import perplexity
    from multisource.compress.models import MODELS, load_model, save_pruned
    from multisource.data.text import TEXT_CORPORA, calibration_windows, corpus_tokens, describe_calibration

    try:
        options = {name: value for name in ("blocksize", "percdamp") if (value := getattr(args, name)) is not None}
        plan_pruning(args.method, args.sparsity, args.pattern, args.bits, options)  # fail before loading the model
        corpora = _check_windows(args)
        _check_export(args.export)
        _check_folder("--out", args.out)
        if args.model in MODELS:
            model, tokenizer = load_model(args.model, device=args.device)
        else:
            model, tokenizer = _load_folder(args.model, args.device)
        n_windows = max(1, math.ceil(args.calib_tokens / args.seqlen))
        calib = calibration_windows(tokenizer, corpora, n_windows=n_windows, seqlen=args.seqlen, seed=args.seed)
        evals = {c: corpus_tokens(tokenizer, c, "eval", max_tokens=args.eval_tokens) for c in TEXT_CORPORA}
        dense = {c: perplexity(model, evals[c], seqlen=args.seqlen) for c in TEXT_CORPORA}
        report = prune_model(
            model,
            calib,
            method=args.method,
            sparsity=args.sparsity,
            pattern=args.pattern,
            bits=args.bits,
            options=options,
            calibration_name=describe_calibration(corpora),
            device=args.device,
            progress=False,
            callback=_progress_printer(),
        )
        pruned = {c: perplexity(model, evals[c], seqlen=args.seqlen) for c in TEXT_CORPORA}
    except (ValueError, TypeError, ImportError, FileNotFoundError) as error:
        print(f"multisource prune: error: {error}", file=sys.stderr)
        return 2
    _print_summary(args, report, len(calib), dense, pruned)
    if args.out:
        print(f"saved to {save_pruned(model, args.out, tokenizer)}")
    if args.export:
        from multisource.compress.export import save_compressed

        sizes = save_compressed(model, args.export, report, tokenizer=tokenizer)
        print(
            f"exported to {args.export} (compressed-tensors): {sizes.compressed_bytes / 2**20:.2f} MiB, "
            f"dense {sizes.dense_bytes / 2**20:.2f} MiB, ratio {sizes.ratio:.3f}"
        )
    return 0


def _check_export(folder: str | None) -> None:
    """``--export``: compressed-tensors installed and a folder that can be written (checked before the model loads)."""
    if folder is None:
        return
    from multisource.compress.export import require_compressed_tensors

    require_compressed_tensors()
    _check_folder("--export", folder)


def _check_folder(flag: str, folder: str | None) -> None:
    """An output folder (``--out``, ``--export``) must not be an existing file: refused before the model loads."""
    if folder is not None and os.path.isfile(folder):
        raise ValueError(f"{flag} must be a folder, got the file {folder!r}")


def _check_windows(args: argparse.Namespace) -> tuple[str, ...]:
    """The calibration corpora, after checking the token counts and the device (all before the model loads)."""
    from multisource.data.text import TEXT_CORPORA
    from multisource.utils.device import resolve_device

    check_int("--calib-tokens", args.calib_tokens, minimum=1)
    check_int("--seqlen", args.seqlen, minimum=2)  # perplexity predicts tokens 2..seqlen of a window
    check_int("--eval-tokens", args.eval_tokens, minimum=args.seqlen)  # at least one evaluation window
    check_int("--seed", args.seed, minimum=0)
    resolve_device(args.device)
    corpora = tuple(c.strip() for c in args.calib_corpora.split(",") if c.strip())
    if not corpora or any(c not in TEXT_CORPORA for c in corpora) or len(set(corpora)) != len(corpora):
        raise ValueError(
            f"--calib-corpora must be a comma-separated subset of {list(TEXT_CORPORA)}, each named once, "
            f"got {args.calib_corpora!r}"
        )
    return corpora


def _progress_printer() -> Callable[[LayerRecord], None]:
    """One numbered line per pruned layer, printed as soon as the layer is done."""
    counter = iter(range(1, 10**9))

    def progress(record: LayerRecord) -> None:
        print(
            f"[{next(counter):4d}] {record.name:45s} {record.shape[0]}x{record.shape[1]:<5d} "
            f"sparsity {record.sparsity:.3f}  error {record.error:.4g}  {record.seconds:.2f}s",
            flush=True,
        )

    return progress


def _print_summary(
    args: argparse.Namespace, report: PruneReport, n_windows: int, dense: dict[str, float], pruned: dict[str, float]
) -> None:
    """The target, calibration, layers not pruned, the time split and the perplexity table."""
    target = args.pattern or f"{args.sparsity:g}"
    print(
        f"\n{args.method} {target}{f' + {args.bits}-bit' if args.bits else ''}, calibration: "
        f"{report.calibration} ({n_windows} x {args.seqlen} tokens), sparsity {report.sparsity:.3f}"
    )
    for name, reason in report.skipped.items():
        print(f"not pruned: {name} ({reason})")
    print(
        f"time {report.total_seconds:.1f}s (forward passes {report.forward_seconds:.1f}s, "
        f"solves {report.solve_seconds:.1f}s)"
    )
    print("| held-out corpus | dense ppl | pruned ppl |\n|---|---|---|")
    for corpus, value in dense.items():
        print(f"| {corpus} | {value:.3f} | {pruned[corpus]:.3f} |")


def _load_folder(path: str, device: str) -> tuple[nn.Module, Any]:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from multisource.utils.device import resolve_device

    if not os.path.isfile(os.path.join(path, "config.json")):
        raise ValueError(
            f"--model must be one of the named models or a folder with a config.json (written by save_pruned / "
            f"save_pretrained), got {path!r}"
        )
    model: nn.Module = AutoModelForCausalLM.from_pretrained(path)
    return model.to(resolve_device(device)).eval(), AutoTokenizer.from_pretrained(path)
