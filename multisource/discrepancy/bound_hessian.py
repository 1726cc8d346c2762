"""All pairs' label-flip logistic problems by bound-Hessian majorize-minimize, one GEMM per source per step.

The pooled problem of the pair (a, b) and target k (``docs/discrepancy.md``, "The solver") is

    f(w) = sum_{n in S_a u S_b} s_n [softplus(x_n . w) - z_nk x_n . w] + (1/2) w^T diag(r_ab) w,

with s_n = 1/m_a on S_a and 1/m_b on S_b. Since ``sigma'(u) = p (1 - p) <= 1/4``, its Hessian is bounded
by the same matrix for every w and every target (Böhning and Lindsay 1988, eq. 3.2):

    H_ab(w) <= B_ab = (1/4) (G_a + G_b) + diag(r_ab),     G_i = X_i^T diag(s) X_i,

the sum of two per-source weighted Gram matrices computed once per source. So ``w - B_ab^{-1} g`` never
increases f (a majorize-minimize step), B_ab is factorised once per pair, and each iteration needs
only the gradient. The gradients of all pairs that contain source i come from one GEMM: their
weights are stacked as the columns of ``W_i`` and ``X_i @ W_i`` gives every logit on S_i, then
``X_i^T R_i`` every gradient part; a pair's gradient is the sum of its two sources' parts. The steps
are accelerated with Nesterov momentum and the gradient restart of O'Donoghue and Candès (2015),
which keeps the sequence convergent on problems where momentum overshoots.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import torch

# Added to every bound: a larger matrix still majorises the Hessian, and it keeps the Cholesky
# factor defined when a pair's pooled design is rank deficient and nothing is penalised (l2 = 0).
_BOUND_JITTER = 1e-10
# Pairs per Cholesky call on CPU: their bounds (7.7 kB each at d = 30) stay in cache.
_FACTOR_BLOCK = 256


@dataclass(frozen=True)
class SourceDesigns:
    """Per-source data of the label-flip problems, padded to a common size M.

    Attributes
    ----------
    X : (N, M, D) float64 designs, the intercept column last; padding rows are 0.
    weights : (N, M) float64 sample weights ``1/m_i`` (0 on padding).
    targets_first, targets_second : (N, M, P) binary targets of source i's samples when it is the
        pair's first sample (labels kept) or its second (labels flipped), see
        :func:`multisource.discrepancy.reduction.label_flip_targets`.
    gram : (N, D, D) float64 weighted Gram matrices ``X_i^T diag(weights_i) X_i``.
    """

    X: torch.Tensor
    weights: torch.Tensor
    targets_first: torch.Tensor
    targets_second: torch.Tensor
    gram: torch.Tensor

    @classmethod
    def build(
        cls, X: torch.Tensor, weights: torch.Tensor, targets_first: torch.Tensor, targets_second: torch.Tensor
    ) -> SourceDesigns:
        """Designs with their Gram matrices (one batched product over the N sources)."""
        gram = torch.einsum("nmd,nm,nme->nde", X, weights, X)
        return cls(X, weights, targets_first, targets_second, gram)


@dataclass(frozen=True)
class PairSlots:
    """Where each pair's weight vectors sit in the per-source GEMMs of a list of pairs.

    Each pair (a, b) has two slots, one in the stack of a and one in the stack of b; every stack is
    padded to the same number C of slots with the dummy pair index ``n_pairs``.

    Attributes
    ----------
    sources : (S,) the distinct sources of the pairs.
    pair : (S, C) index of the pair in each slot (``n_pairs`` on padding).
    second : (S, C) True where the source is the pair's second sample.
    first_slot, second_slot : (n_pairs,) flat slot index ``s * C + c`` of each pair's two sides.
    """

    sources: np.ndarray
    pair: np.ndarray
    second: np.ndarray
    first_slot: np.ndarray
    second_slot: np.ndarray


def pair_slots(a: np.ndarray, b: np.ndarray) -> PairSlots:
    """The slot layout of the pairs ``(a[k], b[k])``; balanced when every source is in as many pairs."""
    n_pairs = len(a)
    slot_source = np.concatenate([a, b])
    slot_pair = np.tile(np.arange(n_pairs), 2)
    order = np.argsort(slot_source, kind="stable")
    sources, group, counts = np.unique(slot_source[order], return_inverse=True, return_counts=True)
    position = np.arange(2 * n_pairs) - np.repeat(np.cumsum(counts) - counts, counts)
    width = int(counts.max())
    pair = np.full((len(sources), width), n_pairs, dtype=np.int64)
    second = np.zeros((len(sources), width), dtype=bool)
    pair[group, position] = slot_pair[order]
    second[group, position] = order >= n_pairs
    flat = np.empty(2 * n_pairs, dtype=np.int64)
    flat[order] = group * width + position
    return PairSlots(sources, pair, second, flat[:n_pairs], flat[n_pairs:])


@dataclass(frozen=True)
class _SlotBatch:
    """The GEMM operands of one slot layout, on the solver's device and in its GEMM dtype."""

    X: torch.Tensor  # (S, M, D)
    weights: torch.Tensor  # (S, M, 1)
    targets: torch.Tensor  # (S, M, C * P)
    pair: torch.Tensor  # (S * C,)


