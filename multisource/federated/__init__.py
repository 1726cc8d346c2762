"""Federated rounds: local training on every client (source), update attacks, robust server aggregation.

:func:`run_federated` runs a :class:`FederatedConfig` on a :class:`~multisource.data.MultiSourceDataset`
and returns a :class:`FederatedResult` with per-round metrics; see ``docs/federated.md``.
"""

from multisource.federated.config import NONFINITE_POLICIES, FederatedConfig
from multisource.federated.simulation import FederatedResult, MLPFactory, RoundMetrics, run_federated

__all__ = ["NONFINITE_POLICIES", "FederatedConfig", "FederatedResult", "MLPFactory", "RoundMetrics", "run_federated"]
