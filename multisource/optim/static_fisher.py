"""Static M-FAC: inverse empirical-Fisher products for a fixed set of m gradients (pruning).

The damped empirical Fisher of m gradients g_1..g_m (rows of G, m x d) is

    F = lambda I + (1/m) G^T G,

and by the Woodbury identity (Frantar, Kurtic & Alistarh 2021, eq. 3 unrolled over the m rank-one
terms)

    F^-1 = (1/lambda) (I - G^T (m lambda I + G G^T)^-1 G).

With the Cholesky factor L L^T = m lambda I + G G^T and W = L^-1 G (m x d) this is
F^-1 = (I - W^T W) / lambda: an IHVP costs two products with W, O(m d), and a diagonal element
[F^-1]_jj = (1 - ||W[:, j]||^2) / lambda costs O(m). Building W costs O(m^2 d). The paper computes
the same matrix with the sequential recursion v_i = F_{i-1}^-1 g_i; the Cholesky form replaces its
m-step loop by one batched triangular solve, and the tests use the recursion as an oracle.

Blocking (for big layers) keeps only the diagonal blocks of F: the flattened coordinates are cut
into contiguous blocks of ``blocksize`` and each block gets its own Fisher from the same m
gradients restricted to that block.
"""

from __future__ import annotations

import torch

from multisource.optim.checks import check_damp, check_finite_gradients
from multisource.utils.validation import check_int


class StaticInverseFisher:
    """Products with the inverse damped empirical Fisher of fixed gradients, optionally blocked.

    Parameters
    ----------
    grads : torch.Tensor
        The m x d matrix G whose rows are the gradients g_i.
    damp : float
        The damping lambda > 0 in F = lambda I + (1/m) G^T G.
    blocksize : int or None
        Size of the contiguous coordinate blocks of the block-diagonal approximation; ``None`` (or
        ``blocksize >= d``) uses the full Fisher.
    dtype : torch.dtype
        Precision of W and of every product (float64 by default; the m x m factorization is
        always float64).

    Notes
    -----
    Cost: O(m^2 d + (d / B) m^3) to build, O(m d) per :meth:`mul`, O(m) per diagonal element;
    memory O(m d). Blocks are batched, so no Python loop runs over blocks or coordinates.

    Examples
    --------
    >>> G = torch.randn(8, 30, dtype=torch.float64)
    >>> finv = StaticInverseFisher(G, damp=1e-2)
    >>> F = 1e-2 * torch.eye(30, dtype=torch.float64) + G.T @ G / 8
    >>> x = torch.randn(30, dtype=torch.float64)
    >>> bool(torch.allclose(finv.mul(x), torch.linalg.solve(F, x)))
    True
    """

    def __init__(
        self,
        grads: torch.Tensor,
        damp: float,
        *,
        blocksize: int | None = None,
        dtype: torch.dtype = torch.float64,
    ) -> None:
        if not isinstance(grads, torch.Tensor) or grads.ndim != 2:
            raise ValueError(f"grads must be a 2-D (m x d) tensor, got {getattr(grads, 'shape', type(grads))}")
        m, d = grads.shape
        if m < 1 or d < 1:
            raise ValueError(f"grads must hold m >= 1 gradients of dimension d >= 1, got shape {tuple(grads.shape)}")
        check_finite_gradients("grads", grads)
        if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
            raise TypeError(f"dtype must be a floating torch dtype such as torch.float64, got {dtype!r}")
        self.damp = check_damp(damp)
        self.ngrads, self.dim = m, d
        block = d if blocksize is None else min(check_int("blocksize", blocksize, minimum=1), d)
        self.blocksize = block
        nblocks = -(-d // block)
        padded = torch.zeros(m, nblocks * block, dtype=dtype, device=grads.device)
        padded[:, :d] = grads
        blocks = padded.view(m, nblocks, block).transpose(0, 1)  # (nblocks, m, B)
        # m lambda I + G_b G_b^T per block, factored in float64 whatever the gradient dtype
        gram = torch.bmm(blocks, blocks.transpose(1, 2)).to(torch.float64)
        gram.diagonal(dim1=1, dim2=2).add_(m * self.damp)
        factor = torch.linalg.cholesky(gram)
        self._w = torch.linalg.solve_triangular(factor.to(dtype), blocks, upper=False)  # (nblocks, m, B)

    def _blocked(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape != (self.dim,):
            raise ValueError(f"x must be a vector of length d={self.dim}, got shape {tuple(x.shape)}")
        nblocks, _, block = self._w.shape
        padded = torch.zeros(nblocks * block, dtype=self._w.dtype, device=self._w.device)
        padded[: self.dim] = x
        return padded.view(nblocks, block, 1)

    def mul(self, x: torch.Tensor) -> torch.Tensor:
        """F^-1 x = (x - W^T (W x)) / lambda, in O(m d)."""
        xb = self._blocked(x)
        wx = torch.bmm(self._w, xb)
        out = (xb - torch.bmm(self._w.transpose(1, 2), wx)) / self.damp
        return out.reshape(-1)[: self.dim]

    def diag(self) -> torch.Tensor:
        """All diagonal elements [F^-1]_jj = (1 - ||W[:, j]||^2) / lambda, O(m) each."""
        return ((1.0 - self._w.square().sum(dim=1)) / self.damp).reshape(-1)[: self.dim]

    def element(self, j: int, k: int) -> torch.Tensor:
        """One element [F^-1]_jk = (delta_jk - W[:, j] . W[:, k]) / lambda (0 across blocks), O(m)."""
        j = check_int("j", j, minimum=0, maximum=self.dim - 1)
        k = check_int("k", k, minimum=0, maximum=self.dim - 1)
        (bj, cj), (bk, ck) = divmod(j, self.blocksize), divmod(k, self.blocksize)
        if bj != bk:
            return torch.zeros((), dtype=self._w.dtype, device=self._w.device)
        return (float(j == k) - self._w[bj, :, cj] @ self._w[bk, :, ck]) / self.damp

    def memory_bytes(self) -> int:
        """Bytes held by W (O(m d))."""
        return self._w.numel() * self._w.element_size()


def inverse_fisher_product(
    grads: torch.Tensor, x: torch.Tensor, damp: float, *, blocksize: int | None = None
) -> torch.Tensor:
    """F^-1 x for F = damp I + (1/m) G^T G (block-diagonal with ``blocksize``), in O(m^2 d).

    One-off convenience; build a :class:`StaticInverseFisher` to reuse the factorization.
    """
    return StaticInverseFisher(grads, damp, blocksize=blocksize, dtype=grads.dtype).mul(x.to(grads.dtype))
