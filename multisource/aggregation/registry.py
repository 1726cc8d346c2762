"""The registries of aggregators and pre-aggregators, and the records that say what each rule needs.

Every rule has one call shape::

    aggregator(vectors, *, n_bad=..., <its keyword-only options>) -> one vector
    pre_aggregator(vectors, *, n_bad=..., <its options>) -> (n', d) vectors

and is registered with a record that declares whether it uses ``n_bad``, its condition on
(n, n_bad), whether it needs a trusted reference vector, and its option names, so a caller (the
runner, a notebook) never inspects the function: it reads the record and calls :func:`aggregate`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from multisource.aggregation.arrays import Vectors, as_matrix
from multisource.utils.registry import Registry
from multisource.utils.validation import check_int


@dataclass(frozen=True)
class NBadCondition:
    """A rule's requirement on the number of inputs n and of Byzantine inputs n_bad.

    ``max_n_bad(n)`` is the largest n_bad the rule tolerates among n inputs; ``text`` states the
    condition as the paper does (e.g. ``"n > 2 n_bad + 2"``, Blanchard et al. 2017).
    """

    text: str
    max_n_bad: Callable[[int], int]
    min_n: int = 1

    def check(self, rule: str, n: int, n_bad: object) -> int:
        """``n_bad`` as an int if the condition holds for these n inputs; a ValueError otherwise."""
        n_bad = check_int("n_bad", n_bad, minimum=0)
        largest = self.max_n_bad(n)
        if n < self.min_n or largest < 0:
            raise ValueError(f"{rule} needs {self.text}, i.e. at least {self.min_n} inputs; got n = {n}")
        if n_bad > largest:
            raise ValueError(f"{rule} needs {self.text}: n_bad must be in [0, {largest}] for n = {n}, got {n_bad}")
        return n_bad


MAJORITY = NBadCondition("n > 2 n_bad", lambda n: (n - 1) // 2)
"""An honest majority: trimmed mean, MeaMed, MDA, MoNNA, CAF, SMEA (Yin et al. 2018; Allouah et al. 2023)."""

KRUM = NBadCondition("n > 2 n_bad + 2", lambda n: (n - 3) // 2, min_n=3)
"""Krum and Multi-Krum (Blanchard et al., NeurIPS 2017, Proposition 1)."""

BULYAN = NBadCondition("n >= 4 n_bad + 3", lambda n: (n - 3) // 4, min_n=3)
"""Bulyan (El Mhamdi, Guerraoui, Rouault, ICML 2018, Algorithm 1)."""

FEWER_THAN_N = NBadCondition("n > n_bad", lambda n: n - 1)
"""Nearest-neighbour mixing: each vector keeps n - n_bad >= 1 neighbours (Allouah et al., AISTATS 2023)."""

AT_MOST_N = NBadCondition("n >= n_bad", lambda n: n)
"""Adaptive robust clipping (Allouah et al. 2024, Algorithm 1)."""


def check_subset_budget(rule: str, n: int, n_bad: int, max_subsets: int) -> None:
    """Refuse exhaustive searches over the C(n, n_bad) subsets of size n - n_bad beyond ``max_subsets``."""
    max_subsets = check_int("max_subsets", max_subsets, minimum=1)
    count = math.comb(n, n_bad)
    if count > max_subsets:
        raise ValueError(
            f"{rule} searches all C(n, n_bad) = C({n}, {n_bad}) = {count} subsets, more than "
            f"max_subsets = {max_subsets}; lower n_bad or raise max_subsets"
        )


@dataclass(frozen=True)
class AggregatorRecord:
    """What an aggregator (or pre-aggregator) needs, declared once at registration.

    Attributes
    ----------
    name : registry name.
    function : the rule, ``function(vectors, *, [n_bad,] [reference,] **options)``.
    condition : its condition on (n, n_bad), or None when it does not use n_bad.
    options : names of its keyword-only options (besides ``n_bad`` and ``reference``).
    needs_reference : whether it takes a trusted ``reference`` vector (FLTrust).
    nan_policy : ``"reject"`` (ValueError naming the rows) or ``"tolerant"`` (documented per rule).
    paper : the paper the rule comes from.
    rows_out : for a pre-aggregator, the number of rows it returns from n inputs and its call's
        keyword arguments; None when it returns n rows.
    """

    name: str
    function: Callable[..., Vectors]
    condition: NBadCondition | None
    options: tuple[str, ...]
    needs_reference: bool = False
    nan_policy: str = "reject"
    paper: str = ""
    rows_out: Callable[[int, Mapping[str, Any]], int] | None = None

    @property
    def uses_n_bad(self) -> bool:
        """Whether the rule takes the number of Byzantine inputs."""
        return self.condition is not None

    def call_kwargs(self, *, n_bad: int | None, reference: object, params: Mapping[str, Any] | None) -> dict:
        """The keyword arguments of one call, from a spec's ``params``; unknown options are a ValueError."""
        params = dict(params or {})
        unknown = sorted(set(params) - set(self.options))
        if unknown:
            raise ValueError(f"{self.name} has no option(s) {unknown}; valid options: {list(self.options)}")
        if self.uses_n_bad:
            if n_bad is None:
                raise ValueError(f"{self.name} needs n_bad, the number of Byzantine inputs")
            params["n_bad"] = n_bad
        if self.needs_reference:
            if reference is None:
                raise ValueError(f"{self.name} needs a trusted reference vector (reference=...)")
            params["reference"] = reference
        elif reference is not None:
            raise ValueError(f"{self.name} takes no reference vector")
        return params


