"""Filtering: rules mapping a discrepancy matrix to kept sources or weights.

Every rule is a :class:`FilteringRule` record in ``FILTERING_RULES`` (see :mod:`multisource.filtering.registry`).
"""

from multisource.data.selection import Selection
from multisource.filtering.baselines import all_data, clean_only, single_trusted
from multisource.filtering.flea_quantile import quantile
from multisource.filtering.kl2019 import central_source, kl2019_weighting
from multisource.filtering.krum import krum_scores, multi_krum
from multisource.filtering.majority import derived_threshold, known_alpha, threshold_majority
from multisource.filtering.registry import FILTERING_RULES, RULE_KINDS, FilteringRule, RuleContext, RuleRegistry

__all__ = [
    "FILTERING_RULES",
    "RULE_KINDS",
    "FilteringRule",
    "RuleContext",
    "RuleRegistry",
    "Selection",
    "all_data",
    "central_source",
    "clean_only",
    "derived_threshold",
    "kl2019_weighting",
    "known_alpha",
    "krum_scores",
    "multi_krum",
    "quantile",
    "single_trusted",
    "threshold_majority",
]
