"""Any model as one vector: flatten/unflatten the parameters of a torch module or a linear sklearn model.

Parameter aggregation of N per-source models is ``unflatten(model, aggregate(stack of flatten(m_i)))``.
"""

from __future__ import annotations

import numpy as np
import torch
from torch.nn.utils import parameters_to_vector, vector_to_parameters


def flatten_parameters(module: torch.nn.Module) -> torch.Tensor:
    """All parameters of ``module``, in ``module.parameters()`` order, as one detached 1-D tensor."""
    if not isinstance(module, torch.nn.Module):
        raise TypeError(f"module must be a torch.nn.Module, got {type(module).__name__}")
    params = list(module.parameters())
    if not params:
        raise ValueError(f"{type(module).__name__} has no parameters to flatten")
    return parameters_to_vector(params).detach().clone()


def unflatten_parameters(module: torch.nn.Module, vector: torch.Tensor | np.ndarray) -> torch.nn.Module:
    """Write ``vector`` (as from :func:`flatten_parameters`) into the parameters of ``module``, in place.

    The vector is moved to each parameter's device and dtype; its length must equal the number of
    parameters. Returns ``module``.
    """
    size = int(flatten_parameters(module).numel())
    v = torch.as_tensor(vector).detach()
    if v.ndim != 1 or v.numel() != size:
        raise ValueError(f"vector must be 1-D with {size} entries (the module's parameters), got {tuple(v.shape)}")
    param = next(module.parameters())
    with torch.no_grad():
        vector_to_parameters(v.to(device=param.device, dtype=param.dtype), module.parameters())
    return module


def _fitted_linear(estimator: object) -> tuple[np.ndarray, np.ndarray]:
    coef = getattr(estimator, "coef_", None)
    if coef is None:
        raise ValueError(f"{type(estimator).__name__} is not a fitted linear model: it has no coef_")
    return np.asarray(coef, dtype=np.float64), np.asarray(getattr(estimator, "intercept_", 0.0), dtype=np.float64)


def flatten_linear_model(estimator: object) -> np.ndarray:
    """A fitted scikit-learn linear model's ``coef_`` then ``intercept_``, as one float64 vector."""
    coef, intercept = _fitted_linear(estimator)
    return np.concatenate([coef.ravel(), intercept.ravel()])


def unflatten_linear_model(estimator: object, vector: np.ndarray) -> object:
    """Set a fitted linear model's ``coef_`` and ``intercept_`` from ``vector`` (as from :func:`flatten_linear_model`).

    Shapes are kept (a scalar ``intercept_`` stays a scalar). Returns ``estimator``.
    """
    coef, intercept = _fitted_linear(estimator)
    v = np.asarray(vector, dtype=np.float64)
    if v.ndim != 1 or v.size != coef.size + intercept.size:
        raise ValueError(
            f"vector must be 1-D with {coef.size + intercept.size} entries (coef_ then intercept_), got {v.shape}"
        )
    estimator.coef_ = v[: coef.size].reshape(coef.shape).copy()  # type: ignore[attr-defined]
    new_intercept = v[coef.size :].reshape(intercept.shape)
    estimator.intercept_ = float(new_intercept) if intercept.ndim == 0 else new_intercept.copy()  # type: ignore[attr-defined]
    return estimator
