"""Sequential driver on tiny random Llama / OPT / GPT-2 models and a plain MLP (mechanics, save/load)."""

from __future__ import annotations

import os

import pytest
import torch
from torch import nn

os.environ.setdefault("HF_HUB_OFFLINE", "1")
transformers = pytest.importorskip("transformers")

from multisource.compress.adapters import find_adapter, prunable_layers, weight_matrix  # noqa: E402
from multisource.compress.driver import prune_model  # noqa: E402
from multisource.compress.evaluation import sparsity_report  # noqa: E402
from multisource.compress.methods import LayerPruner  # noqa: E402
from multisource.compress.models import load_pruned, save_pruned  # noqa: E402
from multisource.compress.sparsegpt import SparseGPTOptions, sparsegpt_pruner  # noqa: E402

VOCAB = 96


def _tiny(family: str) -> nn.Module:
    torch.manual_seed(0)
    if family == "llama":
        config = transformers.LlamaConfig(
            vocab_size=VOCAB,
            hidden_size=32,
            intermediate_size=64,
            num_hidden_layers=2,
            num_attention_heads=4,
            num_key_value_heads=2,
            max_position_embeddings=64,
        )
        return transformers.LlamaForCausalLM(config).eval()
    if family == "opt":
        config = transformers.OPTConfig(
            vocab_size=VOCAB,
            hidden_size=32,
            ffn_dim=64,
            num_hidden_layers=2,
            num_attention_heads=4,
            word_embed_proj_dim=32,
            max_position_embeddings=64,
        )
        return transformers.OPTForCausalLM(config).eval()
    config = transformers.GPT2Config(vocab_size=VOCAB, n_embd=32, n_layer=2, n_head=4, n_positions=64)
    return transformers.GPT2LMHeadModel(config).eval()


def _ids(n=8, seqlen=16, seed=0):
    return torch.randint(0, VOCAB, (n, seqlen), generator=torch.Generator().manual_seed(seed))


FAMILIES = ["llama", "opt", "gpt2"]
EXPECTED_GROUPS = {
    "llama": [
        ["self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj"],
        ["self_attn.o_proj"],
        ["mlp.gate_proj", "mlp.up_proj"],
        ["mlp.down_proj"],
    ],
    "opt": [["self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj"], ["self_attn.out_proj"], ["fc1"], ["fc2"]],
    "gpt2": [["attn.c_attn"], ["attn.c_proj"], ["mlp.c_fc"], ["mlp.c_proj"]],
}


class _RecordingSparseGPT:
    """A layer pruner that records the Hessian the driver hands to each layer, then runs SparseGPT."""

    def __init__(self):
        self.hessians: dict[tuple[int, int], torch.Tensor] = {}
        self.record = LayerPruner("recording_sparsegpt", self, SparseGPTOptions)

    def __call__(self, W, H, target, options):
        self.hessians[tuple(W.shape), len(self.hessians)] = H.clone()
        return sparsegpt_pruner(W, H, target, options)


def _layer_input_hessians(model, ids, names):
    """H = 2 X X^T / n of each named layer's input, measured by running ``model`` as it is now."""
    layers = dict(model.named_modules())
    sums, handles = {}, []
    for name in names:

        def hook(module, args, name=name):
            X = args[0].reshape(-1, args[0].shape[-1]).double()
            s, n = sums.get(name, (0, 0))
            sums[name] = (s + X.T @ X, n + X.shape[0])

        handles.append(layers[name].register_forward_pre_hook(hook))
    with torch.no_grad():
        model(input_ids=ids, use_cache=False)
    for handle in handles:
        handle.remove()
    return {name: 2 * s / n for name, (s, n) in sums.items()}


@pytest.mark.parametrize("family", FAMILIES)
def test_adapter_finds_blocks_and_layer_groups_in_compute_order(family):
    from multisource.compress.adapters import trace_layer_groups

    model = _tiny(family)
    adapter = find_adapter(model)
    assert adapter.family == family and len(adapter.blocks) == 2
    captured = {}

    def catch(module, args, kwargs):
        captured["args"], captured["kwargs"] = args, kwargs

    handle = adapter.blocks[0].register_forward_pre_hook(catch, with_kwargs=True)
    model(input_ids=_ids(2), use_cache=False)
    handle.remove()
    groups = trace_layer_groups(adapter.blocks[0], lambda: adapter.blocks[0](*captured["args"], **captured["kwargs"]))
    assert groups == EXPECTED_GROUPS[family]


@pytest.mark.parametrize("family", FAMILIES)
def test_every_hessian_comes_from_the_already_pruned_model(family):
    """With sequential='layer', layer l's H equals its input Hessian in the *final* pruned model:
    its inputs depend only on layers pruned before it (earlier blocks and earlier groups)."""
    model = _tiny(family).double()
    ids = _ids()
    recorder = _RecordingSparseGPT()
    report = prune_model(
        model, ids, method=recorder.record, sparsity=0.5, batch_size=3, hessian_dtype=torch.float64, progress=False
    )
    names = [r.name for r in report.layers]
    expected = _layer_input_hessians(model, ids, names)
    recorded = list(recorder.hessians.values())
    for name, H in zip(names, recorded, strict=True):
        torch.testing.assert_close(H, expected[name], rtol=1e-8, atol=1e-10, msg=name)


