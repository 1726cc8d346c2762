"""``ExperimentSpec``: one TOML file naming the data, the adversary, the rules, the learner and the seeds of a grid.

Example (``experiments/quickstart.toml``)::

    name = "quickstart"
    seeds = [0, 1, 2, 3, 4]
    alphas = [0.0, 0.1, 0.2, 0.3, 0.4]
    rules = ["all_data", "clean_only", "quantile", {name = "trimmed_mean", params = {beta = 0.2}}]

    [data]
    dataset = "breast_cancer"
    n_sources = 10
    m = 40

    [learner]
    name = "logreg"

    [[attacks]]
    name = "label_flip"
    params = {p = 1.0}

An optional ``[adversary]`` table sets ``selection = "fixed" | "adaptive"`` (default fixed) or names
the bad sources itself, ``bad = [3, 4]`` (then every positive alpha must give ``floor(alpha N) = 2``).
Rules and attacks are a name or a table ``{name, params, label}``; the label (default: the name,
followed by the parameters when there are any) is what reports show and must be unique.
A rule's registered record says what it needs and completes its parameters from the grid point
(:class:`multisource.filtering.RuleContext`): the oracles (``clean_only``, ``single_trusted``)
receive the true bad mask; ``threshold = "theory"`` asks for the theory's ``s = 2 Delta_m``
(:func:`multisource.bounds.theory_threshold` with ``delta``, default 0.05, and the VC dimension
``vc_dimension``, default ``d + 1`` for linear classifiers in d dimensions); ``lam = "cv"`` of
``kl2019`` picks lambda by cross-validation of the learner on the reference source, with folds
drawn from the grid point's seed (KL2019 Algorithm 1). A rule given ``n_bad`` in its parameters guards
against that number of bad sources instead of ``floor(alpha N)`` (the runner then passes no alpha).

Your own data (``docs/your_data.md``): ``[data] path = "my.csv"`` (CSV, TSV or Parquet, relative
to the spec file) with ``target``, ``source`` and the options of
:func:`~multisource.data.tables.dataset_from_frame` (``test``, ``features``, ``standardize``,
``missing``, ``min_size``, ``small``, ``seed``) takes the sources from the file's source column; the
setting holds a hash of the file's content, so changed data never share rows with the old. A
spec without ``dataset`` or ``path`` gets its sources from Python:
``run_experiment(spec, store, data=dataset)``. ``split = "by_column"`` on a registered data set
with groups (``"contraception"``) takes the natural sources, and neither ``n_sources`` nor ``m``.

Everything is checked when the spec is built, before any work: names, keys, types, and (with the
data at hand) the parameters of every rule, attack, learner, discrepancy and split, by a dry call
on the clean sources of the first seed (:func:`multisource.runner.checks.check_on_data`).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import sys
from collections.abc import Set
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

if sys.version_info >= (3, 11):
    import tomllib
else:  # Python 3.10: the same parser as the tomli backport
    import tomli as tomllib  # type: ignore[import-not-found]

from multisource.data.dataset import MultiSourceDataset
from multisource.utils.validation import (
    ADVERSARY_SELECTIONS,
    check_alpha,
    check_bad_sources,
    check_bool,
    check_delta,
    check_int,
    check_real,
    n_bad_sources,
)

RULE_KINDS = ("filter", "baseline", "parameter_aggregator", "prediction_aggregator")

#: Keys of ``[data]`` that name a registered data set and how it is dealt into sources.
REGISTERED_DATA_KEYS = frozenset(
    {"dataset", "params", "n_sources", "m", "split", "split_params", "n_test", "standardize"}
)
#: Keys of ``[data]`` for a table file: the path and the options of ``dataset_from_frame``.
TABLE_KEYS = frozenset(
    {"path", "target", "source", "test", "features", "standardize", "missing", "min_size", "small", "seed"}
)


def canonical_json(value: object) -> str:
    """JSON with sorted keys and no whitespace: equal values give equal strings (and hashes)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


def short_hash(value: object) -> str:
    """16 hex digits of the SHA-256 of ``canonical_json(value)``."""
    return hashlib.sha256(canonical_json(value).encode()).hexdigest()[:16]


