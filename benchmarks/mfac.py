"""M-FAC benchmark: IHVP scaling, push cost, push-and-multiply vs the official code, optimizer step vs Adam,
training curves, OBS pruning.

Run: ``.venv/bin/python benchmarks/mfac.py`` (about 3-5 minutes on 2 CPU cores; ``--quick`` for a
smoke run). Prints tables with ratios against baselines measured in the same run and saves
``docs/figures/mfac_training.png`` (loss vs steps and vs wall time of M-FAC, Adam and SGD on an
MLP over MNIST-1D).
"""

from __future__ import annotations

import argparse
import copy
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import torch

from multisource.data.loaders import load_dataset
from multisource.learners.torch_classifier import build_mlp
from multisource.optim import DynamicInverseFisher, make_optimizer

FIGURE = Path(__file__).resolve().parents[1] / "docs" / "figures" / "mfac_training.png"


def seconds(fn: Callable[[], object], repeats: int) -> float:
    """Best wall time of ``fn`` over ``repeats`` runs after one warm-up run (the least disturbed by
    other processes on a shared machine)."""
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def ihvp_scaling(sizes: list[tuple[int, int]], repeats: int) -> None:
    """IHVP (mul) and push of a full window per (d, m); time / (m d) stays flat when the cost is O(m d)."""
    print("\n## dynamic IHVP time vs d and m (float32 window, full; 2-core shared CPU, noisy)")
    print(
        f"{'d':>9} {'m':>5} {'mul ms':>8} {'push ms':>8} {'mul ns/(m d)':>13} {'push ns/(m d)':>14} {'window MB':>10}"
    )
    gen = torch.Generator().manual_seed(0)
    for d, m in sizes:
        fisher = DynamicInverseFisher.from_gradients(torch.randn(m, d, generator=gen) / d**0.5, damp=1e-4)
        x = torch.randn(d, generator=gen) / d**0.5
        t_mul = seconds(partial(fisher.mul, x), repeats)
        t_push = seconds(partial(fisher.push, x), repeats)
        print(
            f"{d:>9} {m:>5} {1e3 * t_mul:>8.2f} {1e3 * t_push:>8.2f} {1e9 * t_mul / (m * d):>13.3f} "
            f"{1e9 * t_push / (m * d):>14.3f} {fisher.memory_bytes() / 2**20:>10.0f}"
        )
        del fisher


def push_update_vs_rebuild(ms: list[int], d: int, repeats: int) -> None:
    """The O(m^2) rank-one factor update of a full window vs an O(m^3) Cholesky rebuild (official cost)."""
    print(f"\n## push into a full window: rank-one update vs Cholesky rebuild (d={d}, float64)")
    print(f"{'m':>6} {'update ms':>10} {'rebuild ms':>11} {'rebuild/update':>15}")
    gen = torch.Generator().manual_seed(1)
    for m in ms:
        fisher = DynamicInverseFisher.from_gradients(torch.randn(m, d, generator=gen, dtype=torch.float64), 1e-4)
        g = torch.randn(d, generator=gen, dtype=torch.float64)
        t_update = seconds(partial(fisher.push, g), repeats)
        t_rebuild = seconds(fisher.rebuild_factor, repeats) + t_update  # a push that refactors does both
        print(f"{m:>6} {1e3 * t_update:>10.2f} {1e3 * t_rebuild:>11.2f} {t_rebuild / t_update:>15.1f}")


