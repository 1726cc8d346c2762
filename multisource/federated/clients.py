"""Local training of many clients at once: one vmapped forward/backward over the stacked client models.

Every client has its own parameter tensors, one parameter group of one torch optimizer (any name in
:data:`multisource.optim.OPTIMIZERS`; M-FAC keeps one gradient window per group, so per client). A
local step stacks the drawn clients' parameters, runs ``torch.func.functional_call`` under
``torch.vmap`` on their mini-batches, and back-propagates the sum of the clients' mean losses:
client c's parameters receive exactly the gradient of client c's loss, as the clients share no
parameter. Then one optimizer step updates every drawn client; the others have no gradient, which
torch optimizers (and M-FAC) skip, so their state is untouched. No loop runs over samples or clients.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch.func import functional_call

from multisource.optim import make_optimizer


@dataclass(frozen=True)
class ClientData:
    """The clients' training data padded into one tensor: client c's samples are ``X[c, :sizes[c]]``."""

    X: torch.Tensor  # (N, m_max, d)
    y: torch.Tensor  # (N, m_max) int64
    sizes: np.ndarray  # (N,)

    @classmethod
    def from_arrays(
        cls,
        X: np.ndarray,
        y: np.ndarray,
        source: np.ndarray,
        n_clients: int,
        *,
        device: torch.device,
        dtype: torch.dtype,
    ) -> ClientData:
        """Pad the rows of each source (a client) to the largest source's size."""
        sizes = np.bincount(source, minlength=n_clients)
        if np.any(sizes == 0):
            raise ValueError(
                f"every client needs training data; clients {np.flatnonzero(sizes == 0).tolist()} have none"
            )
        order = np.argsort(source, kind="stable")
        slot = np.arange(len(source)) - np.repeat(np.cumsum(sizes) - sizes, sizes)  # position within its client
        Xp = np.zeros((n_clients, sizes.max(), X.shape[1]))
        yp = np.zeros((n_clients, sizes.max()), dtype=np.int64)
        Xp[source[order], slot], yp[source[order], slot] = X[order], y[order]
        return cls(
            torch.as_tensor(Xp, dtype=dtype, device=device), torch.as_tensor(yp, device=device), sizes.astype(np.int64)
        )

    def batch_indices(self, clients: np.ndarray, steps: int, batch_size: int, rng: np.random.Generator) -> np.ndarray:
        """(C, steps, B) sample indices: each client walks through fresh permutations of its own samples."""
        out = np.empty((len(clients), steps * batch_size), dtype=np.int64)
        for row, c in enumerate(clients):
            m = int(self.sizes[c])
            epochs = -(-(steps * batch_size) // m)
            out[row] = np.concatenate([rng.permutation(m) for _ in range(epochs)])[: steps * batch_size]
        return out.reshape(len(clients), steps, batch_size)


class ClientModels:
    """The N client models (parameters in ``module.parameters()`` order) and their optimizer.

    ``module`` is the architecture; its own parameters are only a template (``functional_call``
    replaces them). Optimizer states live across rounds and travel in :meth:`state_dict`.
    """

    def __init__(
        self,
        module: torch.nn.Module,
        n_clients: int,
        *,
        optimizer: str,
        lr: float,
        weight_decay: float,
        optimizer_kwargs: Mapping[str, Any],
    ) -> None:
        self.module = module
        self.names = [name for name, _ in module.named_parameters()]
        template = [p.detach() for p in module.parameters()]
        self.params = [[p.clone().requires_grad_(True) for p in template] for _ in range(n_clients)]
        groups: list[Any] = [{"params": params} for params in self.params]  # one param group per client
        self.optimizer = make_optimizer(optimizer, groups, lr=lr, weight_decay=weight_decay, **dict(optimizer_kwargs))

    def _load_global(self, clients: np.ndarray, theta: torch.Tensor) -> None:
        sizes = [p.numel() for p in self.params[0]]
        with torch.no_grad():  # copied in, not viewed: the clients must not write into theta
            for c in clients:
                for p, part in zip(self.params[c], torch.split(theta, sizes), strict=True):
                    p.copy_(part.view_as(p))

    def _stacked(self, clients: np.ndarray) -> dict[str, torch.Tensor]:
        return {name: torch.stack([self.params[c][k] for c in clients]) for k, name in enumerate(self.names)}

    def _client_losses(self, stacked: dict[str, torch.Tensor], X: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """(C,) mean cross-entropy of each client's model on its own (B, d) batch."""

        def logits(params: dict[str, torch.Tensor], x: torch.Tensor) -> torch.Tensor:
            return functional_call(self.module, params, (x,))

        out = torch.vmap(logits)(stacked, X).float()
        losses = torch.nn.functional.cross_entropy(out.flatten(0, 1), y.flatten(), reduction="none")
        return losses.view(y.shape).mean(dim=1)

    def train(
        self, clients: np.ndarray, theta: torch.Tensor, data: ClientData, batches: np.ndarray
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Local training of ``clients`` from the global parameters ``theta``.

        Returns the (C, D) updates (local minus global parameters, flattened) and each client's
        mean training loss over its local steps.
        """
        self._load_global(clients, theta)
        rows = torch.as_tensor(clients, device=data.X.device)[:, None]
        idx = torch.as_tensor(batches, device=data.X.device)
        total = torch.zeros(len(clients), device=data.X.device)
        for t in range(idx.shape[1]):
            X, y = data.X[rows, idx[:, t]], data.y[rows, idx[:, t]]
            self.optimizer.zero_grad(set_to_none=True)
            losses = self._client_losses(self._stacked(clients), X, y)
            losses.sum().backward()
            self.optimizer.step()
            total += losses.detach()
        with torch.no_grad():
            local = torch.stack([torch.nn.utils.parameters_to_vector(self.params[c]) for c in clients])
        return local - theta, total / idx.shape[1]

    def state_dict(self) -> dict[str, Any]:
        """The clients' optimizer states (the parameters are reset to the global model each round)."""
        return self.optimizer.state_dict()

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore the optimizer states saved by :meth:`state_dict`."""
        self.optimizer.load_state_dict(state)


def evaluate(module: torch.nn.Module, theta: torch.Tensor, X: torch.Tensor, y: torch.Tensor) -> tuple[float, float]:
    """(accuracy, mean cross-entropy) of the model with flat parameters ``theta`` on (X, y)."""
    names = [name for name, _ in module.named_parameters()]
    shapes = [p.shape for p in module.parameters()]
    parts = torch.split(theta, [int(np.prod(s)) for s in shapes])
    params = {name: part.view(shape) for name, part, shape in zip(names, parts, shapes, strict=True)}
    with torch.no_grad():
        logits = functional_call(module, params, (X,)).float()
        loss = torch.nn.functional.cross_entropy(logits, y)
        accuracy = (logits.argmax(dim=1) == y).float().mean()
    return float(accuracy), float(loss)
