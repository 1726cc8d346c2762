"""What every layer pruner takes (a validated ``PruneTarget``) and returns (a ``LayerResult``).

A target is a sparsity ``s`` in [0, 1), *or* an N:M pattern (N zeros in every aligned group of M
input columns), *or* a fixed boolean mask; optionally with ``bits``-bit quantization of the kept
weights. It is validated once, by ``check_target``, at the boundary of the library (the keyword
functions such as ``sparsegpt_prune_layer``, ``prune_model``); the pruners behind the registry
(``docs/sparsegpt.md``, "Methods") receive it already checked.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from multisource.compress.masks import check_nm, check_sparsity, parse_nm
from multisource.compress.quant import QuantGrid, check_bits

Pattern = str | tuple[int, int] | None
NON_FINITE_H = "H contains NaN or infinite values (check the calibration inputs)"


@dataclass(frozen=True)
class PruneTarget:
    """A validated target: ``sparsity``, ``nm`` = (N, M) or None, ``bits`` or None, a fixed ``mask`` or None.

    With a pattern, ``sparsity`` is N/M; with a mask, the fraction of True entries in it.
    """

    sparsity: float
    nm: tuple[int, int] | None = None
    bits: int | None = None
    mask: torch.Tensor | None = field(default=None, compare=False, repr=False)


def check_target(
    sparsity: float = 0.0, pattern: Pattern = None, bits: int | None = None, mask: torch.Tensor | None = None
) -> PruneTarget:
    """Validate a pruning target once; the result is what every pruner receives.

    Parameters
    ----------
    sparsity : float
        Fraction removed, in [0, 1). With a pattern it must be 0 or N/M; with a mask it must be 0.
    pattern : "N:M" or (N, M), optional
        N zeros in each aligned group of M input columns (0 < N < M).
    bits : int, optional
        Quantize the kept weights to this many bits (2..16).
    mask : torch.Tensor, optional
        A fixed boolean (rows x columns) mask, True = remove; excludes ``pattern`` and ``sparsity``.

    Raises
    ------
    ValueError
        On a value out of range, or two arguments that both say what to remove (``mask`` with
        ``pattern``, ``mask`` with ``sparsity > 0``, ``pattern`` with a different ``sparsity``).
    """
    sparsity = check_sparsity(sparsity)
    if mask is not None:
        return PruneTarget(sparsity=_check_mask(mask, sparsity, pattern), bits=_optional_bits(bits), mask=mask)
    nm = None
    if pattern is not None:
        nm = parse_nm(pattern) if isinstance(pattern, str) else check_nm(*pattern)
        if sparsity not in (0.0, nm[0] / nm[1]):
            raise ValueError(
                f"sparsity={sparsity} contradicts pattern {nm[0]}:{nm[1]} (which removes {nm[0] / nm[1]:g}); "
                "pass sparsity=0 or N/M with a pattern"
            )
        sparsity = nm[0] / nm[1]
    return PruneTarget(sparsity=sparsity, nm=nm, bits=_optional_bits(bits))


def _optional_bits(bits: int | None) -> int | None:
    return None if bits is None else check_bits(bits)


def _check_mask(mask: torch.Tensor, sparsity: float, pattern: Pattern) -> float:
    """A fixed mask excludes the other two ways of saying what to remove; returns its sparsity."""
    if pattern is not None:
        raise ValueError(
            f"mask and pattern={pattern!r} cannot be combined: a fixed mask already decides what is removed"
        )
    if sparsity != 0.0:
        raise ValueError(
            f"mask and sparsity={sparsity} cannot be combined: a fixed mask already decides what is removed"
        )
    if not isinstance(mask, torch.Tensor) or mask.dtype != torch.bool or mask.ndim != 2:
        raise TypeError(f"mask must be a 2-D boolean tensor (True = remove), got {getattr(mask, 'dtype', type(mask))}")
    return float(mask.float().mean())


@dataclass(frozen=True)
class LayerResult:
    """The outcome of pruning one layer.

    Attributes
    ----------
    weight : torch.Tensor
        The new weight (rows x columns), in the dtype and on the device of the input weight.
    mask : torch.Tensor
        Boolean (rows x columns), True where a weight was removed (set to exactly 0).
    error : float
        Reconstruction error ``||W X - W' X||_F^2 / n = tr(dW H dW^T) / 2`` with the undamped
        ``H = 2 X X^T / n`` (n calibration tokens); NaN when no Hessian was given.
    damping_used : float
        The relative damping ``percdamp`` finally used (larger than asked when Cholesky failed);
        0 for methods that do not factor H.
    seconds : float
        Wall time of the solve.
    grid : QuantGrid or None
        The per-row grid the kept weights were quantized onto (``bits`` given), else None; the
        compressed export stores the weights as its integer codes (``multisource.compress.export``).
    """

    weight: torch.Tensor
    mask: torch.Tensor
    error: float
    damping_used: float
    seconds: float
    grid: QuantGrid | None = None


def reconstruction_error(W: torch.Tensor, W_new: torch.Tensor, H: torch.Tensor | None) -> float:
    """``tr((W - W') H (W - W')^T) / 2``, i.e. ``||(W - W') X||^2 / n`` for ``H = 2 X X^T / n``."""
    if H is None:
        return float("nan")
    delta = (W - W_new).to(H.dtype)
    return float(((delta @ H) * delta).sum() / 2)


def check_layer_inputs(W: torch.Tensor, H: torch.Tensor | None, target: PruneTarget, *, full_h: bool = True) -> None:
    """W 2-D, floating and finite; H, when given, finite and square with one row per column of W; a mask of W's shape.

    NaN or inf in W or H would otherwise come out as NaN weights (or a Cholesky failure far from
    its cause), so they are refused here, before any work. ``full_h=False`` checks only the
    diagonal of H, for a solver whose factorization fails on any other non-finite entry it reads
    and then says so (``damped_inverse_cholesky``), which saves a pass over H.
    """
    if not isinstance(W, torch.Tensor) or W.ndim != 2 or not W.is_floating_point():
        raise ValueError(f"W must be a 2-D floating tensor (rows x columns), got {getattr(W, 'shape', W)!r}")
    if not bool(torch.isfinite(W).all()):
        raise ValueError("W contains NaN or infinite values")
    if H is not None:
        if H.ndim != 2 or H.shape != (W.shape[1], W.shape[1]):
            raise ValueError(
                f"H must have shape {(W.shape[1], W.shape[1])} for W of shape {tuple(W.shape)}, got {tuple(H.shape)}"
            )
        if not bool(torch.isfinite(H if full_h else torch.diag(H)).all()):
            raise ValueError(NON_FINITE_H)
    if target.mask is not None and target.mask.shape != W.shape:
        raise ValueError(f"mask must have the shape of W {tuple(W.shape)}, got {tuple(target.mask.shape)}")