def file_hash(path: Path) -> str:
    """16 hex digits of the SHA-256 of a file's bytes."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()[:16]


def dataset_hash(data: MultiSourceDataset) -> str:
    """16 hex digits of the SHA-256 of a dataset's content: its arrays (dtype, shape, bytes), K and N."""
    digest = hashlib.sha256(canonical_json([data.n_classes, data.n_sources]).encode())
    for array in (data.X, data.y, data.source, data.X_test, data.y_test):
        array = np.ascontiguousarray(array)
        digest.update(f"{array.dtype.str}{array.shape}".encode())
        digest.update(array.tobytes())
    return digest.hexdigest()[:16]


def _check_keys(where: str, table: dict[str, Any], allowed: Set[str], required: Set[str] = frozenset()) -> None:
    unknown = set(table) - allowed
    if unknown:
        raise ValueError(f"{where}: unknown keys {sorted(unknown)}; valid keys: {sorted(allowed)}")
    missing = set(required) - set(table)
    if missing:
        raise ValueError(f"{where}: missing required keys {sorted(missing)}")


#: What an aggregator rule aggregates (``of``): the per-source models' parameters or their predicted
#: probabilities on the test inputs, with the rule kind and the prefix of its shorthand and label.
AGGREGATED = {"parameters": ("parameter_aggregator", "agg"), "proba": ("prediction_aggregator", "proba")}
_PREFIXES = {prefix: of for of, (_, prefix) in AGGREGATED.items()}
#: Rule names of the old ``filtering.aggregation`` module and what a spec writes for them now.
RENAMED_RULES = {
    "geometric_median": '"agg:geometric_median"',
    "coordinate_median": '"agg:coordinate_median"',
    "trimmed_mean": '{aggregator = "trimmed_mean"} (it trims n_bad = floor(alpha N) values; beta is gone)',
    "median_proba": '"proba:coordinate_median"',
}


@dataclass(frozen=True)
class Component:
    """A named, parametrised thing of a spec (an attack, rule, learner or discrepancy estimator).

    An aggregator rule also says what it aggregates, ``of`` (a key of :data:`AGGREGATED`; empty for
    everything else), and its chain of pre-aggregators ``pre`` (components of
    ``multisource.aggregation.PRE_AGGREGATORS``, applied in order).
    """

    name: str
    params: dict[str, Any] = field(default_factory=dict)
    label: str = ""
    of: str = ""
    pre: tuple[Component, ...] = ()

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise TypeError(f"a component name must be a non-empty string, got {self.name!r}")
        if not isinstance(self.params, dict):
            raise TypeError(f"params of {self.name!r} must be a table, got {type(self.params).__name__}")
        if self.of and self.of not in AGGREGATED:
            raise ValueError(f"of must be one of {sorted(AGGREGATED)}, got {self.of!r}")
        if self.pre and not self.of:
            raise ValueError(f"pre-aggregators belong to aggregator rules only, got pre for {self.name!r}")
        object.__setattr__(self, "pre", tuple(self.pre))
        if not self.label:
            args = ",".join(f"{k}={v}" for k, v in sorted(self.params.items()))
            label = f"{self.name}({args})" if args else self.name
            if self.of:
                label = f"{AGGREGATED[self.of][1]}:" + "+".join([*(p.label for p in self.pre), label])
            object.__setattr__(self, "label", label)

    @classmethod
    def parse(cls, where: str, entry: object) -> Component:
        """A component from a bare name or a ``{name, params, label}`` table."""
        if isinstance(entry, str):
            return cls(entry)
        if not isinstance(entry, dict):
            raise TypeError(f"{where} must be a name or a table {{name, params, label}}, got {entry!r}")
        _check_keys(where, entry, {"name", "params", "label"}, {"name"})
        return cls(entry["name"], dict(entry.get("params", {})), entry.get("label", ""))

    @classmethod
    def parse_rule(cls, where: str, entry: object) -> Component:
        """A rule: a filter (a name or ``{name, params, label}``) or an aggregator.

        An aggregator is the shorthand ``"agg:<pre>+...+<name>"`` (parameters) or ``"proba:..."``
        (predicted probabilities), or the table ``{aggregator, params, pre, of, label}`` with ``pre``
        a list of names or ``{name, params}`` tables and ``of = "parameters"`` (default) or ``"proba"``.
        """
        if isinstance(entry, str) and ":" in entry:
            prefix, _, chain = entry.partition(":")
            if prefix not in _PREFIXES or not chain:
                raise ValueError(f"{where} {entry!r}: an aggregator is written 'agg:<name>' or 'proba:<name>'")
            *pre, name = chain.split("+")
            return cls(name, of=_PREFIXES[prefix], pre=tuple(cls(p) for p in pre))
        if isinstance(entry, dict) and "aggregator" in entry:
            _check_keys(where, entry, {"aggregator", "params", "pre", "of", "label"}, {"aggregator"})
            pre = entry.get("pre", [])
            if not isinstance(pre, list):
                raise TypeError(f"{where} pre must be a list of pre-aggregators, got {pre!r}")
            return cls(
                entry["aggregator"],
                dict(_table(f"{where} params", entry.get("params", {}))),
                entry.get("label", ""),
                of=entry.get("of", "parameters"),
                pre=tuple(cls.parse(f"{where} pre[]", p) for p in pre),
            )
        return cls.parse(where, entry)

    def key(self) -> dict[str, Any]:
        """What identifies the component's results: name and parameters (not the display label).

        An aggregator's key also holds ``of`` and its pre-aggregators; other components' keys are unchanged.
        """
        if not self.of:
            return {"name": self.name, "params": self.params}
        return {"name": self.name, "params": self.params, "of": self.of, "pre": [p.key() for p in self.pre]}


