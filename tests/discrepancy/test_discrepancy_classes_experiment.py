"""The small setting of experiments/discrepancy_classes.py: the linear class separates label-flipped digits
sources, the 16-unit MLP over-fits small sources (clean pairs at disc ~ 1), and the report is written."""

from __future__ import annotations

import importlib.util
from pathlib import Path


def _experiment():
    path = Path(__file__).resolve().parents[2] / "experiments" / "discrepancy_classes.py"
    spec = importlib.util.spec_from_file_location("discrepancy_classes", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_linear_separates_label_flips_and_the_wide_mlp_over_fits_small_sources(tmp_path) -> None:
    module = _experiment()
    rows = module.class_scores("label_flip", 50, seed=0)
    by_class = {r["class"]: r for r in rows}
    assert set(by_class) == set(module.CLASSES)
    assert by_class["linear"]["auc"] > 0.9 and by_class["linear"]["separation"] > 0.2
    # 1,200 weights per net against 100 pooled samples: any two clean sources are told apart.
    assert by_class["mlp (16 hidden)"]["clean_clean"] > 0.9 > by_class["linear"]["clean_clean"] + 0.3
    module.write_results(rows, tmp_path, seeds=1)
    assert "| label_flip | 50 | linear |" in (tmp_path / "classes.md").read_text()
    assert (tmp_path / "classes.png").stat().st_size > 1000
