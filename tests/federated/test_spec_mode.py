"""mode = "federated" specs: `multisource run` writes per-round rows, a killed run resumes by round,
finished cells are skipped, and `multisource report` prints the final-accuracy table."""

import pytest

from multisource.cli import main as cli_main
from multisource.runner.federated_run import FederatedSpec, run_federated_spec
from multisource.runner.store import Store

SPEC = """
name = "fed_tiny"
mode = "federated"
seeds = [0]
[data]
dataset = "digits"
n_sources = 10
m = 40
[federated]
rounds = 3
local_steps = 2
lr = 0.2
device = "cpu"
n_bad = [0, 4]
aggregators = ["mean", {name = "krum", pre = ["nnm"]}]
attacks = ["sign_flip", {name = "label_flip", kind = "data"}]
"""


@pytest.fixture
def spec_path(tmp_path):
    path = tmp_path / "fed.toml"
    path.write_text(SPEC)
    return path


def test_cli_runs_a_federated_spec_and_reports_it(spec_path, tmp_path, capsys):
    store = tmp_path / "fed.sqlite"
    assert cli_main(["run", str(spec_path), "--store", str(store), "--no-progress"]) == 0
    assert "4 federated cells run (12 rounds), 0 already finished, 2 skipped" in capsys.readouterr().out
    with Store(store, create=False) as s:
        cells = s.federated_cells()
        assert len(cells) == 6 and sum(c["status"] == "skipped" for c in cells) == 2  # Krum at n_bad 4 of 10
        ok = next(c for c in cells if c["status"] == "ok")
        assert [r["round"] for r in s.federated_rounds(ok["key"])] == [1, 2, 3]
    assert cli_main(["run", str(spec_path), "--store", str(store), "--no-progress"]) == 0
    assert "0 federated cells run (0 rounds), 6 already finished" in capsys.readouterr().out
    assert cli_main(["report", str(store)]) == 0
    assert "| mean |" in capsys.readouterr().out


def test_a_killed_spec_run_resumes_the_cell_at_its_next_round(spec_path, tmp_path):
    spec = FederatedSpec.from_toml(spec_path)
    with Store(tmp_path / "full.sqlite") as full:
        run_federated_spec(spec, full, progress=False)
        expected = {c["key"]: full.federated_rounds(c["key"]) for c in full.federated_cells()}

    class KilledError(Exception):
        pass

    with Store(tmp_path / "killed.sqlite") as store:
        original, calls = store.add_federated_round, []

        def dies_at_the_fifth_round(key, row):
            calls.append(row["round"])
            if len(calls) == 5:
                raise KilledError
            original(key, row)

        store.add_federated_round = dies_at_the_fifth_round
        with pytest.raises(KilledError):
            run_federated_spec(spec, store, progress=False)
        store.add_federated_round = original
        run_federated_spec(spec, store, progress=False)
        for key, rounds in expected.items():
            got = store.federated_rounds(key)
            assert [(r["round"], r["test_accuracy"]) for r in got] == [(r["round"], r["test_accuracy"]) for r in rounds]


def test_a_bad_federated_spec_is_refused_before_any_work(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text(SPEC.replace('aggregators = ["mean"', 'aggregators = ["meen"'))
    with pytest.raises(ValueError, match="unknown aggregator 'meen'"):
        FederatedSpec.from_toml(path)