class OfficialDynamic:
    """The official dynamic algorithm (IST-DASLab/M-FAC ``HInvFastUpMulti``, CPU path, one device),
    re-written here as the baseline of the push-and-multiply: ``update_mul(g)`` writes g into the ring,
    updates ``dots`` = G G^T, re-runs ``setup`` (an O(m^3) unpivoted LU of lambda^-1 G G^T + m I and
    the row-by-row recursion for the coefficient matrix B) and multiplies with the Python loop of
    ``mul``. torch has no unpivoted LU on the CPU; for this SPD matrix it is the Cholesky factor
    rescaled (U = diag(L) L^T), the same O(m^3)."""

    def __init__(self, grads: torch.Tensor, damp: float) -> None:
        self.m = grads.shape[0]
        self.grads = grads.clone()
        self.dots = self.grads @ self.grads.T
        self.inv_damp = 1.0 / damp
        self.last = 0
        self.coef = self.inv_damp * torch.eye(self.m, dtype=grads.dtype)
        self._setup()

    def _setup(self) -> None:
        shift = torch.diag(torch.full([self.m], float(self.m), dtype=self.dots.dtype))
        chol = torch.linalg.cholesky(self.inv_damp * self.dots + shift)
        upper = chol.diagonal().unsqueeze(1) * chol.T  # the U of the unpivoted LU
        self.upper = torch.triu(upper - shift)
        self.denom = self.m + self.upper.diagonal()
        tmp = -self.upper.T.contiguous() / self.denom.reshape(1, -1)
        for i in range(max(self.last, 1), self.m):
            self.coef[i, :i] = tmp[i, :i] @ self.coef[:i, :i]

    def _mul(self, x: torch.Tensor, dots: torch.Tensor) -> torch.Tensor:
        scaled = self.inv_damp * dots
        for i in range(1, self.m):
            scaled[i:].sub_(self.upper[i - 1, i:], alpha=float(scaled[i - 1] / self.denom[i - 1]))
        return self.inv_damp * x - ((scaled / self.denom) @ self.coef) @ self.grads

    def update_mul(self, g: torch.Tensor) -> torch.Tensor:
        self.grads[self.last] = g
        row = self.grads @ g
        self.dots[self.last, :] = row
        self.dots[:, self.last] = row
        self._setup()
        result = self._mul(g, row)
        self.last = (self.last + 1) % self.m
        return result


def push_mul_vs_official(sizes: list[tuple[int, int]], repeats: int) -> list[float]:
    """The optimizer's inner step, push + F^-1 g on a full float32 window, ours against the official
    algorithm on the same window and gradients (alternating runs, best of ``repeats``); returns the ratios."""
    print("\n## push_mul (optimizer step core) vs the official update_mul (float32 window, full)")
    print(f"{'d':>9} {'m':>5} {'ours ms':>8} {'official ms':>12} {'ratio':>6} {'max rel diff':>13}")
    gen = torch.Generator().manual_seed(2)
    ratios = []
    for d, m in sizes:
        grads = torch.randn(m, d, generator=gen) / d**0.5
        ours, official = DynamicInverseFisher.from_gradients(grads, damp=1e-4), OfficialDynamic(grads, damp=1e-4)
        del grads
        g = torch.randn(d, generator=gen) / d**0.5
        # full window: the official 1/m is our 1/k; its m x m algebra is float32, ours float64 (the diff)
        u_ours, u_official = ours.push_mul(g), official.update_mul(g)
        diff = float((u_ours - u_official).abs().max() / u_official.abs().max())
        t_ours, t_official = [], []
        for _ in range(repeats):
            start = time.perf_counter()
            ours.push_mul(g)
            t_ours.append(time.perf_counter() - start)
            start = time.perf_counter()
            official.update_mul(g)
            t_official.append(time.perf_counter() - start)
        ratio = min(t_ours) / min(t_official)
        ratios.append(ratio)
        print(f"{d:>9} {m:>5} {1e3 * min(t_ours):>8.2f} {1e3 * min(t_official):>12.2f} {ratio:>5.2f}x {diff:>13.1e}")
        del ours, official
    return ratios


