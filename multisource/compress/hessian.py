"""The layer-wise Hessian ``H = 2 X X^T / n`` of the reconstruction loss ``||W X - W' X||^2``."""

from __future__ import annotations

import torch

from multisource.utils.validation import check_int


class HessianAccumulator:
    """Running ``H = (2 / n) * sum_t x_t x_t^T`` over the n calibration tokens seen so far.

    ``add_batch`` takes inputs of any shape ``(..., columns)`` (batch x sequence x features or
    tokens x features); every leading index is one token. The running update
    ``H <- H * n / (n + b) + (2 / (n + b)) X_b^T X_b`` keeps H a mean, so its scale does not grow
    with the amount of calibration data (the official code counts sequences instead of tokens;
    the factor is irrelevant because damping is relative to mean(diag H)).

    Parameters
    ----------
    columns : int
        Input features of the layer (columns of W).
    dtype : torch.dtype
        Accumulation dtype, float32 (default, fast) or float64.
    device : torch.device or str, optional
        Where H lives; defaults to the device of the first batch.
    """

    def __init__(
        self, columns: int, *, dtype: torch.dtype = torch.float32, device: torch.device | str | None = None
    ) -> None:
        self.columns = check_int("columns", columns, minimum=1)
        if dtype not in (torch.float32, torch.float64):
            raise ValueError(f"dtype must be torch.float32 or torch.float64, got {dtype}")
        self.dtype = dtype
        self.device = device
        self.H: torch.Tensor | None = None
        self.nsamples = 0

    def add_batch(self, inp: torch.Tensor) -> None:
        """Fold the tokens of ``inp`` (shape ``(..., columns)``) into H."""
        if inp.shape[-1] != self.columns:
            raise ValueError(f"input has {inp.shape[-1]} features, expected {self.columns}")
        X = inp.detach().reshape(-1, self.columns).to(self.dtype)
        b = X.shape[0]
        if b == 0:
            return
        if self.H is None:
            device = X.device if self.device is None else torch.device(self.device)
            self.H = torch.zeros(self.columns, self.columns, dtype=self.dtype, device=device)
        X = X.to(self.H.device)
        n = self.nsamples
        self.H.addmm_(X.T, X, beta=n / (n + b), alpha=2.0 / (n + b))
        self.nsamples = n + b

    def hessian(self) -> torch.Tensor:
        """The accumulated H (columns x columns); an error if no data was added."""
        if self.H is None:
            raise ValueError("no calibration inputs were added; call add_batch first")
        return self.H
