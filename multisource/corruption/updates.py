"""Attacks on model updates: the Byzantine clients' vectors of one federated round.

An update attack maps the round's ``(n_honest, d)`` honest updates to ``(n_bad, d)`` Byzantine
updates. Every attack has one signature::

    attack(honest: torch.Tensor, n_bad: int, rng: numpy.random.Generator, **options) -> torch.Tensor

and is registered in :data:`UPDATE_ATTACKS` with a record that declares its options (with their
checks) and whether it is *omniscient* (it reads the honest updates; the others use them only for
the shape, dtype and device). Callers use :func:`attack_updates`, which takes a numpy array or a
torch tensor (any device) and returns the same kind. ``docs/federated.md`` describes each attack.

Conventions shared with ByzFL 0.0.11 (``byzfl.attacks``) and where they differ:

- ``sign_flip`` and ``ipm`` send ``-mean`` and ``-epsilon * mean`` (ByzFL ``SignFlipping`` and
  ``InnerProductManipulation(tau=epsilon)``);
- ``alie`` sends ``mean - z * std`` with the unbiased (ddof = 1) coordinate-wise standard deviation,
  the sign of Baruch et al. (2019, Algorithm 1); ByzFL's ``ALittleIsEnough(tau)`` adds, so ours with
  ``z`` equals ByzFL's with ``tau = -z``;
- ``mimic`` copies honest update ``index`` (ByzFL ``Mimic(epsilon=index)``); ``infinity`` is ByzFL ``Inf``
  in the honest updates' dtype (ByzFL returns float64);
- ``gaussian`` draws each of the n_bad vectors independently from the seeded numpy generator (on the
  CPU, so a run is the same on every device); ByzFL draws one vector from the global generator.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from multisource.utils.registry import Registry
from multisource.utils.validation import SeedLike, check_int, check_random_state, check_real

UpdateAttack = Callable[..., torch.Tensor]
"""``attack(honest, n_bad, rng, **options) -> (n_bad, d)`` tensor on honest's device and dtype."""

OptionCheck = Callable[[str, object], object]
"""``check(name, value) -> value``: validates one option, raising an error that names it."""


@dataclass(frozen=True)
class UpdateAttackRecord:
    """What an update attack needs, declared once at registration.

    Attributes
    ----------
    name : registry name.
    function : the attack, ``function(honest, n_bad, rng, **options)``.
    options : its option names with their defaults and checks, ``{name: (default, check)}``.
    omniscient : whether it reads the honest updates of the round.
    paper : the paper it comes from.
    """

    name: str
    function: UpdateAttack
    options: Mapping[str, tuple[object, OptionCheck]] = field(default_factory=dict)
    omniscient: bool = True
    paper: str = ""

    def resolve(self, options: Mapping[str, Any]) -> dict[str, Any]:
        """Every option's value (given or default), checked; an unknown option is a ValueError."""
        unknown = sorted(set(options) - set(self.options))
        if unknown:
            raise ValueError(f"update attack {self.name!r} has no option(s) {unknown}; valid: {sorted(self.options)}")
        resolved = {}
        for key, (default, check) in self.options.items():
            value = options.get(key, default)
            resolved[key] = value if value is None else check(key, value)
        return resolved


UPDATE_ATTACKS: Registry[UpdateAttackRecord] = Registry("update attack")


def register_update_attack(
    name: str,
    *,
    options: Mapping[str, tuple[object, OptionCheck]] | None = None,
    omniscient: bool = True,
    paper: str = "",
) -> Callable[[UpdateAttack], UpdateAttack]:
    """Decorator: register an update attack under ``name`` with its record; returns it unchanged."""

    add = UPDATE_ATTACKS.register(name)  # checks the name now, before the decorator is applied

    def decorator(function: UpdateAttack) -> UpdateAttack:
        add(UpdateAttackRecord(name, function, dict(options or {}), omniscient, paper))
        return function

    return decorator


def _real(name: str, value: object) -> float:
    return check_real(name, value)


def _positive(name: str, value: object) -> float:
    return check_real(name, value, low=0.0, low_open=True)


