"""Corruption: attacks as pure functions on one source's arrays, and the Adversary that picks the bad sources."""

from multisource.corruption import backdoor, features, images, labels, shift  # noqa: F401  (registers attacks)
from multisource.corruption.adversary import Adversary, CorruptionResult
from multisource.corruption.backdoor import add_trigger
from multisource.corruption.registry import ATTACKS
from multisource.corruption.updates import UPDATE_ATTACKS, UpdateAttackRecord, attack_updates, register_update_attack

__all__ = [
    "ATTACKS",
    "UPDATE_ATTACKS",
    "Adversary",
    "CorruptionResult",
    "UpdateAttackRecord",
    "add_trigger",
    "attack_updates",
    "register_update_attack",
]
