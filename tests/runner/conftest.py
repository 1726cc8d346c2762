"""A tiny but real experiment (breast cancer, 5 sources of 20 samples, 2 seeds) shared by the runner tests."""

import pytest

TINY_SPEC = """
name = "tiny"
seeds = [0, 1]
alphas = [0.0, 0.2]
rules = ["all_data", "clean_only", "quantile", "threshold_majority",
         {aggregator = "mean", label = "mean_of_models"}, "proba:coordinate_median"]

[data]
dataset = "breast_cancer"
n_sources = 5
m = 20

[discrepancy]
name = "linear"
params = {l2 = 1.0}

[[attacks]]
name = "label_flip"
params = {p = 1.0}
"""


@pytest.fixture
def write_spec(tmp_path):
    """``write_spec(replacements...)``: the tiny spec with ``(old, new)`` text replacements, as a file."""

    def write(*replacements: tuple[str, str], extra: str = "") -> object:
        text = TINY_SPEC
        for old, new in replacements:
            assert old in text, old
            text = text.replace(old, new, 1)
        path = tmp_path / "spec.toml"
        path.write_text(text + extra)
        return path

    return write


@pytest.fixture
def tiny_spec_path(write_spec):
    return write_spec()
