"""The one call shape: records that declare what a rule needs, clear errors, inputs returned in kind."""

import inspect

import numpy as np
import pytest
import torch
from scipy.spatial.distance import cdist

import multisource.aggregation as agg
from multisource.aggregation import AGGREGATORS, PRE_AGGREGATORS

N, D, N_BAD = 11, 5, 2  # n >= 4 n_bad + 3: every rule's condition holds
ALL_RULES = [(AGGREGATORS, name) for name in AGGREGATORS] + [(PRE_AGGREGATORS, name) for name in PRE_AGGREGATORS]


def _kwargs(record, X):
    kwargs = {"n_bad": N_BAD} if record.uses_n_bad else {}
    if record.needs_reference:
        kwargs["reference"] = X[0] + 0.5
    return kwargs


def _inputs(seed=0):
    return np.random.default_rng(seed).normal(size=(N, D))


@pytest.mark.parametrize(("registry", "name"), ALL_RULES)
def test_each_record_declares_exactly_the_keyword_options_of_its_rule(registry, name):
    record = registry.get(name)
    params = inspect.signature(record.function).parameters
    keyword_only = {p for p, v in params.items() if v.kind is inspect.Parameter.KEYWORD_ONLY}
    assert set(record.options) == keyword_only - {"n_bad", "reference"}
    assert record.uses_n_bad == ("n_bad" in keyword_only)
    assert record.needs_reference == ("reference" in keyword_only)
    assert not any(v.kind is inspect.Parameter.VAR_KEYWORD for v in params.values())
    assert record.paper


def test_a_misspelt_option_is_an_error_that_lists_the_valid_ones():
    with pytest.raises(ValueError, match=r"geometric_median has no option\(s\) \['maxiter'\]; valid options: "):
        agg.aggregate("geometric_median", _inputs(), params={"maxiter": 3})
    with pytest.raises(TypeError):
        agg.geometric_median(_inputs(), maxiter=3)


def test_an_unknown_rule_name_lists_the_registered_ones():
    with pytest.raises(ValueError, match=r"unknown aggregator 'krumm'; valid aggregator names: .*'krum'"):
        agg.aggregate("krumm", _inputs(), n_bad=1)


def test_aggregate_passes_n_bad_only_to_rules_that_use_it():
    X = _inputs()
    np.testing.assert_allclose(agg.aggregate("mean", X, n_bad=3), X.mean(axis=0), rtol=1e-14)
    np.testing.assert_array_equal(agg.aggregate("krum", X, n_bad=2), agg.krum(X, n_bad=2))
    with pytest.raises(ValueError, match="krum needs n_bad"):
        agg.aggregate("krum", X)


def test_fltrust_requires_its_trusted_reference_and_others_refuse_one():
    X = _inputs()
    with pytest.raises(ValueError, match="needs a trusted reference"):
        agg.aggregate("fltrust", X)
    with pytest.raises(ValueError, match="takes no reference"):
        agg.aggregate("mean", X, reference=X[0])
    np.testing.assert_array_equal(agg.aggregate("fltrust", X, reference=X[0]), agg.fltrust(X, reference=X[0]))


@pytest.mark.parametrize(
    ("rule", "n", "n_bad", "message"),
    [
        (agg.krum, 6, 2, r"krum needs n > 2 n_bad \+ 2: n_bad must be in \[0, 1\] for n = 6, got 2"),
        (agg.multi_krum, 2, 0, r"multi_krum needs n > 2 n_bad \+ 2, i.e. at least 3 inputs; got n = 2"),
        (agg.bulyan, 10, 2, r"bulyan needs n >= 4 n_bad \+ 3: n_bad must be in \[0, 1\] for n = 10, got 2"),
        (agg.trimmed_mean, 6, 3, r"trimmed_mean needs n > 2 n_bad: n_bad must be in \[0, 2\] for n = 6, got 3"),
        (agg.nnm, 4, 4, r"nnm needs n > n_bad: n_bad must be in \[0, 3\] for n = 4, got 4"),
        (agg.arc, 4, 5, r"arc needs n >= n_bad: n_bad must be in \[0, 4\] for n = 4, got 5"),
    ],
)
def test_a_condition_on_n_bad_fails_before_any_work_with_the_valid_range(rule, n, n_bad, message):
    X = np.full((n, 3), np.nan)  # the condition is checked before the NaN policy
    with pytest.raises(ValueError, match=message):
        rule(X, n_bad=n_bad)


