"""Empirical 0-1 discrepancy over one-hidden-layer MLPs by label-flip ERM, every pair's net trained at once.

H = { x -> argmax_k (W2 relu(W1 x + b1) + b2)_k } with ``hidden`` units. As for linear H
(:mod:`multisource.discrepancy.linear`, ``docs/discrepancy.md``), one sample's labels are flipped
(``y -> (y + 1) mod K``), the pair is pooled with weights 1/m_a and 1/m_b, a net is trained on the
weighted cross-entropy, and the exact gap ``|acc_a(h) - acc_b(h)|`` of the net found is reported: a
lower bound on disc_H. K = 2 needs one net per pair (H is closed under complement: negate W2, b2);
K > 2 trains both orientations (S_a flipped, then S_b flipped), two nets per pair.

All nets of a chunk of pairs are one batched problem: their parameters are stacked along a leading
axis and every layer is one ``torch.bmm``. Adam is coordinate-wise, so one Adam over the stacked
tensors is exactly an independent Adam per net. M-FAC (Frantar, Kurtic & Alistarh 2021, eq. 1 and
sec. 3.2) is not: one window over the stacked parameters would mix the pairs' gradients in one
Fisher. :class:`BatchedWindowFisher` keeps a window per net instead (a block-diagonal Fisher over
the pair axis), so its products are batched but every net is preconditioned by its own gradients
only. Training is full-batch; each net keeps its best iterate (lowest training loss) until it has
gone ``patience`` epochs without improving by ``tol``; after that its result is frozen (the stack
keeps training until every net is done or ``max_epochs``), so a net returns the same whatever else
is in its chunk.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from torch.nn.functional import cross_entropy

from multisource.discrepancy.linear import source_rows
from multisource.discrepancy.reduction import flip_discrepancy
from multisource.utils.device import resolve_device
from multisource.utils.validation import (
    SeedLike,
    check_int,
    check_labeled_sample,
    check_random_state,
    check_real,
    check_source_ids,
)

MLPParams = list[torch.Tensor]
"""Stacked parameters ``[W1 (B, d, h), b1 (B, 1, h), W2 (B, h, K), b2 (B, 1, K)]`` of B nets."""

# Elements of float workspace one chunk of pairs may use (pooled inputs, hidden activations).
_CHUNK_ELEMENTS = 2**25

OPTIMIZERS: tuple[str, ...] = ("adam", "mfac")
"""Optimizers of the stacked nets: Adam, or M-FAC with one gradient window per net."""


class BatchedWindowFisher:
    """M-FAC's sliding-window inverse empirical Fisher, one window per net of a stack of B nets.

    For net b with window G_b (its last k <= m gradients, k = min(pushes, m)),

        F_b = damp I + (1/k) G_b^T G_b,   F_b^-1 g = (g - G_b^T (k damp I + G_b G_b^T)^-1 G_b g) / damp

    (Woodbury form of the paper's recursion, as :class:`~multisource.optim.DynamicInverseFisher`, whose
    normalisation 1/k it shares). The windows are one (B, m, D) tensor and the B Gram matrices
    ``G_b G_b^T`` one (B, m, m) float64 tensor updated by a row per push; each product is one batched
    Cholesky solve of the k x k systems (O(B (m D + m^3)) per step, m is small).
    """

    def __init__(self, n_nets: int, dim: int, ngrads: int, damp: float, device: torch.device) -> None:
        self.grads = torch.zeros(n_nets, ngrads, dim, device=device)
        self.gram = torch.zeros(n_nets, ngrads, ngrads, dtype=torch.float64, device=device)
        self.damp, self.count = damp, 0

    def push_mul(self, g: torch.Tensor) -> torch.Tensor:
        """Push every net's gradient ``g`` (B, D) into its window and return ``F_b^-1 g_b`` (B, D)."""
        m = self.grads.shape[1]
        slot = self.count % m
        self.grads[:, slot] = g
        row = torch.einsum("bmd,bd->bm", self.grads, g).double()
        self.gram[:, slot, :], self.gram[:, :, slot] = row, row
        self.count += 1
        k = min(self.count, m)  # the window fills slots 0..k-1 first
        system = self.gram[:, :k, :k] + k * self.damp * torch.eye(k, dtype=torch.float64, device=g.device)
        factor, info = torch.linalg.cholesky_ex(system)
        if bool((info != 0).any()) or not bool(torch.isfinite(row).all()):
            raise RuntimeError(f"M-FAC window of a pair net is not finite/positive definite; increase damp={self.damp}")
        z = torch.cholesky_solve(row[:, :k, None], factor)[..., 0].to(g.dtype)
        return (g - torch.einsum("bkd,bk->bd", self.grads[:, :k], z)) / self.damp


