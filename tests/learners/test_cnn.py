"""TorchClassifier(architecture="cnn"): a 2-D conv net on the 8x8 digits, a 1-D one on MNIST-1D."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.model_selection import train_test_split

from multisource.data.loaders import make_mnist1d
from multisource.learners import LEARNERS, CompressedClassifier, TorchClassifier
from multisource.learners.sklearn_models import make_learner


def _cnn(**params) -> TorchClassifier:
    return TorchClassifier(architecture="cnn", random_state=0, device="cpu", **params)


@pytest.mark.parametrize(
    "optimizer, lr, kwargs",
    [("adam", 3e-3, {}), ("sgd", 0.05, {"momentum": 0.9}), ("mfac", 0.1, {"ngrads": 32, "damp": 0.1})],
)
def test_the_digits_cnn_learns_with_each_optimizer(digits, optimizer, lr, kwargs):
    X_train, X_test, y_train, y_test = digits
    clf = _cnn(optimizer=optimizer, lr=lr, epochs=6, optimizer_kwargs=kwargs).fit(X_train, y_train)
    assert clf.score(X_test, y_test) > 0.9
    assert clf.loss_curve_[-1] < clf.loss_curve_[0]
    convs = [m for m in clf.module_ if isinstance(m, torch.nn.Conv2d)]
    assert [(c.in_channels, c.out_channels, c.kernel_size) for c in convs] == [(1, 16, (3, 3)), (16, 32, (3, 3))]


def test_the_input_shape_is_inferred_or_given(digits):
    X_train, _, y_train, _ = digits
    square = _cnn(epochs=1).fit(X_train, y_train).module_
    assert square[0].unflattened_size == (1, 8, 8) and isinstance(square[1], torch.nn.Conv2d)
    rows = _cnn(epochs=1, input_shape=(8, 8), channels=(4,)).fit(X_train, y_train).module_  # 8 channels x 8
    assert isinstance(rows[1], torch.nn.Conv1d) and rows[1].in_channels == 8
    signal = _cnn(epochs=1).fit(np.random.default_rng(0).random((30, 40)), np.arange(30) % 3).module_
    assert signal[0].unflattened_size == (1, 40) and isinstance(signal[1], torch.nn.Conv1d)


def test_the_1d_cnn_beats_the_mlp_on_mnist1d():
    data = make_mnist1d(n_samples=1500, seed=0)
    X_train, X_test, y_train, y_test = train_test_split(data.X, data.y, test_size=0.3, random_state=0)
    common = {"epochs": 20, "lr": 3e-3, "random_state": 0, "device": "cpu"}
    mlp = TorchClassifier(hidden_sizes=(100, 100), **common).fit(X_train, y_train).score(X_test, y_test)
    cnn = _cnn(kernel_size=5, epochs=20, lr=3e-3).fit(X_train, y_train).score(X_test, y_test)
    assert cnn > mlp + 0.1  # translation-invariant features: the point of MNIST-1D (Greydanus 2020)


def test_registered_as_torch_cnn_and_seeded_like_the_mlp(digits):
    X_train, X_test, y_train, _ = digits
    made = make_learner("torch_cnn", random_state=3, epochs=1, channels=(4,), device="cpu")
    assert LEARNERS.get("torch_cnn")().architecture == "cnn" and made.architecture == "cnn"
    assert made.random_state == 3 and clone(made).get_params()["channels"] == (4,)
    again = make_learner("torch_cnn", random_state=3, epochs=1, channels=(4,), device="cpu")
    np.testing.assert_array_equal(
        made.fit(X_train, y_train).predict_proba(X_test), again.fit(X_train, y_train).predict_proba(X_test)
    )


@pytest.mark.parametrize(
    "params, message",
    [
        ({"architecture": "rnn"}, r"architecture must be one of \['cnn', 'mlp'\], got 'rnn'"),
        ({"input_shape": (1, 8, 9)}, r"input_shape must hold the 64 features .*got \(1, 8, 9\)"),
        ({"input_shape": (64,)}, r"input_shape must be \(channels, length\) or \(channels, height, width\)"),
        ({"kernel_size": 4}, r"kernel_size must be odd .*got 4"),
        ({"channels": ()}, r"channels must name at least one convolution width"),
        ({"channels": (4, 4, 4, 4)}, r"too small for 4 poolings of 2 \(each spatial size must be >= 16\)"),
        ({"pool": 0}, r"pool must be"),
    ],
)
def test_bad_cnn_settings_are_refused_naming_the_argument(digits, params, message):
    X_train, _, y_train, _ = digits
    with pytest.raises(ValueError, match=message):
        TorchClassifier(**{"architecture": "cnn", "epochs": 1, "device": "cpu", **params}).fit(X_train, y_train)


def test_a_compressed_cnn_prunes_its_convolutions_and_skips_nothing(digits):
    X_train, X_test, y_train, y_test = digits
    dense = _cnn(epochs=6, lr=3e-3)
    pruned = CompressedClassifier(dense, method="sparsegpt", sparsity=0.5, n_calibration=256, random_state=0)
    pruned.fit(X_train, y_train)
    report = pruned.report_
    assert [r.name for r in report.layers] == ["1", "4", "8", "10"] and not report.skipped
    assert all(r.sparsity == pytest.approx(0.5, abs=0.01) for r in report.layers)
    assert pruned.score(X_test, y_test) > 0.85  # the accuracy change is measured in experiments/cnn_digits.py


def test_a_spec_names_the_cnn_and_the_runner_fits_it_on_the_kept_sources():
    from multisource.runner import ExperimentSpec, grid_points, run_point
    from multisource.runner.experiment import build_point_data

    spec = ExperimentSpec.from_dict(
        {
            "name": "cnn_spec",
            "seeds": [0],
            "alphas": [0.25],
            "rules": ["clean_only"],
            "data": {"dataset": "digits", "n_sources": 4, "m": 60},
            "discrepancy": {"name": "linear"},
            "attacks": [{"name": "label_flip", "params": {"p": 1.0}}],
            "learner": {"name": "torch_cnn", "params": {"epochs": 20, "lr": 0.01, "channels": [8], "device": "cpu"}},
        }
    )
    point = next(p for p in grid_points(spec) if p.alpha > 0)
    dataset, bad = build_point_data(spec, point)
    (row,) = run_point(spec, point, spec.rules)
    clean = ~bad[dataset.source]
    by_hand = _cnn(epochs=20, lr=0.01, channels=[8]).set_params(random_state=point.seed)
    by_hand.fit(dataset.X[clean], dataset.y[clean])
    assert row["error"] == pytest.approx(np.mean(by_hand.predict(dataset.X_test) != dataset.y_test))
    assert row["error"] < 0.5  # 10 classes
