"""sklearn learners by name, weighted fits and per-source linear models, checked against sklearn itself."""

import numpy as np
import pytest
from sklearn.dummy import DummyClassifier
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.svm import LinearSVC

from multisource.data.dataset import MultiSourceDataset
from multisource.learners import (
    aligned_proba,
    fit_per_source,
    fit_weighted,
    linear_logits,
    make_learner,
    sample_weights,
    softmax_proba,
)


def _blobs(seed, n=120, d=3, k=3):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, k, n)
    X = rng.normal(size=(n, d)) + 2.0 * np.eye(k, d)[y]
    return X, y


def test_make_learner_resolves_registered_names_class_names_and_dotted_paths():
    default = make_learner("logreg", random_state=3)
    assert isinstance(default, LogisticRegression) and default.max_iter == 1000 and default.random_state == 3
    forest = make_learner("RandomForestClassifier", n_estimators=4, random_state=1)
    assert isinstance(forest, RandomForestClassifier) and forest.n_estimators == 4 and forest.random_state == 1
    assert isinstance(make_learner("sklearn.svm.LinearSVC", C=0.5), LinearSVC)


@pytest.mark.parametrize(
    ("name", "params", "error", "message"),
    [
        ("NoSuchClassifier", {}, ValueError, "unknown learner 'NoSuchClassifier'.*logreg"),
        ("sklearn.svm.NoSuchThing", {}, ValueError, "cannot import 'NoSuchThing'"),
        ("sklearn.linear_model.LinearRegression", {}, TypeError, "not a scikit-learn classifier"),
        ("logreg", {"not_a_param": 1}, TypeError, "does not accept the parameters \\['not_a_param'\\]"),
        ("", {}, TypeError, "non-empty string"),
    ],
)
def test_make_learner_rejects_bad_names_and_parameters(name, params, error, message):
    with pytest.raises(error, match=message):
        make_learner(name, **params)


def test_hard_filter_weights_need_no_sample_weights():
    source = np.repeat([0, 1, 2], [10, 30, 20])
    sizes = np.array([10, 30, 20])
    assert sample_weights(np.array([1, 3, 0]) / 4, source, sizes) is None


def test_sample_weights_give_each_source_its_share_of_the_weighted_risk():
    source = np.repeat([0, 1, 2], [10, 30, 20])
    sizes = np.array([10, 30, 20])
    sw = sample_weights(np.array([0.5, 0.5, 0.0]), source, sizes)
    # Kept samples: 10 of source 0 at 0.5/10 and 30 of source 1 at 0.5/30, scaled to mean 1 over 40 samples.
    np.testing.assert_allclose(sw[:10], 0.05 / 0.025)
    np.testing.assert_allclose(sw[10:], (0.5 / 30) / 0.025)
    assert sw[:10].sum() == pytest.approx(sw[10:].sum())


def test_integer_sample_weights_fit_like_repeated_samples():
    X, y = _blobs(0, n=60)
    counts = np.random.default_rng(1).integers(1, 4, 60)
    weighted = fit_weighted(LogisticRegression(C=10.0, max_iter=5000, tol=1e-10), X, y, counts.astype(float))
    repeated = LogisticRegression(C=10.0, max_iter=5000, tol=1e-10).fit(np.repeat(X, counts, 0), np.repeat(y, counts))
    np.testing.assert_allclose(weighted.coef_, repeated.coef_, atol=1e-4)
    with pytest.raises(TypeError, match="does not accept sample_weight"):
        fit_weighted(make_learner("KNeighborsClassifier"), X, y, counts.astype(float))


@pytest.mark.parametrize("k", [2, 3])
def test_linear_logits_reproduce_the_models_probabilities(k):
    X, y = _blobs(2, k=k)
    model = LogisticRegression(max_iter=1000).fit(X, y)
    theta = linear_logits(model, k, X.shape[1])
    np.testing.assert_allclose(theta.sum(axis=0), 0.0, atol=1e-12)
    np.testing.assert_allclose(softmax_proba(theta, X), model.predict_proba(X), atol=1e-10)


def test_classes_a_source_never_saw_get_negligible_probability():
    X, y = _blobs(3, k=3)
    seen = y != 2
    model = LogisticRegression(max_iter=1000).fit(X[seen], y[seen])
    proba = softmax_proba(linear_logits(model, 3, X.shape[1]), X)
    assert proba[:, 2].max() < 1e-5
    np.testing.assert_allclose(proba[:, :2], model.predict_proba(X), atol=1e-5)
    np.testing.assert_allclose(aligned_proba(model, X, 3)[:, :2], model.predict_proba(X))
    np.testing.assert_array_equal(aligned_proba(model, X, 3)[:, 2], 0.0)


def test_fit_per_source_fits_one_model_per_source_and_a_constant_one_on_single_class_sources():
    X, y = _blobs(4, n=90, k=2)
    source = np.repeat([0, 1, 2], 30)
    y = y.copy()
    y[source == 2] = 1
    ds = MultiSourceDataset(X, y, source, X[:5], y[:5], n_classes=2, n_sources=3)
    models = fit_per_source(LogisticRegression(), ds)
    assert [type(m) for m in models] == [LogisticRegression, LogisticRegression, DummyClassifier]
    np.testing.assert_allclose(models[0].coef_, LogisticRegression().fit(X[:30], y[:30]).coef_)
    np.testing.assert_array_equal(softmax_proba(linear_logits(models[2], 2, 3), X).argmax(axis=1), 1)
    with pytest.raises(TypeError, match="not linear"):
        linear_logits(RandomForestClassifier(n_estimators=2).fit(X, y), 2, 3)