def _mfac_stepper(params: MLPParams, lr: float, ngrads: int, damp: float) -> Callable[[], None]:
    """One M-FAC step of every net from the gradients in ``params[i].grad`` (no momentum, no decay)."""
    n_nets = params[0].shape[0]
    fisher = BatchedWindowFisher(n_nets, sum(p[0].numel() for p in params), ngrads, damp, params[0].device)

    @torch.no_grad()
    def step() -> None:
        grad = torch.cat([p.grad.reshape(n_nets, -1) for p in params], dim=1)  # type: ignore[union-attr]
        update, offset = fisher.push_mul(grad), 0
        for p in params:
            width = p[0].numel()
            p.sub_(lr * update[:, offset : offset + width].reshape(p.shape))
            offset += width

    return step


def init_mlp_stack(
    n_nets: int, n_features: int, hidden: int, n_classes: int, generator: torch.Generator, device: torch.device
) -> MLPParams:
    """Parameters of ``n_nets`` nets drawn as ``torch.nn.Linear`` does: U(-1/sqrt(fan_in), 1/sqrt(fan_in))."""
    shapes = [(n_features, hidden), (1, hidden), (hidden, n_classes), (1, n_classes)]
    fan_in = [n_features, n_features, hidden, hidden]
    params = []
    for shape, fan in zip(shapes, fan_in, strict=True):
        uniform = torch.rand(n_nets, *shape, generator=generator, dtype=torch.float32)
        params.append(((2 * uniform - 1) / np.sqrt(fan)).to(device).requires_grad_(True))
    return params


def mlp_logits(params: MLPParams, X: torch.Tensor) -> torch.Tensor:
    """(B, n, K) logits of the B nets on their inputs X (B, n, d): two batched GEMMs."""
    W1, b1, W2, b2 = params
    return torch.baddbmm(b2, torch.relu(torch.baddbmm(b1, X, W1)), W2)


def train_mlp_stack(
    params: MLPParams,
    X: torch.Tensor,
    labels: torch.Tensor,
    weights: torch.Tensor,
    *,
    lr: float,
    max_epochs: int,
    patience: int,
    tol: float,
    optimizer: str = "adam",
    ngrads: int = 16,
    damp: float = 1e-2,
) -> MLPParams:
    """Minimise every net's ``sum_n s_n CE(f(x_n), y_n)`` full-batch; return each net's best iterate.

    Parameters
    ----------
    params : stacked parameters of the B nets (trained in place, then replaced by the best ones).
    X : (B, n, d) inputs; labels : (B, n) int64 targets; weights : (B, n) sample weights (0 on padding).
    lr, max_epochs : the step size and the epoch cap.
    patience, tol : a net is done after ``patience`` epochs whose loss is not below its best minus
        ``tol``; its best iterate is frozen from then on (module docstring).
    optimizer : "adam", or "mfac" (:class:`BatchedWindowFisher`, window ``ngrads``, damping ``damp``).
    """
    if optimizer == "adam":
        adam = torch.optim.Adam(params, lr=lr)
        step: Callable[[], object] = adam.step
    else:
        step = _mfac_stepper(params, lr, ngrads, damp)
    best_loss = torch.full((X.shape[0],), np.inf, device=X.device)
    best = [p.detach().clone() for p in params]
    stale = torch.zeros(X.shape[0], dtype=torch.int64, device=X.device)
    for _ in range(max_epochs):
        logits = mlp_logits(params, X)
        per_sample = cross_entropy(logits.transpose(1, 2), labels, reduction="none")  # (B, n)
        loss = (weights * per_sample).sum(1)
        improved = (loss.detach() < best_loss - tol) & (stale < patience)
        best_loss = torch.where(improved, loss.detach(), best_loss)
        for kept, current in zip(best, params, strict=True):
            kept.copy_(torch.where(improved[:, None, None], current.detach(), kept))
        stale = torch.where(improved, 0, stale + 1)
        if bool((stale >= patience).all()):
            break
        for p in params:
            p.grad = None
        loss.sum().backward()
        step()
    return best


