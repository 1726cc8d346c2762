"""Spec mode ``"federated"``: a grid of federated simulations from one TOML file, rounds into the store.

Example (``experiments/federated_digits.toml``)::

    name = "federated_digits"
    mode = "federated"
    seeds = [0, 1, 2]

    [data]
    dataset = "digits"
    n_sources = 10          # one client per source
    m = 100

    [federated]
    rounds = 20
    local_steps = 5
    batch_size = 32
    optimizer = "sgd"       # or "adam", "mfac" (with optimizer_kwargs = {ngrads = 16, damp = 0.1})
    lr = 0.2
    sampling = 1.0
    n_bad = [0, 2, 4]
    aggregators = ["mean", {name = "trimmed_mean", pre = ["nnm"]}, "krum"]
    attacks = ["sign_flip", {name = "ipm", params = {epsilon = 0.5}}, {name = "label_flip", kind = "data"}]
    model = {hidden_sizes = [64]}

Every (aggregator, attack, n_bad, seed) is a cell; n_bad = 0 is one cell per aggregator (attack
"none"). An attack is an update attack (:data:`multisource.corruption.UPDATE_ATTACKS`) unless
``kind = "data"`` or its name is only a data attack (:data:`multisource.corruption.ATTACKS`). The
other keys of ``[federated]`` are the fields of :class:`multisource.federated.FederatedConfig`.

Each round's metrics go to the store's ``federated_rounds`` table as the round ends, and a
checkpoint after every round (next to the store, deleted when the cell is done) lets a killed run
resume a cell at its next round; finished cells (``federated_cells``) are skipped by a rerun. A
cell whose rule cannot hold (Krum with n_bad = 4 of 10) is recorded as skipped with the reason.
"""

from __future__ import annotations

import dataclasses
import json
import math
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from multisource.corruption import ATTACKS, UPDATE_ATTACKS
from multisource.data import make_multisource
from multisource.data.dataset import MultiSourceDataset
from multisource.federated import FederatedConfig, MLPFactory, RoundMetrics, run_federated
from multisource.runner.spec import short_hash
from multisource.runner.store import Store, utc_now
from multisource.utils.validation import check_bool, check_int

if sys.version_info >= (3, 11):
    import tomllib
else:  # Python 3.10
    import tomli as tomllib  # type: ignore[import-not-found]

SPEC_KEYS = frozenset({"name", "mode", "seeds", "data", "federated"})
DATA_KEYS = frozenset({"dataset", "n_sources", "m", "split", "split_params", "n_test", "standardize"})
GRID_KEYS = frozenset({"aggregators", "attacks", "n_bad", "model"})
CONFIG_KEYS = frozenset(f.name for f in dataclasses.fields(FederatedConfig)) - {
    "aggregator",
    "aggregator_params",
    "pre",
    "n_bad",
    "attack",
    "attack_params",
    "data_attack",
    "data_attack_params",
}


def _keys(where: str, table: object, allowed: frozenset[str], required: frozenset[str] = frozenset()) -> dict:
    if not isinstance(table, dict):
        raise TypeError(f"{where} must be a table, got {table!r}")
    unknown, missing = sorted(set(table) - allowed), sorted(required - set(table))
    if unknown:
        raise ValueError(f"{where} has unknown key(s) {unknown}; valid keys: {sorted(allowed)}")
    if missing:
        raise ValueError(f"{where} is missing the key(s) {missing}")
    return table


@dataclass(frozen=True)
class Entry:
    """An aggregator (with its pre-aggregators) or an attack (with its kind) of the grid, and its label."""

    name: str
    params: dict[str, Any]
    label: str
    pre: tuple[str, ...] = ()
    kind: str = ""  # attacks: "update" or "data"

    def key(self) -> list[Any]:
        return [self.name, self.params, list(self.pre), self.kind]


def _aggregator(entry: object) -> Entry:
    table: dict[str, Any] = (
        {"name": entry}
        if isinstance(entry, str)
        else _keys("aggregators[]", entry, frozenset({"name", "params", "pre", "label"}), frozenset({"name"}))
    )
    pre = tuple(table.get("pre", ()))
    label = table.get("label", "+".join([*pre, table["name"]]))
    return Entry(table["name"], dict(table.get("params", {})), label, pre=pre)


