"""Discrepancy: empirical 0-1 H-discrepancy between sources (exact for stumps, label-flip ERM for linear and MLP H)."""

from multisource.discrepancy.estimators import DISCREPANCY_ESTIMATORS, pairwise
from multisource.discrepancy.linear import linear_pairwise_matrix, sklearn_discrepancy
from multisource.discrepancy.logistic import fit_weighted_logistic
from multisource.discrepancy.mlp import mlp_pairwise_matrix
from multisource.discrepancy.stumps import stump_discrepancy

__all__ = [
    "DISCREPANCY_ESTIMATORS",
    "fit_weighted_logistic",
    "linear_pairwise_matrix",
    "mlp_pairwise_matrix",
    "pairwise",
    "sklearn_discrepancy",
    "stump_discrepancy",
]
