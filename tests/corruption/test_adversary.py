import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import log_loss
from sklearn.neighbors import KNeighborsClassifier

from multisource.corruption import Adversary, CorruptionResult
from multisource.data import MultiSourceDataset, load_dataset, make_multisource


@pytest.fixture(scope="module")
def wine():
    return make_multisource("wine", n_sources=7, m=15, seed=0)


@pytest.mark.parametrize("alpha, n_bad", [(0.0, 0), (0.1, 0), (0.15, 1), (0.3, 2), (0.49, 3)])
def test_adversary_corrupts_floor_alpha_n_sources_and_only_those(wine, alpha, n_bad):
    result = Adversary(alpha, "label_flip", seed=1).corrupt(wine)
    assert isinstance(result, CorruptionResult) and result.bad.dtype == bool and result.bad.sum() == n_bad
    changed = np.array([np.any(result.dataset.y[wine.source == i] != wine.y[wine.source == i]) for i in range(7)])
    assert np.array_equal(changed, result.bad)
    assert np.array_equal(result.dataset.X, wine.X) and np.array_equal(result.dataset.source, wine.source)
    assert np.array_equal(result.dataset.X_test, wine.X_test) and np.array_equal(result.dataset.y_test, wine.y_test)


def test_alpha_of_three_tenths_on_ten_sources_gives_three_bad():
    ds = make_multisource("iris", n_sources=10, m=10, seed=0)
    assert Adversary(0.3, "random_labels", seed=0).corrupt(ds).bad.sum() == 3


def test_fixed_selection_does_not_look_at_the_data(wine):
    other = make_multisource("wine", n_sources=7, m=15, seed=99)
    a = Adversary(0.4, "label_bias", seed=5).corrupt(wine).bad
    b = Adversary(0.4, "label_bias", seed=5).corrupt(other).bad
    assert np.array_equal(a, b)


def test_same_seed_repeats_the_corruption(wine):
    a = Adversary(0.3, "feature_noise", params={"sigma": 2.0}, seed=3).corrupt(wine)
    b = Adversary(0.3, "feature_noise", params={"sigma": 2.0}, seed=3).corrupt(wine)
    assert np.array_equal(a.bad, b.bad) and np.array_equal(a.dataset.X, b.dataset.X)


def _skewed_binary_sources() -> MultiSourceDataset:
    """Six sources of a linearly separable binary problem; sources 2 and 4 hold only class 1."""
    rng = np.random.default_rng(0)
    y = np.tile(np.array([0, 0, 0, 0, 0, 0, 0, 1, 1, 1]), 6)
    y[20:30] = 1
    y[40:50] = 1
    X = np.where(y[:, None] == 1, 1.5, -1.5) + rng.standard_normal((60, 2))
    return MultiSourceDataset(
        X=X, y=y, source=np.repeat(np.arange(6), 10), X_test=X[:5], y_test=y[:5], n_classes=2, n_sources=6
    )


def test_adaptive_selection_picks_the_sources_whose_corruption_hurts_the_learner_most():
    ds = _skewed_binary_sources()
    result = Adversary(1 / 3, "label_bias", selection="adaptive", params={"target": 0}, seed=0).corrupt(ds)
    assert result.bad.tolist() == [False, False, True, False, True, False]
    # Each score is the clean pooled training log loss after refitting with that source alone biased.
    y = ds.y.copy()
    y[ds.source == 2] = 0
    refit = LogisticRegression(max_iter=1000).fit(ds.X, y)
    assert result.scores[2] == pytest.approx(log_loss(ds.y, refit.predict_proba(ds.X)))


def test_adaptive_selection_works_with_a_learner_without_probabilities():
    ds = _skewed_binary_sources()
    result = Adversary(1 / 3, "label_bias", selection="adaptive", seed=0).corrupt(ds, learner=_NoProba())
    assert result.bad.tolist() == [False, False, True, False, True, False]


class _NoProba(KNeighborsClassifier):
    """A 1-NN classifier that hides predict_proba, so the adversary must score by 0-1 error."""

    def __init__(self, n_neighbors=1):
        super().__init__(n_neighbors=n_neighbors)

    def __getattribute__(self, name):
        if name == "predict_proba":
            raise AttributeError(name)
        return super().__getattribute__(name)


