"""A learner that fails on purpose at one seed, for the failure tests.

Specs name it by dotted path (``learner = {name = "faulty_learners.SeedFailingClassifier"}``); the
module must be importable where the grid points run (it is on ``sys.path`` under pytest, and given
to subprocesses through ``PYTHONPATH``).
"""

from __future__ import annotations

import os

import numpy as np
from sklearn.linear_model import LogisticRegression


class SeedFailingClassifier(LogisticRegression):
    """``LogisticRegression`` whose ``fit`` raises (``mode="raise"``) or kills its process (``mode="exit"``)
    when ``random_state == fail_seed``; the runner seeds learners with the grid point's seed."""

    def __init__(
        self, *, fail_seed: int = 1, mode: str = "raise", random_state: int | None = None, max_iter: int = 1000
    ) -> None:
        super().__init__(random_state=random_state, max_iter=max_iter)
        self.fail_seed = fail_seed
        self.mode = mode

    def fit(self, X: np.ndarray, y: np.ndarray, sample_weight: np.ndarray | None = None) -> SeedFailingClassifier:
        if self.random_state == self.fail_seed:
            if self.mode == "exit":
                os._exit(3)
            raise RuntimeError(f"injected failure at seed {self.random_state}")
        return super().fit(X, y, sample_weight=sample_weight)
