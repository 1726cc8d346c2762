"""Independent oracles for the inverse damped empirical Fisher F = lambda I + G^T G / m (float64)."""

from __future__ import annotations

import torch


def dense_fisher(grads: torch.Tensor, damp: float, blocksize: int | None = None) -> torch.Tensor:
    """F as a dense d x d matrix, keeping only diagonal blocks when ``blocksize`` is given."""
    m, d = grads.shape
    fisher = damp * torch.eye(d, dtype=grads.dtype) + grads.T @ grads / m
    if blocksize is not None:
        block_id = torch.arange(d) // blocksize
        fisher = fisher * (block_id[:, None] == block_id[None, :])
    return fisher


def closed_form_product(grads: torch.Tensor, damp: float, x: torch.Tensor) -> torch.Tensor:
    """(1/lambda)(x - G^T (m lambda I + G G^T)^-1 G x), with a dense m x m solve."""
    m = grads.shape[0]
    system = m * damp * torch.eye(m, dtype=grads.dtype) + grads @ grads.T
    return (x - grads.T @ torch.linalg.solve(system, grads @ x)) / damp


class RecursionInverseFisher:
    """The paper's sequential Woodbury recursion: v_i = F_{i-1}^-1 g_i, denom_i = m + g_i . v_i."""

    def __init__(self, grads: torch.Tensor, damp: float) -> None:
        m = grads.shape[0]
        vs, denoms = [], []
        for g in grads:
            v = g / damp
            for v_j, denom_j in zip(vs, denoms, strict=True):
                v = v - (v_j @ g) / denom_j * v_j
            vs.append(v)
            denoms.append(m + g @ v)
        self.v, self.denom, self.damp = torch.stack(vs), torch.stack(denoms), damp

    def mul(self, x: torch.Tensor) -> torch.Tensor:
        return x / self.damp - ((self.v @ x) / self.denom) @ self.v

    def diag(self) -> torch.Tensor:
        return 1.0 / self.damp - (self.v.square() / self.denom[:, None]).sum(dim=0)


def relative_error(actual: torch.Tensor, expected: torch.Tensor) -> float:
    return float((actual - expected).norm() / expected.norm())


def random_gradients(m: int, d: int, seed: int, *, correlated: bool = False) -> torch.Tensor:
    """m gradients of norm about 1; ``correlated`` draws them near a common direction."""
    gen = torch.Generator().manual_seed(seed)
    grads = torch.randn(m, d, generator=gen, dtype=torch.float64) / d**0.5
    if correlated:
        grads = grads * 0.1 + torch.randn(1, d, generator=gen, dtype=torch.float64) / d**0.5
    return grads