def _slot_batch(designs: SourceDesigns, slots: PairSlots, dtype: torch.dtype) -> _SlotBatch:
    device = designs.X.device
    sources = torch.as_tensor(slots.sources, device=device)
    second = torch.as_tensor(slots.second, device=device)[:, None, :, None]
    targets = torch.where(
        second, designs.targets_second[sources][:, :, None], designs.targets_first[sources][:, :, None]
    )
    S, M, C, P = targets.shape
    return _SlotBatch(
        X=designs.X[sources].to(dtype),
        weights=designs.weights[sources].to(dtype)[..., None],
        targets=targets.reshape(S, M, C * P).to(dtype),
        pair=torch.as_tensor(slots.pair.reshape(-1), device=device),
    )


def _slot_logits(batch: _SlotBatch, W: torch.Tensor) -> torch.Tensor:
    """(S, M, C * P) logits ``X_i @ W_i`` of every slot: one batched GEMM over the sources."""
    _, P, D = W.shape
    padded = torch.cat([W.to(batch.X.dtype), W.new_zeros(1, P, D, dtype=batch.X.dtype)])
    stacked = padded[batch.pair].reshape(batch.X.shape[0], -1, D)  # (S, C * P, D)
    return torch.bmm(batch.X, stacked.transpose(1, 2))


def _data_gradient(batch: _SlotBatch, W: torch.Tensor) -> torch.Tensor:
    """(n, P, D) float64 gradient of the data term: ``X_i^T s (sigmoid(X_i W_i) - Z_i)`` summed per pair."""
    n_pairs, P, D = W.shape
    residual = batch.weights * (torch.sigmoid(_slot_logits(batch, W)) - batch.targets)  # (S, M, C * P)
    parts = torch.bmm(residual.transpose(1, 2), batch.X).reshape(-1, P, D)  # (S * C, P, D)
    summed = parts.new_zeros(n_pairs + 1, P, D).index_add_(0, batch.pair, parts)
    return summed[:n_pairs].to(torch.float64)


def bound_hessian_inverse(gram: torch.Tensor, a: np.ndarray, b: np.ndarray, penalty: torch.Tensor) -> torch.Tensor:
    """(n, D, D) float64 inverses of ``B_ab = (G_a + G_b) / 4 + diag(r_ab)``, one Cholesky per pair.

    On CPU the pairs are factorised in blocks of 256 spread over ``torch.get_num_threads()`` threads:
    torch's batched Cholesky runs LAPACK one matrix after the other on a single thread. Every matrix
    is factorised on its own, so the result does not depend on the blocks or the threads.
    """
    a_t, b_t = (torch.as_tensor(i, device=gram.device) for i in (a, b))
    inverse = torch.empty(len(a), *gram.shape[1:], dtype=gram.dtype, device=gram.device)

    def invert(block: slice) -> bool:
        bound = gram[a_t[block]].add_(gram[b_t[block]]).mul_(0.25)
        bound.diagonal(dim1=-2, dim2=-1).add_(penalty[block] + _BOUND_JITTER)
        factor, info = torch.linalg.cholesky_ex(bound)
        inverse[block] = torch.cholesky_inverse(factor)
        return bool((info == 0).all())

    step = len(a) if gram.device.type != "cpu" else _FACTOR_BLOCK
    blocks = [slice(i, i + step) for i in range(0, len(a), step)]
    with ThreadPoolExecutor(max_workers=max(1, torch.get_num_threads())) as pool:
        factorised = all(pool.map(invert, blocks))
    if not factorised:  # pragma: no cover - B_ab is positive definite by construction
        raise ValueError("a bound Hessian is not positive definite; check the designs for NaN or inf")
    return inverse


@dataclass
class _Momentum:
    """Accelerated MM state of the problems of the pairs still iterating (W, extrapolated Y, t, active)."""

    W: torch.Tensor
    Y: torch.Tensor
    t: torch.Tensor
    active: torch.Tensor

    def take(self, keep: torch.Tensor) -> _Momentum:
        return _Momentum(self.W[keep], self.Y[keep], self.t[keep], self.active[keep])