def test_shift_adversary_moves_bad_sources_by_one_standard_error_and_hurts_the_pooled_model():
    ds = make_multisource(load_dataset("synthetic", n_samples=1500, seed=0), n_sources=10, m=100, seed=0)
    result = Adversary(0.4, "shift", params={"c": 3.0}, seed=0).corrupt(ds)
    moved = np.linalg.norm(result.dataset.X - ds.X, axis=1)
    for i in range(10):
        rows = ds.source == i
        expected = 3.0 * np.sqrt(np.mean(ds.X[rows].var(axis=0))) / np.sqrt(100) if result.bad[i] else 0.0
        np.testing.assert_allclose(moved[rows], expected, atol=1e-12)
    clean = LogisticRegression(max_iter=1000).fit(ds.X, ds.y)
    attacked = LogisticRegression(max_iter=1000).fit(result.dataset.X, result.dataset.y)
    clean_loss = lambda model: log_loss(ds.y, model.predict_proba(ds.X))  # noqa: E731
    assert clean_loss(attacked) > clean_loss(clean)


@pytest.mark.parametrize("alpha", [0.5, 0.7, -0.1])
def test_alpha_of_half_or_more_is_refused(alpha):
    with pytest.raises(ValueError, match="alpha"):
        Adversary(alpha, "label_flip")


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"attack": "poison"}, ValueError, r"unknown attack 'poison'.*label_flip"),
        ({"attack": "label_flip", "selection": "greedy"}, ValueError, "selection"),
        ({"attack": "label_flip", "params": [0.5]}, TypeError, "params"),
        ({"attack": "label_flip", "params": {"q": 0.5}}, TypeError, r"no parameter\(s\) \['q'\]; .* \['p'\]"),
    ],
)
def test_bad_adversary_arguments_are_refused(kwargs, error, match):
    with pytest.raises(error, match=match):
        Adversary(0.2, **kwargs)


def test_corrupt_refuses_plain_arrays_and_bad_attack_parameters(wine):
    with pytest.raises(TypeError, match="MultiSourceDataset"):
        Adversary(0.2, "label_flip").corrupt((wine.X, wine.y))
    with pytest.raises(ValueError, match="p must"):
        Adversary(0.2, "label_flip", params={"p": 1.2}).corrupt(wine)
    with pytest.raises(ValueError, match="needs image data"):
        Adversary(0.2, "blur").corrupt(wine)


def test_a_chosen_bad_set_corrupts_exactly_those_sources(wine):
    result = Adversary(0.3, "label_flip", bad=[5, 1], seed=2).corrupt(wine)
    np.testing.assert_array_equal(np.flatnonzero(result.bad), [1, 5])
    changed = np.array([np.any(result.dataset.y[wine.source == i] != wine.y[wine.source == i]) for i in range(7)])
    np.testing.assert_array_equal(changed, result.bad)
    # label_flip (default p = 1) changes every label of a bad source.
    for i in (1, 5):
        assert np.all(result.dataset.y[wine.source == i] != wine.y[wine.source == i])


@pytest.mark.parametrize(
    "bad, alpha, error, match",
    [
        ([1, 1], 0.3, ValueError, r"bad must hold distinct source indices, got \[1, 1\]"),
        ([-1, 2], 0.3, ValueError, "bad\\[\\] must be >= 0, got -1"),
        ([1.5, 2], 0.3, TypeError, "bad\\[\\] must be an integer"),
        ("12", 0.3, TypeError, "bad must be a list of source indices"),
    ],
)
def test_a_malformed_bad_set_is_refused_at_construction(bad, alpha, error, match):
    with pytest.raises(error, match=match):
        Adversary(alpha, "label_flip", bad=bad)


@pytest.mark.parametrize(
    "bad, alpha, match",
    [
        ([2, 7], 0.3, r"bad must hold source indices in \[0, 7\), got \[2, 7\]"),
        ([0, 1, 2, 3], 0.49, r"bad must name fewer than N/2 = 3.5 sources, got 4"),
        ([0, 1, 2], 0.3, r"bad must name floor\(alpha N\) = 2 sources for alpha=0.3 and N=7, got \[0, 1, 2\]"),
    ],
)
def test_a_bad_set_that_does_not_fit_the_dataset_is_refused_before_any_corruption(wine, bad, alpha, match):
    with pytest.raises(ValueError, match=match):
        Adversary(alpha, "label_flip", bad=bad).corrupt(wine)


def test_a_chosen_bad_set_is_a_fixed_set():
    with pytest.raises(ValueError, match="selection must be 'fixed' when the bad sources are given"):
        Adversary(0.3, "label_flip", selection="adaptive", bad=[0, 1])