def test_n_bad_is_a_non_negative_integer():
    with pytest.raises(ValueError, match="n_bad must be >= 0, got -1"):
        agg.krum(_inputs(), n_bad=-1)
    with pytest.raises(TypeError, match="n_bad must be an integer"):
        agg.krum(_inputs(), n_bad=1.5)


@pytest.mark.parametrize("rule", [agg.mda, agg.smea])
def test_exhaustive_subset_searches_refuse_more_subsets_than_their_bound(rule):
    X = np.random.default_rng(0).normal(size=(30, 2))
    with pytest.raises(ValueError, match=r"C\(30, 5\) = 142506 subsets, more than max_subsets = 100000"):
        rule(X, n_bad=5, max_subsets=100_000)


@pytest.mark.parametrize(
    ("rule", "options", "message"),
    [
        (agg.multi_krum, {"n_bad": 1, "m": 0}, r"m must be >= 1, got 0"),
        (agg.multi_krum, {"n_bad": 1, "m": 31}, r"m must be <= 30, got 31"),
        (agg.mda, {"n_bad": 5, "max_subsets": 100_000}, r"more than max_subsets = 100000"),
        (agg.smea, {"n_bad": 5, "max_subsets": 100_000}, r"more than max_subsets = 100000"),
    ],
)
def test_a_rules_own_options_fail_before_any_work(rule, options, message):
    X = np.full((30, 3), np.nan)  # the options are checked before the distances and their NaN policy
    with pytest.raises(ValueError, match=message):
        rule(X, **options)


@pytest.mark.parametrize(("registry", "name"), ALL_RULES)
@pytest.mark.parametrize("bad_value", [np.nan, np.inf, -np.inf])
def test_nan_and_inf_inputs_are_rejected_with_the_rows_named(registry, name, bad_value):
    record = registry.get(name)
    assert record.nan_policy == "reject"
    X = _inputs()
    X[1, 2] = bad_value
    X[4, 0] = bad_value
    with pytest.raises(ValueError, match=r"vectors rows \[1, 4\] contain NaN or infinite values"):
        record.function(X, **_kwargs(record, _inputs()))


@pytest.mark.parametrize(
    ("vectors", "error", "message"),
    [
        (np.zeros(5), ValueError, r"must be an \(n, d\) matrix"),
        (np.zeros((0, 5)), ValueError, "n >= 1 vectors"),
        (np.zeros((3, 0)), ValueError, "dimension d >= 1"),
        ([], ValueError, "empty sequence"),
        ([np.zeros(3), np.zeros(4)], ValueError, "1-D vectors of one length"),
        ("abc", TypeError, "must be a numpy array, a torch tensor"),
        (np.array([["a", "b"]]), TypeError, "must hold numbers"),
    ],
)
def test_malformed_inputs_are_clear_errors(vectors, error, message):
    with pytest.raises(error, match=message):
        agg.mean(vectors)


def test_a_reference_of_the_wrong_shape_is_an_error():
    with pytest.raises(ValueError, match=r"reference must have shape \(5,\)"):
        agg.fltrust(_inputs(), reference=np.ones(4))
    with pytest.raises(ValueError, match="non-zero"):
        agg.fltrust(_inputs(), reference=np.zeros(5))


def _as(kind, X):
    return {
        "numpy64": X,
        "numpy32": X.astype(np.float32),
        "numpy_int": np.round(3 * X).astype(np.int64),
        "torch64": torch.from_numpy(X),
        "torch32": torch.tensor(X, dtype=torch.float32),
        "list": list(X),
    }[kind]


def _snapshot(X):
    if isinstance(X, torch.Tensor):
        return X.numpy().copy()
    return np.stack(X) if isinstance(X, list) else X.copy()


