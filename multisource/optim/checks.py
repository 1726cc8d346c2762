"""Argument checks shared by the M-FAC Fisher estimators and the optimizer (torch-style messages)."""

from __future__ import annotations

import math
import numbers

import torch


def check_damp(damp: object) -> float:
    """The damping lambda: a finite real number > 0."""
    if isinstance(damp, bool) or not isinstance(damp, numbers.Real) or not 0 < float(damp) < math.inf:
        raise ValueError(f"Invalid damp: {damp} (must be a finite number > 0)")
    return float(damp)


def check_lr(lr: object) -> float:
    """The learning rate: a finite real number >= 0."""
    if isinstance(lr, bool) or not isinstance(lr, numbers.Real) or not 0 <= float(lr) < math.inf:
        raise ValueError(f"Invalid learning rate: {lr} (must be >= 0)")
    return float(lr)


def check_ngrads(ngrads: object) -> int:
    """The window size m: an integer >= 1."""
    if isinstance(ngrads, bool) or not isinstance(ngrads, numbers.Integral) or int(ngrads) < 1:
        raise ValueError(f"Invalid ngrads: {ngrads} (must be an integer >= 1)")
    return int(ngrads)


def check_finite_gradients(name: str, grads: torch.Tensor) -> None:
    """Reject NaN/inf gradients before they reach a Fisher estimate."""
    if not bool(torch.isfinite(grads).all()):
        raise ValueError(f"{name} contains NaN or infinite values; a non-finite gradient cannot enter the Fisher")
