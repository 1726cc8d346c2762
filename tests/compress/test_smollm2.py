"""SparseGPT on the real SmolLM2-135M (loads the offline GGUF weights once; marked ``llm``)."""

from __future__ import annotations

import copy
import os

import pytest
import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")
pytest.importorskip("transformers")
pytest.importorskip("gguf")

from multisource.compress.baselines import magnitude_prune_layer, wanda_prune_layer
from multisource.compress.driver import prune_model
from multisource.compress.evaluation import perplexity, sparsity_report
from multisource.compress.hessian import HessianAccumulator
from multisource.compress.models import is_gguf_loaded, load_pruned, load_smollm2, save_pruned
from multisource.compress.sparsegpt import sparsegpt_prune_layer
from multisource.data.text import calibration_windows, corpus_tokens

pytestmark = pytest.mark.llm


@pytest.fixture(scope="module")
def smollm2():
    try:
        return load_smollm2(device="cpu")
    except ImportError as error:
        pytest.skip(str(error))


@pytest.fixture(scope="module")
def calibration(smollm2):
    return calibration_windows(smollm2[1], n_windows=8, seqlen=256, seed=0)


@pytest.fixture(scope="module")
def layer_hessians(smollm2, calibration):
    """H of a few real SmolLM2 layers, from a dense forward pass over the calibration windows."""
    model, _ = smollm2
    names = ["model.layers.0.self_attn.q_proj", "model.layers.5.mlp.gate_proj", "model.layers.5.mlp.down_proj"]
    layers = dict(model.named_modules())
    accumulators = {name: HessianAccumulator(layers[name].in_features) for name in names}
    handles = [
        layers[n].register_forward_pre_hook(lambda m, a, acc=accumulators[n]: acc.add_batch(a[0])) for n in names
    ]
    with torch.inference_mode():
        model(input_ids=calibration[:4], use_cache=False)
    for handle in handles:
        handle.remove()
    return {name: (layers[name].weight.detach(), acc.hessian()) for name, acc in accumulators.items()}


@pytest.mark.parametrize("target", [dict(sparsity=0.5), dict(pattern="2:4")])
def test_error_on_real_activations_is_ordered_magnitude_wanda_sparsegpt(layer_hessians, target):
    for name, (W, H) in layer_hessians.items():
        errors = [f(W, H, **target).error for f in (magnitude_prune_layer, wanda_prune_layer, sparsegpt_prune_layer)]
        assert errors[0] > errors[1] > errors[2], (name, errors)


def test_sparsegpt_2_4_model_is_exactly_2_4_beats_magnitude_and_saves(smollm2, calibration, tmp_path):
    model, tokenizer = smollm2
    held_out = corpus_tokens(tokenizer, "pydocs", "eval", max_tokens=1024)
    magnitude = copy.deepcopy(model)
    prune_model(magnitude, None, method="magnitude", pattern="2:4", progress=False)
    pruned = copy.deepcopy(model)
    report = prune_model(
        pruned, calibration, method="sparsegpt", pattern="2:4", progress=False, calibration_name="kjv+pydocs"
    )
    assert len(report.layers) == 210
    assert all(row.nm_ok for row in sparsity_report(pruned, pattern="2:4"))
    ppl = {
        name: perplexity(m, held_out, seqlen=256)
        for name, m in [("dense", model), ("magnitude", magnitude), ("sparsegpt", pruned)]
    }
    assert ppl["dense"] < ppl["sparsegpt"] < ppl["magnitude"]

    # A GGUF-loaded model cannot save_pretrained itself; save_pruned saves a plain copy.
    assert is_gguf_loaded(pruned)
    save_pruned(pruned, tmp_path, tokenizer)
    loaded = load_pruned(tmp_path)
    ids = held_out[:64].unsqueeze(0)
    with torch.inference_mode():
        assert torch.equal(loaded(input_ids=ids).logits, pruned(input_ids=ids).logits)
