"""Filtering: rules mapping a discrepancy matrix to kept sources or weights; aggregation baselines."""

from multisource.filtering.aggregation import (
    PARAMETER_AGGREGATORS,
    PREDICTION_AGGREGATORS,
    coordinate_median,
    geometric_median,
    median_proba,
    trimmed_mean,
)
from multisource.filtering.baselines import BASELINES, all_data, clean_only, single_trusted
from multisource.filtering.kl2019 import kl2019_weighting, kl2019_weights  # noqa: F401 (registers "kl2019")
from multisource.filtering.krum import krum_scores, multi_krum
from multisource.filtering.majority import derived_threshold, known_alpha, threshold_majority
from multisource.filtering.quantile import quantile
from multisource.filtering.registry import FILTERING_RULES, Selection

__all__ = [
    "BASELINES",
    "FILTERING_RULES",
    "PARAMETER_AGGREGATORS",
    "PREDICTION_AGGREGATORS",
    "Selection",
    "all_data",
    "clean_only",
    "coordinate_median",
    "derived_threshold",
    "geometric_median",
    "known_alpha",
    "krum_scores",
    "median_proba",
    "multi_krum",
    "quantile",
    "single_trusted",
    "threshold_majority",
    "trimmed_mean",
]