def _non_negative(name: str, value: object) -> float:
    return check_real(name, value, low=0.0)


def _index(name: str, value: object) -> int:
    return check_int(name, value, minimum=0)


def _honest_mean(honest: torch.Tensor) -> torch.Tensor:
    """The honest updates' mean, accumulated in float64 whatever their dtype."""
    return honest.mean(dim=0, dtype=torch.float64).to(honest.dtype)


def _repeat(vector: torch.Tensor, n_bad: int) -> torch.Tensor:
    """n_bad copies of one Byzantine vector: colluding clients send the same update."""
    return vector.unsqueeze(0).repeat(n_bad, 1)


@register_update_attack("sign_flip", paper="Allen-Zhu, Ebrahimian, Li, Alistarh, ICLR 2021")
def sign_flip(honest: torch.Tensor, n_bad: int, rng: np.random.Generator) -> torch.Tensor:
    """Send the opposite of the honest mean, ``-(1/n_h) sum_i g_i``."""
    return _repeat(-_honest_mean(honest), n_bad)


@register_update_attack(
    "ipm", options={"epsilon": (0.1, _positive)}, paper="Xie, Koyejo, Gupta, UAI 2020 (inner-product manipulation)"
)
def ipm(honest: torch.Tensor, n_bad: int, rng: np.random.Generator, *, epsilon: float) -> torch.Tensor:
    """Inner-product manipulation: send ``-epsilon * mean`` (Xie et al. 2020, Section 4).

    A small epsilon (0.1, the paper's choice against median and Krum) stays close to the honest
    cloud, so distance-based rules keep it, while the aggregate's inner product with the true
    gradient shrinks or turns negative.
    """
    return _repeat(-epsilon * _honest_mean(honest), n_bad)


def alie_z(n: int, n_bad: int) -> float:
    """Baruch et al. (NeurIPS 2019, Section 3): ``s = floor(n/2 + 1) - n_bad``, ``z = Phi^-1((n - s) / n)``.

    n is the number of all clients of the round (honest and Byzantine); s is the number of honest
    clients the attackers must win over for a majority. The formula needs ``1 <= s < n``.

    >>> round(alie_z(10, 4), 4)
    0.8416
    >>> alie_z(10, 1)
    0.0
    """
    s = math.floor(n / 2 + 1) - n_bad
    if not 1 <= s < n:
        raise ValueError(
            f"alie's z formula needs 1 <= s = floor(n/2 + 1) - n_bad < n, got s = {s} for n = {n}, "
            f"n_bad = {n_bad}; pass z explicitly"
        )
    return statistics.NormalDist().inv_cdf((n - s) / n)


@register_update_attack("alie", options={"z": (None, _real)}, paper="Baruch, Baruch, Goldberg, NeurIPS 2019")
def alie(honest: torch.Tensor, n_bad: int, rng: np.random.Generator, *, z: float | None) -> torch.Tensor:
    """A little is enough: ``mu_j - z sigma_j`` per coordinate (Baruch et al. 2019, Algorithm 1).

    mu and sigma are the honest updates' mean and unbiased standard deviation; z defaults to
    :func:`alie_z` of the round's n = n_honest + n_bad clients. Needs at least two honest updates.
    """
    if honest.shape[0] < 2:
        raise ValueError(f"alie needs n_honest >= 2 honest updates for a standard deviation, got {honest.shape[0]}")
    if z is None:
        z = alie_z(honest.shape[0] + n_bad, n_bad)
    X = honest.to(torch.float64)
    return _repeat((X.mean(dim=0) - z * X.std(dim=0, correction=1)).to(honest.dtype), n_bad)


@register_update_attack(
    "gaussian",
    options={"mean": (0.0, _real), "std": (1.0, _non_negative)},
    omniscient=False,
    paper="Blanchard, El Mhamdi, Guerraoui, Stainer, NeurIPS 2017 (Gaussian Byzantine workers)",
)
def gaussian(honest: torch.Tensor, n_bad: int, rng: np.random.Generator, *, mean: float, std: float) -> torch.Tensor:
    """n_bad independent vectors with i.i.d. N(mean, std^2) coordinates (not omniscient)."""
    draws = rng.normal(loc=mean, scale=std, size=(n_bad, honest.shape[1]))
    return torch.from_numpy(draws).to(device=honest.device, dtype=honest.dtype)


