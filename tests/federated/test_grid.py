"""experiments/federated_grid.py in its small setting writes the table, the optimizer table and a figure."""

import importlib.util
import sys
from pathlib import Path


def test_small_grid_writes_its_tables_and_figure(tmp_path):
    path = Path(__file__).resolve().parents[2] / "experiments" / "federated_grid.py"
    spec = importlib.util.spec_from_file_location("federated_grid", path)
    grid = importlib.util.module_from_spec(spec)
    sys.modules["federated_grid"] = grid  # dataclasses look their module up
    spec.loader.exec_module(grid)
    grid.main(["--small", "--results", str(tmp_path / "r.jsonl"), "--out", str(tmp_path / "out")])
    table = (tmp_path / "out" / "table.md").read_text()
    assert "### digits, n_bad = 4 of 10" in table and "| krum | n/a | n/a | n/a |" in table
    # The worst case of each rule over the attacks: Krum needs n > 2 n_bad + 2, so it is n/a at 4 of 10.
    assert "### digits: worst case over the attacks" in table
    assert next(line for line in table.splitlines() if line.startswith("| krum |")).endswith("| n/a |")
    assert (tmp_path / "out" / "curves_digits.png").stat().st_size > 1000
    assert "nnm+mean" in (tmp_path / "out" / "optimizers.md").read_text()
