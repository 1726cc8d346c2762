"""Registry of source-selection rules: one record per rule that declares what the rule needs.

A rule maps a discrepancy matrix to the sources it keeps and the weight of each::

    fn(disc: (N, N) array, sizes: (N,) array, alpha: float | None = None, **params) -> Selection

and is registered with one decorator, which stores a :class:`FilteringRule` record and returns the
function unchanged::

    @FILTERING_RULES.register("my_rule", needs_bad=False, resolve=None)
    def my_rule(disc, sizes, alpha=None, *, radius=0.1): ...

The record says whether the rule is an oracle that needs the true bad mask (``needs_bad``) and how
its parameters are completed from a :class:`RuleContext` (``resolve``, e.g. a threshold from the
theory or a ``lambda`` chosen by cross-validation), so the caller never inspects the function.
Calling the record resolves the parameters, then calls the function:

>>> import numpy as np
>>> disc = np.array([[0.0, 0.1, 0.9], [0.1, 0.0, 0.9], [0.9, 0.9, 0.0]])
>>> FILTERING_RULES.get("quantile")(disc, np.array([10, 10, 10]), n_bad=1).kept
array([ True,  True, False])

A rule whose parameters ask for data (``lam="cv"`` of ``"kl2019"``, ``threshold="theory"``) needs
``context=RuleContext(dataset, disc, learner, seed)``; an oracle reads ``bad`` from the context.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator

from multisource.data.dataset import MultiSourceDataset
from multisource.data.selection import Selection
from multisource.utils.registry import Registry
from multisource.utils.validation import check_int

#: The kinds of the records in ``FILTERING_RULES``: robust rules and the baselines they are compared with.
RULE_KINDS: tuple[str, ...] = ("filter", "baseline")

RuleFunction = Callable[..., Selection]


@dataclass(frozen=True)
class RuleContext:
    """What a rule may need beyond ``(disc, sizes, alpha)``: the grid point's data, learner and seed.

    Attributes
    ----------
    dataset : the (corrupted) sources the discrepancy matrix was computed on.
    disc : their (N, N) discrepancy matrix.
    learner : an unfitted scikit-learn estimator, the hypothesis class of the experiment.
    seed : the grid point's seed, for the rule's own randomness (e.g. cross-validation folds).
    bad : the true (N,) mask of bad sources; only rules registered with ``needs_bad=True`` see it.
    """

    dataset: MultiSourceDataset
    disc: np.ndarray
    learner: BaseEstimator
    seed: int
    bad: np.ndarray | None = None

    def __post_init__(self) -> None:
        check_int("seed", self.seed, minimum=0)


Resolve = Callable[[RuleContext | None, dict[str, Any]], dict[str, Any]]


def no_resolve(context: RuleContext | None, params: dict[str, Any]) -> dict[str, Any]:
    """The default ``resolve`` hook: the parameters as given."""
    return params


@dataclass(frozen=True)
class FilteringRule:
    """A registered rule: its ``name``, ``kind`` (one of ``RULE_KINDS``), function and what it needs.

    Attributes
    ----------
    name, kind : how specs and reports name it; ``kind`` is ``"filter"`` or ``"baseline"``.
    fn : the rule, ``fn(disc, sizes, alpha=None, **params) -> Selection``.
    needs_bad : the rule is an oracle that receives the true bad mask as ``bad=`` (``clean_only``).
    resolve : ``resolve(context, params) -> params`` completes the parameters before ``fn`` runs; it
        sees the context's ``bad`` only when ``needs_bad`` is set.
    partial : the rule accepts a sampled matrix (NaN = pair not evaluated, ``pair_sample`` of the
        linear discrepancy); a spec with ``pair_sample`` may name only such rules.
    """

    name: str
    kind: str
    fn: RuleFunction
    needs_bad: bool = False
    resolve: Resolve = no_resolve
    partial: bool = False

    def __post_init__(self) -> None:
        if self.kind not in RULE_KINDS:
            raise ValueError(f"kind must be one of {RULE_KINDS}, got {self.kind!r}")
        if not callable(self.fn) or not callable(self.resolve):
            raise TypeError(f"fn and resolve of rule {self.name!r} must be callable, got {self.fn!r}, {self.resolve!r}")

    def resolve_params(self, context: RuleContext | None, params: dict[str, Any]) -> dict[str, Any]:
        """The keyword arguments ``fn`` receives: ``params``, the oracle's ``bad`` and what ``resolve`` fills in."""
        params = dict(params)
        if context is not None and self.needs_bad and context.bad is not None:
            params.setdefault("bad", context.bad)
        elif context is not None and not self.needs_bad:
            context = dataclasses.replace(context, bad=None)
        return self.resolve(context, params)

    def __call__(
        self,
        disc: np.ndarray,
        sizes: np.ndarray,
        alpha: float | None = None,
        *,
        context: RuleContext | None = None,
        **params: Any,
    ) -> Selection:
        """Run the rule: ``fn(disc, sizes, alpha, **resolve_params(context, params))``."""
        return self.fn(disc, sizes, alpha, **self.resolve_params(context, params))


class RuleRegistry:
    """Name -> :class:`FilteringRule`, filled by :meth:`register` (one decorator per rule)."""

    def __init__(self) -> None:
        self._records: Registry[FilteringRule] = Registry("filtering rule")

    def register(
        self,
        name: str | None = None,
        *,
        kind: str = "filter",
        needs_bad: bool = False,
        resolve: Resolve | None = None,
        partial: bool = False,
        overwrite: bool = False,
    ) -> Callable[[RuleFunction], RuleFunction]:
        """Decorator that registers ``fn`` as a :class:`FilteringRule` and returns ``fn`` unchanged.

        ``name`` defaults to the function's name; ``resolve=None`` passes the parameters as given.
        """

        if name is not None:
            self._records.check_name(name)

        def decorator(fn: RuleFunction) -> RuleFunction:
            key = name if name is not None else getattr(fn, "__name__", "")
            hook = no_resolve if resolve is None else resolve
            record = FilteringRule(name=key, kind=kind, fn=fn, needs_bad=needs_bad, resolve=hook, partial=partial)
            self._records.register(key, overwrite=overwrite)(record)
            return fn

        return decorator

    def get(self, name: str) -> FilteringRule:
        """The record registered under ``name``; a clear error lists the valid names."""
        return self._records.get(name)

    def names(self) -> list[str]:
        """All registered names, sorted."""
        return self._records.names()

    def __contains__(self, name: object) -> bool:
        return name in self._records

    def __iter__(self) -> Iterator[str]:
        return iter(self._records)

    def __len__(self) -> int:
        return len(self._records)

    def __repr__(self) -> str:
        return f"RuleRegistry({self.names()})"


FILTERING_RULES = RuleRegistry()