def _attack(entry: object) -> Entry:
    table: dict[str, Any] = (
        {"name": entry}
        if isinstance(entry, str)
        else _keys("attacks[]", entry, frozenset({"name", "params", "kind", "label"}), frozenset({"name"}))
    )
    name = table["name"]
    kind = table.get("kind", "update" if name in UPDATE_ATTACKS or name not in ATTACKS else "data")
    if kind not in ("update", "data"):
        raise ValueError(f"attacks[] kind must be 'update' or 'data', got {kind!r}")
    (UPDATE_ATTACKS if kind == "update" else ATTACKS).get(name)
    return Entry(name, dict(table.get("params", {})), table.get("label", name), kind=kind)


NO_ATTACK = Entry("none", {}, "none", kind="update")


@dataclass(frozen=True)
class FederatedCell:
    """One simulation of the grid."""

    aggregator: Entry
    attack: Entry
    n_bad: int
    seed: int
    config: FederatedConfig


@dataclass(frozen=True)
class FederatedSpec:
    """A federated grid read from TOML (see the module docstring); every cell's config is checked on build."""

    name: str
    seeds: tuple[int, ...]
    data: dict[str, Any]
    base: dict[str, Any]
    aggregators: tuple[Entry, ...]
    attacks: tuple[Entry, ...]
    n_bads: tuple[int, ...]
    model: dict[str, Any]

    @classmethod
    def from_toml(cls, path: str | Path) -> FederatedSpec:
        path = Path(path)
        if not path.is_file():
            raise ValueError(f"spec file {str(path)!r} does not exist")
        with path.open("rb") as fh:
            table = tomllib.load(fh)
        table.setdefault("name", path.stem)
        return cls.from_dict(table)

    @classmethod
    def from_dict(cls, table: dict[str, Any]) -> FederatedSpec:
        _keys("spec", table, SPEC_KEYS, frozenset({"name", "mode", "seeds", "data", "federated"}))
        if table["mode"] != "federated":
            raise ValueError(f"mode must be 'federated' for a federated spec, got {table['mode']!r}")
        data = _keys("[data]", table["data"], DATA_KEYS, frozenset({"dataset"}))
        fed = _keys("[federated]", table["federated"], CONFIG_KEYS | GRID_KEYS, frozenset({"aggregators", "n_bad"}))
        n_bads = fed["n_bad"] if isinstance(fed["n_bad"], list) else [fed["n_bad"]]
        model = _keys("[federated] model", fed.get("model", {}), frozenset({"hidden_sizes"}))
        spec = cls(
            name=str(table["name"]),
            seeds=tuple(check_int("seeds[]", s, minimum=0) for s in table["seeds"]),
            data=dict(data),
            base={k: v for k, v in fed.items() if k in CONFIG_KEYS},
            aggregators=tuple(_aggregator(a) for a in fed["aggregators"]),
            attacks=tuple(_attack(a) for a in fed.get("attacks", [])),
            n_bads=tuple(check_int("n_bad[]", n, minimum=0) for n in n_bads),
            model={"hidden_sizes": tuple(model.get("hidden_sizes", (64,)))},
        )
        if not spec.seeds:
            raise ValueError("seeds must hold at least one seed")
        if any(n > 0 for n in spec.n_bads) and not spec.attacks:
            raise ValueError("attacks must hold at least one attack when an n_bad is positive")
        spec.cells()  # builds (and so checks) every cell's FederatedConfig before any work
        return spec

    def setting(self) -> dict[str, Any]:
        """What fixes a cell's result apart from its grid axes."""
        return {"data": self.data, "federated": self.base, "model": {"hidden_sizes": list(self.model["hidden_sizes"])}}

    def cells(self) -> list[FederatedCell]:
        out = []
        for agg in self.aggregators:
            for n_bad in self.n_bads:
                for attack in (NO_ATTACK,) if n_bad == 0 else self.attacks:
                    for seed in self.seeds:
                        out.append(FederatedCell(agg, attack, n_bad, seed, self._config(agg, attack, n_bad)))
        return out

    def _config(self, agg: Entry, attack: Entry, n_bad: int) -> FederatedConfig:
        attack_fields: dict[str, Any] = {}
        if attack is not NO_ATTACK:
            prefix = "attack" if attack.kind == "update" else "data_attack"
            attack_fields = {prefix: attack.name, f"{prefix}_params": attack.params}
        return FederatedConfig(
            **self.base,
            aggregator=agg.name,
            aggregator_params=agg.params,
            pre=tuple((p, {}) for p in agg.pre),
            n_bad=n_bad,
            **attack_fields,
        )

    def cell_key(self, cell: FederatedCell) -> str:
        return short_hash([short_hash(self.setting()), cell.aggregator.key(), cell.attack.key(), cell.n_bad, cell.seed])