def _accelerated_step(state: _Momentum, grad: torch.Tensor, inverse: torch.Tensor, tol: float) -> None:
    """One majorize-minimize step from Y with Nesterov momentum and gradient restart, in place.

    ``W+ = Y - B^{-1} g(Y)``; a problem whose decrement ``g^T B^{-1} g`` is below ``tol`` keeps
    ``W+`` and stops. Momentum restarts (t = 1) where ``g . (W+ - W) > 0``, i.e. where it pointed
    uphill (O'Donoghue and Candès 2015, eq. 12).
    """
    step = torch.einsum("npd,nde->npe", grad, inverse)
    converged = (grad * step).sum(-1) < tol
    W_next = state.Y - step
    restart = (grad * (W_next - state.W)).sum(-1) > 0
    t_next = torch.where(restart, 1.0, 0.5 * (1.0 + torch.sqrt(1.0 + 4.0 * state.t**2)))
    beta = torch.where(restart, 0.0, (state.t - 1.0) / t_next)
    Y_next = torch.where(converged[..., None], W_next, W_next + beta[..., None] * (W_next - state.W))
    moving = state.active[..., None]
    state.W = torch.where(moving, W_next, state.W)
    state.Y = torch.where(moving, Y_next, state.Y)
    state.t = torch.where(state.active, t_next, state.t)
    state.active = state.active & ~converged


def fit_pairs_bound_hessian(
    designs: SourceDesigns,
    a: np.ndarray,
    b: np.ndarray,
    penalty: torch.Tensor,
    *,
    max_iter: int,
    tol: float,
    gemm_dtype: torch.dtype = torch.float32,
) -> torch.Tensor:
    """Minimise every pair's label-flip logistic objective (module docstring) by accelerated MM.

    Parameters
    ----------
    designs : the per-source designs, weights, targets and Gram matrices.
    a, b : (n,) the two sources of each pair (S_b is the one whose labels are flipped).
    penalty : (n, D) float64 diagonal ridge ``r_ab`` (0 on the intercept; all 0 when unregularised).
    max_iter : iteration cap (reached only by nearly separable, weakly penalised problems).
    tol : a problem stops once its MM decrement ``g^T B^{-1} g`` at the extrapolated point is < tol.
    gemm_dtype : dtype of the per-source GEMMs; the d x d systems and the iterates stay float64.

    Returns
    -------
    W : (n, P, D) float64 coefficients, the intercept last.

    Notes
    -----
    A problem's iterates depend on its own data only (each stops on its own decrement), so the result
    does not depend on which other pairs share its batch. Pairs whose problems have all stopped leave
    the GEMMs once they are half of the batch (the stacks are rebuilt for the rest).
    """
    n_pairs, P, D = len(a), designs.targets_first.shape[-1], designs.X.shape[-1]
    device = designs.X.device
    inverse, ridge = bound_hessian_inverse(designs.gram, a, b, penalty), penalty[:, None, :]
    W = torch.zeros(n_pairs, P, D, dtype=torch.float64, device=device)
    state = _Momentum(
        W.clone(),
        W.clone(),
        torch.ones(n_pairs, P, dtype=torch.float64, device=device),
        torch.ones(n_pairs, P, dtype=torch.bool, device=device),
    )
    live = np.arange(n_pairs)
    iteration = 0
    while iteration < max_iter and live.size:
        batch = _slot_batch(designs, pair_slots(a[live], b[live]), gemm_dtype)
        while iteration < max_iter and 2 * int(state.active.any(-1).sum()) > live.size:
            _accelerated_step(state, _data_gradient(batch, state.Y) + ridge * state.Y, inverse, tol)
            iteration += 1
        W[torch.as_tensor(live, device=device)] = state.W
        if iteration == max_iter:
            break
        keep = state.active.any(-1)
        live, state = live[keep.cpu().numpy()], state.take(keep)
        inverse, ridge = inverse[keep], ridge[keep]
    return W


def pair_scores(
    designs: SourceDesigns, a: np.ndarray, b: np.ndarray, W: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """(n, M, P) float64 scores ``x . w`` of each pair's problems on S_a and on S_b (one GEMM per source)."""
    slots = pair_slots(a, b)
    batch = _slot_batch(designs, slots, torch.float64)
    logits = _slot_logits(batch, W)  # (S, M, C * P)
    S, M, _ = logits.shape
    P = W.shape[1]
    per_slot = logits.reshape(S, M, -1, P).permute(0, 2, 1, 3).reshape(-1, M, P)  # (S * C, M, P)
    first, second = (torch.as_tensor(flat, device=W.device) for flat in (slots.first_slot, slots.second_slot))
    return per_slot[first], per_slot[second]
