"""A frozen SmolLM2 as a feature map (real weights, marked ``llm``) and the KJV-divisions text task."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from multisource.data.verses import DIVISIONS, division_of, load_kjv_divisions
from multisource.learners.lm_features import (
    LMFeatureMap,
    _load_encoder,
    _truncated_copy,
    calibration_from_texts,
    calibration_id,
    check_layer,
    encode_texts,
)


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
def test_calibration_windows_are_evenly_spaced_over_the_sorted_texts_whatever_their_order(encoder) -> None:
    _, tokenizer = encoder
    texts = list(load_kjv_divisions(n_per_class=2, seed=4).texts)
    eos = tokenizer.eos_token_id
    stream = [t for text in sorted(texts) for t in (*tokenizer(text, add_special_tokens=False)["input_ids"], eos)]
    windows = calibration_from_texts(tokenizer, texts, 3, 16)
    middle = round((len(stream) - 16) / 2)
    assert windows.tolist() == [stream[:16], stream[middle : middle + 16], stream[-16:]]
    assert torch.equal(calibration_from_texts(tokenizer, texts[::-1], 3, 16), windows)
    assert calibration_id(texts[::-1]) == calibration_id(texts) != calibration_id(texts[1:])
    with pytest.raises(ValueError, match="fewer than calibration_length"):
        calibration_from_texts(tokenizer, texts[:1], 1, 10_000)


@pytest.mark.llm
def test_the_truncated_copy_gives_the_full_models_features_and_leaves_it_whole(encoder) -> None:
    model, tokenizer = encoder
    texts = list(load_kjv_divisions(n_per_class=1, seed=5).texts)
    copy = _truncated_copy(model, 4)
    assert len(copy.get_decoder().layers) == 4 and len(model.get_decoder().layers) == 30
    np.testing.assert_array_equal(
        encode_texts(copy, tokenizer, texts, layer=4), encode_texts(model, tokenizer, texts, layer=4)
    )


@pytest.mark.llm
def test_tokens_encoded_counts_the_truncated_tokens_of_cache_misses_only(encoder, tmp_path) -> None:
    _, tokenizer = encoder
    texts = list(load_kjv_divisions(n_per_class=1, seed=6).texts)
    fmap = LMFeatureMap(layer=2, max_length=8, cache_dir=tmp_path, device="cpu").fit(texts)
    fmap.transform(texts[:5])
    fmap.transform(texts)  # the first five are cache hits
    lengths = [len(tokenizer(t, add_special_tokens=False)["input_ids"]) for t in texts]
    assert fmap.tokens_encoded_ == sum(min(n, 8) for n in lengths) and fmap.encoding_seconds_ > 0


def _text_experiment():
    import importlib.util

    path = Path(__file__).resolve().parents[2] / "experiments" / "text_annotators.py"
    spec = importlib.util.spec_from_file_location("text_annotators", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


@pytest.mark.llm
def test_text_task_small_setting_filters_out_the_label_biased_annotators(tmp_path) -> None:
    module = _text_experiment()
    rows = module.main(["--small", "--cache", str(tmp_path), "--out", str(tmp_path / "out")])
    cells = {(r["encoder"], r["attack"], r["n_bad"], r["rule"]): r for r in rows}
    assert len(cells) == 2 * 3 * len(module.RULES)  # 2 encoders x (clean, 2 attacks at n_bad = 3) x rules
    clean = cells[("dense", "none", 0, "all_data")]
    assert clean["accuracy"] > 0.25  # 8 balanced classes: chance is 0.125
    # Annotators 0, 1, 2 label every passage "law": the quantile filter removes exactly them (the known bad
    # set), and the clean oracle's accuracy is then reached while all-data falls below it.
    quantile = cells[("dense", "label_bias", 3, "quantile")]
    assert (quantile["precision"], quantile["recall"]) == (1.0, 1.0)
    oracle, all_data = cells[("dense", "label_bias", 3, "clean_only")], cells[("dense", "label_bias", 3, "all_data")]
    assert quantile["accuracy"] == oracle["accuracy"] > all_data["accuracy"]
    assert (tmp_path / "out" / "text_annotators.md").exists() and (tmp_path / "out" / "text_annotators.png").exists()


def test_text_task_rejects_an_unknown_calibration() -> None:
    with pytest.raises(ValueError, match="calibration must be a comma-separated subset of"):
        _text_experiment().main(["--small", "--calibration", "reference,trusted"])
