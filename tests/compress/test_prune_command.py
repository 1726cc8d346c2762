"""`multisource prune` end to end on a tiny Llama saved with a small BPE tokenizer trained here."""

from __future__ import annotations

import os

import pytest
import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")
transformers = pytest.importorskip("transformers")
tokenizers = pytest.importorskip("tokenizers")

import argparse  # noqa: E402

from multisource.cli import prune as prune_command  # noqa: E402
from multisource.compress.evaluation import sparsity_report  # noqa: E402
from multisource.compress.models import load_pruned  # noqa: E402
from multisource.data.text import text_portion  # noqa: E402


def main(argv: list[str]) -> int:
    """The command as ``multisource prune ...`` runs it."""
    assert argv[0] == "prune"
    parser = argparse.ArgumentParser(prog="multisource prune")
    prune_command.configure(parser)
    return prune_command.main(parser.parse_args(argv[1:]))


@pytest.fixture(scope="module")
def tiny_model_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tiny_llama")
    bpe = tokenizers.Tokenizer(tokenizers.models.BPE(unk_token="<unk>"))
    bpe.pre_tokenizer = tokenizers.pre_tokenizers.ByteLevel()
    trainer = tokenizers.trainers.BpeTrainer(
        vocab_size=300, special_tokens=["<unk>"], initial_alphabet=tokenizers.pre_tokenizers.ByteLevel.alphabet()
    )
    bpe.train_from_iterator([text_portion("pydocs", "train")[:20000], text_portion("kjv", "train")[:20000]], trainer)
    transformers.PreTrainedTokenizerFast(tokenizer_object=bpe, unk_token="<unk>").save_pretrained(folder)
    torch.manual_seed(0)
    config = transformers.LlamaConfig(
        vocab_size=bpe.get_vocab_size(),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
    )
    transformers.LlamaForCausalLM(config).save_pretrained(folder)
    return folder


def test_prune_command_prints_progress_and_perplexities_and_saves_a_2_4_model(tiny_model_dir, tmp_path, capsys):
    out = tmp_path / "pruned"
    code = main(
        [
            "prune",
            "--model",
            str(tiny_model_dir),
            "--method",
            "sparsegpt",
            "--pattern",
            "2:4",
            "--calib-tokens",
            "96",
            "--calib-corpora",
            "pydocs",
            "--seqlen",
            "32",
            "--eval-tokens",
            "128",
            "--device",
            "cpu",
            "--out",
            str(out),
        ]
    )
    printed = capsys.readouterr().out
    assert code == 0
    progress = [line for line in printed.splitlines() if line.startswith("[")]
    assert len(progress) == 14 and all("sparsity 0.500" in line for line in progress)  # one line per layer
    assert "calibration: pydocs (3 x 32 tokens)" in printed
    assert "| kjv |" in printed and "| pydocs |" in printed
    rows = sparsity_report(load_pruned(out), pattern="2:4")
    assert all(r.nm_ok for r in rows)


def test_prune_command_reports_bad_sparsity_clearly(tiny_model_dir, capsys):
    code = main(
        [
            "prune",
            "--model",
            str(tiny_model_dir),
            "--sparsity",
            "1.5",
            "--calib-tokens",
            "32",
            "--seqlen",
            "32",
            "--eval-tokens",
            "64",
            "--device",
            "cpu",
        ]
    )
    assert code == 2
    assert "sparsity must lie in [0.0, 1.0)" in capsys.readouterr().err


def test_prune_command_rejects_a_bad_pattern_at_parse_time(capsys):
    with pytest.raises(SystemExit):
        main(["prune", "--pattern", "4:4"])
    assert "N must be smaller than M" in capsys.readouterr().err


def test_prune_is_a_multisource_command():
    from multisource.cli import build_parser

    args = build_parser().parse_args(["prune", "--method", "wanda", "--pattern", "2:4", "--bits", "4"])
    assert args._main is prune_command.main
    assert (args.method, args.pattern, args.bits) == ("wanda", "2:4", 4)
