"""Robust aggregators and pre-aggregators: (n, d) vectors -> one vector, numpy or torch on any device.

Every rule is registered in :data:`AGGREGATORS` or :data:`PRE_AGGREGATORS` with a record that
declares what it needs (``n_bad`` and its condition, a trusted reference, its options); callers use
:func:`aggregate`, :func:`pre_aggregate` and :func:`robust_aggregate`. See ``docs/aggregation.md``.
"""

from multisource.aggregation import coordinatewise, geometric, neighbours, pre, spectral  # noqa: F401 (register rules)
from multisource.aggregation.arrays import Vectors
from multisource.aggregation.coordinatewise import coordinate_median, meamed, mean, trimmed_mean
from multisource.aggregation.distances import squared_distances
from multisource.aggregation.geometric import centered_clipping, fltrust, geometric_median
from multisource.aggregation.models import (
    flatten_linear_model,
    flatten_parameters,
    unflatten_linear_model,
    unflatten_parameters,
)
from multisource.aggregation.neighbours import bulyan, krum, mda, monna, multi_krum
from multisource.aggregation.pre import arc, bucketing, nnm, static_clipping
from multisource.aggregation.registry import (
    AGGREGATORS,
    PRE_AGGREGATORS,
    AggregatorRecord,
    NBadCondition,
    aggregate,
    pre_aggregate,
    register,
    robust_aggregate,
)
from multisource.aggregation.spectral import caf, smea

__all__ = [
    "AGGREGATORS",
    "PRE_AGGREGATORS",
    "AggregatorRecord",
    "NBadCondition",
    "Vectors",
    "aggregate",
    "arc",
    "bucketing",
    "bulyan",
    "caf",
    "centered_clipping",
    "coordinate_median",
    "flatten_linear_model",
    "flatten_parameters",
    "fltrust",
    "geometric_median",
    "krum",
    "mda",
    "meamed",
    "mean",
    "monna",
    "multi_krum",
    "nnm",
    "pre_aggregate",
    "register",
    "robust_aggregate",
    "smea",
    "squared_distances",
    "static_clipping",
    "trimmed_mean",
    "unflatten_linear_model",
    "unflatten_parameters",
]
