"""Registry of learners: factories ``(**params) -> scikit-learn compatible estimator``."""

from __future__ import annotations

from multisource.utils.registry import Registry

LEARNERS: Registry = Registry("learner")
