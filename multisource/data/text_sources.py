"""Labelled texts dealt to N annotator sources, with a clean test set: the text analogue of ``MultiSourceDataset``.

The texts stay texts until a feature map (``multisource.learners.LMFeatureMap``) turns them into
vectors, so attacks can act on the words themselves (a trigger-word backdoor) before any model
sees them. Dealing reuses the registered splits of :func:`~multisource.data.make_multisource`
("iid", or "dirichlet" for annotators with skewed label mixes) on the row numbers of the texts.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from multisource.data.labeled import LabeledData
from multisource.data.sources import make_multisource
from multisource.data.verses import TextData
from multisource.utils.validation import SeedLike


@dataclass(frozen=True)
class TextSources:
    """Training texts with a source id each, and clean test texts.

    Attributes
    ----------
    texts, y, source : (n,) training texts, labels in ``0..K-1`` and source ids in ``0..N-1``.
    test_texts, y_test : the clean held-out texts and labels.
    class_names : the name of each class; ``n_sources`` is N.
    """

    texts: tuple[str, ...]
    y: np.ndarray
    source: np.ndarray
    test_texts: tuple[str, ...]
    y_test: np.ndarray
    class_names: tuple[str, ...]
    n_sources: int
    name: str = "text"

    def __post_init__(self) -> None:
        if not (len(self.texts) == len(self.y) == len(self.source)):
            raise ValueError(
                f"texts, y and source must have one entry per text, got {len(self.texts)}, {len(self.y)}, "
                f"{len(self.source)}"
            )
        if len(self.test_texts) != len(self.y_test):
            raise ValueError(f"test_texts and y_test differ in length: {len(self.test_texts)}, {len(self.y_test)}")

    @property
    def n_classes(self) -> int:
        return len(self.class_names)

    @property
    def sizes(self) -> np.ndarray:
        """(N,) number of texts of each source."""
        return np.bincount(self.source, minlength=self.n_sources)

    def with_training_texts(self, texts: tuple[str, ...], y: np.ndarray) -> TextSources:
        """A copy with new training texts and labels (same sources and test set), e.g. after an attack."""
        return replace(self, texts=tuple(texts), y=np.asarray(y, dtype=np.int64))


def deal_text_sources(
    data: TextData,
    *,
    n_sources: int,
    m: int,
    split: str = "iid",
    n_test: int | float = 0.25,
    seed: SeedLike = None,
    **split_params: object,
) -> TextSources:
    """Hold out a clean test set of ``data``, then deal ``n_sources`` annotators ``m`` texts each.

    The same arguments and seed deal the same texts as :func:`~multisource.data.make_multisource`
    deals rows of a numeric data set of the same size.
    """
    rows = LabeledData(
        X=np.arange(len(data.texts), dtype=np.float64)[:, None],
        y=data.y,
        n_classes=len(data.class_names),
        name=data.name,
    )
    dealt = make_multisource(
        rows, n_sources=n_sources, m=m, split=split, n_test=n_test, standardize=False, seed=seed, **split_params
    )
    train, test = dealt.X[:, 0].astype(np.int64), dealt.X_test[:, 0].astype(np.int64)
    return TextSources(
        texts=tuple(data.texts[i] for i in train),
        y=dealt.y.copy(),
        source=dealt.source.copy(),
        test_texts=tuple(data.texts[i] for i in test),
        y_test=dealt.y_test.copy(),
        class_names=data.class_names,
        n_sources=dealt.n_sources,
        name=data.name,
    )
