"""A frozen SmolLM2 as a feature map (real weights, marked ``llm``) and the KJV-divisions text task."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from multisource.data.verses import DIVISIONS, division_of, load_kjv_divisions
from multisource.learners.lm_features import LMFeatureMap, _load_encoder, check_layer, encode_texts


def test_divisions_follow_the_canon_at_their_boundaries() -> None:
    # Deuteronomy | Joshua, Esther | Job, Song of Solomon | Isaiah, Daniel | Hosea, Malachi | Matthew,
    # Acts | Romans, Jude | Revelation: the first and last book of every division, by hand.
    assert [division_of(1, b) for b in (5, 6, 17, 18, 22, 23, 27, 28, 39)] == [0, 1, 1, 2, 2, 3, 3, 4, 4]
    assert [division_of(2, b) for b in (1, 5, 6, 26, 27)] == [5, 5, 6, 6, 7]
    with pytest.raises(ValueError, match="no book 40 in testament 1"):
        division_of(1, 40)


def test_balanced_draw_has_n_per_class_of_every_division_and_is_seeded() -> None:
    a, b = load_kjv_divisions(n_per_class=7, seed=3), load_kjv_divisions(n_per_class=7, seed=3)
    assert np.array_equal(np.bincount(a.y, minlength=len(DIVISIONS)), np.full(len(DIVISIONS), 7))
    assert a.texts == b.texts
    assert "Revelation" not in a.texts  # texts are prose, not book names
    with pytest.raises(ValueError, match="n_per_class must be <= 331"):
        load_kjv_divisions(n_per_class=332)


def test_check_layer_counts_negative_layers_from_the_last_block() -> None:
    assert check_layer(-1, 30) == 30 and check_layer(1, 30) == 1 and check_layer(-30, 30) == 1
    for bad in (0, 31, -31):
        with pytest.raises(ValueError, match="layer must"):
            check_layer(bad, 30)


@pytest.fixture(scope="module")
def encoder() -> tuple[torch.nn.Module, object]:
    pytest.importorskip("transformers")
    pytest.importorskip("gguf")
    try:
        return _load_encoder("smollm2-135m", "cpu")
    except ImportError as error:
        pytest.skip(str(error))


@pytest.mark.llm
def test_batched_features_equal_each_text_run_alone_through_the_full_model(encoder) -> None:
    model, tokenizer = encoder
    texts = list(load_kjv_divisions(n_per_class=1, seed=0).texts)
    features = encode_texts(model, tokenizer, texts, layer=12, pooling="mean", batch_size=3)
    for i, text in enumerate(texts):
        ids = tokenizer(text, add_special_tokens=False, truncation=True, max_length=64, return_tensors="pt")
        with torch.no_grad():
            states = model(input_ids=ids["input_ids"], output_hidden_states=True).hidden_states
        expected = states[12][0].mean(dim=0).numpy()  # hidden_states[l] is the output of block l
        np.testing.assert_allclose(features[i], expected, rtol=1e-4, atol=1e-3 * np.abs(expected).max())


@pytest.mark.llm
def test_cache_returns_the_stored_vectors_without_running_the_model(encoder, tmp_path) -> None:
    model, _ = encoder
    texts = list(load_kjv_divisions(n_per_class=1, seed=1).texts)
    calls = []
    handle = model.get_decoder().embed_tokens.register_forward_hook(lambda *args: calls.append(1))
    try:
        fmap = LMFeatureMap(layer=6, cache_dir=tmp_path, device="cpu").fit(texts)
        first = fmap.transform(texts)
        n_calls = len(calls)
        again = fmap.transform(texts[::-1])
        other_layer = LMFeatureMap(layer=7, cache_dir=tmp_path, device="cpu").fit(texts).transform(texts[:1])
    finally:
        handle.remove()
    assert n_calls > 0 and len(calls) == n_calls + 1  # the reversed texts hit the cache; layer 7 does not
    np.testing.assert_array_equal(again, first[::-1])
    assert not np.allclose(other_layer[0], first[0])


@pytest.mark.llm
def test_a_linear_probe_on_mid_layer_features_reads_the_division_far_above_chance(encoder) -> None:
    data = load_kjv_divisions(n_per_class=30, seed=0)
    X = LMFeatureMap(layer=15, device="cpu").fit(data.texts).transform(data.texts)
    train = np.arange(len(data.y)) % 3 != 0
    scaler = StandardScaler().fit(X[train])
    probe = LogisticRegression(C=0.1, max_iter=2000).fit(scaler.transform(X[train]), data.y[train])
    accuracy = probe.score(scaler.transform(X[~train]), data.y[~train])
    assert accuracy > 0.4, accuracy  # chance is 1/8


@pytest.mark.llm
def test_compressing_the_encoder_prunes_a_copy_and_leaves_the_shared_dense_model_intact(encoder) -> None:
    model, _ = encoder
    texts = list(load_kjv_divisions(n_per_class=3, seed=2).texts)
    dense_weight = model.get_decoder().layers[0].mlp.down_proj.weight.detach().clone()
    fmap = LMFeatureMap(
        layer=4,
        device="cpu",
        compression={"method": "magnitude", "sparsity": 0.5},
        n_calibration=1,
        calibration_length=32,
    ).fit(texts)
    pruned = [m.weight for m in fmap.encoder_.get_decoder().layers.modules() if isinstance(m, torch.nn.Linear)]
    zeros = sum(int((w == 0).sum()) for w in pruned) / sum(w.numel() for w in pruned)
    assert abs(zeros - 0.5) < 0.01
    assert torch.equal(model.get_decoder().layers[0].mlp.down_proj.weight, dense_weight)
    dense = LMFeatureMap(layer=4, device="cpu").fit(texts)
    assert fmap.encoder_tag() != dense.encoder_tag()
    assert not np.allclose(fmap.transform(texts[:2]), dense.transform(texts[:2]))


def test_compression_settings_are_checked_by_name() -> None:
    with pytest.raises(ValueError, match="compression must be a dict with 'method'"):
        LMFeatureMap(compression={"sparsity": 0.5})._compress(["a text"])


@pytest.mark.llm
def test_text_task_small_setting_runs_end_to_end_and_reads_the_division_above_chance(tmp_path) -> None:
    import importlib.util

    path = Path(__file__).resolve().parents[2] / "experiments" / "text_annotators.py"
    spec = importlib.util.spec_from_file_location("text_annotators", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    rows = module.main(["--small", "--cache", str(tmp_path)])
    cells = {(r["encoder"], r["attack"], r["n_bad"], r["rule"]) for r in rows}
    assert len(cells) == 2 * 3 * len(module.RULES)  # 2 encoders x (clean, 2 attacks at n_bad = 3) x rules
    clean = [r["accuracy"] for r in rows if r["encoder"] == "dense" and r["n_bad"] == 0 and r["rule"] == "all_data"]
    assert clean[0] > 0.2  # 8 balanced classes: chance is 0.125
