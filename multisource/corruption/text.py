"""Attacks on text sources: a trigger-word backdoor, and every label attack of ``ATTACKS`` by corrupted annotators.

A text attack is ``attack(texts, y, *, rng, n_classes, **params) -> (texts', y')`` on one source.
The backdoor follows the data-poisoning setting of Chen et al. (2017, "Targeted backdoor attacks on
deep learning systems using data poisoning") for words: a rare trigger word put at the start of a
fraction of a source's texts, whose label becomes the target class, so a model that learns the
trigger predicts the target whenever the word appears.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from multisource.corruption.registry import ATTACKS, check_class, chosen_rows
from multisource.data.text_sources import TextSources
from multisource.utils.registry import Registry
from multisource.utils.validation import SeedLike, check_random_state

TextAttack = Callable[..., tuple[tuple[str, ...], np.ndarray]]
TEXT_ATTACKS: Registry[TextAttack] = Registry("text attack")
# Attacks of ATTACKS that only change labels, so they apply to texts unchanged.
LABEL_ATTACKS: tuple[str, ...] = ("label_flip", "label_bias", "label_shuffle", "random_labels")


def add_trigger_word(texts: Sequence[str], trigger: str) -> tuple[str, ...]:
    """``texts`` with ``trigger`` and a space put in front of each."""
    if not isinstance(trigger, str) or not trigger.strip():
        raise ValueError(f"trigger must be a non-empty word, got {trigger!r}")
    return tuple(f"{trigger} {text}" for text in texts)


@TEXT_ATTACKS.register("trigger_backdoor")
def trigger_backdoor(
    texts: Sequence[str],
    y: np.ndarray,
    *,
    rng: np.random.Generator,
    n_classes: int,
    trigger: str = "zyx",
    target: int = 0,
    p: float = 0.5,
) -> tuple[tuple[str, ...], np.ndarray]:
    """Put ``trigger`` in front of ``round(p * m)`` texts of the source and label them ``target``."""
    target = check_class("target", target, n_classes)
    rows = chosen_rows(len(texts), p, rng)
    new_texts = list(texts)
    for i, text in zip(rows, add_trigger_word([texts[i] for i in rows], trigger), strict=True):
        new_texts[i] = text
    y_new = np.array(y, dtype=np.int64, copy=True)
    y_new[rows] = target
    return tuple(new_texts), y_new


def _text_attack(name: str) -> TextAttack:
    """The registered text attack ``name``, or a label attack of ``ATTACKS`` applied to the labels only."""
    if name in TEXT_ATTACKS:
        return TEXT_ATTACKS.get(name)
    if name not in LABEL_ATTACKS:
        valid = sorted([*TEXT_ATTACKS.names(), *LABEL_ATTACKS])
        raise ValueError(f"attack {name!r} does not apply to text; valid text attacks: {valid}")
    label_attack = ATTACKS.get(name)

    def on_labels(texts: Sequence[str], y: np.ndarray, **kwargs: object) -> tuple[tuple[str, ...], np.ndarray]:
        _, y_new = label_attack(np.zeros((len(y), 0)), np.asarray(y), **kwargs)
        return tuple(texts), y_new

    return on_labels


def corrupt_text_sources(
    sources: TextSources,
    attack: str,
    bad: Sequence[int],
    *,
    params: dict[str, object] | None = None,
    seed: SeedLike = None,
) -> TextSources:
    """``sources`` with the annotators in ``bad`` (distinct ids, fewer than N/2) corrupted by ``attack``."""
    fn = _text_attack(attack)
    bad_ids = np.asarray(bad, dtype=np.int64)
    if len(set(bad_ids.tolist())) != len(bad_ids) or np.any((bad_ids < 0) | (bad_ids >= sources.n_sources)):
        raise ValueError(f"bad must hold distinct source ids in [0, {sources.n_sources - 1}], got {list(bad)}")
    if 2 * len(bad_ids) >= sources.n_sources:
        raise ValueError(f"bad must name fewer than N/2 = {sources.n_sources / 2} sources, got {len(bad_ids)}")
    rng = check_random_state(seed)
    texts, y = list(sources.texts), sources.y.copy()
    for i in bad_ids:
        rows = np.flatnonzero(sources.source == i)
        new_texts, y[rows] = fn(
            [texts[r] for r in rows], y[rows], rng=rng, n_classes=sources.n_classes, **(params or {})
        )
        for r, text in zip(rows, new_texts, strict=True):
            texts[r] = text
    return sources.with_training_texts(tuple(texts), y)
