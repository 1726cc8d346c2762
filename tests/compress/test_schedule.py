"""OWL layer-wise sparsity: outlier ratios by hand, mean and range of the schedule, driver hookup."""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch
from torch import nn

os.environ.setdefault("HF_HUB_OFFLINE", "1")
transformers = pytest.importorskip("transformers")

from multisource.compress.driver import prune_model  # noqa: E402
from multisource.compress.schedule import outlier_ratios, owl_layer_sparsity  # noqa: E402


def test_outlier_ratio_of_one_linear_layer_matches_a_direct_count():
    torch.manual_seed(0)
    layer = nn.Linear(10, 6, bias=False)
    X = torch.randn(50, 10) * torch.linspace(0.1, 5, 10)
    ratio = outlier_ratios(nn.Sequential(layer), X, M=2.0)
    W, Xn = layer.weight.detach().numpy().astype(np.float64), X.numpy().astype(np.float64)
    scores = np.abs(W) * np.sqrt((Xn**2).sum(axis=0))
    assert ratio == [pytest.approx(float((scores > 2.0 * scores.mean()).mean()))]


def _llama_with_outliers_in_block(block: int):
    torch.manual_seed(0)
    config = transformers.LlamaConfig(
        vocab_size=64,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=3,
        num_attention_heads=4,
        num_key_value_heads=2,
    )
    model = transformers.LlamaForCausalLM(config).eval()
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for layer in model.model.layers[block].modules():
            if isinstance(layer, nn.Linear):
                spikes = torch.rand(layer.weight.shape, generator=g) < 0.05
                layer.weight[spikes] *= 30
    return model


def test_owl_prunes_the_outlier_block_least_keeps_the_mean_and_spans_two_lambda():
    model = _llama_with_outliers_in_block(1)
    ids = torch.randint(0, 64, (4, 16), generator=torch.Generator().manual_seed(0))
    schedule = owl_layer_sparsity(model, ids, 0.5, lmbda=0.08)
    per_block = [schedule[f"model.layers.{b}.mlp.down_proj"] for b in range(3)]
    assert len(schedule) == 21 and len({schedule[n] for n in schedule if ".layers.1." in n}) == 1
    assert np.mean(per_block) == pytest.approx(0.5)
    assert min(per_block) == per_block[1]
    assert max(per_block) - min(per_block) == pytest.approx(0.16)
    report = prune_model(model, ids, sparsity=schedule, progress=False)
    assert {r.name: r.sparsity for r in report.layers} == pytest.approx(schedule, abs=1e-3)


def test_owl_rejects_a_range_outside_zero_one():
    with pytest.raises(ValueError, match="must stay inside"):
        owl_layer_sparsity(_llama_with_outliers_in_block(0), torch.zeros(1, 4, dtype=torch.long), 0.9, lmbda=0.08)
