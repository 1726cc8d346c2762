"""The server's side of a round: non-finite updates, pre-aggregation, aggregation, and who was down-weighted."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from multisource.aggregation import AGGREGATORS, PRE_AGGREGATORS, robust_aggregate
from multisource.aggregation.arrays import nonfinite_rows
from multisource.federated.config import FederatedConfig


@dataclass(frozen=True)
class ServerStep:
    """One round's aggregation.

    Attributes
    ----------
    update : (D,) the aggregated update (zeros when the round is skipped).
    removed : client ids whose update held NaN/inf and was dropped (``nonfinite="drop"``).
    distances : (C,) ``|u_i - aggregate|`` of every client of the round, in the order given (NaN for a
        removed one). A rule that selects (Krum) gives 0 to the selected client; rules that average
        a kept set leave the excluded ones far: this is how down-weighting is read for every rule.
    skipped : True when no update was left to aggregate.
    """

    update: torch.Tensor
    removed: tuple[int, ...]
    distances: np.ndarray
    skipped: bool = False


def _pre_chain(config: FederatedConfig, rng: np.random.Generator) -> list[tuple[str, dict]]:
    """The pre-aggregator chain with a round seed for the random ones (bucketing) unless one is given."""
    chain = []
    for name, params in config.pre:
        params = dict(params)
        if "seed" in PRE_AGGREGATORS.get(name).options and "seed" not in params:
            params["seed"] = int(rng.integers(2**63 - 1))
        chain.append((name, params))
    return chain


def _aggregator_params(config: FederatedConfig, previous: torch.Tensor | None) -> dict:
    """The aggregator's options, with the previous round's aggregate as ``center`` for a rule that takes one.

    Centered clipping clips around the server's last aggregate, its momentum (Karimireddy, He, Jaggi,
    ICML 2021, Algorithm 2); a ``center`` given in ``aggregator_params`` wins, and the first round
    (no previous aggregate) uses the rule's default.
    """
    params = dict(config.aggregator_params)
    if previous is not None and "center" in AGGREGATORS.get(config.aggregator).options:
        params.setdefault("center", previous)
    return params


def aggregate_round(
    updates: torch.Tensor,
    clients: np.ndarray,
    n_bad: int,
    config: FederatedConfig,
    rng: np.random.Generator,
    reference: torch.Tensor | None = None,
    previous: torch.Tensor | None = None,
) -> ServerStep:
    """Aggregate the (C, D) updates of ``clients`` (ids) with the config's rule, for n_bad Byzantine among them.

    With ``nonfinite="drop"`` rows holding NaN/inf are removed first and each removal is counted
    against n_bad (the server cannot tell a Byzantine client from a diverged honest one, so it
    assumes the former; the rule's condition on (n, n_bad) then holds whenever it held before).
    ``previous`` is the last round's aggregate (None in the first round): a rule with a ``center``
    option (centered clipping) starts from it, see :func:`_aggregator_params`.
    """
    bad_rows = nonfinite_rows(updates) if config.nonfinite == "drop" else []
    keep = np.setdiff1d(np.arange(len(clients)), bad_rows)
    removed = tuple(int(clients[i]) for i in bad_rows)
    distances = np.full(len(clients), np.nan)
    if len(keep) == 0:
        return ServerStep(torch.zeros_like(updates[0]), removed, distances, skipped=True)
    kept = updates[torch.as_tensor(keep, device=updates.device)]
    aggregate = robust_aggregate(
        config.aggregator,
        kept,
        n_bad=max(0, n_bad - len(bad_rows)),
        reference=reference,
        params=_aggregator_params(config, previous),
        pre=_pre_chain(config, rng),
    )
    assert isinstance(aggregate, torch.Tensor)  # a tensor in, a tensor out (aggregation.arrays)
    distances[keep] = torch.linalg.vector_norm(kept - aggregate, dim=1).double().cpu().numpy()
    return ServerStep(aggregate, removed, distances)
