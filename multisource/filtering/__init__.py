"""Filtering: rules mapping a discrepancy matrix to kept sources or weights; aggregation baselines."""

from multisource.filtering.registry import FILTERING_RULES, Selection

__all__ = ["FILTERING_RULES", "Selection"]
