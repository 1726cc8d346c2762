"""A name -> object registry per family (attacks, rules, learners, datasets).

Specs name things by string; users add their own with one decorator (on the family's registry,
e.g. ``multisource.corruption.ATTACKS``; a fresh one here):

>>> ATTACKS = Registry("attack")
>>> @ATTACKS.register("my_attack")
... def my_attack(X, y, *, rng, n_classes):
...     return X, (y + 1) % n_classes
>>> ATTACKS.get("my_attack") is my_attack
True
>>> ATTACKS.get("my_atack")
Traceback (most recent call last):
    ...
ValueError: unknown attack 'my_atack'; valid attack names: ['my_attack']
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

T = TypeVar("T")


class Registry(Generic[T]):
    """A mapping from names to objects of one family, filled by a decorator."""

    def __init__(self, family: str) -> None:
        self.family = family
        self._entries: dict[str, T] = {}

    def check_name(self, name: object) -> str:
        """``name`` if it is a non-empty string (a spec could not spell an empty or a non-string name)."""
        if not isinstance(name, str):
            raise TypeError(f"{self.family} name must be a non-empty string, got {name!r}")
        if not name.strip():
            raise ValueError(f"{self.family} name must be a non-empty string, got {name!r}")
        return name

    def register(self, name: str | None = None, *, overwrite: bool = False) -> Callable[[T], T]:
        """Decorator that registers ``obj`` under ``name`` (default: its ``__name__``).

        A given ``name`` is checked here, when the decorator is made, not when it is applied.
        """
        if name is not None:
            self.check_name(name)

        def decorator(obj: T) -> T:
            key = name if name is not None else getattr(obj, "__name__", None)
            if not isinstance(key, str) or not key:
                raise TypeError(f"{self.family} registry: a name is required for {obj!r}")
            if key in self._entries and not overwrite:
                raise ValueError(f"{self.family} {key!r} is already registered; pass overwrite=True to replace it")
            self._entries[key] = obj
            return obj

        return decorator

    def get(self, name: str) -> T:
        """The object registered under ``name``; a clear error lists the valid names."""
        if not isinstance(name, str):
            raise TypeError(f"{self.family} name must be a string, got {type(name).__name__}")
        try:
            return self._entries[name]
        except KeyError:
            raise ValueError(
                f"unknown {self.family} {name!r}; valid {self.family} names: {sorted(self._entries)}"
            ) from None

    def names(self) -> list[str]:
        """All registered names, sorted."""
        return sorted(self._entries)

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self._entries)

    def __repr__(self) -> str:
        return f"Registry({self.family!r}, {self.names()})"
