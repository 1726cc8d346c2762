"""The M-FAC optimizer (Frantar, Kurtic & Alistarh, NeurIPS 2021) as a ``torch.optim.Optimizer``."""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Iterable
from itertools import chain
from typing import Any, overload

import torch
from torch.optim import Optimizer

from multisource.optim.checks import check_damp, check_lr, check_ngrads
from multisource.optim.dynamic_fisher import STATE_KEYS, DynamicInverseFisher


def _window_dtype(params: list[torch.Tensor], window_dtype: torch.dtype | None) -> torch.dtype:
    """float64 params keep a float64 window; everything else (fp32, bf16, fp16) an fp32 one."""
    if window_dtype is not None:
        if not window_dtype.is_floating_point:
            raise TypeError(f"Invalid window_dtype: {window_dtype} (must be a floating point dtype)")
        return window_dtype
    return torch.float64 if any(p.dtype == torch.float64 for p in params) else torch.float32


class MFAC(Optimizer):
    r"""M-FAC: preconditioned SGD with the inverse of a sliding-window empirical Fisher.

    Every step pushes the group's flattened gradient g_t into a window of the last m gradients
    and moves along u_t = F_t^-1 g_t with F_t = damp I + (1/k) sum_{i in window} g_i g_i^T
    (k = min(t, m); paper eq. 1 and sec. 3.2), optionally with heavy-ball momentum
    b_t = momentum b_{t-1} + u_t (torch SGD convention, not the official EMA):

        p <- p - lr * b_t.

    Each parameter group has its own window over the concatenation of its parameters, so groups
    can differ in ``ngrads``, ``damp``, ``momentum`` and ``weight_decay``, not only ``lr``.

    Parameters
    ----------
    params : iterable
        Parameters or param-group dicts, as for any torch optimizer.
    lr : float
        Learning rate (>= 0).
    ngrads : int
        Window size m (>= 1).
    damp : float
        Damping lambda (> 0). Changing it in a param group later rebuilds the factor once (O(m^3)).
    momentum : float
        Heavy-ball momentum in [0, 1).
    weight_decay : float
        L2 coefficient (>= 0). Coupled (default): ``weight_decay * p`` is added to the gradient
        before it enters the window (as the official code does). Decoupled: ``p *= 1 - lr * weight_decay``.
    decoupled_weight_decay : bool
        Use decoupled (AdamW-style) weight decay.
    window_dtype : torch.dtype or None
        dtype of the gradient window; ``None`` picks float64 for float64 parameters and float32
        otherwise (bf16/fp16 parameters keep an fp32 window). The m x m algebra is always float64.

    Notes
    -----
    Memory: O(m d) per group (the window G, m x d in ``window_dtype``) plus O(m^2) float64 and one
    d-vector of momentum; :meth:`memory_bytes` reports it. Time per step: O(m d + m^2) once the
    window is full, O(m d + k^3) at step k <= m while it fills (see
    :class:`~multisource.optim.dynamic_fisher.DynamicInverseFisher`).

    Gradients: a ``None`` or sparse gradient is skipped -- it enters the window as zeros and its
    parameter is not updated (a sparse gradient also warns). A NaN/inf gradient raises ValueError
    before anything is changed, so the window never holds a non-finite gradient; with AMP, let
    ``GradScaler.step`` skip such steps.

    ``state_dict()`` holds the window, Gram matrix, factor, ring index, counter and momentum of
    every group (in the state of the group's first parameter), and ``load_state_dict`` restores
    them with their own dtypes, so a resumed run continues bit for bit on the same device.

    Examples
    --------
    >>> model = torch.nn.Linear(4, 1)
    >>> opt = MFAC(model.parameters(), lr=0.1, ngrads=8, damp=1e-4)
    >>> def closure():
    ...     opt.zero_grad()
    ...     loss = model(torch.ones(2, 4)).square().mean()
    ...     loss.backward()
    ...     return loss
    >>> loss = opt.step(closure)
    """

    def __init__(
        self,
        params: Iterable[torch.Tensor] | Iterable[dict[str, Any]],
        lr: float = 1e-3,
        ngrads: int = 1024,
        damp: float = 1e-5,
        momentum: float = 0.0,
        weight_decay: float = 0.0,
        decoupled_weight_decay: bool = False,
        window_dtype: torch.dtype | None = None,
    ) -> None:
        defaults = dict(
            lr=lr,
            ngrads=ngrads,
            damp=damp,
            momentum=momentum,
            weight_decay=weight_decay,
            decoupled_weight_decay=decoupled_weight_decay,
            window_dtype=window_dtype,
        )
        super().__init__(params, defaults)

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        """Add a group after validating its hyper-parameters (torch-style messages)."""
        super().add_param_group(param_group)
        group = self.param_groups[-1]
        check_lr(group["lr"])
        check_ngrads(group["ngrads"])
        check_damp(group["damp"])
        if not 0.0 <= group["momentum"] < 1.0:
            raise ValueError(f"Invalid momentum value: {group['momentum']} (must be in [0, 1))")
        if not 0.0 <= group["weight_decay"] < math.inf:
            raise ValueError(f"Invalid weight_decay value: {group['weight_decay']} (must be >= 0)")
        _window_dtype(group["params"], group["window_dtype"])

    def _group_state(self, group: dict[str, Any]) -> dict[str, torch.Tensor]:
        """The group's window lives in the state of its first parameter (so state_dict saves it)."""
        state = self.state[group["params"][0]]
        if not state:
            params = group["params"]
            fisher = DynamicInverseFisher.empty(
                group["ngrads"],
                sum(p.numel() for p in params),
                group["damp"],
                dtype=_window_dtype(params, group["window_dtype"]),
                device=params[0].device,
            )
            state.update(fisher.state)
        return state

    @staticmethod
    def _flat_gradient(
        params: list[torch.Tensor], like: torch.Tensor, coupled_decay: float
    ) -> tuple[torch.Tensor, list[bool]]:
        """Concatenated gradients (+ coupled L2 term) in the window dtype/device.

        None and sparse gradients are zeros (and their parameters get no L2 term).
        """
        pieces, used = [], []
        for p in params:
            grad = p.grad
            if grad is not None and grad.is_sparse:
                warnings.warn("MFAC skips sparse gradients (treated as zero, parameter not updated)", stacklevel=3)
                grad = None
            used.append(grad is not None)
            if grad is None:
                pieces.append(torch.zeros(p.numel(), dtype=like.dtype, device=like.device))
                continue
            piece = grad.reshape(-1).to(dtype=like.dtype, device=like.device)
            if coupled_decay:
                piece = piece + coupled_decay * p.reshape(-1).to(piece)
            pieces.append(piece)
        return torch.cat(pieces), used

    @overload
    def step(self, closure: None = None) -> None: ...

    @overload
    def step(self, closure: Callable[[], float]) -> float: ...

    @torch.no_grad()
    def step(self, closure: Callable[[], float] | None = None) -> float | None:
        """One M-FAC step; ``closure`` (re-evaluating the loss with backward) is optional."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            params = group["params"]
            if all(p.grad is None for p in params):
                continue
            state = self._group_state(group)
            fisher = DynamicInverseFisher({key: state[key] for key in STATE_KEYS})
            fisher.set_damp(group["damp"])
            wd, decoupled = group["weight_decay"], group["decoupled_weight_decay"]
            grad, used = self._flat_gradient(params, state["grads"], 0.0 if decoupled else wd)
            update = fisher.push_mul(grad)  # raises on NaN/inf before touching the window
            if group["momentum"]:
                buf = state.get("momentum_buffer")
                if buf is None:
                    buf = state["momentum_buffer"] = update.clone()
                else:
                    buf.mul_(group["momentum"]).add_(update)
                update = buf
            lr = group["lr"]
            offset = 0
            for p, has_grad in zip(params, used, strict=True):
                n = p.numel()
                if has_grad:
                    if wd and decoupled:
                        p.mul_(1.0 - lr * wd)
                    p.add_(update[offset : offset + n].view_as(p).to(dtype=p.dtype, device=p.device), alpha=-lr)
                offset += n
        return loss

    def memory_bytes(self) -> int:
        """Bytes of optimizer state over all groups (window, Gram, factor, momentum): O(m d)."""
        return sum(
            t.numel() * t.element_size()
            for state in self.state.values()
            for t in state.values()
            if isinstance(t, torch.Tensor)
        )

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Load a state dict; the window tensors keep their saved dtypes.

        ``torch.optim.Optimizer.load_state_dict`` casts floating state to the parameter's dtype,
        which would round a float64 factor to the parameters' float32 (or a window to bf16); the
        saved tensors are put back after it, moved to the parameter's device and copied.
        """
        super().load_state_dict(state_dict)
        saved_ids = chain.from_iterable(g["params"] for g in state_dict["param_groups"])
        params = chain.from_iterable(g["params"] for g in self.param_groups)
        for saved_id, p in zip(saved_ids, params, strict=True):
            for key, value in state_dict["state"].get(saved_id, {}).items():
                if isinstance(value, torch.Tensor):
                    self.state[p][key] = value.to(device=p.device, copy=True)
