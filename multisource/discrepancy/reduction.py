"""Multiclass to binary: the one-vs-rest indicator problems on which every estimator works.

For K = 2 the single problem is the label itself (predicting class 0 is the complement of
predicting class 1, so a symmetric class gives the same discrepancy for either). For K > 2 the
problems are the K indicators ``1{y = k}`` and the reported discrepancy is the maximum over k of
the binary 0-1 discrepancy of the class ``{x -> 1{h(x) > 0}}`` on the label ``1{y = k}`` (see
:func:`multisource.discrepancy.pairwise`).
"""

from __future__ import annotations

import numpy as np


def one_vs_rest_targets(y: np.ndarray, n_classes: int) -> np.ndarray:
    """(n, K') float64 binary targets: K' = 1 column ``y`` for two classes, else K indicator columns."""
    y = np.asarray(y, dtype=np.int64)
    if n_classes == 2:
        return y[:, None].astype(np.float64)
    return (y[:, None] == np.arange(n_classes)).astype(np.float64)
