"""Federated rounds with Byzantine clients: :func:`run_federated` (``docs/federated.md``).

Each source of a :class:`~multisource.data.MultiSourceDataset` is a client. A round draws clients,
trains the honest ones locally (batched, :mod:`multisource.federated.clients`), lets the Byzantine
ones send attacked updates (omniscient attacks see the round's honest updates) or train on their
corrupted data, aggregates at the server (:mod:`multisource.federated.server`) and evaluates the
global model on the clean test set. Everything random comes from one numpy generator seeded by
``seed`` (and the model's initialisation from a torch seed drawn from it), so a run is deterministic
on the CPU; with ``checkpoint=`` the state after every round is saved and a rerun resumes from it,
giving the same result as an uninterrupted run.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from multisource.aggregation import flatten_parameters, robust_aggregate
from multisource.corruption import Adversary, attack_updates
from multisource.data import MultiSourceDataset
from multisource.federated.clients import ClientData, ClientModels, evaluate
from multisource.federated.config import FederatedConfig
from multisource.federated.server import aggregate_round
from multisource.learners.torch_classifier import build_mlp
from multisource.utils.device import resolve_device
from multisource.utils.validation import SeedLike, check_bool, check_int, check_random_state

ModelFactory = Callable[[int, int], torch.nn.Module]
"""``factory(n_features, n_classes) -> module`` mapping (B, n_features) rows to (B, n_classes) logits."""


@dataclass(frozen=True)
class MLPFactory:
    """The MLP of :class:`~multisource.learners.TorchClassifier` (``build_mlp``) with these hidden widths."""

    hidden_sizes: tuple[int, ...] = (64,)

    def __call__(self, n_features: int, n_classes: int) -> torch.nn.Module:
        return build_mlp(
            n_features, [check_int("hidden_sizes entry", w, minimum=1) for w in self.hidden_sizes], n_classes
        )


@dataclass(frozen=True)
class RoundMetrics:
    """What one round did; round 0 is the initial model (no clients).

    ``train_loss`` is the mean local training loss of the round's honest clients (NaN without any);
    ``distances`` holds ``|u_i - aggregate|`` per client of ``clients`` (see
    :class:`~multisource.federated.server.ServerStep`); ``removed`` the clients whose non-finite
    update was dropped; ``skipped`` marks a round with nothing to aggregate (the model is unchanged).
    """

    round: int
    test_accuracy: float
    test_loss: float
    train_loss: float
    clients: tuple[int, ...] = ()
    byzantine: tuple[int, ...] = ()
    removed: tuple[int, ...] = ()
    distances: tuple[float, ...] = ()
    skipped: bool = False


@dataclass(frozen=True)
class FederatedResult:
    """Per-round metrics of a run, the true Byzantine mask (N,) and the final flat parameters."""

    config: FederatedConfig
    rounds: tuple[RoundMetrics, ...]
    bad: np.ndarray
    params: torch.Tensor

    @property
    def final_accuracy(self) -> float:
        """Test accuracy after the last round."""
        return self.rounds[-1].test_accuracy

    @property
    def accuracy_curve(self) -> np.ndarray:
        """(T + 1,) test accuracy after each round, round 0 first."""
        return np.array([r.test_accuracy for r in self.rounds])

    def rounds_to_accuracy(self, target: float) -> int | None:
        """The first round whose test accuracy reaches ``target``; None if no round does."""
        hits = np.flatnonzero(self.accuracy_curve >= target)
        return int(hits[0]) if hits.size else None

    def rows(self) -> list[dict[str, Any]]:
        """One plain dict per round (for a table or the store)."""
        return [asdict(r) for r in self.rounds]


def _check_rule_fits(config: FederatedConfig, n_round: int, n_bad: int) -> None:
    """Refuse, before any work, a rule whose condition fails for a full round of n_round clients."""
    probe = np.random.default_rng(0).normal(size=(n_round, 2))
    reference = np.ones(2) if config.needs_reference else None
    robust_aggregate(
        config.aggregator,
        probe,
        n_bad=min(n_bad, n_round),
        reference=reference,
        params=config.aggregator_params,
        pre=config.pre,
    )


@dataclass
class _State:
    """What changes from round to round, and what a checkpoint holds."""

    theta: torch.Tensor
    rng: np.random.Generator
    rounds: list[RoundMetrics]
    previous: torch.Tensor | None = None  # the last aggregate, centered clipping's centre (server.py)


class _Simulation:
    """The fixed parts of a run (data, clients, who is bad) and one round's step."""

    def __init__(
        self, dataset: MultiSourceDataset, factory: ModelFactory, config: FederatedConfig, rng: np.random.Generator
    ) -> None:
        self.config, self.n_clients = config, dataset.n_sources
        self.device, dtype = resolve_device(config.device), torch.float32
        self.bad = np.sort(rng.choice(self.n_clients, size=config.n_bad, replace=False))
        train = dataset
        if config.data_attack is not None and config.n_bad > 0:
            adversary = Adversary(
                config.n_bad / self.n_clients,
                config.data_attack,
                bad=self.bad.tolist(),
                params=dict(config.data_attack_params),
                seed=int(rng.integers(2**63 - 1)),
            )
            train = adversary.corrupt(dataset).dataset
        X, y, source = train.X, train.y, train.source
        if config.needs_reference:  # the server's clean root set is one more (last) client slot
            root = rng.choice(len(dataset.X), size=min(config.root_size, len(dataset.X)), replace=False)
            X, y = np.concatenate([X, dataset.X[root]]), np.concatenate([y, dataset.y[root]])
            source = np.concatenate([source, np.full(len(root), self.n_clients)])
        n_slots = self.n_clients + int(config.needs_reference)
        self.data = ClientData.from_arrays(X, y, source, n_slots, device=self.device, dtype=dtype)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(int(rng.integers(2**63 - 1)))
            self.module = factory(dataset.n_features, dataset.n_classes).to(device=self.device, dtype=dtype)
        self.models = ClientModels(
            self.module,
            n_slots,
            optimizer=config.optimizer,
            lr=config.lr,
            weight_decay=config.weight_decay,
            optimizer_kwargs=config.optimizer_kwargs,
        )
        self.X_test = torch.tensor(dataset.X_test, dtype=dtype, device=self.device)
        self.y_test = torch.tensor(dataset.y_test, device=self.device)

    def evaluate(self, round_: int, theta: torch.Tensor, train_loss: float = float("nan"), **info: Any) -> RoundMetrics:
        accuracy, loss = evaluate(self.module, theta, self.X_test, self.y_test)
        return RoundMetrics(round_, accuracy, loss, train_loss, **info)

    def _trained(self, clients: np.ndarray) -> np.ndarray:
        """The clients that train this round: the honest ones, and data-attacked Byzantine ones too."""
        if self.config.attack is None:
            return clients
        return clients[~np.isin(clients, self.bad)]

    def round(self, round_: int, state: _State) -> RoundMetrics:
        """Run round ``round_`` on ``state`` (updated in place) and return its metrics."""
        config, rng = self.config, state.rng
        clients = np.sort(rng.choice(self.n_clients, size=config.clients_per_round(self.n_clients), replace=False))
        byzantine = clients[np.isin(clients, self.bad)]
        honest = clients[~np.isin(clients, self.bad)]
        info: dict[str, Any] = {"clients": tuple(clients.tolist()), "byzantine": tuple(byzantine.tolist())}
        if honest.size == 0:  # nothing honest to train or to attack: the round is recorded as skipped
            return self.evaluate(round_, state.theta, skipped=True, **info)
        trained = self._trained(clients)
        slots = np.append(trained, self.n_clients) if config.needs_reference else trained
        batches = self.data.batch_indices(slots, config.local_steps, config.batch_size, rng)
        updates, losses = self.models.train(slots, state.theta, self.data, batches)
        reference = updates[-1] if config.needs_reference else None
        by_client = dict(zip(trained.tolist(), updates[: len(trained)], strict=True))
        if config.attack is not None and byzantine.size:
            honest_updates = torch.stack([by_client[c] for c in honest.tolist()])
            sent = attack_updates(config.attack, honest_updates, byzantine.size, seed=rng, **config.attack_params)
            by_client.update(zip(byzantine.tolist(), sent, strict=True))
        sent_updates = torch.stack([by_client[c] for c in clients.tolist()])
        step = aggregate_round(sent_updates, clients, byzantine.size, config, rng, reference, state.previous)
        state.theta = state.theta + config.server_lr * step.update
        if not step.skipped:
            state.previous = step.update
        honest_loss = losses[: len(trained)][np.isin(trained, honest)]
        info.update(removed=step.removed, distances=tuple(step.distances.tolist()), skipped=step.skipped)
        return self.evaluate(round_, state.theta, float(honest_loss.mean()), **info)


