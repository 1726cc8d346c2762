"""Rule records: what each rule declares, and calling a record from Python with a RuleContext."""

import math

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from multisource.data.dataset import MultiSourceDataset
from multisource.data.selection import Selection
from multisource.filtering import FILTERING_RULES, FilteringRule, RuleContext, threshold_majority
from multisource.learners.kl2019_cv import select_lambda


def _flipped_sources_dataset(n_per_source=40, n_sources=5, n_flipped=2, seed=0):
    """Linear-separable sources, the last ``n_flipped`` of them with every label flipped."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n_per_source * n_sources, 2))
    source = np.repeat(np.arange(n_sources), n_per_source)
    y = (X[:, 0] > 0).astype(int)
    y = np.where(source >= n_sources - n_flipped, 1 - y, y)
    return MultiSourceDataset(X=X, y=y, source=source, X_test=X[:5], y_test=y[:5], n_classes=2, n_sources=n_sources)


# Sources 0-2 agree; 3 and 4 are far from them (their labels are flipped).
DISC = np.array(
    [
        [0.0, 0.1, 0.1, 0.9, 0.9],
        [0.1, 0.0, 0.1, 0.9, 0.9],
        [0.1, 0.1, 0.0, 0.9, 0.9],
        [0.9, 0.9, 0.9, 0.0, 0.1],
        [0.9, 0.9, 0.9, 0.1, 0.0],
    ]
)
SIZES = np.full(5, 40)
BAD = np.array([False, False, False, True, True])


def _context(seed=0, bad=None):
    return RuleContext(_flipped_sources_dataset(), DISC, LogisticRegression(), seed=seed, bad=bad)


@pytest.mark.parametrize(
    ("name", "kind", "needs_bad"),
    [
        ("all_data", "baseline", False),
        ("clean_only", "baseline", True),
        ("single_trusted", "baseline", True),
        ("threshold_majority", "filter", False),
        ("known_alpha", "filter", False),
        ("quantile", "filter", False),
        ("multi_krum", "filter", False),
        ("kl2019", "filter", False),
    ],
)
def test_every_rule_declares_its_kind_and_whether_it_is_an_oracle(name, kind, needs_bad):
    record = FILTERING_RULES.get(name)
    assert isinstance(record, FilteringRule)
    assert (record.name, record.kind, record.needs_bad) == (name, kind, needs_bad)


def test_an_oracle_reads_the_bad_mask_from_the_context():
    selection = FILTERING_RULES.get("clean_only")(DISC, SIZES, context=_context(bad=BAD))
    np.testing.assert_array_equal(selection.kept, ~BAD)
    trusted = FILTERING_RULES.get("single_trusted")(DISC, SIZES, context=_context(bad=~BAD))
    np.testing.assert_array_equal(trusted.kept, [False, False, False, True, False])  # the first clean source


def test_a_rule_that_is_not_an_oracle_never_sees_the_bad_mask():
    seen = []

    def spy(context, params):
        seen.append(context.bad)
        return params

    record = FilteringRule(name="spy", kind="filter", fn=threshold_majority, resolve=spy)
    record(DISC, SIZES, context=_context(bad=BAD), threshold=0.5)
    assert seen == [None]


def test_kl2019_with_lam_cv_from_python_cross_validates_with_the_context_seed():
    context = _context(seed=3)
    selection = FILTERING_RULES.get("kl2019")(DISC, SIZES, lam="cv", context=context)
    # Reference: the source with the smallest median row, source 0 (ties go to the lowest index).
    expected = select_lambda(context.dataset, DISC[0], 0, LogisticRegression(), seed=3).best
    assert selection.info["lam"] == expected and selection.info["reference"] == 0
    # The flipped sources 3 and 4 are 0.9 away from the reference: the chosen weights drop them.
    np.testing.assert_array_equal(selection.kept[3:], [False, False])


def test_kl2019_with_lam_cv_needs_a_context():
    with pytest.raises(ValueError, match="lam='cv' needs context=RuleContext"):
        FILTERING_RULES.get("kl2019")(DISC, SIZES, lam="cv")


def test_theory_threshold_from_python_matches_the_closed_form():
    # VC dimension 3 (lines in 2-D); m = 40 > d: ln Pi(40) = min(40 ln 2, 3 ln(40 e / 3)) = 3 ln(40 e / 3).
    rad = math.sqrt(3 * math.log(40 * math.e / 3) / 80)
    s = 2 * (2 * rad + math.sqrt(math.log(4 * 5 / 0.05) / 80))
    selection = FILTERING_RULES.get("threshold_majority")(DISC, SIZES, threshold="theory", vc_dimension=3)
    assert selection.info["threshold"] == pytest.approx(s, rel=1e-12)
    from_context = FILTERING_RULES.get("known_alpha")(DISC, SIZES, 0.2, threshold="theory", context=_context())
    assert from_context.info["threshold"] == pytest.approx(s, rel=1e-12)  # d + 1 = 3 from the 2 features


def test_theory_threshold_without_a_vc_dimension_needs_a_context():
    with pytest.raises(ValueError, match="vc_dimension=<VC dimension of H> or context="):
        FILTERING_RULES.get("threshold_majority")(DISC, SIZES, threshold="theory")


def test_a_misspelt_parameter_is_an_error_not_ignored():
    with pytest.raises(TypeError, match="n_bda"):
        FILTERING_RULES.get("quantile")(DISC, SIZES, n_bda=2)


def test_registration_is_one_decorator_that_returns_the_function():
    def keep_first(disc, sizes, alpha=None):
        return Selection.from_mask(np.arange(len(sizes)) == 0, sizes)

    assert FILTERING_RULES.register("test_keep_first", overwrite=True)(keep_first) is keep_first
    assert FILTERING_RULES.get("test_keep_first")(DISC, SIZES).kept.tolist() == [1, 0, 0, 0, 0]
    with pytest.raises(ValueError, match="kind must be one of"):
        FILTERING_RULES.register("test_bad_kind", kind="aggregator")(keep_first)
    with pytest.raises(ValueError, match="already registered"):
        FILTERING_RULES.register("quantile")(keep_first)


def test_a_rule_context_needs_a_non_negative_integer_seed():
    with pytest.raises(ValueError, match="seed must be >= 0"):
        _context(seed=-1)
