"""SmolLM2-135M pruned one-shot: dense / magnitude / Wanda / SparseGPT, held-out KJV and Python-docs ppl.

Grid: targets {50%, 2:4, 50% + 4-bit} x methods x calibration domain {kjv+pydocs, kjv, pydocs}
(magnitude uses no calibration). Every finished row is appended to a JSON-lines file and skipped on
a rerun, so the script can be stopped and resumed. ``--render`` writes the markdown table and the
figure for docs/sparsegpt.md from whatever rows exist.

    python experiments/sparsegpt_smollm2.py                       # run (resumable), then render
    python experiments/sparsegpt_smollm2.py --render              # table + figure only
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch

from multisource.compress.driver import prune_model
from multisource.compress.evaluation import perplexity
from multisource.compress.models import load_smollm2
from multisource.data.text import TEXT_CORPORA, calibration_windows, corpus_tokens

TARGETS = {"50%": dict(sparsity=0.5), "2:4": dict(pattern="2:4"), "50%+4bit": dict(sparsity=0.5, bits=4)}
DOMAINS = {"kjv+pydocs": TEXT_CORPORA, "kjv": ("kjv",), "pydocs": ("pydocs",)}


def grid() -> list[dict]:
    """Rows in the order they are run: the mixed-calibration comparison first."""
    rows = [dict(method="dense", target="-", calibration="-")]
    rows += [dict(method="magnitude", target=t, calibration="-") for t in TARGETS]
    for domain in DOMAINS:
        rows += [dict(method=m, target=t, calibration=domain) for t in TARGETS for m in ("sparsegpt", "wanda")]
    return rows


def key(row: dict) -> tuple:
    return row["method"], row["target"], row["calibration"]


def run(args: argparse.Namespace) -> None:
    path = Path(args.results)
    path.parent.mkdir(parents=True, exist_ok=True)
    done = {key(json.loads(line)) for line in path.read_text().splitlines()} if path.exists() else set()
    todo = [row for row in grid() if key(row) not in done]
    if not todo:
        return
    model, tokenizer = load_smollm2(device="cpu")
    dense_state = {k: v.clone() for k, v in model.state_dict().items()}
    evals = {c: corpus_tokens(tokenizer, c, "eval", max_tokens=args.eval_tokens) for c in TEXT_CORPORA}
    for row in todo:
        model.load_state_dict(dense_state)
        report = None
        start = time.perf_counter()
        if row["method"] != "dense":
            corpora = DOMAINS.get(row["calibration"], TEXT_CORPORA)
            calib = calibration_windows(tokenizer, corpora, n_windows=args.calib_windows, seqlen=args.seqlen, seed=0)
            report = prune_model(
                model,
                None if row["method"] == "magnitude" else calib,
                method=row["method"],
                calibration_name=row["calibration"],
                batch_size=8,
                **TARGETS[row["target"]],
            )
        prune_seconds = time.perf_counter() - start
        ppl = {c: perplexity(model, evals[c], seqlen=args.seqlen, stride=args.stride) for c in TEXT_CORPORA}
        record = dict(
            row,
            ppl=ppl,
            prune_seconds=prune_seconds,
            forward_seconds=report.forward_seconds if report else 0.0,
            solve_seconds=report.solve_seconds if report else 0.0,
            sparsity=report.sparsity if report else 0.0,
            settings=dict(
                calib_windows=args.calib_windows,
                seqlen=args.seqlen,
                stride=args.stride,
                eval_tokens=args.eval_tokens,
                machine=f"{platform.machine()} {os.cpu_count()} cpus",
                torch_threads=torch.get_num_threads(),
            ),
        )
        with path.open("a") as f:
            f.write(json.dumps(record) + "\n")
        print(json.dumps(record), flush=True)


def render(args: argparse.Namespace) -> str:
    """The markdown table and the figure."""
    records = [json.loads(line) for line in Path(args.results).read_text().splitlines()]
    lines = [
        "| method | target | calibration | KJV ppl | pydocs ppl | prune time (s) | forward / solve (s) |",
        "|---|---|---|---|---|---|---|",
    ]
    order = {key(r): i for i, r in enumerate(grid())}
    records.sort(
        key=lambda r: (list(TARGETS).index(r["target"]) if r["target"] in TARGETS else -1, order.get(key(r), 99))
    )
    # Bold: the best pruned model of its target *for the same calibration domain* (magnitude, which
    # uses none, competes in every domain), so in-domain wins and out-of-domain losses both show.
    best = {}
    for r in records:
        if r["method"] == "dense":
            continue
        domains = DOMAINS if r["method"] == "magnitude" else [r["calibration"]]
        for domain in domains:
            for c in TEXT_CORPORA:
                k = (r["target"], domain, c)
                best[k] = min(best.get(k, float("inf")), r["ppl"][c])
    for r in records:
        cells = [
            f"**{r['ppl'][c]:.2f}**"
            if best.get((r["target"], r["calibration"], c)) == r["ppl"][c]
            else f"{r['ppl'][c]:.2f}"
            for c in TEXT_CORPORA
        ]
        split = f"{r['forward_seconds']:.0f} / {r['solve_seconds']:.0f}" if r["forward_seconds"] else "-"
        head = f"| {r['method']} | {r['target']} | {r['calibration']} | {cells[0]} | {cells[1]}"
        lines.append(f"{head} | {r['prune_seconds']:.0f} | {split} |")
    table = "\n".join(lines)
    _figure(records, Path(args.figure))
    return table


def _figure(records: list[dict], out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    dense = next((r for r in records if r["method"] == "dense"), None)
    fig, axes = plt.subplots(1, len(TEXT_CORPORA), figsize=(11, 4), sharey=False)
    styles = {"magnitude": "tab:gray", "wanda": "tab:orange", "sparsegpt": "tab:blue"}
    hatches = {"-": "", "kjv+pydocs": "", "kjv": "//", "pydocs": ".."}
    for ax, corpus in zip(axes, TEXT_CORPORA, strict=True):
        x = 0
        ticks = []
        for target in TARGETS:
            start = x
            for r in (r for r in records if r["target"] == target):
                ax.bar(
                    x,
                    r["ppl"][corpus],
                    color=styles[r["method"]],
                    hatch=hatches[r["calibration"]],
                    edgecolor="black",
                    linewidth=0.4,
                )
                x += 1
            ticks.append(((start + x - 1) / 2, target))
            x += 1
        if dense:
            ax.axhline(dense["ppl"][corpus], color="black", linestyle="--")
        ax.set_yscale("log")
        ax.set_xticks([t for t, _ in ticks], [label for _, label in ticks])
        ax.set_title(f"held-out {corpus} perplexity (log scale)")
    handles = [plt.Rectangle((0, 0), 1, 1, color=c) for c in styles.values()]
    handles += [plt.Rectangle((0, 0), 1, 1, facecolor="white", edgecolor="black", hatch=h) for h in ("", "//", "..")]
    handles.append(plt.Line2D([0], [0], color="black", linestyle="--"))
    labels = [*list(styles), "calib: kjv+pydocs (none for magnitude)", "calib: kjv", "calib: pydocs", "dense"]
    fig.legend(handles, labels, loc="lower center", ncol=len(labels), fontsize=8, frameon=False)
    fig.suptitle("SmolLM2-135M, one-shot pruning: held-out perplexity per method and calibration domain")
    fig.tight_layout(rect=(0, 0.07, 1, 1))
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=90)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", default="results/sparsegpt_smollm2.jsonl")
    parser.add_argument("--figure", default="docs/figures/sparsegpt_smollm2_ppl.png")
    parser.add_argument("--calib-windows", type=int, default=16)
    parser.add_argument("--seqlen", type=int, default=512)
    parser.add_argument("--stride", type=int, default=256)
    parser.add_argument("--eval-tokens", type=int, default=4096)
    parser.add_argument("--render", action="store_true", help="only render the table and figure")
    args = parser.parse_args()
    if not args.render:
        run(args)
    print(render(args))


if __name__ == "__main__":
    main()
