"""What every layer-wise pruner takes (a target) and returns (a ``LayerResult``).

A target is a sparsity ``s`` in [0, 1) *or* an N:M pattern (N zeros in every aligned group of M
input columns), optionally with ``bits``-bit quantization of the kept weights.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from multisource.compress.masks import check_nm, check_sparsity, parse_nm
from multisource.compress.quant import check_bits

Pattern = str | tuple[int, int] | None


@dataclass(frozen=True)
class PruneTarget:
    """A validated target: ``sparsity``, ``nm`` = (N, M) or None, ``bits`` or None."""

    sparsity: float
    nm: tuple[int, int] | None
    bits: int | None

    @property
    def prunes(self) -> bool:
        return self.nm is not None or self.sparsity > 0


def check_target(sparsity: float = 0.0, pattern: Pattern = None, bits: int | None = None) -> PruneTarget:
    """Validate a pruning target; with a pattern, ``sparsity`` must be 0 or equal to N/M."""
    sparsity = check_sparsity(sparsity)
    nm = None
    if pattern is not None:
        nm = parse_nm(pattern) if isinstance(pattern, str) else check_nm(*pattern)
        if sparsity not in (0.0, nm[0] / nm[1]):
            raise ValueError(
                f"sparsity={sparsity} contradicts pattern {nm[0]}:{nm[1]} (which removes {nm[0] / nm[1]:g}); "
                "pass sparsity=0 or N/M with a pattern"
            )
        sparsity = nm[0] / nm[1]
    if bits is not None:
        bits = check_bits(bits)
    return PruneTarget(sparsity=sparsity, nm=nm, bits=bits)


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
    """

    weight: torch.Tensor
    mask: torch.Tensor
    error: float
    damping_used: float
    seconds: float


def reconstruction_error(W: torch.Tensor, W_new: torch.Tensor, H: torch.Tensor | None) -> float:
    """``tr((W - W') H (W - W')^T) / 2``, i.e. ``||(W - W') X||^2 / n`` for ``H = 2 X X^T / n``."""
    if H is None:
        return float("nan")
    delta = (W - W_new).to(H.dtype)
    return float(((delta @ H) * delta).sum() / 2)


def check_layer_inputs(W: torch.Tensor, H: torch.Tensor | None) -> None:
    """W must be 2-D and floating; H, when given, square with one row per column of W."""
    if not isinstance(W, torch.Tensor) or W.ndim != 2 or not W.is_floating_point():
        raise ValueError(f"W must be a 2-D floating tensor (rows x columns), got {getattr(W, 'shape', W)!r}")
    if H is not None and (H.ndim != 2 or H.shape != (W.shape[1], W.shape[1])):
        raise ValueError(f"H must have shape {(W.shape[1], W.shape[1])} for W of shape {tuple(W.shape)}, got {tuple(H.shape)}")
