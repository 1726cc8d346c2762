"""One input contract for every aggregator: an (n, d) numpy array or torch tensor, returned in kind.

Rules compute on a torch tensor. A numpy input is wrapped without a copy (``torch.from_numpy``) and
the result is handed back as numpy; a tensor keeps its device. float32 and float64 keep their dtype;
integer and boolean inputs are computed in float64, float16/bfloat16 in float32 and cast back.

NaN/inf policy (``docs/aggregation.md``, "Non-finite inputs"): by default a rule rejects them with
a ValueError that names the offending rows, before any work is done.
"""

from __future__ import annotations

import functools
import math
import warnings
from collections.abc import Callable, Sequence
from typing import TypeAlias, overload

import numpy as np
import torch

Vectors: TypeAlias = np.ndarray | torch.Tensor
"""An (n, d) stack of n vectors: numpy array or torch tensor (any device)."""

Array: TypeAlias = np.ndarray | torch.Tensor
"""A numpy array (work on the CPU) or a tensor (other devices)."""

Restore: TypeAlias = Callable[[Array], Vectors]
"""The map from a rule's result (a tensor, or a numpy array for work on the CPU) back to the input's kind."""

_MAX_NAMED_ROWS = 10
_NUMERIC_KINDS = frozenset("biufc")  # bool, signed and unsigned integers, floats, complex


def as_matrix(vectors: object, name: str = "vectors") -> tuple[torch.Tensor, Restore]:
    """``vectors`` as an (n, d) floating tensor with n >= 1, d >= 1, and the map back to the input's kind.

    Accepts a 2-D numpy array or torch tensor, or a sequence of equally long 1-D arrays/tensors.
    """
    fast = _as_float_matrix(vectors)
    if fast is not None:
        return fast
    X, was_numpy = _to_tensor(vectors, name)
    if X.ndim != 2:
        raise ValueError(f"{name} must be an (n, d) matrix of n vectors, got shape {tuple(X.shape)}")
    if X.shape[0] < 1 or X.shape[1] < 1:
        raise ValueError(f"{name} must hold n >= 1 vectors of dimension d >= 1, got shape {tuple(X.shape)}")
    out_dtype = X.dtype
    if not X.dtype.is_floating_point:
        X, out_dtype = X.to(torch.float64), torch.float64
    elif X.dtype not in (torch.float32, torch.float64):
        X = X.to(torch.float32)

    def restore(result: Array) -> Vectors:
        result = (torch.from_numpy(result) if isinstance(result, np.ndarray) else result).to(out_dtype)
        return result.numpy() if was_numpy else result

    return X, restore


def _restorer(dtype: torch.dtype, numpy: bool) -> Restore:
    # The dtype tests spare the common cases a dispatched torch call (several us once numpy work or a
    # GEMM has evicted torch's code from the cache): a numpy result of a numpy input is handed back as is.
    array_dtype = torch.empty(0, dtype=dtype).numpy().dtype

    def restore(result: Array) -> Vectors:
        if isinstance(result, np.ndarray):
            if numpy:
                return result if result.dtype == array_dtype else result.astype(array_dtype)
            result = torch.from_numpy(result)
        if result.dtype != dtype:
            result = result.to(dtype)
        return result.numpy() if numpy else result

    return restore


# The restore maps of the fast path, by input kind and dtype: made once, not per call.
_FAST_ARRAYS = {
    np.dtype(np.float32): _restorer(torch.float32, True),
    np.dtype(np.float64): _restorer(torch.float64, True),
}
_FAST_TENSORS = {dtype: _restorer(dtype, False) for dtype in (torch.float32, torch.float64)}


def float_array(vectors: object) -> np.ndarray | None:
    """``vectors`` if it is a C-contiguous float32/float64 numpy matrix with n, d >= 1; else None.

    The rules whose whole work at d = 1e4 is a pass or two over X (mean, static clipping, ARC) run on
    such an input in numpy alone: after other numpy work has pushed torch's code out of the cache, a
    single torch call cost 10-20 us there, as much as the rule's arithmetic (docs/aggregation.md, Speed).
    """
    if (
        type(vectors) is np.ndarray
        and vectors.dtype in _FAST_ARRAYS
        and vectors.ndim == 2
        and vectors.size > 0
        and vectors.flags.c_contiguous
    ):
        return vectors
    return None


