"""The small setting of experiments/oneshot_grid.py runs end to end and writes its table."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pandas as pd


def test_oneshot_grid_small_setting_writes_one_table_of_filters_and_aggregators(tmp_path) -> None:
    path = Path(__file__).resolve().parents[2] / "experiments" / "oneshot_grid.py"
    spec = importlib.util.spec_from_file_location("oneshot_grid", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    store, out = tmp_path / "grid.sqlite", tmp_path / "out"
    assert module.main(["--small", "--datasets", "digits", "--store", str(store), "--out", str(out)]) == 0
    cells = pd.read_csv(out / "summary.csv")
    # alpha = 0 (no attack) and 4 bad sources under a data attack and two update attacks.
    assert set(cells["attack"]) == {"none", "label_flip(p=1.0)", "sign_flip", "infinity"}
    assert set(cells["n_bad"]) == {0, 4}
    attacked = cells[cells["n_bad"] == 4]
    # krum needs 10 > 2 * 4 + 2: no row; filters only under the data attack.
    assert "agg:krum" not in set(attacked["rule"])
    assert set(attacked[attacked["attack"] == "sign_flip"]["rule"]) == {
        "agg:mean",
        "agg:nnm+trimmed_mean",
        "proba:coordinate_median",
    }
    flip = attacked[attacked["attack"] == "label_flip(p=1.0)"]
    assert {"all_data", "quantile", "agg:mean"} <= set(flip["rule"])
    assert flip["bound_fixed"].notna().sum() == 1  # quantile: the only filter (all_data is a baseline)
    assert cells["error_mean"].between(0, 1).all()
    table = (out / "table.md").read_text()
    assert "### oneshot_digits_small: 4 bad sources of 10" in table
    assert "| agg:nnm+trimmed_mean |" in table and "| quantile |" in table
