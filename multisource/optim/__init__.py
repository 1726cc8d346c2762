"""M-FAC (Frantar, Kurtic & Alistarh 2021): inverse empirical-Fisher products and the optimizer.

- :class:`StaticInverseFisher` / :func:`inverse_fisher_product`: fixed gradients, full or blocked (pruning);
- :class:`DynamicInverseFisher`: a sliding window of gradients (optimization);
- :class:`MFAC`: the ``torch.optim.Optimizer``;
- :data:`OPTIMIZERS` / :func:`make_optimizer`: optimizers by name ("mfac", "adam", "adamw", "sgd").
"""

from multisource.optim.dynamic_fisher import DynamicInverseFisher, cholesky_rank_one_update
from multisource.optim.mfac import MFAC
from multisource.optim.registry import OPTIMIZERS, make_optimizer
from multisource.optim.static_fisher import StaticInverseFisher, inverse_fisher_product

__all__ = [
    "MFAC",
    "OPTIMIZERS",
    "DynamicInverseFisher",
    "StaticInverseFisher",
    "cholesky_rank_one_update",
    "inverse_fisher_product",
    "make_optimizer",
]