def _save(path: Path, sim: _Simulation, state: _State) -> None:
    """Write the checkpoint atomically (a killed write leaves the previous one intact)."""
    payload = {
        "config": sim.config.as_dict(),
        "n_clients": sim.n_clients,
        "theta": state.theta.cpu(),
        "clients": sim.models.state_dict(),
        "rng": state.rng.bit_generator.state,
        "rounds": [asdict(r) for r in state.rounds],
        "previous": None if state.previous is None else state.previous.cpu(),
    }
    tmp = path.with_name(path.name + ".tmp")
    torch.save(payload, tmp)
    os.replace(tmp, path)


def _load(path: Path, sim: _Simulation, state: _State) -> None:
    payload = torch.load(path, map_location=sim.device, weights_only=False)
    if payload["config"] != sim.config.as_dict() or payload["n_clients"] != sim.n_clients:
        raise ValueError(f"checkpoint {str(path)!r} belongs to another configuration or data set; remove it to restart")
    state.theta = payload["theta"].to(sim.device)
    sim.models.load_state_dict(payload["clients"])
    state.rng.bit_generator.state = payload["rng"]
    state.rounds = [RoundMetrics(**r) for r in payload["rounds"]]
    previous = payload.get("previous")
    state.previous = None if previous is None else previous.to(sim.device)