@register_update_attack(
    "mimic", options={"index": (0, _index)}, paper="Karimireddy, He, Jaggi, ICLR 2022 (mimic attack)"
)
def mimic(honest: torch.Tensor, n_bad: int, rng: np.random.Generator, *, index: int) -> torch.Tensor:
    """Copy honest update ``index``: over-represents one (heterogeneous) client without being an outlier."""
    if index >= honest.shape[0]:
        raise ValueError(f"mimic index must be in [0, {honest.shape[0] - 1}] (an honest client), got {index}")
    return _repeat(honest[index], n_bad)


@register_update_attack("infinity", omniscient=False, paper="ByzFL (Gonzalez et al. 2025), attack 'Inf'")
def infinity(honest: torch.Tensor, n_bad: int, rng: np.random.Generator) -> torch.Tensor:
    """Send +inf in every coordinate: tests each rule's NaN/inf policy (``docs/aggregation.md``)."""
    return torch.full((n_bad, honest.shape[1]), math.inf, dtype=honest.dtype, device=honest.device)


def _as_honest(honest: object) -> tuple[torch.Tensor, bool]:
    """``honest`` as an (n_honest, d) floating tensor (n_honest >= 1) and whether it came as numpy."""
    if isinstance(honest, np.ndarray):
        if not np.issubdtype(honest.dtype, np.number):
            raise TypeError(f"honest must hold numbers, got dtype {honest.dtype}")
        X, was_numpy = torch.from_numpy(np.ascontiguousarray(honest)), True
    elif isinstance(honest, torch.Tensor):
        X, was_numpy = honest.detach(), False
    else:
        raise TypeError(f"honest must be a numpy array or a torch tensor, got {type(honest).__name__}")
    if X.ndim != 2 or X.shape[0] < 1 or X.shape[1] < 1:
        raise ValueError(f"honest must be an (n_honest, d) matrix with n_honest, d >= 1, got shape {tuple(X.shape)}")
    if not X.dtype.is_floating_point:
        X = X.to(torch.float64)
    return X, was_numpy


def attack_updates(
    name: str, honest: object, n_bad: object, *, seed: SeedLike = None, **options: object
) -> np.ndarray | torch.Tensor:
    """The ``(n_bad, d)`` Byzantine updates of attack ``name`` against the ``(n_honest, d)`` honest ones.

    Parameters
    ----------
    name : a name in :data:`UPDATE_ATTACKS` (``sign_flip``, ``ipm``, ``alie``, ``gaussian``, ``mimic``,
        ``infinity``).
    honest : the round's honest updates, numpy array or torch tensor (any device).
    n_bad : the number of Byzantine clients, >= 0.
    seed : int, numpy Generator or None; used by the random attacks (``gaussian``).
    **options : the attack's options (e.g. ``epsilon`` for ``ipm``, ``z`` for ``alie``); a name the
        attack does not have is a ValueError.

    Returns
    -------
    The Byzantine updates, of the same kind, dtype and device as ``honest``.

    Examples
    --------
    >>> attack_updates("ipm", np.array([[1.0, 2.0], [3.0, 4.0]]), 2, epsilon=0.5)
    array([[-1. , -1.5],
           [-1. , -1.5]])
    """
    record = UPDATE_ATTACKS.get(name)
    resolved = record.resolve(options)
    n_bad = check_int("n_bad", n_bad, minimum=0)
    rng = check_random_state(seed)
    X, was_numpy = _as_honest(honest)
    # No Byzantine client, no attack: formulas such as alie's z need n_bad >= 1 clients to win over.
    bad = X[:0] if n_bad == 0 else record.function(X, n_bad, rng, **resolved)
    return bad.numpy() if was_numpy else bad