AGGREGATORS: Registry[AggregatorRecord] = Registry("aggregator")
PRE_AGGREGATORS: Registry[AggregatorRecord] = Registry("pre-aggregator")


def register(
    registry: Registry[AggregatorRecord],
    name: str,
    *,
    condition: NBadCondition | None,
    options: Sequence[str] = (),
    needs_reference: bool = False,
    nan_policy: str = "reject",
    paper: str = "",
    rows_out: Callable[[int, Mapping[str, Any]], int] | None = None,
) -> Callable[[Callable[..., Vectors]], Callable[..., Vectors]]:
    """Decorator: register a rule in ``registry`` under ``name`` with its record; returns the rule unchanged."""
    if nan_policy not in ("reject", "tolerant"):
        raise ValueError(f"nan_policy must be 'reject' or 'tolerant', got {nan_policy!r}")

    def decorator(function: Callable[..., Vectors]) -> Callable[..., Vectors]:
        record = AggregatorRecord(
            name, function, condition, tuple(options), needs_reference, nan_policy, paper, rows_out
        )
        registry.register(name)(record)
        return function

    return decorator


def aggregate(
    name: str,
    vectors: Vectors,
    *,
    n_bad: int | None = None,
    reference: object = None,
    params: Mapping[str, Any] | None = None,
) -> Vectors:
    """Apply the registered aggregator ``name``; ``n_bad`` is passed only to rules that use it."""
    record = AGGREGATORS.get(name)
    return record.function(vectors, **record.call_kwargs(n_bad=n_bad, reference=reference, params=params))


def pre_aggregate(
    name: str, vectors: Vectors, *, n_bad: int | None = None, params: Mapping[str, Any] | None = None
) -> Vectors:
    """Apply the registered pre-aggregator ``name``: (n, d) vectors -> (n', d) vectors."""
    record = PRE_AGGREGATORS.get(name)
    return record.function(vectors, **record.call_kwargs(n_bad=n_bad, reference=None, params=params))


def robust_aggregate(
    name: str,
    vectors: Vectors,
    *,
    n_bad: int | None = None,
    reference: object = None,
    params: Mapping[str, Any] | None = None,
    pre: Sequence[tuple[str, Mapping[str, Any] | None]] = (),
) -> Vectors:
    """Pre-aggregators ``pre`` (applied in order, each a ``(name, params)`` pair), then aggregator ``name``.

    Every option name is checked before any work, and so is the aggregator's condition on the
    number of rows left after the pre-aggregators (bucketing leaves ``ceil(n / s)``), with the same
    ``n_bad`` (Karimireddy, He, Jaggi, ICLR 2022, Section 4: each Byzantine input spoils at most one bucket).
    """
    records = [(PRE_AGGREGATORS.get(p), p_params) for p, p_params in pre]
    record = AGGREGATORS.get(name)
    kwargs = record.call_kwargs(n_bad=n_bad, reference=reference, params=params)
    pre_kwargs = [(r, r.call_kwargs(n_bad=n_bad, reference=None, params=p)) for r, p in records]
    n = as_matrix(vectors)[0].shape[0]
    for r, kw in pre_kwargs:
        n = _rows_after(r, n, kw)
    if record.condition is not None:
        record.condition.check(name, n, n_bad)
    for r, kw in pre_kwargs:
        vectors = r.function(vectors, **kw)
    return record.function(vectors, **kwargs)


def _rows_after(record: AggregatorRecord, n: int, kwargs: Mapping[str, Any]) -> int:
    if record.condition is not None:
        record.condition.check(record.name, n, kwargs["n_bad"])
    return n if record.rows_out is None else record.rows_out(n, kwargs)