def rule_kind(rule: Component) -> str:
    """Which family a rule belongs to (one of ``RULE_KINDS``); a clear error lists every valid name.

    A filtering rule's kind is its record's (``"filter"`` or ``"baseline"``); an aggregator's comes from
    what it aggregates (:data:`AGGREGATED`). Names of the old aggregation baselines get their new spelling.
    """
    from multisource.aggregation import AGGREGATORS, PRE_AGGREGATORS
    from multisource.filtering import FILTERING_RULES

    if rule.of:
        AGGREGATORS.get(rule.name)
        for pre in rule.pre:
            PRE_AGGREGATORS.get(pre.name)
        return AGGREGATED[rule.of][0]
    if rule.name in FILTERING_RULES:
        return FILTERING_RULES.get(rule.name).kind
    if rule.name in RENAMED_RULES:
        raise ValueError(
            f"rule {rule.name!r} is now an aggregator of multisource.aggregation: write {RENAMED_RULES[rule.name]}"
        )
    if rule.name in AGGREGATORS:
        raise ValueError(f"{rule.name!r} is an aggregator: write 'agg:{rule.name}' or {{aggregator = {rule.name!r}}}")
    raise ValueError(
        f"unknown rule {rule.name!r}; valid rules: {sorted(FILTERING_RULES.names())}, or an aggregator "
        f"'agg:<name>' / 'proba:<name>' with <name> in {sorted(AGGREGATORS.names())}"
    )


