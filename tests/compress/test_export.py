"""Compressed export round trips: compressed-tensors' own decompression gives back the pruned weights.

Oracles: the pruned model's own weights and outputs (what the export must reproduce), the dense file
``save_pruned`` writes (what the compressed file must undercut), and, for quantization, the grid the
solver reported, from which the expected integer codes are recomputed by hand.
"""

import json

import pytest
import torch
from torch import nn

pytest.importorskip("compressed_tensors")
transformers = pytest.importorskip("transformers")

from multisource.compress import prune_classifier, prune_model, save_pruned  # noqa: E402
from multisource.compress.export import load_compressed, save_compressed  # noqa: E402

TARGETS = {
    "50%": {"sparsity": 0.5},
    "2:4": {"pattern": "2:4"},
    "50%+4bit": {"sparsity": 0.5, "bits": 4},
}
# compressed / dense upper bounds: float32 values + 1 bit of mask per weight, or 4 bits per weight
MAX_RATIO = {"50%": 0.6, "2:4": 0.58, "50%+4bit": 0.2}
FORMATS = {"50%": "sparse-bitmask", "2:4": "sparse-24-bitmask", "50%+4bit": "dense"}


def _mlp() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 32))


def _llama() -> nn.Module:
    torch.manual_seed(0)
    config = transformers.LlamaConfig(
        vocab_size=96,
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=64,
    )
    return transformers.LlamaForCausalLM(config).eval()


def _file_size(folder) -> int:
    return (folder / "model.safetensors").stat().st_size


@pytest.mark.parametrize("name", list(TARGETS))
def test_mlp_round_trip_gives_back_the_pruned_weights_and_a_smaller_file(name, tmp_path):
    net = _mlp()
    X = torch.randn(256, 64, generator=torch.Generator().manual_seed(1))
    report = prune_classifier(net, X, torch.zeros(256, dtype=torch.long), device="cpu", **TARGETS[name])
    sizes = save_compressed(net, tmp_path / "c", report)
    save_pruned(net, tmp_path / "d")
    loaded = load_compressed(tmp_path / "c", _mlp())  # dense weights to overwrite
    for (key, want), got in zip(net.state_dict().items(), loaded.state_dict().values(), strict=True):
        torch.testing.assert_close(got, want, rtol=0, atol=1e-6 if name == "50%+4bit" else 0, msg=key)
    with torch.no_grad():
        torch.testing.assert_close(loaded(X), net(X), rtol=0, atol=1e-5)
    ratio = _file_size(tmp_path / "c") / _file_size(tmp_path / "d")
    assert ratio < MAX_RATIO[name]
    assert sizes.compressed_bytes == _file_size(tmp_path / "c")
    assert abs(sizes.ratio - ratio) < 0.02  # dense tensor bytes vs the dense file: only its header differs
    config = json.loads((tmp_path / "c" / "config.json").read_text())["quantization_config"]
    assert config["sparsity_config"]["format"] == FORMATS[name]


def test_packed_codes_are_the_solvers_grid_indices(tmp_path):
    from safetensors.torch import load_file

    net = _mlp()
    X = torch.randn(256, 64, generator=torch.Generator().manual_seed(2))
    report = prune_classifier(net, X, torch.zeros(256, dtype=torch.long), device="cpu", sparsity=0.5, bits=4)
    save_compressed(net, tmp_path, report)
    tensors = load_file(str(tmp_path / "model.safetensors"))
    grid = report.grids["0"]
    W = net[0].weight.detach()
    codes = torch.round(W / grid.scale[:, None]) + grid.zero[:, None]  # unsigned codes in [0, 15]
    assert codes.min() >= 0 and codes.max() <= 15
    # hand packing: 8 signed 4-bit codes per int32, lowest nibble first, stored with offset 8
    nibbles = codes.to(torch.int64).reshape(W.shape[0], -1, 8)
    packed = (nibbles << (4 * torch.arange(8))).sum(-1)
    packed = torch.where(packed >= 2**31, packed - 2**32, packed).to(torch.int32)
    torch.testing.assert_close(tensors["0.weight_packed"], packed, rtol=0, atol=0)
    torch.testing.assert_close(tensors["0.weight_scale"].flatten(), grid.scale.float(), rtol=0, atol=0)
    assert "0.weight" not in tensors and "0.bias" in tensors


@pytest.mark.parametrize("name", list(TARGETS))
def test_tiny_llama_round_trip_keeps_the_logits(name, tmp_path):
    model = _llama()
    ids = torch.randint(0, 96, (8, 16), generator=torch.Generator().manual_seed(0))
    report = prune_model(model, ids, device="cpu", progress=False, **TARGETS[name])
    assert not report.skipped
    save_compressed(model, tmp_path / "c", report)
    save_pruned(model, tmp_path / "d")
    loaded = load_compressed(tmp_path / "c", _llama())  # dense weights to overwrite
    with torch.no_grad():
        want, got = model(ids).logits, loaded(ids).logits
    torch.testing.assert_close(got, want, rtol=0, atol=1e-5 if name == "50%+4bit" else 0)
    assert _file_size(tmp_path / "c") / _file_size(tmp_path / "d") < 1.0
    config = json.loads((tmp_path / "c" / "config.json").read_text())
    assert config["model_type"] == "llama" and config["quantization_config"]["quant_method"] == "compressed-tensors"


def test_load_refuses_a_model_that_does_not_fit(tmp_path):
    net = _mlp()
    report = prune_classifier(net, torch.randn(64, 64), torch.zeros(64, dtype=torch.long), device="cpu")
    save_compressed(net, tmp_path, report)
    other = nn.Sequential(nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 32), nn.Linear(32, 2))
    with pytest.raises(ValueError, match="missing tensors"):
        load_compressed(tmp_path, other)
    with pytest.raises(FileNotFoundError, match="save_compressed"):
        load_compressed(tmp_path / "nothing", net)


def test_save_refuses_a_report_of_another_model_before_writing(tmp_path):
    net = _mlp()
    report = prune_classifier(net, torch.randn(64, 64), torch.zeros(64, dtype=torch.long), device="cpu")
    with pytest.raises(ValueError, match="does not have"):
        save_compressed(nn.Sequential(nn.Linear(64, 2)), tmp_path / "out", report)
    with pytest.raises(TypeError, match="PruneReport"):
        save_compressed(net, tmp_path / "out", {"layers": []})
    assert not (tmp_path / "out").exists()


def test_prune_command_refuses_an_export_path_that_is_a_file_before_loading_the_model(tmp_path, capsys):
    import argparse

    from multisource.cli import prune as prune_command

    parser = argparse.ArgumentParser(prog="multisource prune")
    prune_command.configure(parser)
    afile = tmp_path / "taken"
    afile.write_text("")
    # the model folder does not exist either: the --export error must come first, before any load
    args = parser.parse_args(["--model", str(tmp_path / "absent"), "--export", str(afile)])
    assert prune_command.main(args) == 2
    assert "--export must be a folder" in capsys.readouterr().err
