"""Corruption: attacks as pure functions on one source's arrays, and the Adversary that picks the bad sources."""

from multisource.corruption import backdoor, features, images, labels, shift  # noqa: F401  (registers attacks)
from multisource.corruption.adversary import Adversary, CorruptionResult
from multisource.corruption.backdoor import add_trigger
from multisource.corruption.registry import ATTACKS

__all__ = ["ATTACKS", "Adversary", "CorruptionResult", "add_trigger"]