def _float_tensor(vectors: object) -> torch.Tensor | None:
    """``vectors`` if it is a float32/float64 tensor (any device) with n, d >= 1 that needs no grad; else None."""
    if (
        type(vectors) is torch.Tensor
        and vectors.dtype in _FAST_TENSORS
        and vectors.ndim == 2
        and vectors.numel() > 0
        and not vectors.requires_grad
    ):
        return vectors
    return None


def _as_float_matrix(vectors: object) -> tuple[torch.Tensor, Restore] | None:
    """:func:`as_matrix` of the common case at a fraction of its cost, or None: a writeable
    :func:`float_array` or a :func:`_float_tensor`."""
    array = float_array(vectors)
    if array is not None and array.flags.writeable:
        return torch.from_numpy(array), _FAST_ARRAYS[array.dtype]
    tensor = _float_tensor(vectors)
    if tensor is not None:
        return tensor, _FAST_TENSORS[tensor.dtype]
    return None


@functools.lru_cache(maxsize=64)
def uniform_weights(n: int, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """The (n,) weights ``1/n`` on a device, made once per (n, dtype, device): callers must not write into them.

    ``w @ X`` is the mean as one matrix-vector product; a ``torch.full`` per call cost as much as the
    product at n = 20, d = 1e4 once other work had evicted its code from the cache.
    """
    return torch.full((n,), 1.0 / n, dtype=dtype, device=device)


def own_float_array(vectors: object) -> np.ndarray | None:
    """``vectors`` itself when it is a writeable numpy array that :func:`float_array` takes; else None
    (the input the clipping pre-aggregators write into in place, in numpy)."""
    array = float_array(vectors)
    return array if array is not None and array.flags.writeable else None


def reject_if_sum_nonfinite(total: float, X: Array, rule: str) -> None:
    """The NaN policy for a matrix X (numpy or tensor), from a float computed from every entry of X
    (a sum, a norm) that is finite exactly when X is."""
    if not math.isfinite(total):
        reject_nonfinite(torch.from_numpy(X) if isinstance(X, np.ndarray) else X, rule)


def _to_tensor(vectors: object, name: str) -> tuple[torch.Tensor, bool]:
    if isinstance(vectors, torch.Tensor):
        return vectors.detach(), False
    if isinstance(vectors, np.ndarray):
        return _from_numpy(vectors), True
    if isinstance(vectors, Sequence) and not isinstance(vectors, str):
        if len(vectors) == 0:
            raise ValueError(f"{name} must hold n >= 1 vectors, got an empty sequence")
        if all(isinstance(v, torch.Tensor) for v in vectors):
            return _stack([v.detach() for v in vectors], name), False
        arrays = [np.asarray(v) for v in vectors]
        return _from_numpy(np.stack(_same_length(arrays, name))), True
    raise TypeError(f"{name} must be a numpy array, a torch tensor or a sequence of them, got {type(vectors).__name__}")


def _from_numpy(array: np.ndarray) -> torch.Tensor:
    # dtype.kind, not np.issubdtype: the same test (numbers or bool) at a tenth of the cost per call.
    if array.dtype.kind not in _NUMERIC_KINDS:
        raise TypeError(f"vectors must hold numbers, got dtype {array.dtype}")
    array = np.ascontiguousarray(array)
    if array.flags.writeable:
        return torch.from_numpy(array)
    with warnings.catch_warnings():
        # A read-only array is wrapped as is: rules never write into their input.
        warnings.simplefilter("ignore", UserWarning)
        return torch.from_numpy(array)


def _same_length(arrays: list, name: str) -> list:
    shapes = {tuple(a.shape) for a in arrays}
    if len(shapes) != 1 or len(next(iter(shapes))) != 1:
        raise ValueError(f"{name} must be 1-D vectors of one length, got shapes {sorted(shapes)}")
    return arrays


def _stack(tensors: list[torch.Tensor], name: str) -> torch.Tensor:
    return torch.stack(_same_length(tensors, name))


def aliases_writeable_input(vectors: object, X: torch.Tensor) -> bool:
    """Whether X (from :func:`as_matrix`) is the caller's own writeable memory, so writing X writes it.

    False for a sequence of vectors (stacked into a new array), a converted dtype or layout (copied),
    a read-only numpy array, and a tensor that requires grad (a leaf autograd must not see changed).
    """
    if isinstance(vectors, torch.Tensor):
        return not vectors.requires_grad and vectors.data_ptr() == X.data_ptr() and vectors.dtype == X.dtype
    if isinstance(vectors, np.ndarray):
        return bool(vectors.flags.writeable) and X.is_cpu and np.shares_memory(vectors, X.numpy())
    return False


def host(X: torch.Tensor) -> Array:
    """X as the rules work on it after a GEMM: its numpy view on the CPU (no copy), else X itself.

    Taken before the GEMM: right after it has streamed X through the cache, each torch call (even
    ``X.device`` or ``X.numpy()``) costs 6-8 us, about 3 % of Krum's time at n = 20, d = 1e4
    (docs/aggregation.md, Speed).
    """
    return X.numpy() if X.is_cpu else X


def as_tensor(A: Array) -> torch.Tensor:
    """A as a tensor: a numpy array wrapped without a copy, a tensor as is."""
    return torch.from_numpy(A) if isinstance(A, np.ndarray) else A


def row_copy(X: Array, i: int) -> Array:
    """A copy of row i of X (numpy array or tensor), of X's kind."""
    return X[i].copy() if isinstance(X, np.ndarray) else X[i].clone()


def check_like(name: str, vector: object, X: torch.Tensor) -> torch.Tensor:
    """A (d,) vector (e.g. FLTrust's trusted reference) as a finite tensor on X's device and dtype."""
    v, _ = _to_tensor(vector, name)
    if v.shape != X.shape[1:]:
        raise ValueError(f"{name} must have shape ({X.shape[1]},) like one input vector, got {tuple(v.shape)}")
    v = v.to(device=X.device, dtype=X.dtype)
    if not bool(torch.isfinite(v).all()):
        raise ValueError(f"{name} contains NaN or infinite values")
    return v


def nonfinite_rows(X: torch.Tensor) -> list[int]:
    """Indices of the rows of X holding a NaN or an infinity.

    One read pass: a row sum in float64 is finite exactly when the row is (a float32 row cannot
    overflow it); the rows it flags are confirmed element-wise, so float64 overflow is not reported.
    """
    flagged = torch.nonzero(~torch.isfinite(X.sum(dim=1, dtype=torch.float64))).flatten()
    if flagged.numel() == 0:
        return []
    confirmed = flagged[~torch.isfinite(X[flagged]).all(dim=1)]
    return [int(i) for i in confirmed.tolist()]


def reject_nonfinite(X: torch.Tensor, rule: str) -> None:
    """Raise a ValueError naming the rows of X that hold NaN or inf (the default NaN policy)."""
    rows = nonfinite_rows(X)
    if rows:
        raise nonfinite_error(rule, rows)


def nonfinite_error(rule: str, rows: list[int]) -> ValueError:
    """The error of the default NaN policy, naming at most ten offending rows."""
    shown = rows[:_MAX_NAMED_ROWS]
    more = f" (and {len(rows) - len(shown)} more)" if len(rows) > len(shown) else ""
    return ValueError(f"{rule}: vectors rows {shown}{more} contain NaN or infinite values; drop or repair them first")


def row_norms_squared(X: torch.Tensor, rule: str) -> torch.Tensor:
    """``|x_i|^2`` in float64, after the NaN, overflow and underflow policy (:func:`squares_fallback`)
    at no extra pass.

    float64 rows on CPU go through numpy (no torch dispatch: about 1.7x faster than
    torch's norm kernel when the call alternates with numpy code, as in the benchmark); others
    through torch's norm, then squared in float64.
    """
    return checked_rows(X, rule)[1]


def checked_rows(X: torch.Tensor, rule: str) -> tuple[torch.Tensor, torch.Tensor]:
    """:func:`row_norms_squared` and the X they were formed from: X itself, or X in float64 when its
    float32 squares over- or underflowed (:func:`squares_fallback`), for a rule that goes on to form
    products of X (centered clipping, the geometric median's steps)."""
    if X.is_cpu and X.dtype == torch.float64:
        return X, torch.from_numpy(numpy_row_norms_squared(X.numpy(), rule))
    sq = torch.linalg.vector_norm(X, dim=1).to(torch.float64) ** 2
    total = float(sq.sum())
    if not squares_floor(X) <= total <= SQUARES_LIMIT:
        return checked_rows(squares_fallback(X, rule, total), rule)
    return X, sq


def numpy_row_norms_squared(x: np.ndarray, rule: str) -> np.ndarray:
    """:func:`row_norms_squared` of a numpy matrix, in numpy (in x's dtype, float64 after a float32
    overflow or underflow), the NaN, overflow and underflow policy included.

    The n row dot products as one stacked ``matmul`` of (1, d) by (d, 1): BLAS dot products, at the
    speed of a matrix-vector product and 1.1-2x faster than ``einsum`` at n = 20-100, d = 1e4.
    """
    with np.errstate(over="ignore", invalid="ignore"):  # NaN/inf rows are the NaN policy's to report
        sq = np.matmul(x[:, None, :], x[:, :, None]).reshape(-1)
        total = float(sq.sum())
    if not squares_floor(x) <= total <= SQUARES_LIMIT:
        return numpy_row_norms_squared(squares_fallback(torch.from_numpy(x), rule, total).numpy(), rule)
    return sq


SQUARES_LIMIT = float(np.finfo(np.float64).max) / 4
"""The largest sum of squared norms ``sum_i |x_i|^2`` a rule that squares accepts: below it every
Gram entry, squared distance ``|x_i|^2 + |x_j|^2 - 2 x_i . x_j <= 2 (|x_i|^2 + |x_j|^2)`` and
Weiszfeld distance to a point of the inputs' hull is finite in float64."""


# A float32 X whose squares sum below numel(X) times this has a mean square entry within 2^10 of
# float32's smallest normal number, 2^-126: below it products lose digits, and below 2^-149 vanish.
_FLOAT32_SQUARES_FLOOR = 2.0**-116


def squares_floor(X: Array) -> float:
    """The smallest sum of squares ``sum_ij x_ij^2`` of X (numpy or tensor) whose products keep their
    digits: ``numel(X) 2^-116`` in float32, 0 in float64 (whose normal range reaches 2^-1022:
    float64 entries under about 1e-146 are not handled)."""
    float32 = X.dtype == np.float32 if isinstance(X, np.ndarray) else X.dtype == torch.float32
    return math.prod(X.shape) * _FLOAT32_SQUARES_FLOOR if float32 else 0.0


def squares_fallback(X: torch.Tensor, rule: str, total: float) -> torch.Tensor:
    """X to form its squares (norms, a Gram matrix, distances) again from, once their sum ``total``
    left ``[squares_floor(X), SQUARES_LIMIT]``: past the limit, or NaN (:func:`overflow_fallback`);
    below the floor, float32 squares underflowed and X in float64 is returned (every float32 product
    is a normal float64)."""
    if not total <= SQUARES_LIMIT:
        return overflow_fallback(X, rule)
    return X.to(torch.float64)


def overflow_fallback(X: torch.Tensor, rule: str) -> torch.Tensor:
    """The policy once squares of X (norms, a Gram matrix, distances) summed beyond :data:`SQUARES_LIMIT`.

    Rows holding NaN or inf are rejected (the NaN policy). Otherwise X is finite and its squares
    overflowed the dtype they were formed in: X in float64 is returned, for the caller to form them
    again (a finite float32 value squares to at most 1.2e77, so a float32 attack of 1e30 is just
    another outlier); a float64 X is an error naming its rows of largest entries.
    """
    reject_nonfinite(X, rule)
    if X.dtype != torch.float64:
        return X.to(torch.float64)
    n, d = X.shape
    safe = math.sqrt(SQUARES_LIMIT / (n * d))  # entries up to this cannot sum squares past the limit
    peaks = X.abs().amax(dim=1)
    rows = torch.nonzero(peaks > safe).flatten().tolist() or [int(peaks.argmax())]
    shown = rows[:_MAX_NAMED_ROWS]
    more = f" (and {len(rows) - len(shown)} more)" if len(rows) > len(shown) else ""
    raise ValueError(
        f"{rule}: vectors rows {shown}{more} are too large: their squared norms overflow float64 (entries up "
        f"to {safe:.1e} are safe for n = {n}, d = {d}); divide every vector by a common power of two first"
    )


def reject_if_nonfinite(derived: torch.Tensor, X: torch.Tensor, rule: str) -> None:
    """Apply the NaN policy from a quantity computed from every entry of X (norms, a Gram matrix, a mean).

    A NaN or inf entry of X makes ``derived`` non-finite; only then are the rows of X searched,
    so the check adds no pass over the inputs when they are clean.
    """
    # The sum is finite when every entry is (NaN and inf propagate). It is taken in derived's own dtype
    # (a float64 copy of a float32 mean cost as much as the mean): a sum that overflows only sends the
    # check to the element-wise test, which clears finite entries.
    if math.isfinite(float(derived.sum())) or bool(torch.isfinite(derived).all()):
        return
    rows = nonfinite_rows(X)
    if rows:
        raise nonfinite_error(rule, rows)


# Gram matrices of at most this many rows go through torch's GEMM (see float64_gram).
_TORCH_GRAM_ROWS = 64


def to_numpy(A: Array) -> np.ndarray:
    """A as a numpy array (copied to the host from another device)."""
    return A if isinstance(A, np.ndarray) else A.cpu().numpy()


def float64_gram(X: torch.Tensor) -> Array:
    """``X X^T`` in float64, no checks: a numpy array on the CPU, a tensor on X's device otherwise.

    On the CPU by the faster kernel for its height: torch's GEMM up to 64 rows (1.3-1.4x numpy's
    ``syrk`` at n = 20 for d = 1e4 and 1e6, equal at n = 50, one thread), written into a numpy array
    made before it so that no torch call follows the GEMM (:func:`host`); numpy's above (1.15x
    faster than torch's at n = 100 in float64).
    """
    if not X.is_cpu:
        return (X @ X.T).to(torch.float64)
    if X.shape[0] > _TORCH_GRAM_ROWS:
        x = X.numpy()
        with np.errstate(invalid="ignore", over="ignore"):  # NaN/inf inputs are the NaN policy's to report
            G = x @ x.T
    else:
        G = np.empty((X.shape[0], X.shape[0]), dtype=np.float64 if X.dtype == torch.float64 else np.float32)
        torch.mm(X, X.T, out=torch.from_numpy(G))
    return G.astype(np.float64, copy=False)


def checked_gram(X: torch.Tensor, rule: str) -> tuple[Array, float]:
    """:func:`float64_gram` after the NaN, overflow and underflow policy (:func:`squares_fallback`),
    read from its trace ``sum_i |x_i|^2``, returned with it: NaN/inf rows are rejected, a float32
    product that overflowed or underflowed is formed again in float64, and a float64 X too large to
    square is an error."""
    floor = squares_floor(X)  # before the GEMM, as every torch call (:func:`host`)
    G = float64_gram(X)
    trace = float(G.trace())
    if not floor <= trace <= SQUARES_LIMIT:
        G = float64_gram(squares_fallback(X, rule, trace))
        trace = float(G.trace())
    return G, trace


def symmetrised(G: Array) -> Array:
    """``(G + G^T) / 2``: a Gram matrix whose quadratic forms and eigenvalues are exactly symmetric."""
    return (G + G.T) / 2


Weights: TypeAlias = torch.Tensor | np.ndarray | float


@overload
def weighted_sum(weights: Weights, X: np.ndarray) -> np.ndarray: ...
@overload
def weighted_sum(weights: Weights, X: torch.Tensor) -> torch.Tensor: ...
def weighted_sum(weights: Weights, X: Array) -> Array:
    """``sum_i w_i x_i`` over the rows of X (numpy array or tensor) as one BLAS matrix-vector product, of
    X's kind; a float ``weights`` is the same weight for every row (``1 / n`` gives the mean), numpy
    weights serve a CPU X.

    The product reads X once; on one CPU thread it is 1.3-2x faster than a column sum (numpy's or
    torch's) at n = 20-100 rows of d = 1e4, and 1.3-1.5x at n = 100 of d = 1e6 (docs/aggregation.md,
    Speed). On the CPU it runs in numpy (:func:`weighted_sum_and_product`), without a dispatched
    torch call.
    """
    if isinstance(X, np.ndarray):
        return weighted_sum_and_product(weights, X, product=False)[0]
    if X.is_cpu:
        return torch.from_numpy(weighted_sum_and_product(weights, X.numpy(), product=False)[0])
    if isinstance(weights, float):
        return torch.full((X.shape[0],), weights, dtype=X.dtype, device=X.device) @ X
    return torch.as_tensor(weights, dtype=X.dtype, device=X.device) @ X


# Column blocks of about this many bytes stay in the 2 MiB L2 cache between two passes over them: the
# two products of weighted_sum_and_product (fastest at 0.4-0.8 MB for n = 50 and 100, d = 1e4) and the
# copy, sort and reduction of sorted_column_statistic (0.5 and 0.8 MB the fastest or within the noise
# of it among 64 KB to 0.8 MB at n = 20-100, d = 1e4 and 1e6; blocks of 1.6-3.2 MB were 10-45 % slower
# at d = 1e6).
_BLOCK_BYTES = 800_000
_MIN_BLOCK_COLUMNS = 256


def column_blocks(X: np.ndarray) -> list[slice]:
    """Slices cutting X's columns into blocks of about 0.8 MB (at least 256 columns), that stay in
    cache between passes."""
    n, d = X.shape
    columns = max(_MIN_BLOCK_COLUMNS, _BLOCK_BYTES // (n * X.itemsize))
    return [slice(start, min(start + columns, d)) for start in range(0, d, columns)]


def weighted_sum_and_product(weights: Array | float, X: Array, product: bool = True) -> tuple[Array, Array | None]:
    """``z = sum_i w_i x_i`` and, with ``product``, ``X z`` (None without), in X's kind and dtype.

    On a numpy X both come from one pass over X: ``z_b = w X_b`` and ``X_b z_b`` for each block
    ``X_b`` of columns, while it is still in cache, summed over the blocks (1.3x faster than two
    passes at n = 50 and 100, d = 1e4, one thread). A tensor X (any device) gets two products.

    X is finite and past the overflow policy (every caller has applied it) and the weights are
    convex (non-negative, summing to 1), so neither product can overflow: no error-state context,
    which costs about 5 us right after a GEMM.
    """
    if isinstance(X, torch.Tensor):
        mean = weighted_sum(weights, X)
        return mean, (X @ mean if product else None)
    n, d = X.shape
    if isinstance(weights, float):
        w = np.full(n, weights, dtype=X.dtype)
    else:
        w = np.asarray(weights).astype(X.dtype, copy=False)
    if not product:
        return w @ X, None
    z = np.empty(d, dtype=X.dtype)
    Xz = np.zeros(n, dtype=X.dtype)
    for columns in column_blocks(X):
        block = X[:, columns]
        Xz += block @ np.matmul(w, block, out=z[columns])
    return z, Xz


def matmul(A: torch.Tensor, B: torch.Tensor) -> torch.Tensor:
    """``A @ B``; on CPU through numpy's BLAS, which runs the short-and-wide products of these rules
    (Gram matrices of n << d vectors, n x n mixing matrices) up to several times faster than torch's."""
    if A.is_cpu and B.is_cpu and A.dtype == B.dtype:
        with np.errstate(invalid="ignore", over="ignore"):  # NaN/inf inputs are the NaN policy's to report
            return torch.from_numpy(np.asarray(A.numpy() @ B.numpy()))
    return A @ B
