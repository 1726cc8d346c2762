"""The small setting of experiments/cnn_digits.py runs end to end and writes its report."""

from __future__ import annotations

import importlib.util
from pathlib import Path


def test_cnn_digits_small_setting_runs_and_sparsegpt_keeps_more_than_magnitude(tmp_path) -> None:
    path = Path(__file__).resolve().parents[2] / "experiments" / "cnn_digits.py"
    spec = importlib.util.spec_from_file_location("cnn_digits", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    rows = module.main(["--small", "--out", str(tmp_path)])
    accuracy = {r["model"]: r["accuracy"] for r in rows}
    pruned = [
        f"CNN, {m} 50%{scope}" for m in ("sparsegpt", "wanda", "magnitude") for scope in ("", ", first conv dense")
    ]
    assert set(accuracy) == {"MLP (64)", "MLP (256)", "CNN", *pruned}
    assert all(0.1 < value <= 1.0 for value in accuracy.values())
    assert accuracy["CNN, sparsegpt 50%"] > accuracy["CNN, magnitude 50%"]
    report = (tmp_path / "cnn_digits.md").read_text()
    assert "| CNN, sparsegpt 50% |" in report and "CNN vs the best MLP" in report
    assert (tmp_path / "cnn_pruning.png").stat().st_size > 1000
