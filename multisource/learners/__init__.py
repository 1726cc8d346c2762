"""Learners: scikit-learn compatible estimators (sklearn models by name, torch MLPs with Adam/SGD/M-FAC)."""

from multisource.learners.registry import LEARNERS

__all__ = ["LEARNERS"]