@dataclass(frozen=True)
class ExperimentSpec:
    """A grid of experiments: ``attacks x alphas x seeds`` grid points (alpha = 0 once), every rule at each.

    Attributes
    ----------
    name : experiment name used in reports.
    dataset, dataset_params : a name in ``multisource.data.DATASETS`` and its loader parameters; ``""``
        when the sources come from ``data`` (a table file or a dataset given in Python).
    n_sources, m : N sources of m samples each (``m`` may list one size per source); None when the
        data give the sources (``data``, or a natural split such as ``"by_column"``): ``n_sources``
        is then filled in from the data.
    split, split_params : a name in ``multisource.data.SPLITS`` and its parameters.
    n_test : clean test set size (int) or fraction of the data set.
    alphas : fractions of corrupted sources, each in [0, 1/2); ``floor(alpha N)`` sources are bad.
    attacks : attacks of ``multisource.corruption.ATTACKS`` (run for every alpha > 0).
    selection : how the adversary picks its sources, "fixed" or "adaptive".
    bad : the indices of the sources the adversary corrupts, chosen by the user (``[adversary] bad``);
        every positive alpha must then give ``floor(alpha N) = len(bad)``.
    rules : filtering rules, baselines and aggregators to compare.
    learner : a learner for ``multisource.learners.make_learner``.
    discrepancy : the ``multisource.discrepancy.pairwise`` estimator and its parameters.
    seeds : one grid point per seed (the seed fixes the split, the adversary and the learner).
    table : the ``[data]`` options of a table file (``path`` and ``dataset_from_frame``'s options).
    bounds : the ``[bounds]`` options of the certificates stored with every filter row (``delta``,
        ``vc_dimension`` or ``rademacher``; see :func:`multisource.runner.certificates.bound_columns`).
    data : clean sources used as they are at every seed (from ``table``'s file or from Python).
    data_hash : hash of the file's content (table) or of ``data``'s content; part of the setting.
    """

    name: str
    dataset: str
    n_sources: int | None
    m: int | tuple[int, ...] | None
    alphas: tuple[float, ...]
    attacks: tuple[Component, ...]
    rules: tuple[Component, ...]
    seeds: tuple[int, ...]
    learner: Component = field(default_factory=lambda: Component("logreg"))
    discrepancy: Component = field(default_factory=lambda: Component("linear"))
    dataset_params: dict[str, Any] = field(default_factory=dict)
    split: str = "iid"
    split_params: dict[str, Any] = field(default_factory=dict)
    n_test: int | float = 0.25
    standardize: bool = True
    selection: str = "fixed"
    bad: tuple[int, ...] | None = None
    table: dict[str, Any] = field(default_factory=dict)
    bounds: dict[str, Any] = field(default_factory=dict)
    data: MultiSourceDataset | None = field(default=None, compare=False, repr=False)
    data_hash: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise ValueError(f"name must be a non-empty string, got {self.name!r}")
        check_bool("standardize", self.standardize)
        if isinstance(self.n_test, float):
            check_real("n_test", self.n_test, low=0.0, high=1.0, low_open=True, high_open=True)
        else:
            check_int("n_test", self.n_test, minimum=1)
        for what in ("alphas", "attacks", "rules", "seeds"):
            value = tuple(getattr(self, what))
            if not value:
                raise ValueError(f"{what} must not be empty, got {list(value)}")
            object.__setattr__(self, what, value)
        object.__setattr__(self, "alphas", tuple(check_alpha(a, "alphas[]") for a in self.alphas))
        for seed in self.seeds:
            check_int("seeds[]", seed, minimum=0)
        if len(set(self.seeds)) != len(self.seeds):
            raise ValueError(f"seeds must be distinct, got {list(self.seeds)}")
        for what in ("attacks", "rules"):
            labels = [c.label for c in getattr(self, what)]
            if len(set(labels)) != len(labels):
                raise ValueError(f"{what} labels must be unique, got {labels}; give duplicates a 'label'")
        if self.selection not in ADVERSARY_SELECTIONS:
            raise ValueError(f"selection must be one of {ADVERSARY_SELECTIONS}, got {self.selection!r}")
        self._check_names()
        object.__setattr__(self, "bounds", check_bounds_options(self.bounds))
        self._check_sources()
        if self.has_data:
            from multisource.runner.checks import check_on_data, checked_clean_sources

            clean = checked_clean_sources(self)
            if self.n_sources is None:
                object.__setattr__(
                    self, "n_sources", check_int("n_sources (sources in the data)", clean.n_sources, minimum=2)
                )
            elif self.n_sources != clean.n_sources:
                raise ValueError(
                    f"[data] n_sources must be the {clean.n_sources} sources the data give, got {self.n_sources}"
                )
            self._check_alphas()
            self._check_adversary()
            check_on_data(self, clean)

    @property
    def has_data(self) -> bool:
        """Whether the spec names its data (a data set, a file or sources); if not, ``run_experiment(data=...)``."""
        return bool(self.dataset) or self.data is not None

    def _check_sources(self) -> None:
        """Sizes from the spec or the data; ``n_sources`` filled in when the data give the sources."""
        from multisource.data import SPLITS

        if self.data is not None:
            if not isinstance(self.data, MultiSourceDataset):
                raise TypeError(f"data must be a MultiSourceDataset, got {type(self.data).__name__}")
            if self.dataset or self.m is not None or self.n_sources not in (None, self.data.n_sources):
                raise ValueError("data gives the sources: leave dataset, n_sources and m unset")
            object.__setattr__(self, "n_sources", self.data.n_sources)
            object.__setattr__(self, "data_hash", self.data_hash or dataset_hash(self.data))
            return
        if not self.dataset:
            return
        if SPLITS.get(self.split).by_groups:
            if self.m is not None:
                raise ValueError(
                    f"split {self.split!r} takes the sources and their sizes from the data; leave [data] m unset"
                )
            return
        if self.m is None:
            raise ValueError("[data] m must be given: samples per source (an int >= 1 or a list of them)")
        if isinstance(self.m, list | tuple):
            object.__setattr__(self, "m", tuple(check_int("m[]", size, minimum=1) for size in self.m))
            if self.n_sources is None:
                object.__setattr__(self, "n_sources", len(self.m))
            if self.n_sources != len(self.m):
                raise ValueError(f"n_sources must equal len(m) = {len(self.m)}, got {self.n_sources}")
        elif self.m is not None:
            check_int("m", self.m, minimum=1)
        if self.n_sources is not None:
            check_int("n_sources", self.n_sources, minimum=2)
        else:
            raise ValueError("[data] n_sources must be given (N >= 2), or m as a list of sizes")

    def _check_alphas(self) -> None:
        """Distinct alphas in [0, 1/2), each with its own number of bad sources (reports are indexed by it)."""
        if self.n_sources is None:
            return
        if len(set(self.alphas)) != len(self.alphas):
            raise ValueError(f"alphas must be distinct, got {list(self.alphas)}")
        n_bad = [n_bad_sources(a, self.n_sources) for a in self.alphas]
        if any(a > 0 and count == 0 for a, count in zip(self.alphas, n_bad, strict=True)):
            raise ValueError(
                f"alphas {list(self.alphas)} include a positive alpha with floor(alpha N) = 0 bad sources "
                f"for N = {self.n_sources}; use alpha = 0 for the clean setting"
            )
        if len(set(n_bad)) != len(n_bad):
            raise ValueError(
                f"alphas {list(self.alphas)} give the same number of bad sources floor(alpha N) = {n_bad} "
                f"for N = {self.n_sources}; keep one alpha per number of bad sources"
            )

    def _check_adversary(self) -> None:
        """User-chosen bad sources fit N and have the size every positive alpha asks for."""
        if self.bad is None or self.n_sources is None:
            return
        object.__setattr__(self, "bad", check_bad_sources(self.bad, self.n_sources))
        if self.selection != "fixed":
            raise ValueError(f"selection must be 'fixed' when [adversary] bad is given, got {self.selection!r}")
        wrong = [a for a in self.alphas if a > 0 and n_bad_sources(a, self.n_sources) != len(self.bad)]
        if wrong:
            raise ValueError(
                f"alphas must give floor(alpha N) = {len(self.bad)} bad sources, the size of bad = {list(self.bad)}, "
                f"for N = {self.n_sources}; got {wrong}"
            )

    def _check_names(self) -> None:
        """Unknown data sets, splits, attacks, rules and learners fail here, before any work is done."""
        from multisource.corruption import ATTACKS, UPDATE_ATTACKS
        from multisource.data import DATASETS, SPLITS
        from multisource.discrepancy import DISCREPANCY_ESTIMATORS
        from multisource.learners import make_learner

        if self.dataset:
            DATASETS.get(self.dataset)
        SPLITS.get(self.split)
        DISCREPANCY_ESTIMATORS.get(self.discrepancy.name)
        for attack in self.attacks:
            if attack.name not in UPDATE_ATTACKS:
                ATTACKS.get(attack.name)
        for rule in self.rules:
            rule_kind(rule)
        if "pair_sample" in self.discrepancy.params:
            from multisource.filtering import FILTERING_RULES

            partial = sorted(r for r in FILTERING_RULES.names() if FILTERING_RULES.get(r).partial)
            refused = [r.label for r in self.rules if r.of or not FILTERING_RULES.get(r.name).partial]
            if refused:
                raise ValueError(
                    f"[discrepancy] pair_sample leaves pairs unevaluated, which only the rules {partial} accept; "
                    f"got rules {refused}"
                )
        make_learner(self.learner.name, **self.learner.params)

    def with_data(self, data: MultiSourceDataset) -> ExperimentSpec:
        """This spec on the clean sources ``data`` (from Python), checked on them; their hash enters the setting."""
        if self.has_data:
            raise ValueError(
                f"spec {self.name!r} names its data ([data] dataset or path); data= is for a spec without [data]"
            )
        return dataclasses.replace(self, data=data, n_sources=None, m=None, data_hash=None)

    # ---- TOML -------------------------------------------------------------------------------------
    @classmethod
    def from_toml(cls, path: str | Path) -> ExperimentSpec:
        """Read and validate a spec file; errors name the offending key. A ``[data] path`` is relative to the file."""
        path = Path(path)
        if not path.is_file():
            raise ValueError(f"spec file {str(path)!r} does not exist")
        try:
            with path.open("rb") as fh:
                table = tomllib.load(fh)
        except tomllib.TOMLDecodeError as err:
            raise ValueError(f"{path}: invalid TOML: {err}") from None
        table.setdefault("name", path.stem)
        return cls.from_dict(table, base=path.parent)

    @classmethod
    def from_dict(cls, table: dict[str, Any], base: str | Path | None = None) -> ExperimentSpec:
        """A spec from the table layout of the TOML file (see the module docstring).

        ``base`` is the folder a relative ``[data] path`` is read from (default: the working directory).
        """
        if table.get("mode", "oneshot") != "oneshot":  # mode = "federated": runner.federated_run.FederatedSpec
            raise ValueError(f"mode must be 'oneshot' for an ExperimentSpec, got {table['mode']!r}")
        table = {k: v for k, v in table.items() if k != "mode"}
        _check_keys(
            "spec",
            table,
            {"name", "seeds", "alphas", "rules", "attacks", "data", "learner", "discrepancy", "adversary", "bounds"},
            {"name", "seeds", "alphas", "rules", "attacks"},
        )
        for key in ("alphas", "seeds", "rules", "attacks"):
            if not isinstance(table[key], list):
                raise TypeError(f"{key} must be a list, got {table[key]!r}")
        adversary = _table("[adversary]", table.get("adversary", {}))
        _check_keys("[adversary]", adversary, {"selection", "bad"})
        return cls(
            name=table["name"],
            alphas=tuple(table["alphas"]),
            attacks=tuple(Component.parse("attacks[]", a) for a in table["attacks"]),
            selection=adversary.get("selection", "fixed"),
            bad=adversary.get("bad"),
            rules=tuple(Component.parse_rule("rules[]", r) for r in table["rules"]),
            learner=Component.parse("learner", table.get("learner", "logreg")),
            discrepancy=Component.parse("discrepancy", table.get("discrepancy", "linear")),
            seeds=tuple(table["seeds"]),
            bounds=_table("[bounds]", table.get("bounds", {})),
            **_data_fields(_table("[data]", table.get("data", {})), Path.cwd() if base is None else Path(base)),
        )

    # ---- identity ---------------------------------------------------------------------------------
    def setting(self) -> dict[str, Any]:
        """Everything that fixes a grid point's result apart from the grid axes (attack, alpha, seed, rule).

        ``bad``, the table options, the data's hash and ``[bounds]`` enter only when given, so the settings of specs
        without them keep their hashes. A table's ``path`` is left out: its content's hash stands for it.
        """
        extra: dict[str, Any] = {} if self.bad is None else {"bad": list(self.bad)}
        if self.table:
            extra["table"] = {k: v for k, v in self.table.items() if k != "path"}
        if self.data_hash is not None:
            extra["data_hash"] = self.data_hash
        if self.bounds:
            extra["bounds"] = self.bounds
        m = list(self.m) if isinstance(self.m, tuple) else self.m
        return {
            "dataset": self.dataset,
            "dataset_params": self.dataset_params,
            "n_sources": self.n_sources,
            "m": m,
            "split": self.split,
            "split_params": self.split_params,
            "n_test": self.n_test,
            "standardize": self.standardize,
            "selection": self.selection,
            "learner": self.learner.key(),
            "discrepancy": self.discrepancy.key(),
            **extra,
        }

    def setting_hash(self) -> str:
        """Hash of :meth:`setting`: specs that differ only in their grid axes share finished rows."""
        return short_hash(self.setting())

    def to_dict(self) -> dict[str, Any]:
        """The spec as plain data (stored next to the results)."""
        path = {"path": self.table["path"]} if "path" in self.table else {}
        return {
            "name": self.name,
            **self.setting(),
            **path,
            "alphas": list(self.alphas),
            "attacks": [asdict(a) for a in self.attacks],
            "rules": [asdict(r) for r in self.rules],
            "seeds": list(self.seeds),
        }


