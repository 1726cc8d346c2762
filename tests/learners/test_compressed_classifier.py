import numpy as np
import pytest
import torch
from sklearn.base import clone

from multisource.compress import PRUNING_METHODS, prune_classifier
from multisource.compress.masks import is_nm_sparse
from multisource.learners import CompressedClassifier, TorchClassifier, make_learner

MLP = dict(hidden_sizes=(64,), epochs=30, lr=3e-3, device="cpu")


def _linear_weights(clf):
    return [m.weight.detach() for m in clf.estimator_.module_ if isinstance(m, torch.nn.Linear)]


def test_fit_equals_training_then_pruning_by_hand(digits):
    X_tr, X_te, y_tr, _ = digits
    clf = CompressedClassifier(TorchClassifier(random_state=3, **MLP), method="sparsegpt", sparsity=0.6).fit(X_tr, y_tr)
    dense = TorchClassifier(random_state=3, **MLP).fit(X_tr, y_tr)
    calib = torch.tensor(X_tr, dtype=torch.float32)
    prune_classifier(dense.module_, calib, torch.as_tensor(y_tr), method="sparsegpt", sparsity=0.6, device="cpu")
    np.testing.assert_array_equal(clf.predict_proba(X_te), dense.predict_proba(X_te))
    for w in _linear_weights(clf):
        assert float((w == 0).float().mean()) == pytest.approx(0.6, abs=0.01)
    assert [r.target_sparsity for r in clf.report_.layers] == [0.6, 0.6]


def test_2_4_pattern_makes_every_layer_exactly_2_4(digits):
    X_tr, _, y_tr, _ = digits
    clf = make_learner("compressed_mlp", pattern="2:4", random_state=0, **MLP).fit(X_tr, y_tr)
    assert all(is_nm_sparse(w, 2, 4) for w in _linear_weights(clf))


def test_sparsegpt_and_mfac_obs_keep_more_accuracy_than_magnitude_at_80_percent(digits):
    X_tr, X_te, y_tr, y_te = digits
    accuracy = {
        method: np.mean(
            [
                make_learner("compressed_mlp", method=method, sparsity=0.8, random_state=seed, **MLP)
                .fit(X_tr, y_tr)
                .score(X_te, y_te)
                for seed in range(3)
            ]
        )
        for method in ("magnitude", "sparsegpt", "mfac_obs")
    }
    assert accuracy["sparsegpt"] > accuracy["magnitude"] + 0.05
    assert accuracy["mfac_obs"] > accuracy["magnitude"] + 0.05


def test_is_a_clonable_estimator_and_refuses_bad_settings(digits):
    X_tr, _, y_tr, _ = digits
    clf = make_learner("compressed_mlp", method="wanda", random_state=1, **MLP)
    assert clone(clf).get_params()["method"] == "wanda" and clf.get_params()["estimator__hidden_sizes"] == (64,)
    assert clf.get_params()["estimator__random_state"] == 1
    reseeded = make_learner("compressed_mlp", random_state=7, **MLP)  # as the runner seeds learners
    assert reseeded.random_state == 7 and reseeded.estimator.random_state == 7
    with pytest.raises(ValueError, match="unknown pruning method 'random'"):
        CompressedClassifier(method="random").fit(X_tr, y_tr)
    with pytest.raises(ValueError, match="pattern and bits apply to the layer-wise methods"):
        CompressedClassifier(TorchClassifier(epochs=1, device="cpu"), method="mfac_obs", pattern="2:4").fit(X_tr, y_tr)
    with pytest.raises(ValueError, match="sparsity"):
        CompressedClassifier(TorchClassifier(epochs=1, device="cpu"), sparsity=1.0).fit(X_tr, y_tr)


@pytest.mark.parametrize("method", PRUNING_METHODS.names())
def test_every_registered_method_fits_and_predicts(digits, method):
    X_tr, X_te, y_tr, y_te = digits
    small = dict(hidden_sizes=(32,), epochs=10, lr=3e-3, device="cpu")
    clf = CompressedClassifier(
        TorchClassifier(random_state=0, **small),
        method=method,
        sparsity=0.5,
        options={"ngrads": 16} if method == "mfac_obs" else None,
    ).fit(X_tr, y_tr)
    assert clf.report_.method == method and [r.name for r in clf.report_.layers] == ["0", "2"]
    assert all(float((w == 0).float().mean()) == pytest.approx(0.5, abs=0.01) for w in _linear_weights(clf))
    assert clf.predict(X_te).shape == y_te.shape and set(clf.predict(X_te)) <= set(clf.classes_)
    assert clf.score(X_te, y_te) > 0.5  # ten classes: chance is 0.1


def test_a_misspelt_option_fails_before_training(digits):
    X_tr, _, y_tr, _ = digits
    with pytest.raises(ValueError, match=r"unknown option 'percdmp' for pruning method 'sparsegpt'"):
        CompressedClassifier(TorchClassifier(epochs=1, device="cpu"), options={"percdmp": 0.1}).fit(X_tr, y_tr)
