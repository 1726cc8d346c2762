"""Device resolution for torch code: ``device="auto"`` picks CUDA when present."""

from __future__ import annotations

import torch


def resolve_device(device: str | torch.device | None = "auto") -> torch.device:
    """``"auto"``/None -> ``cuda`` when available else ``cpu``; ``"cpu"``, ``"cuda"``, ``"cuda:N"`` -> ``torch.device``.

    Any other device (a misspelling, ``"tpu"``, a non-string) is refused here with the valid values,
    not later by torch.
    """
    if device is None or device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        resolved = torch.device(device) if isinstance(device, str | torch.device) else None
    except RuntimeError:
        resolved = None
    if resolved is None or resolved.type not in ("cpu", "cuda"):
        raise ValueError(f"device must be 'auto', 'cpu', 'cuda' or 'cuda:N', got {device!r}")
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device={device!r} was requested but CUDA is not available; use 'cpu' or 'auto'")
    if resolved.type == "cuda" and (resolved.index or 0) >= torch.cuda.device_count():
        raise ValueError(f"device must be cuda:N with N in [0, {torch.cuda.device_count()}), got {device!r}")
    return resolved
