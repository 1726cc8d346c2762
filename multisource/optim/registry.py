"""Optimizers by name, so learners and specs can say ``optimizer="mfac"``."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import torch

from multisource.optim.mfac import MFAC
from multisource.utils.registry import Registry
from multisource.utils.validation import check_real

OptimizerFactory = Callable[..., torch.optim.Optimizer]

OPTIMIZERS: Registry[OptimizerFactory] = Registry("optimizer")
OPTIMIZERS.register("mfac")(MFAC)
OPTIMIZERS.register("adam")(torch.optim.Adam)
OPTIMIZERS.register("adamw")(torch.optim.AdamW)
OPTIMIZERS.register("sgd")(torch.optim.SGD)


def make_optimizer(
    name: str, params: Iterable[torch.Tensor], *, lr: float, weight_decay: float = 0.0, **kwargs: Any
) -> torch.optim.Optimizer:
    """``OPTIMIZERS.get(name)(params, lr=lr, weight_decay=weight_decay, **kwargs)``.

    Examples
    --------
    >>> opt = make_optimizer("mfac", torch.nn.Linear(3, 2).parameters(), lr=1e-2, ngrads=16)
    >>> type(opt).__name__
    'MFAC'
    """
    factory = OPTIMIZERS.get(name)
    # torch's own optimizers let lr=nan and lr=inf through (they only test lr < 0)
    lr = check_real("lr", lr, low=0.0)
    weight_decay = check_real("weight_decay", weight_decay, low=0.0)
    return factory(params, lr=lr, weight_decay=weight_decay, **kwargs)