def check_bounds_options(options: dict[str, Any]) -> dict[str, Any]:
    """The ``[bounds]`` table: ``delta`` in (0, 1) and at most one of ``vc_dimension`` (int >= 1) and
    ``rademacher`` (a loss-class Rademacher value in [0, 1])."""
    _check_keys("[bounds]", options, {"delta", "vc_dimension", "rademacher"})
    if "vc_dimension" in options and "rademacher" in options:
        raise ValueError(
            f"[bounds] takes vc_dimension or rademacher, not both; got {options['vc_dimension']!r} and "
            f"{options['rademacher']!r}"
        )
    checked = dict(options)
    if "delta" in checked:
        checked["delta"] = check_delta(checked["delta"], "[bounds] delta")
    if "vc_dimension" in checked:
        checked["vc_dimension"] = check_int("[bounds] vc_dimension", checked["vc_dimension"], minimum=1)
    if "rademacher" in checked:
        checked["rademacher"] = check_real("[bounds] rademacher", checked["rademacher"], low=0.0, high=1.0)
    return checked


def _table(where: str, value: object) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise TypeError(f"{where} must be a table, got {value!r}")
    return dict(value)


def _data_fields(data: dict[str, Any], base: Path) -> dict[str, Any]:
    """The ``ExperimentSpec`` fields of a ``[data]`` table: a registered data set, a table file, or nothing."""
    if "path" in data:
        return _table_fields(data, base)
    if not data:
        return {"dataset": "", "n_sources": None, "m": None}
    _check_keys("[data]", data, REGISTERED_DATA_KEYS | {"path"}, {"dataset"})
    m = data.get("m")
    return {
        "dataset": data["dataset"],
        "dataset_params": _table("[data] params", data.get("params", {})),
        "n_sources": data.get("n_sources"),
        "m": tuple(m) if isinstance(m, list) else m,
        "split": data.get("split", "iid"),
        "split_params": _table("[data] split_params", data.get("split_params", {})),
        "n_test": data.get("n_test", 0.25),
        "standardize": check_bool("[data] standardize", data.get("standardize", True)),
    }


def _table_fields(data: dict[str, Any], base: Path) -> dict[str, Any]:
    """``[data] path = ...``: read the file once (``read_table``), hash its bytes, keep the options."""
    from multisource.data.tables import read_table

    _check_keys("[data] with path", data, TABLE_KEYS, {"path", "target", "source"})
    if not isinstance(data["path"], str) or not data["path"]:
        raise TypeError(f"[data] path must be a file name, got {data['path']!r}")
    path = (base / data["path"]).resolve()
    if not path.is_file():
        raise ValueError(f"[data] path {str(path)!r} is not a file")
    options = {k: v for k, v in data.items() if k != "path"}
    if "standardize" in options:
        check_bool("[data] standardize", options["standardize"])
    options.setdefault("seed", 0)
    check_int("[data] seed", options["seed"], minimum=0)
    try:
        sources = read_table(path, **options)
    except TypeError as err:
        raise TypeError(f"[data]: {err}") from None
    except ValueError as err:
        raise ValueError(f"[data]: {err}") from None
    return {
        "dataset": "",
        "n_sources": None,
        "m": None,
        "table": {"path": str(path), **options},
        "data": sources,
        "data_hash": file_hash(path),
    }