def run_federated(
    dataset: MultiSourceDataset,
    model_factory: ModelFactory | None = None,
    config: FederatedConfig | None = None,
    seed: SeedLike = None,
    *,
    checkpoint: str | os.PathLike[str] | None = None,
    callback: Callable[[RoundMetrics], None] | None = None,
    progress: bool = False,
) -> FederatedResult:
    """Simulate ``config.rounds`` federated rounds on the sources of ``dataset`` (one client each).

    Parameters
    ----------
    dataset : the clients' data (source i is client i) and the clean test set.
    model_factory : ``factory(n_features, n_classes) -> torch.nn.Module``; default
        :class:`MLPFactory` ``(64,)``, the MLP of ``TorchClassifier``. The module must be a pure
        function of its parameters (no batch-norm statistics), as ``torch.func`` requires.
    config : :class:`FederatedConfig` (default settings when None).
    seed : int, numpy Generator or None.
    checkpoint : a file path; the state after each round is saved there, and a run that finds the
        file resumes from it (the configuration must match).
    callback : called with each round's :class:`RoundMetrics` before it is checkpointed (e.g. to store
        rows): a round whose callback raised is computed again on resume.
    progress : show a tqdm bar over rounds.

    Returns
    -------
    :class:`FederatedResult` with rounds 0..T.

    Raises
    ------
    ValueError : before any work, when n_bad >= N, or the aggregator's condition on (n, n_bad)
        fails for a round's clients (e.g. Krum needs n > 2 n_bad + 2).
    """
    if not isinstance(dataset, MultiSourceDataset):
        raise TypeError(f"dataset must be a MultiSourceDataset, got {type(dataset).__name__}")
    config = FederatedConfig() if config is None else config
    if not isinstance(config, FederatedConfig):
        raise TypeError(f"config must be a FederatedConfig, got {type(config).__name__}")
    if config.n_bad >= dataset.n_sources:
        raise ValueError(f"n_bad must be < N = {dataset.n_sources} clients, got {config.n_bad}")
    _check_rule_fits(config, config.clients_per_round(dataset.n_sources), config.n_bad)
    rng = check_random_state(seed)
    progress = check_bool("progress", progress)
    sim = _Simulation(dataset, MLPFactory() if model_factory is None else model_factory, config, rng)
    state = _State(flatten_parameters(sim.module), rng, [])
    path = None if checkpoint is None else Path(checkpoint)
    if path is not None and path.exists():
        _load(path, sim, state)
    if not state.rounds:
        state.rounds.append(sim.evaluate(0, state.theta))
    bar = tqdm(
        range(len(state.rounds), config.rounds + 1), desc=f"federated[{config.aggregator}]", disable=not progress
    )
    for t in bar:
        metrics = sim.round(t, state)
        state.rounds.append(metrics)
        if callback is not None:  # before the checkpoint: a saved round has had its callback (store row)
            callback(metrics)
        if path is not None:
            _save(path, sim, state)
        bar.set_postfix(acc=metrics.test_accuracy)
    return FederatedResult(config, tuple(state.rounds), np.isin(np.arange(sim.n_clients), sim.bad), state.theta)
