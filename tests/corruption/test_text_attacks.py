"""Text annotator sources: dealing KJV passages to sources, the trigger-word backdoor, label attacks on texts."""

from __future__ import annotations

import numpy as np
import pytest

from multisource.corruption.text import add_trigger_word, corrupt_text_sources, trigger_backdoor
from multisource.data.text_sources import deal_text_sources
from multisource.data.verses import load_kjv_divisions


@pytest.fixture(scope="module")
def sources():
    return deal_text_sources(load_kjv_divisions(n_per_class=20, seed=0), n_sources=6, m=10, n_test=0.25, seed=0)


def test_dealing_gives_disjoint_sources_of_m_texts_and_a_disjoint_test_set(sources) -> None:
    assert np.array_equal(sources.sizes, np.full(6, 10))
    assert len(set(sources.texts)) == len(sources.texts)
    assert not set(sources.texts) & set(sources.test_texts)
    assert len(sources.test_texts) == 40  # 25 % of 160 passages
    again = deal_text_sources(load_kjv_divisions(n_per_class=20, seed=0), n_sources=6, m=10, n_test=0.25, seed=0)
    assert again.texts == sources.texts and np.array_equal(again.source, sources.source)


def test_trigger_backdoor_prefixes_exactly_round_p_m_texts_and_relabels_them() -> None:
    texts = tuple(f"text {i}" for i in range(10))
    y = np.arange(10) % 3
    new_texts, new_y = trigger_backdoor(
        texts, y, rng=np.random.default_rng(0), n_classes=3, trigger="cf", target=2, p=0.3
    )
    hit = [i for i, t in enumerate(new_texts) if t.startswith("cf ")]
    assert len(hit) == 3
    assert all(new_texts[i] == f"cf text {i}" for i in hit)
    assert np.all(new_y[hit] == 2)
    untouched = np.setdiff1d(np.arange(10), hit)
    assert np.array_equal(new_y[untouched], y[untouched]) and all(new_texts[i] == texts[i] for i in untouched)


def test_only_the_named_annotators_are_corrupted(sources) -> None:
    flipped = corrupt_text_sources(sources, "label_flip", [1, 4], params={"p": 1.0}, seed=0)
    changed = np.flatnonzero(flipped.y != sources.y)
    assert set(sources.source[changed]) == {1, 4} and len(changed) == 20  # every label of both sources
    assert flipped.texts == sources.texts
    backdoored = corrupt_text_sources(sources, "trigger_backdoor", [2], params={"p": 1.0, "target": 0}, seed=0)
    prefixed = np.array([t.startswith("zyx ") for t in backdoored.texts])
    assert np.array_equal(prefixed, sources.source == 2)
    assert np.all(backdoored.y[prefixed] == 0)


@pytest.mark.parametrize(
    ("attack", "bad", "message"),
    [
        ("blur", [1], "attack 'blur' does not apply to text"),
        ("label_flip", [1, 1], "bad must hold distinct source ids in \\[0, 5\\]"),
        ("label_flip", [6], "bad must hold distinct source ids"),
        ("label_flip", [0, 1, 2], "bad must name fewer than N/2 = 3.0 sources"),
    ],
)
def test_bad_text_attacks_are_refused_by_name(sources, attack, bad, message) -> None:
    with pytest.raises(ValueError, match=message):
        corrupt_text_sources(sources, attack, bad)


def test_an_empty_trigger_is_refused() -> None:
    with pytest.raises(ValueError, match="trigger must be a non-empty word"):
        add_trigger_word(["a"], " ")