def optimizer_step_time(widths: list[int], ngrads_list: list[int], repeats: int) -> None:
    """Time of optimizer.step() alone for the same MLP and gradients: M-FAC vs torch.optim.Adam."""
    print(f"\n## optimizer step time vs Adam (MLP {widths}, float32)")
    torch.manual_seed(0)
    model = build_mlp(widths[0], widths[1:-1], widths[-1])
    d = sum(p.numel() for p in model.parameters())
    x, y = torch.randn(128, widths[0]), torch.randint(0, widths[-1], (128,))
    torch.nn.functional.cross_entropy(model(x), y).backward()
    print(f"{'optimizer':>14} {'d':>9} {'step ms':>9} {'vs Adam':>8} {'state MB':>9}")
    adam = make_optimizer("adam", model.parameters(), lr=1e-9)
    t_adam = seconds(adam.step, repeats)
    print(f"{'adam':>14} {d:>9} {1e3 * t_adam:>9.2f} {1.0:>8.1f} {2 * d * 4 / 2**20:>9.1f}")
    for m in ngrads_list:
        mfac = make_optimizer("mfac", model.parameters(), lr=1e-9, ngrads=m)
        for _ in range(m):  # fill the window so the steady-state O(m d + m^2) step is timed
            mfac.step()
        t_mfac = seconds(mfac.step, repeats)
        print(
            f"{'mfac m=' + str(m):>14} {d:>9} {1e3 * t_mfac:>9.2f} {t_mfac / t_adam:>8.1f} "
            f"{mfac.memory_bytes() / 2**20:>9.1f}"
        )


def training_curves(epochs: int, out: Path) -> None:
    """Loss vs steps and vs wall time of M-FAC, Adam and SGD on an MLP over MNIST-1D; saves a PNG."""
    data = load_dataset("mnist1d", n_samples=4000, seed=0)
    rng = np.random.default_rng(0)
    order = rng.permutation(len(data.y))
    n_train = 3000
    X = torch.tensor(data.X, dtype=torch.float32)
    X = (X - X[order[:n_train]].mean(0)) / X[order[:n_train]].std(0)
    y = torch.tensor(data.y)
    train, test = order[:n_train], order[n_train:]
    setups = {
        "M-FAC (m=64, lr=1e-2, damp 1e-4)": ("mfac", 1e-2, {"ngrads": 64, "damp": 1e-4}),
        "Adam (lr=1e-3)": ("adam", 1e-3, {}),
        "SGD (lr=0.05, momentum 0.9)": ("sgd", 0.05, {"momentum": 0.9}),
    }
    print(f"\n## training on MNIST-1D (MLP 40-256-256-10, batch 64, {epochs} epochs, seed 0)")
    print(f"{'optimizer':>30} {'final train loss':>17} {'test acc':>9} {'wall s':>7}")
    fig, (ax_steps, ax_time) = plt.subplots(1, 2, figsize=(11, 4))
    for label, (name, lr, kwargs) in setups.items():
        torch.manual_seed(0)
        model = build_mlp(40, [256, 256], 10)
        opt = make_optimizer(name, model.parameters(), lr=lr, **kwargs)
        batch_rng = np.random.default_rng(1)
        losses, times, start = [], [], time.perf_counter()
        for _ in range(epochs):
            for idx in np.array_split(batch_rng.permutation(train), n_train // 64):
                opt.zero_grad()
                loss = torch.nn.functional.cross_entropy(model(X[idx]), y[idx])
                loss.backward()
                opt.step()
                losses.append(float(loss.detach()))
                times.append(time.perf_counter() - start)
        with torch.no_grad():
            accuracy = float((model(X[test]).argmax(1) == y[test]).float().mean())
        smooth = np.convolve(losses, np.ones(20) / 20, mode="valid")
        print(f"{label:>30} {smooth[-1]:>17.3f} {accuracy:>9.3f} {times[-1]:>7.1f}")
        ax_steps.plot(np.arange(len(smooth)) + 20, smooth, label=f"{label}: test acc {accuracy:.2f}")
        ax_time.plot(times[19:], smooth, label=label)
    for ax, xlabel in ((ax_steps, "step"), (ax_time, "wall time [s] (2-core shared CPU)")):
        ax.set_xlabel(xlabel)
        ax.set_ylabel("training loss (20-step mean)")
        ax.set_yscale("log")
        ax.grid(alpha=0.3)
    ax_steps.legend(fontsize=8)
    fig.suptitle("M-FAC vs Adam vs SGD, MLP on MNIST-1D")
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=100)
    print(f"saved {out}")


