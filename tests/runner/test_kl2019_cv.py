import json

from multisource.learners.kl2019_cv import LAMBDA_GRID
from multisource.runner import ExperimentSpec, Store, run_experiment


def test_kl2019_with_lam_cv_picks_lambda_from_the_grid_and_beats_all_data_under_label_flip(write_spec, tmp_path):
    spec = ExperimentSpec.from_toml(
        write_spec(
            (
                'rules = ["all_data",',
                'rules = [{name = "kl2019", params = {lam = "cv"}, label = "kl2019_cv"}, "all_data",',
            ),
            ("alphas = [0.0, 0.2]", "alphas = [0.4]"),
        )
    )
    with Store(tmp_path / "s.sqlite") as store:
        run_experiment(spec, store, progress=False)
        rows = store.rows()
    cv_rows = [r for r in rows if r["rule"] == "kl2019_cv"]
    assert len(cv_rows) == 2
    for row in cv_rows:
        assert json.loads(row["info"])["lam"] in LAMBDA_GRID

    def mean(rule):
        return sum(r["error"] for r in rows if r["rule"] == rule) / 2

    assert mean("kl2019_cv") < mean("all_data")
