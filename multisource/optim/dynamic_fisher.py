"""Dynamic M-FAC: inverse empirical-Fisher products over a sliding window of gradients (optimizer).

The window holds the last k <= m gradients as rows of a ring buffer G (m x d, unused rows zero) and

    F = lambda I + (1/k) sum_i g_i g_i^T,
    F^-1 x = (1/lambda) (x - G^T A^-1 G x),   A = k lambda I + G G^T   (m x m),

which is the Woodbury form of the paper's recursion (Frantar, Kurtic & Alistarh 2021, sec. 3.2):
zero rows of G drop out of both products, so the same m x m system serves a part-full window.

Normalisation: 1/k with k = min(pushes, m). The official code keeps 1/m with zero rows, which
makes the first steps m/k times too long; with 1/k the window after k < m pushes equals a static
build on those k gradients.

State (all tensors, so an optimizer's ``state_dict`` restores it exactly): ``grads`` G in the
window dtype; ``gram`` G G^T in float64 (physical ring order); ``factor`` the lower Cholesky factor
of A in float64, rows in *age* order (oldest first); ``index`` the ring row written next (the
oldest); ``count`` the number of pushes; ``damp`` the lambda the factor was built with.

Costs (m window size, d dimension):
- :meth:`mul`: O(m d + m^2) -- two products with G and two triangular solves;
- :meth:`push` with a full window: O(m d + m^2) -- one product G g for the new Gram row/column,
  evicting the oldest gradient is a rank-one *update* of the trailing factor block (no downdate,
  so it is stable) and appending the newest is one triangular solve;
- :meth:`push` while the window fills (push k <= m) or after a change of ``damp``: O(m d + k^3),
  because A's diagonal shift k lambda changes and the factor of its filled k x k block is rebuilt
  from ``gram`` (the official code pays O(m^3) on every step).
Memory: O(m d) for G plus O(m^2) for ``gram`` and ``factor``.
"""

from __future__ import annotations

import torch

from multisource.optim.checks import check_damp, check_finite_gradients, check_ngrads
from multisource.utils.validation import check_int

_FACTOR_DTYPE = torch.float64

STATE_KEYS: tuple[str, ...] = ("grads", "gram", "factor", "index", "count", "damp")
"""The tensors of a window's state (module docstring)."""