@dataclass(frozen=True)
class FederatedSummary:
    """What one call did: cells run, cells already finished, cells whose rule cannot hold, rounds written."""

    cells_run: int
    cells_finished_before: int
    cells_not_applicable: int
    rounds_written: int


def _round_row(metrics: RoundMetrics) -> dict[str, Any]:
    info = {k: getattr(metrics, k) for k in ("clients", "byzantine", "removed", "distances", "skipped")}
    train_loss = None if math.isnan(metrics.train_loss) else metrics.train_loss
    return {
        "round": metrics.round,
        "test_accuracy": metrics.test_accuracy,
        "test_loss": metrics.test_loss,
        "train_loss": train_loss,
        "info": json.dumps(info, allow_nan=True),
    }


def _dataset(spec: FederatedSpec, seed: int, cache: dict[int, MultiSourceDataset]) -> MultiSourceDataset:
    if seed not in cache:
        options = {k: v for k, v in spec.data.items() if k != "dataset"}
        cache[seed] = make_multisource(spec.data["dataset"], seed=seed, **options)
    return cache[seed]


def run_federated_spec(
    spec: FederatedSpec, store: Store, *, checkpoints: str | Path | None = None, progress: bool = True
) -> FederatedSummary:
    """Run every unfinished cell of ``spec`` in this process; each round's row is written as it ends.

    ``checkpoints`` is the folder of the per-cell checkpoints (default: ``<store>.federated/``).
    """
    progress = check_bool("progress", progress)
    folder = Path(checkpoints) if checkpoints is not None else store.path.with_suffix(".federated")
    folder.mkdir(parents=True, exist_ok=True)
    finished = {c["key"] for c in store.federated_cells()}
    cells = spec.cells()
    todo = [c for c in cells if spec.cell_key(c) not in finished]
    cache: dict[int, MultiSourceDataset] = {}
    setting = json.dumps(spec.setting(), sort_keys=True)
    run = skipped = rounds = 0
    for cell in tqdm(todo, desc=f"{spec.name} (federated)", disable=not progress):
        key, start = spec.cell_key(cell), time.perf_counter()
        labels = {
            "key": key,
            "experiment": spec.name,
            "setting": setting,
            "rule": cell.aggregator.label,
            "attack": cell.attack.label,
            "n_bad": cell.n_bad,
            "seed": cell.seed,
            "rounds": cell.config.rounds,
        }

        def write(metrics: RoundMetrics, key: str = key) -> None:
            store.add_federated_round(key, _round_row(metrics))

        path = folder / f"{key}.pt"
        try:
            result = run_federated(
                _dataset(spec, cell.seed, cache),
                MLPFactory(spec.model["hidden_sizes"]),
                cell.config,
                cell.seed,
                checkpoint=path,
                callback=write,
            )
        except ValueError as err:  # raised before any work: the rule's condition on (n, n_bad), n_bad >= N
            status: dict[str, Any] = {"status": "skipped", "reason": str(err), "final_accuracy": None}
            skipped += 1
        else:
            status = {"status": "ok", "reason": None, "final_accuracy": result.final_accuracy}
            run += 1
            rounds += cell.config.rounds
        store.finish_federated_cell(
            {**labels, **status, "seconds": time.perf_counter() - start, "finished_at": utc_now()}
        )
        path.unlink(missing_ok=True)
    return FederatedSummary(run, len(cells) - len(todo), skipped, rounds)


def spec_is_federated(path: str | Path) -> bool:
    """Whether the TOML file at ``path`` says ``mode = "federated"`` (False for an unreadable file: the
    one-shot reader reports its error)."""
    try:
        with Path(path).open("rb") as fh:
            return tomllib.load(fh).get("mode") == "federated"
    except (OSError, tomllib.TOMLDecodeError):
        return False