def test_block_mode_takes_hessians_of_a_block_from_its_dense_version():
    model = _tiny("llama").double()
    dense = _tiny("llama").double()
    ids = _ids()
    recorder = _RecordingSparseGPT()
    report = prune_model(
        model,
        ids,
        method=recorder.record,
        sparsity=0.5,
        sequential="block",
        hessian_dtype=torch.float64,
        progress=False,
    )
    names = [r.name for r in report.layers]
    o_proj = names.index("model.layers.0.self_attn.o_proj")
    expected = _layer_input_hessians(dense, ids, ["model.layers.0.self_attn.o_proj"])
    torch.testing.assert_close(list(recorder.hessians.values())[o_proj], expected["model.layers.0.self_attn.o_proj"])


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("method", ["sparsegpt", "wanda", "magnitude"])
def test_all_block_layers_reach_the_target_and_embeddings_and_head_stay_dense(family, method):
    model = _tiny(family)
    dense = {k: v.clone() for k, v in model.state_dict().items()}
    report = prune_model(model, _ids(), method=method, pattern="2:4", progress=False, calibration_name="random")
    assert report.calibration == "random" and report.family == family
    rows = sparsity_report(model, pattern="2:4")
    assert len(rows) == 2 * sum(map(len, EXPECTED_GROUPS[family])) and all(
        r.nm_ok and r.sparsity == pytest.approx(0.5) for r in rows
    )
    block_weights = {f"{name}.weight" for name in prunable_layers(model)}
    for key, value in model.state_dict().items():
        if key not in block_weights:
            assert torch.equal(value, dense[key]), key


def test_per_layer_sparsity_from_a_dict_and_unlisted_layers_stay_dense():
    model = _tiny("llama")
    targets = {"model.layers.0.mlp.down_proj": 0.25, "model.layers.1.self_attn.q_proj": 0.75}
    report = prune_model(model, _ids(), sparsity=targets, progress=False)
    assert {r.name: r.sparsity for r in report.layers} == pytest.approx(targets)
    measured = {r.name: r.sparsity for r in sparsity_report(model)}
    assert measured["model.layers.0.mlp.down_proj"] == pytest.approx(0.25)
    assert measured["model.layers.0.mlp.up_proj"] == 0.0


def test_generic_mlp_is_pruned_as_one_block_and_sparsegpt_beats_magnitude():
    torch.manual_seed(0)
    X = torch.randn(256, 12) * torch.exp(torch.randn(12))

    def net():
        torch.manual_seed(1)
        return nn.Sequential(nn.Linear(12, 32), nn.ReLU(), nn.Linear(32, 4))

    dense = net()
    errors = {}
    for method in ("magnitude", "sparsegpt"):
        model = net()
        report = prune_model(model, X, method=method, sparsity=0.5, progress=False)
        assert report.family == "generic" and [r.name for r in report.layers] == ["0", "2"]
        with torch.no_grad():
            errors[method] = float((model(X) - dense(X)).pow(2).mean())
    assert errors["sparsegpt"] < errors["magnitude"]


def test_report_splits_time_between_forward_passes_and_solves():
    report = prune_model(_tiny("llama"), _ids(), sparsity=0.5, progress=False)
    assert report.forward_seconds > 0 and report.solve_seconds > 0
    assert report.forward_seconds + report.solve_seconds <= report.total_seconds
    assert report.sparsity == pytest.approx(0.5)
    assert report.table().count("\n") == 2 + len(report.layers) - 1


@pytest.mark.parametrize("family", FAMILIES)
def test_saved_pruned_model_loads_back_with_identical_outputs(tmp_path, family):
    model = _tiny(family)
    prune_model(model, _ids(), sparsity=0.5, progress=False)
    save_pruned(model, tmp_path)
    loaded = load_pruned(tmp_path)
    ids = _ids(2, seed=1)
    with torch.no_grad():
        torch.testing.assert_close(loaded(ids).logits, model(ids).logits, rtol=0, atol=0)


def test_saved_generic_net_loads_back_identically(tmp_path):
    model = nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.Linear(8, 2))
    prune_model(model, torch.randn(32, 6), sparsity=0.5, progress=False)
    save_pruned(model, tmp_path)
    fresh = load_pruned(tmp_path, nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.Linear(8, 2)))
    X = torch.randn(5, 6)
    assert torch.equal(fresh(X), model(X))


def test_model_without_linear_layers_is_rejected():
    with pytest.raises(ValueError, match=r"no nn\.Linear"):
        prune_model(nn.Sequential(nn.ReLU(), nn.Tanh()), torch.randn(4, 3), progress=False)


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        (dict(sparsity=1.0), ValueError, "sparsity"),
        (dict(pattern="4:2"), ValueError, "N must be smaller"),
        (dict(bits=20), ValueError, "bits"),
        (dict(method="obs"), ValueError, "unknown pruning method"),
        (dict(sequential="all"), ValueError, "sequential"),
        (dict(family="opt"), ValueError, "not a opt model"),
        (dict(sparsity={"model.layers.0.mlp.up_proj": 1.5}), ValueError, "sparsity"),
    ],
)
def test_bad_arguments_get_a_clear_error(kwargs, error, message):
    with pytest.raises(error, match=message):
        prune_model(_tiny("llama"), _ids(), progress=False, **kwargs)


def test_magnitude_needs_no_calibration_but_sparsegpt_does():
    prune_model(_tiny("llama"), None, method="magnitude", progress=False)
    with pytest.raises(ValueError, match="needs calibration"):
        prune_model(_tiny("llama"), None, method="sparsegpt", progress=False)


def test_weight_matrix_of_gpt2_conv1d_is_outputs_by_inputs():
    block = _tiny("gpt2").transformer.h[0]
    assert tuple(weight_matrix(block.mlp.c_fc).shape) == (128, 32)


def test_a_pattern_sets_the_sparsity_whatever_the_sparsity_argument():
    model = _tiny("opt")
    report = prune_model(model, _ids(), pattern="1:4", progress=False)  # default sparsity=0.5 is ignored
    assert all(r.target_sparsity == 0.25 and r.sparsity == 0.25 for r in report.layers)
    assert all(r.nm_ok for r in sparsity_report(model, pattern="1:4"))
