"""The theory's certificate stored beside each filter row: the fixed- and adaptive-set bounds of its setting.

A filter row of a grid point with N sources of sizes ``sizes``, a fraction ``alpha`` of them bad,
stores (``docs/bounds.md``, "The bounds"; :func:`~multisource.bounds.fixed_set_bound` and
:func:`~multisource.bounds.adaptive_set_bound`)

* ``bound_fixed``: the excess-risk bound of filter + pooled ERM against a fixed-set adversary,
* ``bound_adaptive``: the same against an adaptive-set adversary,
* ``bound_inputs``: JSON of what they were computed from: N, ``m = min(sizes)`` (the bounds fall
  with m, so the smallest source keeps them valid for all), alpha, delta and the complexity used
  (its description, e.g. ``"VC dimension d=31 (Massart + Sauer)"``).

Both bounds hold with probability ``>= 1 - delta`` for ``R(h_hat) - min_h R(h)`` over the learner's
class, so a row's measured test error minus the best error in the class is what they certify.

The spec's ``[bounds]`` table chooses ``delta`` (default 0.05) and the complexity: ``vc_dimension``
(VC plug-in, :class:`~multisource.bounds.VCComplexity`) or ``rademacher`` (a loss-class Rademacher
value, :class:`~multisource.bounds.RademacherValue`, e.g. a Monte-Carlo estimate halved). Without
either, a linear learner gets the VC dimension ``d + 1`` of linear classifiers with an intercept in
d dimensions (the default of ``threshold = "theory"``); other learners get no bound (NULL columns,
and ``bound_inputs`` says why), since no default complexity is right for them.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.linear_model._base import LinearClassifierMixin

from multisource.bounds import RademacherValue, VCComplexity, adaptive_set_bound, fixed_set_bound
from multisource.bounds.complexity import Complexity

DEFAULT_DELTA = 0.05
BOUND_COLUMNS = ("bound_fixed", "bound_adaptive", "bound_inputs")


def bound_complexity(options: dict[str, Any], n_features: int, learner: BaseEstimator) -> Complexity | None:
    """The complexity measure of ``[bounds]``, else VC ``d + 1`` for a linear learner, else None."""
    if "rademacher" in options:
        return RademacherValue(options["rademacher"])
    if "vc_dimension" in options:
        return VCComplexity(options["vc_dimension"])
    if isinstance(learner, LinearClassifierMixin):
        return VCComplexity(n_features + 1)
    return None


def bound_columns(
    options: dict[str, Any], *, sizes: np.ndarray, alpha: float, n_features: int, learner: BaseEstimator
) -> dict[str, Any]:
    """The three store columns of a filter row (see the module docstring)."""
    n_sources, m = len(sizes), int(np.min(sizes))
    delta = float(options.get("delta", DEFAULT_DELTA))
    measure = bound_complexity(options, n_features, learner)
    inputs: dict[str, Any] = {"N": n_sources, "m": m, "alpha": alpha, "delta": delta}
    if measure is None:
        inputs["complexity"] = None
        inputs["reason"] = (
            f"no default complexity for {type(learner).__name__}: set [bounds] vc_dimension or rademacher"
        )
        return {"bound_fixed": None, "bound_adaptive": None, "bound_inputs": json.dumps(inputs, sort_keys=True)}
    inputs["complexity"] = str(measure)
    return {
        "bound_fixed": fixed_set_bound(n_sources, m, alpha, delta, measure).total,
        "bound_adaptive": adaptive_set_bound(n_sources, m, alpha, delta, measure).total,
        "bound_inputs": json.dumps(inputs, sort_keys=True),
    }


def no_bound() -> dict[str, Any]:
    """The bound columns of a row that is not a filter's (baselines, aggregators): NULL."""
    return dict.fromkeys(BOUND_COLUMNS)
