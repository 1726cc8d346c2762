"""The settings of one federated simulation, checked once when built (``docs/federated.md``)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from multisource.aggregation import AGGREGATORS, PRE_AGGREGATORS
from multisource.corruption import ATTACKS, UPDATE_ATTACKS
from multisource.optim import OPTIMIZERS
from multisource.utils.validation import check_int, check_real

NONFINITE_POLICIES = ("drop", "raise")
"""What the server does with an update holding NaN/inf: remove it before aggregating (and record the
client as removed), or let the aggregator's own NaN policy apply (most rules raise)."""


def _check_params(name: str, value: object) -> dict[str, Any]:
    if not isinstance(value, Mapping):
        raise TypeError(f"{name} must be a mapping of option names to values, got {type(value).__name__}")
    return dict(value)


def _check_pre(pre: object) -> tuple[tuple[str, dict[str, Any]], ...]:
    """A chain of pre-aggregators as ``((name, params), ...)``; a bare name means no options."""
    if isinstance(pre, str) or not isinstance(pre, list | tuple):
        raise TypeError(f"pre must be a list of pre-aggregator names or (name, params) pairs, got {pre!r}")
    chain = []
    for step in pre:
        name, params = (step, {}) if isinstance(step, str) else tuple(step)
        record = PRE_AGGREGATORS.get(name)
        params = _check_params(f"pre[{name!r}] params", params)
        record.call_kwargs(n_bad=0, reference=None, params=params)  # unknown options are refused here
        chain.append((name, params))
    return tuple(chain)