@pytest.mark.parametrize(("registry", "name"), ALL_RULES)
@pytest.mark.parametrize(
    ("kind", "expected_type", "expected_dtype"),
    [
        ("numpy64", np.ndarray, np.float64),
        ("numpy32", np.ndarray, np.float32),
        ("numpy_int", np.ndarray, np.float64),
        ("torch64", torch.Tensor, torch.float64),
        ("torch32", torch.Tensor, torch.float32),
        ("list", np.ndarray, np.float64),
    ],
)
def test_results_keep_the_type_and_dtype_of_the_input_and_leave_it_unchanged(
    registry, name, kind, expected_type, expected_dtype
):
    record = registry.get(name)
    X = _as(kind, _inputs())
    before = _snapshot(X)
    result = record.function(X, **_kwargs(record, _inputs()))
    assert isinstance(result, expected_type) and result.dtype == expected_dtype
    expected_shape = (D,) if registry is AGGREGATORS else (len(result), D)
    assert tuple(result.shape) == expected_shape
    np.testing.assert_array_equal(_snapshot(X), before)
    # A selected input (Krum, MDA with one kept) is a copy: writing into the result leaves X alone.
    assert not np.shares_memory(np.asarray(result), np.asarray(_snapshot(X) if kind == "list" else X))


@pytest.mark.parametrize("name", AGGREGATORS.names())
def test_aggregators_do_not_depend_on_the_order_of_their_inputs(name):
    record = AGGREGATORS.get(name)
    X = _inputs(3)
    X[:N_BAD] += 8.0
    perm = np.random.default_rng(1).permutation(N)
    kwargs = _kwargs(record, X)
    if name == "monna":  # MoNNA's trusted input moves with the permutation
        kwargs["idx"] = int(np.flatnonzero(perm == 0)[0])
    np.testing.assert_allclose(record.function(X[perm], **kwargs), record.function(X, **_kwargs(record, X)), atol=1e-9)


def test_robust_aggregate_applies_pre_aggregators_in_order_then_the_aggregator():
    X = _inputs(4)
    expected = agg.krum(agg.static_clipping(agg.nnm(X, n_bad=2), c=1.0), n_bad=2)
    result = agg.robust_aggregate("krum", X, n_bad=2, pre=[("nnm", None), ("static_clipping", {"c": 1.0})])
    np.testing.assert_array_equal(result, expected)


def test_robust_aggregate_checks_the_condition_on_the_rows_left_after_bucketing_before_any_work():
    # 11 inputs in buckets of 2 leave 6 rows; Krum with n_bad = 2 needs n > 6.
    X = np.full((11, 3), np.nan)
    with pytest.raises(ValueError, match=r"krum needs n > 2 n_bad \+ 2: n_bad must be in \[0, 1\] for n = 6, got 2"):
        agg.robust_aggregate("krum", X, n_bad=2, pre=[("bucketing", {"s": 2, "seed": 0})])
    with pytest.raises(ValueError, match=r"bucketing has no option\(s\) \['size'\]"):
        agg.robust_aggregate("mean", X, pre=[("bucketing", {"size": 2})])


def test_bucketing_is_reproducible_from_its_seed():
    X = _inputs(5)
    np.testing.assert_array_equal(agg.bucketing(X, s=3, seed=11), agg.bucketing(X, s=3, seed=11))
    assert not np.array_equal(agg.bucketing(X, s=3, seed=11), agg.bucketing(X, s=3, seed=12))


@pytest.mark.parametrize("d", [1, 7, 300])
def test_squared_distances_match_scipy_even_with_a_large_common_offset_in_float64(d):
    X = np.random.default_rng(d).normal(size=(9, d)) + 1e4
    Y = X[:3] + 0.5
    np.testing.assert_allclose(
        agg.squared_distances(torch.from_numpy(X)).numpy(), cdist(X, X, "sqeuclidean"), rtol=1e-6, atol=1e-6
    )
    np.testing.assert_allclose(
        agg.squared_distances(torch.from_numpy(X), torch.from_numpy(Y)).numpy(),
        cdist(X, Y, "sqeuclidean"),
        rtol=1e-6,
        atol=1e-6,
    )


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize(("registry", "name"), ALL_RULES)
def test_every_rule_runs_on_cuda_and_agrees_with_cpu(registry, name):
    record = registry.get(name)
    X = torch.from_numpy(_inputs(6))
    kwargs = _kwargs(record, X)
    on_cuda = {k: (v.cuda() if isinstance(v, torch.Tensor) else v) for k, v in kwargs.items()}
    result = record.function(X.cuda(), **on_cuda)
    assert result.device.type == "cuda"
    torch.testing.assert_close(result.cpu(), record.function(X, **kwargs), rtol=1e-9, atol=1e-9)