def _pair_problems(
    X: torch.Tensor, y_rows: np.ndarray, weights: np.ndarray, rows: np.ndarray, a: np.ndarray, b: np.ndarray, K: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Pooled inputs (B, 2M, d), flipped labels (B, 2M) and weights (B, 2M) of every net, B = pairs x orientations."""
    flip = lambda y: (y + 1) % K  # noqa: E731  (the cyclic derangement; 1 - y for K = 2)
    orientations = [(y_rows[a], flip(y_rows[b]))] + ([(flip(y_rows[a]), y_rows[b])] if K > 2 else [])
    labels = np.stack([np.hstack(pair) for pair in orientations], axis=1)  # (n, O, 2M)
    pooled = torch.cat([X[rows[a]], X[rows[b]]], dim=1)  # (n, 2M, d)
    n_orient = len(orientations)
    inputs = pooled[:, None].expand(-1, n_orient, -1, -1).reshape(-1, *pooled.shape[1:])
    w = np.repeat(np.hstack([weights[a], weights[b]]), n_orient, axis=0)
    as_tensor = lambda v, dtype: torch.as_tensor(v, dtype=dtype, device=X.device)  # noqa: E731
    return inputs, as_tensor(labels.reshape(-1, labels.shape[-1]), torch.int64), as_tensor(w, torch.float32)


def _candidate_scores(params: MLPParams, inputs: torch.Tensor, n_pairs: int, K: int) -> np.ndarray:
    """(n, 2M, P) scores in the layout of :func:`~multisource.discrepancy.reduction.flip_discrepancy`."""
    with torch.no_grad():
        logits = mlp_logits(params, inputs)  # (n * O, 2M, K)
    if K == 2:
        return (logits[..., 1] - logits[..., 0])[..., None].reshape(n_pairs, -1, 1).cpu().double().numpy()
    per_pair = logits.reshape(n_pairs, 2, *logits.shape[1:])  # (n, 2, 2M, K)
    return torch.cat([per_pair[:, 0], per_pair[:, 1]], dim=-1).cpu().double().numpy()


def mlp_pairwise_matrix(
    X: np.ndarray,
    y: np.ndarray,
    source: np.ndarray,
    *,
    n_sources: int,
    n_classes: int,
    rng: SeedLike,
    hidden: int = 16,
    lr: float = 0.01,
    max_epochs: int = 300,
    patience: int = 20,
    tol: float = 1e-4,
    optimizer: str = "adam",
    ngrads: int = 16,
    damp: float = 1e-2,
    chunk_size: int | None = None,
    device: str | torch.device | None = "auto",
) -> np.ndarray:
    """(N, N) label-flip ERM discrepancies over one-hidden-layer MLPs (module docstring).

    Parameters
    ----------
    X, y, source : pooled features (n, d), labels (n,) and source ids (n,) of the N sources.
    n_sources, n_classes : N and K.
    rng : seed or Generator of the nets' initial weights; the same seed and ``chunk_size`` give the same matrix.
    hidden : hidden units, >= 1.
    lr, max_epochs, patience, tol : the step size and early stopping (:func:`train_mlp_stack`).
    optimizer : "adam" or "mfac" (M-FAC with one window of ``ngrads`` gradients per net, damping
        ``damp``: :class:`BatchedWindowFisher`); M-FAC wants a smaller ``lr`` than Adam (docs).
    chunk_size : pairs trained at once (default: what fits a workspace of 2**25 floats).
    device : torch device ("auto": CUDA when present); training runs in float32.

    Returns
    -------
    disc : (N, N) float64, symmetric with a zero diagonal.
    """
    hidden = check_int("hidden", hidden, minimum=1)
    lr = check_real("lr", lr, low=0.0, low_open=True)
    max_epochs = check_int("max_epochs", max_epochs, minimum=1)
    patience = check_int("patience", patience, minimum=1)
    tol = check_real("tol", tol, low=0.0)
    if optimizer not in OPTIMIZERS:
        raise ValueError(f"optimizer must be one of {list(OPTIMIZERS)}, got {optimizer!r}")
    ngrads = check_int("ngrads", ngrads, minimum=1)
    damp = check_real("damp", damp, low=0.0, low_open=True)
    X, y = check_labeled_sample(("X", "y"), X, y, n_classes)
    source = check_source_ids(source, n_sources, len(y))
    rng = check_random_state(rng)
    sizes = np.bincount(source, minlength=n_sources)
    if np.any(sizes == 0):
        raise ValueError(
            f"every source needs at least one sample; empty sources: {np.flatnonzero(sizes == 0).tolist()}"
        )
    rows, real = source_rows(source, n_sources)
    M, d, n_nets = rows.shape[1], X.shape[1], 1 if n_classes == 2 else 2
    per_pair = n_nets * 2 * M * (d + 3 * hidden + 2 * n_classes)
    chunk = max(1, _CHUNK_ELEMENTS // per_pair) if chunk_size is None else chunk_size
    chunk = check_int("chunk_size", chunk, minimum=1)
    device = resolve_device(device)
    scale = X.std(axis=0)
    features = torch.as_tensor(
        (X - X.mean(axis=0)) / np.where(scale > 0, scale, 1.0), dtype=torch.float32, device=device
    )
    weights, y_rows = np.where(real, 1.0 / sizes[:, None], 0.0), y[rows]
    generator = torch.Generator().manual_seed(int(rng.integers(2**62)))
    a_all, b_all = np.triu_indices(n_sources, k=1)
    disc = np.zeros((n_sources, n_sources))
    for start in range(0, len(a_all), chunk):
        a, b = a_all[start : start + chunk], b_all[start : start + chunk]
        inputs, labels, w = _pair_problems(features, y_rows, weights, rows, a, b, n_classes)
        params = init_mlp_stack(len(inputs), d, hidden, n_classes, generator, device)
        params = train_mlp_stack(
            params,
            inputs,
            labels,
            w,
            lr=lr,
            max_epochs=max_epochs,
            patience=patience,
            tol=tol,
            optimizer=optimizer,
            ngrads=ngrads,
            damp=damp,
        )
        scores = _candidate_scores(params, inputs, len(a), n_classes)
        pooled_y, signed = np.hstack([y_rows[a], y_rows[b]]), np.hstack([weights[a], -weights[b]])
        disc[a, b] = flip_discrepancy(scores, pooled_y, signed, n_classes)
    return disc + disc.T
