"""Empirical 0-1 discrepancy over one-hidden-layer MLPs by label-flip ERM, every pair's net trained at once.

H = { x -> argmax_k (W2 relu(W1 x + b1) + b2)_k } with ``hidden`` units. As for linear H
(:mod:`multisource.discrepancy.linear`, ``docs/discrepancy.md``), one sample's labels are flipped
(``y -> (y + 1) mod K``), the pair is pooled with weights 1/m_a and 1/m_b, a net is trained on the
weighted cross-entropy, and the exact gap ``|acc_a(h) - acc_b(h)|`` of the net found is reported: a
lower bound on disc_H. K = 2 needs one net per pair (H is closed under complement: negate W2, b2);
K > 2 trains both orientations (S_a flipped, then S_b flipped), two nets per pair.

All nets of a chunk of pairs are one batched problem: their parameters are stacked along a leading
axis. The pooled inputs are never built: pair (a, b) pools S_a and S_b, so the first layer of every
net that contains source i is one GEMM of X_i with those nets' weights stacked as rows (the slot
layout of :func:`~multisource.discrepancy.bound_hessian.pair_slots`, as for linear H), and each net's
gradient is the sum of its two slots' parts. Sources are processed a few at a time so that their
hidden activations stay in cache; the backward pass is written out (:func:`_block_loss_and_gradients`).
Adam is coordinate-wise, so one Adam over the stacked tensors is exactly an independent Adam per
net. M-FAC (Frantar, Kurtic & Alistarh 2021, eq. 1 and
sec. 3.2) is not: one window over the stacked parameters would mix the pairs' gradients in one
Fisher. :class:`BatchedWindowFisher` keeps a window per net instead (a block-diagonal Fisher over
the pair axis), so its products are batched but every net is preconditioned by its own gradients
only. Training is full-batch; each net keeps its best iterate (lowest training loss) until it has
gone ``patience`` epochs without improving by ``tol``; after that its result is frozen (the stack
keeps training until every net is done or ``max_epochs``), so a net's iterates do not depend on what
else is in its chunk: exactly so in float64 (tested to 1e-9); in float32 the rounding of its GEMMs
does (its rows sit elsewhere in the batched tensors), and early stopping can amplify that.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch.nn.functional import softplus

from multisource.discrepancy.bound_hessian import PairSlots, pair_slots
from multisource.discrepancy.linear import pair_tiles, source_rows
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

# Elements of float workspace one chunk of pairs may use (slot targets and weights, the nets' state).
_CHUNK_ELEMENTS = 2**25
# Hidden activations of one block of sources: small enough that a block's forward and backward run in cache.
_BLOCK_ELEMENTS = 2**20

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

    def __init__(
        self, n_nets: int, dim: int, ngrads: int, damp: float, device: torch.device, dtype: torch.dtype = torch.float32
    ) -> None:
        self.grads = torch.zeros(n_nets, ngrads, dim, device=device, dtype=dtype)
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
    dim = sum(p[0].numel() for p in params)
    fisher = BatchedWindowFisher(n_nets, dim, ngrads, damp, params[0].device, params[0].dtype)

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


@dataclass(frozen=True)
class SlotProblems:
    """The weighted training sets of B nets assembled from shared blocks of rows (the slot layout of
    :func:`~multisource.discrepancy.bound_hessian.pair_slots`).

    Block s (one source's rows) has C slots; slot (s, c) lends the rows of block s, labelled
    ``labels[s, c]`` and weighted ``weights[s, c]``, to the net ``net[s, c]``. A net's training set is
    the union of its slots: for the label-flip problem of the pair (a, b), a slot of a with the labels
    kept and a slot of b with them flipped (:func:`label_flip_slots`).

    Attributes
    ----------
    X : (S, M, d) rows of each block (float32 in the library; training follows X's dtype).
    labels : (S, C, M) int64 targets of each slot.
    weights : (S, C, M) sample weights of each slot (0 on padding rows), X's dtype.
    net : (S, C) int64 net of each slot; ``n_nets`` marks a padding slot, which trains nothing.
    n_nets : B.
    """

    X: torch.Tensor
    labels: torch.Tensor
    weights: torch.Tensor
    net: torch.Tensor
    n_nets: int


def label_flip_slots(
    X: torch.Tensor, y: np.ndarray, weights: np.ndarray, a: np.ndarray, b: np.ndarray, n_classes: int
) -> tuple[SlotProblems, PairSlots]:
    """The label-flip problems of the pairs ``(a[k], b[k])`` as slots, with the layout that places them.

    X (N, M, d), y (N, M) and weights (N, M) are the sources' rows, labels and weights (0 on padding).
    Net k is pair k's problem ``S_a`` kept, ``S_b`` flipped (``y -> (y + 1) mod K``); for K > 2 net
    2k is that one and net 2k + 1 the other orientation (``S_a`` flipped, ``S_b`` kept).
    """
    n_orient = 1 if n_classes == 2 else 2
    slots = pair_slots(np.repeat(a, n_orient), np.repeat(b, n_orient))
    n_nets = n_orient * len(a)
    flipped = slots.second ^ (slots.pair % n_orient == 1)
    y_block = y[slots.sources][:, None, :]
    labels = np.where(flipped[..., None], (y_block + 1) % n_classes, y_block)
    w = np.where((slots.pair < n_nets)[..., None], weights[slots.sources][:, None, :], 0.0)
    as_tensor = lambda v, dtype: torch.as_tensor(v, dtype=dtype, device=X.device)  # noqa: E731
    problems = SlotProblems(
        X=X[torch.as_tensor(slots.sources, device=X.device)],
        labels=as_tensor(labels, torch.int64),
        weights=as_tensor(w, X.dtype),
        net=as_tensor(slots.pair, torch.int64),
        n_nets=n_nets,
    )
    return problems, slots


def _training_layout(params: MLPParams) -> list[torch.Tensor]:
    """``[W1 | b1 (B, h, d + 1), W2^T (B, K, h), b2^T (B, K, 1)]``: the weights as the slot GEMMs take them.

    The first layer's bias is its weights' last column (the blocks get a column of ones), so the GEMM
    adds it and its gradient comes out of the GEMM. Adam is coordinate-wise and M-FAC invariant to a
    permutation of the coordinates, so training in this layout is training in the public one.
    """
    W1, b1, W2, b2 = (p.detach() for p in params)
    # A copy each: .contiguous() would return b2's own storage ((B, 1, K) transposed is contiguous).
    return [p.transpose(1, 2).clone(memory_format=torch.contiguous_format) for p in (torch.cat([W1, b1], 1), W2, b2)]


def _public_layout(weights: list[torch.Tensor]) -> MLPParams:
    W1b, W2, b2 = (p.detach() for p in weights)
    return [W1b[..., :-1].transpose(1, 2).contiguous(), W1b[..., -1:].transpose(1, 2).contiguous()] + [
        p.transpose(1, 2).contiguous() for p in (W2, b2)
    ]


def _block_forward(
    W1b: torch.Tensor, W2: torch.Tensor, b2: torch.Tensor, XT: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Hidden activations (n C, h, M) and outputs (n C, P, M) of the n C slots of n blocks: P = 1
    logit difference for K = 2, else K logits.

    The first layer of every slot of block s is one GEMM ``[W1 | b1]_s (C h, d + 1) @ [X_s 1]^T``;
    XT is (n, d + 1, M) and W1b (n C, h, d + 1). K = 2 keeps only the logit difference
    ``t = (W2_1 - W2_0) H + b2_1 - b2_0``: the cross-entropy depends on nothing else.
    """
    n, D, M = XT.shape
    hidden = torch.bmm(W1b.reshape(n, -1, D), XT).relu_().view(W1b.shape[0], -1, M)
    if W2.shape[1] == 2:
        W2, b2 = W2[:, 1:] - W2[:, :1], b2[:, 1:] - b2[:, :1]
    return hidden, torch.baddbmm(b2, W2, hidden)


def _block_loss_and_gradients(
    weights: list[torch.Tensor], XT: torch.Tensor, targets: torch.Tensor, sample_weights: torch.Tensor
) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """Loss (n C,) of each slot of n blocks and its gradient in each slot's weights.

    With H = relu(Z), Z = [W1 | b1] [X 1]^T and logits L = W2 H + b2, the slot loss is
    ``sum_m w_m CE(L_m, y_m)`` and, with G = dloss/dL = w (softmax(L) - onehot(y)),

        dW2 = G H^T,   db2 = G 1,   d[W1 | b1] = ((W2^T G) * [H > 0]) [X 1].

    For K = 2 the loss is ``sum_m w_m softplus(s_m t_m)`` with s = 1 - 2y and t = l_1 - l_0, so
    G = (-g, g) with g = w s sigmoid(s t), ``W2^T G = u g`` (u = W2_1 - W2_0) and the first layer's
    gradient is ``u * (([H > 0] g) [X 1])``: the mask is applied in place and u after the GEMM.
    Autograd does the same products but materialises ``W2^T G`` and its masked copy: 1.3x slower here.
    """
    W1b, W2, b2 = weights
    n, _, M = XT.shape
    hidden, out = _block_forward(W1b, W2, b2, XT)
    if out.shape[1] == 1:
        signed = targets * out[:, 0]
        slot_loss = (sample_weights * softplus(signed)).sum(1)
        g = (sample_weights * targets * torch.sigmoid(signed))[:, None]  # (n C, 1, M)
        du = torch.bmm(g, hidden.transpose(1, 2))  # (n C, 1, h)
        gW2, gb2 = torch.cat([-du, du], 1), torch.cat([-g.sum(2, keepdim=True), g.sum(2, keepdim=True)], 1)
        masked = hidden.sign_().mul_(g)  # [H > 0] g, in place: H is not needed any more
        u = (W2[:, 1] - W2[:, 0])[..., None]  # (n C, h, 1)
        gW1b = torch.bmm(masked.view(n, -1, M), XT.transpose(1, 2)).view(W1b.shape).mul_(u)
        return slot_loss, [gW1b, gW2, gb2]
    log_p = torch.log_softmax(out, 1)
    slot_loss = -(sample_weights * log_p.gather(1, targets[:, None])[:, 0]).sum(1)
    G = log_p.exp_().scatter_add_(1, targets[:, None], -torch.ones_like(log_p[:, :1])).mul_(sample_weights[:, None])
    gW2, gb2 = torch.bmm(G, hidden.transpose(1, 2)), G.sum(2, keepdim=True)
    dZ = torch.ops.aten.threshold_backward(torch.bmm(W2.transpose(1, 2), G), hidden, 0)
    gW1b = torch.bmm(dZ.view(n, -1, M), XT.transpose(1, 2)).view(W1b.shape)
    return slot_loss, [gW1b, gW2, gb2]


def _slot_blocks(problems: SlotProblems, hidden: int) -> list[slice]:
    """Blocks of sources whose hidden activations (about 2**20 floats) stay in cache through an epoch step."""
    S, C, M = problems.labels.shape
    per_block = max(1, _BLOCK_ELEMENTS // (C * hidden * M))
    return [slice(s, min(s + per_block, S)) for s in range(0, S, per_block)]


@dataclass(frozen=True)
class _SlotData:
    """What an epoch reads: the blocks with a ones column, transposed; the targets in the form the loss takes."""

    XT: torch.Tensor  # (S, d + 1, M)
    targets: torch.Tensor  # (S C, M): the sign 1 - 2 y for K = 2, else the labels
    weights: torch.Tensor  # (S C, M)
    gather: torch.Tensor  # (S C,) net of each slot, padding slots pointing at a real net
    scatter: torch.Tensor  # (S C,) net of each slot, padding slots at the discarded row B
    blocks: list[slice]
    n_slots: int  # C

    @classmethod
    def build(cls, problems: SlotProblems, hidden: int, n_classes: int) -> _SlotData:
        X, labels = problems.X, problems.labels.reshape(-1, problems.labels.shape[-1])
        XT = torch.cat([X, X.new_ones(*X.shape[:2], 1)], 2).transpose(1, 2).contiguous()
        targets = 1.0 - 2.0 * labels.to(X.dtype) if n_classes == 2 else labels
        scatter = problems.net.reshape(-1)
        gather = scatter.clamp(max=problems.n_nets - 1)
        weights = problems.weights.reshape(labels.shape)
        return cls(XT, targets, weights, gather, scatter, _slot_blocks(problems, hidden), problems.labels.shape[1])


def _loss_and_gradients(
    weights: list[torch.Tensor], data: _SlotData, n_nets: int
) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """Every net's loss (B,) and its gradient in the training layout, one block of sources at a time.

    Each slot's weights are gathered from its net, its loss and gradient computed with its block's
    (whose activations stay in cache), and added to its net's row; padding slots go to a row B that
    is dropped.
    """
    gathered = [p.index_select(0, data.gather) for p in weights]
    loss = weights[0].new_zeros(n_nets + 1)
    grads = [p.new_zeros(n_nets + 1, *p.shape[1:]) for p in weights]
    for block in data.blocks:
        slots = slice(block.start * data.n_slots, block.stop * data.n_slots)
        slot_loss, parts = _block_loss_and_gradients(
            [g[slots] for g in gathered], data.XT[block], data.targets[slots], data.weights[slots]
        )
        index = data.scatter[slots]
        loss.index_add_(0, index, slot_loss)
        for grad, part in zip(grads, parts, strict=True):
            grad.index_add_(0, index, part)
    return loss[:n_nets], [g[:n_nets] for g in grads]


def slot_outputs(params: MLPParams, problems: SlotProblems) -> torch.Tensor:
    """(S, C, P, M) outputs of every slot's net on its block: P = 1 logit difference ``l_1 - l_0`` for
    K = 2, else the K logits."""
    weights = _training_layout(params)
    data = _SlotData.build(problems, weights[1].shape[-1], weights[1].shape[1])
    gathered = [p.index_select(0, data.gather) for p in weights]
    out = []
    for block in data.blocks:
        slots = slice(block.start * data.n_slots, block.stop * data.n_slots)
        W1b, W2, b2 = (g[slots] for g in gathered)
        out.append(_block_forward(W1b, W2, b2, data.XT[block])[1])
    return torch.cat(out).reshape(*problems.labels.shape[:2], -1, problems.labels.shape[-1])


def train_mlp_stack(
    params: MLPParams,
    problems: SlotProblems,
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
    params : stacked initial parameters of the B nets (not modified).
    problems : the nets' training sets in the slot layout (:class:`SlotProblems`).
    lr, max_epochs : the step size and the epoch cap.
    patience, tol : a net is done after ``patience`` epochs whose loss is not below its best minus
        ``tol``; its best iterate is frozen from then on (module docstring).
    optimizer : "adam", or "mfac" (:class:`BatchedWindowFisher`, window ``ngrads``, damping ``damp``).
    """
    weights = _training_layout(params)
    n_nets, device = problems.n_nets, weights[0].device
    data = _SlotData.build(problems, weights[1].shape[-1], weights[1].shape[1])
    if optimizer == "adam":
        adam = torch.optim.Adam(weights, lr=lr)
        step: Callable[[], object] = adam.step
    else:
        step = _mfac_stepper(weights, lr, ngrads, damp)
    best_loss = torch.full((n_nets,), np.inf, device=device, dtype=weights[0].dtype)
    best = [p.detach().clone() for p in weights]
    stale = torch.zeros(n_nets, dtype=torch.int64, device=device)
    for _ in range(max_epochs):
        loss, grads = _loss_and_gradients(weights, data, n_nets)
        improved = (loss < best_loss - tol) & (stale < patience)
        best_loss = torch.where(improved, loss, best_loss)
        for kept, current in zip(best, weights, strict=True):
            torch.where(improved[:, None, None], current, kept, out=kept)
        stale = torch.where(improved, 0, stale + 1)
        if bool((stale >= patience).all()):
            break
        for p, grad in zip(weights, grads, strict=True):
            p.grad = grad
        step()
    return _public_layout(best)


def _candidate_scores(params: MLPParams, problems: SlotProblems, slots: PairSlots, K: int) -> np.ndarray:
    """(n, 2M, P) scores in the layout of :func:`~multisource.discrepancy.reduction.flip_discrepancy`."""
    out = slot_outputs(params, problems).flatten(0, 1).transpose(1, 2)  # (S C, M, P)
    per_net = torch.cat([out[slots.first_slot], out[slots.second_slot]], dim=1)  # (n O, 2M, P)
    if K > 2:  # the two orientations of pair k are nets 2k and 2k + 1
        per_net = per_net.reshape(-1, 2, *per_net.shape[1:])
        per_net = torch.cat([per_net[:, 0], per_net[:, 1]], dim=-1)
    return per_net.cpu().double().numpy()


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
    chunk_size : at most this many pairs trained at once, taken in tiles of sources
        (:func:`~multisource.discrepancy.linear.pair_tiles`); default: what fits a workspace of 2**25 floats.
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
    # Per net: its two slots' targets and weights, and about 8 copies of its weights (Adam's moments,
    # the best iterate, gathered slot weights, gradients), plus M-FAC's window of gradients.
    n_weights = hidden * (d + 1) + n_classes * (hidden + 1)
    per_pair = n_nets * (8 * M + (8 + (ngrads if optimizer == "mfac" else 0)) * n_weights)
    chunk = max(1, _CHUNK_ELEMENTS // per_pair) if chunk_size is None else chunk_size
    chunk = check_int("chunk_size", chunk, minimum=1)
    device = resolve_device(device)
    scale = X.std(axis=0)
    features = torch.as_tensor(
        (X - X.mean(axis=0)) / np.where(scale > 0, scale, 1.0), dtype=torch.float32, device=device
    )
    weights, y_rows = np.where(real, 1.0 / sizes[:, None], 0.0), y[rows]
    generator = torch.Generator().manual_seed(int(rng.integers(2**62)))
    disc = np.zeros((n_sources, n_sources))
    for a, b in pair_tiles(n_sources, chunk):
        problems, slots = label_flip_slots(features[torch.as_tensor(rows)], y_rows, weights, a, b, n_classes)
        params = init_mlp_stack(problems.n_nets, d, hidden, n_classes, generator, device)
        params = train_mlp_stack(
            params,
            problems,
            lr=lr,
            max_epochs=max_epochs,
            patience=patience,
            tol=tol,
            optimizer=optimizer,
            ngrads=ngrads,
            damp=damp,
        )
        scores = _candidate_scores(params, problems, slots, n_classes)
        pooled_y, signed = np.hstack([y_rows[a], y_rows[b]]), np.hstack([weights[a], -weights[b]])
        disc[a, b] = flip_discrepancy(scores, pooled_y, signed, n_classes)
    return disc + disc.T
