"""Text corpora splits, calibration windows, perplexity (against a closed form) and the sparsity report."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from multisource.compress.evaluation import perplexity, sparsity_report
from multisource.data.text import TEXT_CORPORA, calibration_windows, corpus_tokens, load_text, text_portion


class _CharTokenizer:
    """A byte-level stand-in for a Hugging Face tokenizer (same call signature)."""

    def __call__(self, text, return_tensors="pt", add_special_tokens=False):
        return {"input_ids": torch.tensor([list(text.encode("utf-8"))], dtype=torch.long)}


CHARS = _CharTokenizer()


@pytest.mark.parametrize("name", TEXT_CORPORA)
def test_train_and_eval_portions_are_disjoint_and_cover_the_corpus(name):
    text = load_text(name)
    train, held_out = text_portion(name, "train"), text_portion(name, "eval")
    assert train + "\n" + held_out == text
    assert 0.08 < len(held_out) / len(text) < 0.11


def test_corpora_are_the_kjv_bible_and_the_python_docs():
    kjv = load_text("kjv")
    assert kjv.startswith("In the beginning God created the heavens and the earth.")
    assert kjv.count("\n") == 24407
    assert "lambda" in load_text("pydocs")


def test_calibration_windows_share_corpora_evenly_and_come_from_train_text():
    windows = calibration_windows(CHARS, n_windows=5, seqlen=64, seed=3)
    assert windows.shape == (5, 64) and windows.dtype == torch.long
    train = {name: text_portion(name, "train").encode() for name in TEXT_CORPORA}
    sources = ["kjv"] * 3 + ["pydocs"] * 2
    for window, source in zip(windows, sources, strict=True):
        assert bytes(window.tolist()) in train[source]
    assert torch.equal(windows, calibration_windows(CHARS, n_windows=5, seqlen=64, seed=3))
    assert not torch.equal(windows, calibration_windows(CHARS, n_windows=5, seqlen=64, seed=4))


def test_single_corpus_calibration_and_clear_errors():
    kjv_only = calibration_windows(CHARS, "kjv", n_windows=2, seqlen=32, seed=0)
    assert all(bytes(w.tolist()) in text_portion("kjv", "train").encode() for w in kjv_only)
    with pytest.raises(ValueError, match="shorter than one window"):
        calibration_windows(CHARS, "pydocs", n_windows=1, seqlen=10**6)
    with pytest.raises(ValueError, match="unknown text corpus"):
        calibration_windows(CHARS, "wikitext2")
    with pytest.raises(ValueError, match="portion"):
        text_portion("kjv", "test")
    assert len(corpus_tokens(CHARS, "pydocs", "eval", max_tokens=100)) == 100


class _Unigram(nn.Module):
    """A 'language model' whose next-token distribution ignores context: ppl has a closed form."""

    def __init__(self, vocab=7):
        super().__init__()
        self.logits = nn.Parameter(torch.randn(vocab, generator=torch.Generator().manual_seed(0)))

    def forward(self, input_ids, use_cache=False):
        out = self.logits.expand(*input_ids.shape, -1)
        return type("Out", (), {"logits": out})()


@pytest.mark.parametrize(("seqlen", "stride", "batch_size"), [(8, None, 2), (8, 3, 4), (8, 8, 1), (5, 1, 3)])
def test_perplexity_equals_closed_form_on_a_unigram_model(seqlen, stride, batch_size):
    model = _Unigram()
    tokens = torch.randint(0, 7, (53,), generator=torch.Generator().manual_seed(1))
    logp = torch.log_softmax(model.logits.detach().double(), 0)
    step = seqlen if stride is None else stride
    starts = range(0, len(tokens) - seqlen + 1, step)
    if step == seqlen:  # non-overlapping windows: each window's first token is never a target
        targets = [t for s in starts for t in range(s + 1, s + seqlen)]
    else:  # strided: every token from the 2nd to the end of the last window, exactly once
        targets = list(range(1, starts[-1] + seqlen))
    expected = math.exp(-float(logp[tokens[targets]].mean()))
    assert perplexity(model, tokens, seqlen=seqlen, stride=stride, batch_size=batch_size) == pytest.approx(
        expected, rel=1e-6
    )


def test_perplexity_rejects_text_shorter_than_a_window():
    with pytest.raises(ValueError, match="shorter than one window"):
        perplexity(_Unigram(), torch.zeros(5, dtype=torch.long), seqlen=8)


def test_sparsity_report_checks_nm_pattern():
    net = nn.Sequential(nn.Linear(8, 4), nn.ReLU(), nn.Linear(4, 2))
    with torch.no_grad():
        net[0].weight[:, 0::2] = 0  # 2:4 (every other column zero)
    rows = sparsity_report(net, pattern="2:4")
    assert [(r.name, r.sparsity, r.nm_ok) for r in rows] == [("0", 0.5, True), ("2", 0.0, False)]