def cholesky_rank_one_update(factor: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """The lower Cholesky factor of L L^T + x x^T, in O(n^2) with no Python loop.

    With L p = x, L L^T + x x^T = L (I + p p^T) L^T, and I + p p^T has the explicit factor
    C_jj = sqrt(s_j / s_{j-1}), C_ij = p_i p_j / sqrt(s_j s_{j-1}) (i > j), s_j = 1 + sum_{i<=j} p_i^2
    (Gill, Golub, Murray & Saunders 1974, method C1). So column j of L C is
    L[:, j] C_jj + p_j / sqrt(s_j s_{j-1}) * sum_{i>j} p_i L[:, i], a suffix sum over columns.
    """
    if not isinstance(factor, torch.Tensor) or factor.ndim != 2 or factor.shape[0] != factor.shape[1]:
        raise ValueError(f"factor must be a square (n, n) tensor, got {getattr(factor, 'shape', type(factor))}")
    n = factor.shape[0]
    if not isinstance(x, torch.Tensor) or x.shape != (n,):
        raise ValueError(f"x must be a vector of length n={n} (the factor's size), got {getattr(x, 'shape', type(x))}")
    check_finite_gradients("x", x)
    if n == 0:
        return factor.clone()
    p = torch.linalg.solve_triangular(factor, x.unsqueeze(1), upper=False).squeeze(1)
    s = 1.0 + torch.cumsum(p.square(), dim=0)
    s_prev = torch.cat([s.new_ones(1), s[:-1]])
    prefix = torch.cumsum(factor * p, dim=1)
    # sum over i > j as row total minus prefix: in row r the terms past column r are exact zeros, so
    # prefix[r, j] == total[r] for j >= r and the result stays exactly lower triangular
    suffix_after = prefix[:, -1:] - prefix
    return factor * torch.sqrt(s / s_prev) + suffix_after * (p / torch.sqrt(s * s_prev))


class DynamicInverseFisher:
    """Inverse-Fisher-vector products over a ring buffer of the last ``ngrads`` gradients.

    Build one with :meth:`empty`; wrap an existing state dict (e.g. from an optimizer) with the
    constructor, which shares the tensors (the state is updated in place).

    Examples
    --------
    >>> fisher = DynamicInverseFisher.empty(4, 10, damp=0.1, dtype=torch.float64)
    >>> g = torch.ones(10, dtype=torch.float64)
    >>> u = fisher.push_mul(g)  # one gradient: F^-1 g = g / (lambda + ||g||^2)
    >>> bool(torch.allclose(u, g / (0.1 + 10.0)))
    True
    """

    def __init__(self, state: dict[str, torch.Tensor]) -> None:
        missing = [key for key in STATE_KEYS if not isinstance(state.get(key), torch.Tensor)]
        if missing:
            raise ValueError(
                f"state must hold the tensors {list(STATE_KEYS)} (build one with .empty), missing {missing}"
            )
        self.state = state

    @classmethod
    def empty(
        cls,
        ngrads: int,
        dim: int,
        damp: float,
        *,
        dtype: torch.dtype = torch.float32,
        device: torch.device | str | None = None,
    ) -> DynamicInverseFisher:
        """An empty window of ``ngrads`` gradients of dimension ``dim`` stored in ``dtype``."""
        m = check_ngrads(ngrads)
        d = check_int("dim", dim, minimum=1)
        damp = check_damp(damp)
        if not dtype.is_floating_point:
            raise TypeError(f"dtype must be a floating point dtype, got {dtype}")
        state = {
            "grads": torch.zeros(m, d, dtype=dtype, device=device),
            "gram": torch.zeros(m, m, dtype=_FACTOR_DTYPE, device=device),
            # A = max(k, 1) lambda I + G G^T; with k = 0 the window is empty and A = lambda I
            "factor": torch.eye(m, dtype=_FACTOR_DTYPE, device=device) * damp**0.5,
            "index": torch.zeros((), dtype=torch.int64, device=device),
            "count": torch.zeros((), dtype=torch.int64, device=device),
            "damp": torch.tensor(damp, dtype=_FACTOR_DTYPE, device=device),
        }
        return cls(state)

    @classmethod
    def from_gradients(
        cls, grads: torch.Tensor, damp: float, *, dtype: torch.dtype | None = None
    ) -> DynamicInverseFisher:
        """A full window holding the rows of ``grads`` (m x d, oldest first), built in O(m^2 d + m^3)."""
        if not isinstance(grads, torch.Tensor) or grads.ndim != 2:
            raise ValueError(f"grads must be a 2-D (m x d) tensor, got {getattr(grads, 'shape', type(grads))}")
        check_finite_gradients("grads", grads)
        m, d = grads.shape
        fisher = cls.empty(m, d, damp, dtype=dtype or grads.dtype, device=grads.device)
        state = fisher.state
        state["grads"].copy_(grads)
        state["gram"].copy_((state["grads"] @ state["grads"].T).to(_FACTOR_DTYPE))
        state["count"].fill_(m)
        fisher.rebuild_factor()
        return fisher

    @property
    def ngrads(self) -> int:
        """The window size m."""
        return self.state["grads"].shape[0]

    @property
    def dim(self) -> int:
        """The gradient dimension d."""
        return self.state["grads"].shape[1]

    @property
    def damp(self) -> float:
        """The damping lambda."""
        return float(self.state["damp"])

    @property
    def count(self) -> int:
        """How many gradients were pushed so far (the window holds min(count, m) of them)."""
        return int(self.state["count"])

    def memory_bytes(self) -> int:
        """Bytes held by the state: O(m d + m^2)."""
        return sum(t.numel() * t.element_size() for t in self.state.values())

    def set_damp(self, damp: float) -> None:
        """Change lambda; the factor is rebuilt from the Gram matrix (O(m^3)) when it differs."""
        damp = check_damp(damp)
        if damp != self.damp:
            self.state["damp"].fill_(damp)
            self.rebuild_factor()

    def _filled_rows(self) -> torch.Tensor:
        """Ring rows of the k = min(count, m) stored gradients in age order (oldest first)."""
        m = self.ngrads
        k = min(self.count, m)
        start = int(self.state["index"]) + m - k
        return torch.arange(start, start + k, device=self.state["grads"].device) % m

    def rebuild_factor(self) -> None:
        """factor <- chol(max(k, 1) lambda I + G G^T) in age order, from ``gram``: O(k^3), k = min(count, m).

        Pushes keep the factor exact by O(m^2) updates once the window is full; a rebuild is needed
        only while it fills or when ``damp`` changes (both done automatically). The m - k empty rows
        (the oldest ages) are decoupled, so only the trailing k x k block is factored.
        """
        rows = self._filled_rows()
        m, k = self.ngrads, len(rows)
        shift = max(k, 1) * self.damp
        factor = self.state["factor"]
        factor.zero_()
        factor.diagonal()[: m - k] = shift**0.5
        if k:
            gram = self.state["gram"][rows][:, rows]
            gram.diagonal().add_(shift)
            block, info = torch.linalg.cholesky_ex(gram)
            if int(info) != 0:
                raise RuntimeError(
                    f"the damped window matrix is not positive definite in float64 (damp={self.damp}); increase damp"
                )
            factor[m - k :, m - k :] = block

    def _solve(self, gram_row: torch.Tensor) -> torch.Tensor:
        """A^-1 c for c = G x given in physical order; returned in physical order (O(k^2)).

        Empty rows have c = 0 and a diagonal block of A, so only the filled k x k block is solved.
        """
        rows = self._filled_rows()
        block = self.state["factor"][self.ngrads - len(rows) :, self.ngrads - len(rows) :]
        z = torch.zeros_like(gram_row)
        z[rows] = torch.cholesky_solve(gram_row[rows].unsqueeze(1), block).squeeze(1)
        return z

    def _apply(self, x: torch.Tensor, gx: torch.Tensor) -> torch.Tensor:
        """(x - G^T A^-1 G x) / lambda, given gx = G x."""
        grads = self.state["grads"]
        z = self._solve(gx.to(_FACTOR_DTYPE)).to(grads.dtype)
        inv_damp = 1.0 / self.damp
        return torch.addmv(x, grads.T, z, beta=inv_damp, alpha=-inv_damp)  # one pass over d, no temporaries

    def _check_vector(self, name: str, x: torch.Tensor) -> torch.Tensor:
        if not isinstance(x, torch.Tensor) or x.shape != (self.dim,):
            raise ValueError(f"{name} must be a vector of length d={self.dim}, got {getattr(x, 'shape', type(x))}")
        grads = self.state["grads"]
        return x.to(dtype=grads.dtype, device=grads.device)

    def mul(self, x: torch.Tensor) -> torch.Tensor:
        """F^-1 x, O(m d + m^2)."""
        x = self._check_vector("x", x)
        return self._apply(x, self.state["grads"] @ x)

    def push(self, grad: torch.Tensor) -> torch.Tensor:
        """Add ``grad`` to the window, evicting the oldest when full; returns G grad (physical order).

        A non-finite gradient raises ValueError and leaves the window untouched. The check is fused
        into the products the push computes anyway: a NaN/inf entry of g makes every entry of G g and
        g.g non-finite (0 * inf is NaN), so testing those m numbers replaces an O(d) ``isfinite``
        pass; a finite g whose squared norm overflows the window dtype is rejected the same way.
        """
        g = self._check_vector("grad", grad)
        state, m = self.state, self.ngrads
        index, full = int(state["index"]), self.count >= m
        gram_row = (state["grads"] @ g).to(_FACTOR_DTYPE)
        gram_row[index] = torch.dot(g, g)  # row ``index`` still holds the gradient being evicted
        if not bool(torch.isfinite(gram_row).all()):
            raise ValueError(
                "grad contains NaN or infinite values (or its squared norm overflows the window dtype); "
                "a non-finite gradient cannot enter the Fisher"
            )
        state["grads"][index] = g
        state["gram"][index, :] = gram_row
        state["gram"][:, index] = gram_row
        state["index"].fill_((index + 1) % m)
        state["count"].add_(1)
        if not full:
            self.rebuild_factor()
            return gram_row
        # Evict the oldest (age 0): the trailing block of A is L22 L22^T + l21 l21^T.
        factor = state["factor"]
        trailing = cholesky_rank_one_update(factor[1:, 1:], factor[1:, 0])
        # Append the newest (age m - 1): solve L22' l = a, pivot = a_nn - l.l.
        new_row = gram_row[self._filled_rows()]
        link = torch.linalg.solve_triangular(trailing, new_row[:-1].unsqueeze(1), upper=False).squeeze(1)
        pivot = new_row[-1] + m * self.damp - link @ link
        if not bool(pivot > 0):  # rounding ate the damping: refactor exactly from the Gram matrix
            self.rebuild_factor()
            return gram_row
        factor[:-1, :-1] = trailing
        factor[:-1, -1] = 0.0
        factor[-1, :-1] = link
        factor[-1, -1] = torch.sqrt(pivot)
        return gram_row

    def push_mul(self, grad: torch.Tensor) -> torch.Tensor:
        """Push ``grad`` then return F^-1 grad with the updated window (the optimizer step).

        Reuses G grad from the push, so the product costs one more O(m d) pass.
        """
        gram_row = self.push(grad)
        return self._apply(self._check_vector("grad", grad), gram_row)
