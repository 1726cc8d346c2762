"""A weighting of the sources of a dataset: which sources a rule kept and the weight of each."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from multisource.utils.validation import check_finite_array


@dataclass(frozen=True)
class Selection:
    """The outcome of a rule: ``kept`` (N,) bool mask and ``weights`` (N,) on the simplex.

    Hard filters put weight proportional to the source size on kept sources and 0 elsewhere
    (pooled ERM on the kept union); weighting rules (KL2019 eq. 6) may keep every source with
    non-uniform weights. ``info`` holds rule-specific diagnostics (e.g. the threshold used).
    """

    kept: np.ndarray
    weights: np.ndarray
    info: dict[str, Any]

    def __post_init__(self) -> None:
        kept = np.asarray(self.kept, dtype=bool)
        weights = np.asarray(self.weights, dtype=np.float64)
        if kept.ndim != 1 or weights.shape != kept.shape:
            raise ValueError(f"kept and weights must be (N,) arrays of one shape, got {kept.shape}, {weights.shape}")
        if np.any(weights < -1e-12) or not np.isclose(weights.sum(), 1.0, atol=1e-8):
            raise ValueError(f"weights must be non-negative and sum to 1, got {weights.tolist()}")
        object.__setattr__(self, "kept", kept)
        object.__setattr__(self, "weights", np.clip(weights, 0.0, None))

    @classmethod
    def from_mask(cls, kept: np.ndarray, sizes: np.ndarray, **info: object) -> Selection:
        """Hard selection: weights proportional to ``sizes`` (N positive counts) on the kept sources."""
        kept = np.asarray(kept)
        if kept.dtype != np.bool_ or kept.ndim != 1:
            raise TypeError(f"kept must be an (N,) boolean mask, got {kept.dtype} of shape {kept.shape}")
        if not kept.any():
            raise ValueError("kept must keep at least one source, got an all-False mask")
        counts = check_finite_array("sizes", sizes)
        if counts.shape != kept.shape or np.any(counts <= 0):
            raise ValueError(f"sizes must hold {kept.size} positive counts, one per source, got {counts.tolist()}")
        w = np.where(kept, counts, 0.0)
        return cls(kept=kept, weights=w / w.sum(), info=dict(info))