@dataclass(frozen=True)
class FederatedConfig:
    """Rounds of local training on every client and robust aggregation of their updates at the server.

    Each round a fraction ``sampling`` of the N clients (one per source) is drawn; each drawn honest
    client starts from the global model and takes ``local_steps`` mini-batch steps of ``optimizer``
    on its own data; its update is its model minus the global one. The server aggregates the updates
    with ``pre`` then ``aggregator`` and moves the global model by ``server_lr`` times the aggregate.

    Attributes
    ----------
    rounds : number of communication rounds T >= 1.
    local_steps : optimizer steps per client per round (one epoch is about m_i / batch_size steps).
    batch_size : mini-batch size; batches walk through a fresh permutation of the client's data each
        epoch (a client with fewer samples than a batch repeats them).
    optimizer : a name in :data:`multisource.optim.OPTIMIZERS` ("sgd", "adam", "mfac", ...). Each
        client keeps its own optimizer state (Adam moments, the M-FAC gradient window) across rounds.
    lr, weight_decay, optimizer_kwargs : the local optimizer's arguments (e.g. ``{"ngrads": 16}`` for M-FAC).
    sampling : fraction of clients drawn per round, in (0, 1]; ``max(1, round(sampling N))`` clients.
    aggregator, aggregator_params : a name in :data:`multisource.aggregation.AGGREGATORS` and its options.
    pre : pre-aggregators applied in order, ``(name, params)`` pairs or names (e.g. ``("nnm",)``).
    server_lr : the server's step on the aggregated update, > 0.
    n_bad : number of Byzantine clients f, fixed for the run and drawn by the seed.
    attack, attack_params : an update attack (:data:`multisource.corruption.UPDATE_ATTACKS`) the
        Byzantine clients send instead of training; omniscient ones see the round's honest updates.
    data_attack, data_attack_params : a data attack (:data:`multisource.corruption.ATTACKS`, e.g.
        "label_flip"): the Byzantine clients train honestly on their corrupted data. At most one of
        ``attack`` and ``data_attack`` is set, and one is needed when n_bad > 0.
    nonfinite : "drop" (default) or "raise", see :data:`NONFINITE_POLICIES`.
    root_size : samples of the server's clean root set, used only by aggregators that need a trusted
        reference (FLTrust, Cao et al. NDSS 2021: the server's own update on its root data).
    device : "auto", "cpu", "cuda", ...
    """

    rounds: int = 30
    local_steps: int = 5
    batch_size: int = 32
    optimizer: str = "sgd"
    lr: float = 0.05
    weight_decay: float = 0.0
    optimizer_kwargs: Mapping[str, Any] = field(default_factory=dict)
    sampling: float = 1.0
    aggregator: str = "mean"
    aggregator_params: Mapping[str, Any] = field(default_factory=dict)
    pre: tuple[tuple[str, Mapping[str, Any]], ...] = ()
    server_lr: float = 1.0
    n_bad: int = 0
    attack: str | None = None
    attack_params: Mapping[str, Any] = field(default_factory=dict)
    data_attack: str | None = None
    data_attack_params: Mapping[str, Any] = field(default_factory=dict)
    nonfinite: str = "drop"
    root_size: int = 100
    device: str = "auto"

    def __post_init__(self) -> None:
        check_int("rounds", self.rounds, minimum=1)
        check_int("local_steps", self.local_steps, minimum=1)
        check_int("batch_size", self.batch_size, minimum=1)
        OPTIMIZERS.get(self.optimizer)
        check_real("lr", self.lr, low=0.0, low_open=True)
        check_real("weight_decay", self.weight_decay, low=0.0)
        check_real("sampling", self.sampling, low=0.0, high=1.0, low_open=True)
        check_real("server_lr", self.server_lr, low=0.0, low_open=True)
        check_int("n_bad", self.n_bad, minimum=0)
        check_int("root_size", self.root_size, minimum=1)
        record = AGGREGATORS.get(self.aggregator)
        object.__setattr__(self, "optimizer_kwargs", _check_params("optimizer_kwargs", self.optimizer_kwargs))
        object.__setattr__(self, "aggregator_params", _check_params("aggregator_params", self.aggregator_params))
        record.call_kwargs(n_bad=0, reference=None if not record.needs_reference else 0, params=self.aggregator_params)
        object.__setattr__(self, "pre", _check_pre(self.pre))
        if self.nonfinite not in NONFINITE_POLICIES:
            raise ValueError(f"nonfinite must be one of {NONFINITE_POLICIES}, got {self.nonfinite!r}")
        self._check_attacks()

    def _check_attacks(self) -> None:
        if self.attack is not None and self.data_attack is not None:
            raise ValueError(f"set attack or data_attack, not both; got {self.attack!r} and {self.data_attack!r}")
        if self.n_bad > 0 and self.attack is None and self.data_attack is None:
            raise ValueError(f"n_bad = {self.n_bad} Byzantine clients need an attack or a data_attack")
        object.__setattr__(self, "attack_params", _check_params("attack_params", self.attack_params))
        object.__setattr__(self, "data_attack_params", _check_params("data_attack_params", self.data_attack_params))
        if self.attack is not None:
            UPDATE_ATTACKS.get(self.attack).resolve(self.attack_params)
        elif self.attack_params:
            raise ValueError(f"attack_params {dict(self.attack_params)} given without an attack")
        if self.data_attack is not None:
            ATTACKS.get(self.data_attack)
        elif self.data_attack_params:
            raise ValueError(f"data_attack_params {dict(self.data_attack_params)} given without a data_attack")

    def clients_per_round(self, n_clients: int) -> int:
        """``max(1, round(sampling N))`` clients drawn each round."""
        return max(1, math.floor(self.sampling * n_clients + 0.5))

    @property
    def needs_reference(self) -> bool:
        """Whether the aggregator needs the server's trusted update (FLTrust)."""
        return AGGREGATORS.get(self.aggregator).needs_reference

    def as_dict(self) -> dict[str, Any]:
        """Plain values (for a checkpoint's identity check and the store)."""
        return {
            name: ([[p, dict(q)] for p, q in self.pre] if name == "pre" else dict(v) if isinstance(v, Mapping) else v)
            for name, v in ((f, getattr(self, f)) for f in self.__dataclass_fields__)
        }