def pruning_accuracy(sparsities: list[float], seeds: int) -> None:
    """Test accuracy after one-shot pruning (no retraining): magnitude vs M-FAC OBS, digits MLP 64-64-10."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    from multisource.compress import mfac_obs_prune, prune_model
    from multisource.learners import TorchClassifier

    X, y = load_digits(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(X / 16.0, y, test_size=0.3, random_state=0)
    X_train_t, y_train_t = torch.tensor(X_train, dtype=torch.float32), torch.tensor(y_train)
    X_test_t, y_test_t = torch.tensor(X_test, dtype=torch.float32), torch.tensor(y_test)

    def accuracy(model: torch.nn.Module) -> float:
        with torch.no_grad():
            return float((model(X_test_t).argmax(1) == y_test_t).float().mean())

    rows = {s: [] for s in sparsities}
    for seed in range(seeds):
        dense = TorchClassifier(hidden_sizes=(64,), epochs=30, lr=3e-3, random_state=seed, device="cpu")
        dense = dense.fit(X_train, y_train).module_
        order = torch.randperm(len(X_train_t), generator=torch.Generator().manual_seed(seed))
        batches = [(X_train_t[idx], y_train_t[idx]) for idx in order[: 64 * 16].split(16)]
        for sparsity in sparsities:
            magnitude, obs = copy.deepcopy(dense), copy.deepcopy(dense)
            prune_model(magnitude, None, method="magnitude", sparsity=sparsity, family="generic", progress=False)
            mfac_obs_prune(
                obs, torch.nn.functional.cross_entropy, batches, sparsity, ngrads=64, damp=1e-5, scope="layer"
            )
            rows[sparsity].append((accuracy(dense), accuracy(magnitude), accuracy(obs)))
    print(
        f"\n## one-shot pruning, digits MLP 64-64-10, the same sparsity in every layer, mean (std) over {seeds} seeds"
    )
    print("M-FAC OBS: m=64 gradients of 16-sample batches, damp 1e-5, blocks of 128, 4 recomputations")
    print(f"{'sparsity':>9} {'dense':>7} {'magnitude':>15} {'M-FAC OBS':>15}")
    for sparsity, values in rows.items():
        mean, std = np.mean(values, axis=0), np.std(values, axis=0)
        print(f"{sparsity:>9.2f} {mean[0]:>7.3f} {mean[1]:>8.3f} ({std[1]:.3f}) {mean[2]:>8.3f} ({std[2]:.3f})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes (smoke run, ~20 s)")
    parser.add_argument("--out", type=Path, default=FIGURE, help="where to save the training-curve PNG")
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch threads (1: on a shared machine, no op waits on a descheduled thread)",
    )
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {args.threads} thread(s)")
    if args.quick:
        ihvp_scaling([(10_000, 16), (100_000, 16), (10_000, 64)], repeats=3)
        push_mul_vs_official([(10_000, 16), (100_000, 64)], repeats=3)
        push_update_vs_rebuild([64, 256], d=1000, repeats=3)
        optimizer_step_time([64, 128, 10], [16], repeats=3)
        training_curves(epochs=1, out=args.out)
        pruning_accuracy([0.8], seeds=1)
        return
    d_sweep = [(10_000, 64), (100_000, 64), (1_000_000, 64)]
    m_sweep = [(100_000, m) for m in (16, 32, 128, 256)] + [(1_000_000, 256)]
    ihvp_scaling(d_sweep + m_sweep, repeats=10)
    push_mul_vs_official([(d, m) for d in (10_000, 100_000, 1_000_000) for m in (16, 64, 256)], repeats=10)
    push_update_vs_rebuild([128, 512, 1024], d=10_000, repeats=5)
    optimizer_step_time([784, 512, 512, 10], [64, 256], repeats=20)
    training_curves(epochs=15, out=args.out)
    pruning_accuracy([0.5, 0.7, 0.8, 0.9], seeds=3)


if __name__ == "__main__":
    main()
