"""TorchClassifier: a scikit-learn estimator that trains an MLP with Adam, SGD or M-FAC by name."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from sklearn.base import clone

from multisource.learners import LEARNERS, TorchClassifier
from multisource.learners.torch_classifier import build_mlp


@pytest.mark.parametrize(
    "optimizer, lr, kwargs",
    [("adam", 3e-3, {}), ("sgd", 0.1, {"momentum": 0.9}), ("mfac", 1e-2, {"ngrads": 32, "damp": 1e-3})],
)
def test_each_optimizer_learns_digits(digits, optimizer, lr, kwargs):
    X_train, X_test, y_train, y_test = digits
    clf = TorchClassifier(
        hidden_sizes=(32,), optimizer=optimizer, lr=lr, epochs=8, optimizer_kwargs=kwargs, random_state=0, device="cpu"
    ).fit(X_train, y_train)
    assert clf.score(X_test, y_test) > 0.9
    assert clf.loss_curve_[-1] < clf.loss_curve_[0]


def test_registered_as_torch_mlp_and_same_seed_gives_same_model(digits):
    X_train, X_test, y_train, _ = digits
    assert LEARNERS.get("torch_mlp") is TorchClassifier
    make = lambda seed: TorchClassifier(hidden_sizes=(8,), epochs=2, random_state=seed, device="cpu")  # noqa: E731
    first, again, other = make(1).fit(X_train, y_train), make(1).fit(X_train, y_train), make(2).fit(X_train, y_train)
    assert np.array_equal(first.predict_proba(X_test), again.predict_proba(X_test))
    assert not np.array_equal(first.predict_proba(X_test), other.predict_proba(X_test))


def test_probabilities_sum_to_one_and_labels_are_the_original_classes(digits):
    X_train, X_test, y_train, _ = digits
    names = np.array(["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"])
    clf = TorchClassifier(hidden_sizes=(), epochs=3, lr=1e-2, random_state=0, device="cpu").fit(X_train, names[y_train])
    proba = clf.predict_proba(X_test)
    assert proba.shape == (len(X_test), 10)
    assert np.allclose(proba.sum(axis=1), 1.0)
    assert set(clf.predict(X_test)) <= set(names)
    assert list(clf.classes_) == sorted(names)


def test_zero_sample_weight_ignores_the_corrupted_samples(digits):
    X_train, X_test, y_train, y_test = digits
    rng = np.random.default_rng(0)
    corrupted = rng.random(len(y_train)) < 0.5
    y_noisy = np.where(corrupted, (y_train + 1) % 10, y_train)  # half the labels shifted by one
    params = dict(hidden_sizes=(32,), lr=3e-3, epochs=8, random_state=0, device="cpu")
    noisy = TorchClassifier(**params).fit(X_train, y_noisy)
    weighted = TorchClassifier(**params).fit(X_train, y_noisy, sample_weight=(~corrupted).astype(float))
    assert weighted.score(X_test, y_test) > 0.9 > noisy.score(X_test, y_test)


def test_unit_sample_weights_equal_no_weights(digits):
    X_train, X_test, y_train, _ = digits
    params = dict(hidden_sizes=(8,), epochs=2, random_state=0, device="cpu")
    plain = TorchClassifier(**params).fit(X_train, y_train)
    unit = TorchClassifier(**params).fit(X_train, y_train, sample_weight=np.ones(len(y_train)))
    assert np.array_equal(plain.predict_proba(X_test), unit.predict_proba(X_test))


def test_float64_mfac_learner_keeps_parameters_in_float64(digits):
    X_train, _, y_train, _ = digits
    clf = TorchClassifier(
        hidden_sizes=(8,), optimizer="mfac", optimizer_kwargs={"ngrads": 8}, epochs=1, dtype="float64", device="cpu"
    ).fit(X_train[:200], y_train[:200])
    assert all(p.dtype.is_floating_point and p.dtype.itemsize == 8 for p in clf.module_.parameters())


def test_clone_get_and_set_params_follow_the_sklearn_contract():
    clf = TorchClassifier(hidden_sizes=(4, 4), optimizer="mfac", optimizer_kwargs={"ngrads": 8})
    assert clone(clf).get_params() == clf.get_params()
    assert clf.set_params(lr=0.5).lr == 0.5
    assert not hasattr(clf, "module_")


@pytest.mark.parametrize(
    "params, error, match",
    [
        (dict(epochs=0), ValueError, "epochs must be >= 1"),
        (dict(batch_size=0), ValueError, "batch_size must be >= 1"),
        (dict(lr=-1.0), ValueError, "lr must lie in"),
        (dict(hidden_sizes=(0,)), ValueError, "hidden_sizes entry must be >= 1"),
        (dict(optimizer="nope"), ValueError, "unknown optimizer 'nope'"),
        (dict(dtype="int8"), ValueError, "dtype must be"),
        (dict(optimizer="mfac", optimizer_kwargs={"damp": 0.0}), ValueError, "Invalid damp: 0.0"),
    ],
)
def test_bad_parameters_get_clear_errors(digits, params, error, match):
    X_train, _, y_train, _ = digits
    with pytest.raises(error, match=match):
        TorchClassifier(device="cpu", **params).fit(X_train[:50], y_train[:50])


def test_nan_features_are_rejected(digits):
    X_train, _, y_train, _ = digits
    X = X_train[:50].copy()
    X[3, 3] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        TorchClassifier(device="cpu").fit(X, y_train[:50])


def test_build_mlp_has_the_requested_widths():
    module = build_mlp(5, [7, 3], 2)
    assert [layer.weight.shape for layer in module if hasattr(layer, "weight")] == [(7, 5), (3, 7), (2, 3)]


@pytest.mark.slow
def test_passes_sklearn_check_estimator():
    from sklearn.utils.estimator_checks import check_estimator

    estimator = TorchClassifier(hidden_sizes=(16,), epochs=30, lr=1e-2, batch_size=32, random_state=0, device="cpu")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        check_estimator(
            estimator,
            expected_failed_checks={
                "check_sample_weight_equivalence_on_dense_data": (
                    "shuffled mini-batches: weight 2 and a repeated sample see different batches"
                )
            },
        )
