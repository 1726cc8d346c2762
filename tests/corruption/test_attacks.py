import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from multisource.corruption import ATTACKS, add_trigger
from multisource.corruption.backdoor import trigger_features


def _frozen(*arrays):
    """Read-only copies: an attack that writes into its inputs raises instead of passing silently."""
    out = []
    for a in arrays:
        a = np.array(a)
        a.setflags(write=False)
        out.append(a)
    return out


def _source(m=60, d=5, n_classes=3, seed=0):
    rng = np.random.default_rng(seed)
    return _frozen(rng.standard_normal((m, d)), rng.integers(0, n_classes, size=m))


def _run(name, X, y, n_classes=3, seed=0, **params):
    return ATTACKS.get(name)(X, y, rng=np.random.default_rng(seed), n_classes=n_classes, **params)


def test_registry_holds_every_contract_attack():
    assert set(ATTACKS.names()) >= {
        "label_flip",
        "label_bias",
        "label_shuffle",
        "random_labels",
        "feature_permutation",
        "feature_noise",
        "blur",
        "dead_pixels",
        "backdoor",
        "shift",
    }


@settings(max_examples=25, deadline=None)
@given(p=st.floats(0.0, 1.0), m=st.integers(1, 80), n_classes=st.integers(2, 6), seed=st.integers(0, 10**6))
def test_label_flip_changes_exactly_the_chosen_fraction_of_labels(p, m, n_classes, seed):
    X, y = _source(m=m, n_classes=n_classes, seed=seed)
    X_new, y_new = _run("label_flip", X, y, n_classes=n_classes, seed=seed, p=p)
    assert np.sum(y_new != y) == round(p * m)
    assert y_new.min() >= 0 and y_new.max() < n_classes and np.array_equal(X_new, X)


def test_binary_label_flip_is_one_minus_y():
    X, y = _source(n_classes=2)
    assert np.array_equal(_run("label_flip", X, y, n_classes=2, p=1.0)[1], 1 - y)


def test_label_bias_sends_the_chosen_fraction_to_the_target_class():
    X, y = _source(m=100)
    assert np.all(_run("label_bias", X, y, target=2)[1] == 2)
    _, y_half = _run("label_bias", X, y, target=1, p=0.5)
    changed = y_half != y
    assert np.all(y_half[changed] == 1) and np.sum(y_half == 1) >= 50


def test_label_shuffle_keeps_the_label_histogram():
    X, y = _source(m=200)
    _, y_new = _run("label_shuffle", X, y)
    assert np.array_equal(np.bincount(y_new, minlength=3), np.bincount(y, minlength=3))
    assert np.mean(y_new != y) > 0.4  # 2/3 expected for three balanced classes


def test_random_labels_are_uniform_over_all_classes():
    X, y = _source(m=30_000, n_classes=4)
    _, y_new = _run("random_labels", X, y, n_classes=4)
    np.testing.assert_allclose(np.bincount(y_new) / 30_000, 0.25, atol=0.015)


def test_feature_permutation_is_one_fixed_permutation_whatever_the_rng():
    X, y = _source(d=8)
    first, y_first = _run("feature_permutation", X, y, seed=1)
    second, _ = _run("feature_permutation", X, y, seed=2)
    assert np.array_equal(first, second) and np.array_equal(y_first, y)
    perm = [int(np.flatnonzero(np.all(first[:, [j]] == X, axis=0))[0]) for j in range(8)]
    assert sorted(perm) == list(range(8)) and perm != list(range(8))
    other, _ = _run("feature_permutation", X, y, permutation_seed=5)
    assert not np.array_equal(first, other)


def test_feature_noise_adds_noise_of_standard_deviation_sigma():
    X, y = _source(m=4000, d=10)
    X_new, _ = _run("feature_noise", X, y, sigma=0.7)
    assert np.std(X_new - X) == pytest.approx(0.7, rel=0.02)
    assert np.array_equal(_run("feature_noise", X, y, sigma=0.0)[0], X)


def test_blur_of_a_point_equals_the_outer_product_of_gaussian_kernels():
    sigma, size = 1.0, 15
    image = np.zeros((size, size))
    image[7, 7] = 1.0
    X, y = _frozen(image.reshape(1, -1), [0])
    blurred, _ = _run("blur", X, y, image_shape=(size, size), sigma=sigma)
    radius = int(4 * sigma + 0.5)  # scipy's default truncation at 4 sigma
    offsets = np.arange(-radius, radius + 1)
    kernel = np.exp(-(offsets**2) / (2 * sigma**2))
    kernel /= kernel.sum()
    expected = np.zeros((size, size))
    expected[7 - radius : 8 + radius, 7 - radius : 8 + radius] = np.outer(kernel, kernel)
    np.testing.assert_allclose(blurred.reshape(size, size), expected, atol=1e-12)


def test_blur_keeps_a_constant_image():
    X, y = _frozen(np.full((2, 64), 3.0), [0, 1])
    np.testing.assert_allclose(_run("blur", X, y, image_shape=(8, 8), sigma=2.0)[0], 3.0)


def test_dead_pixels_set_the_chosen_fraction_of_pixels_to_black_or_white():
    rng = np.random.default_rng(0)
    X, y = _frozen(rng.random((300, 64)), np.zeros(300, dtype=int))
    X_new, _ = _run("dead_pixels", X, y, image_shape=(8, 8), p=0.25)
    changed = X_new != X
    low, high = X.min(axis=0), X.max(axis=0)
    assert np.all((X_new == low) | (X_new == high) | ~changed)
    # 16 pixels die per image; a dead pixel only looks unchanged if it already was the extreme value.
    extremes = np.sum((low == X) | (high == X), axis=1)
    assert np.all(changed.sum(axis=1) <= 16) and np.all(changed.sum(axis=1) >= 16 - extremes)
    assert np.mean(X_new[changed] == high[np.nonzero(changed)[1]]) == pytest.approx(0.5, abs=0.05)


def test_backdoor_stamps_the_bottom_right_patch_and_relabels():
    X, y = _frozen(np.zeros((10, 64)), np.arange(10) % 3)
    X_new, y_new = _run("backdoor", X, y, image_shape=(8, 8), target=2, size=2, value=5.0)
    patch = X_new.reshape(10, 8, 8)[:, 6:, 6:]
    assert np.all(patch == 5.0) and np.sum(X_new != 0) == 10 * 4 and np.all(y_new == 2)
    assert np.array_equal(add_trigger(X, image_shape=(8, 8), size=2, value=5.0), X_new)


def test_backdoor_trigger_on_tabular_data_is_the_last_features():
    assert trigger_features(10, None, 3).tolist() == [7, 8, 9]
    assert trigger_features(16, (4, 4), 1).tolist() == [15]


def _softmax_loss(X, y, W, b):
    logits = X @ W.T + b
    logits -= logits.max(axis=1, keepdims=True)
    return np.mean(np.log(np.exp(logits).sum(axis=1)) - logits[np.arange(len(y)), y])


def test_shift_moves_every_binary_sample_by_c_over_sqrt_m_along_minus_y_w():
    rng = np.random.default_rng(0)
    X, y = _frozen(rng.standard_normal((100, 3)), rng.integers(0, 2, 100))
    w, b = np.array([[1.0, -2.0, 0.5]]), np.array([0.3])
    X_new, y_new = _run("shift", X, y, n_classes=2, coef=w, intercept=b, c=2.0)
    scale = np.sqrt(np.mean(X.var(axis=0)))
    signs = np.where(y == 1, 1.0, -1.0)  # labels as +-1
    expected = X - (2.0 * scale / 10.0) * signs[:, None] * w / np.linalg.norm(w)
    np.testing.assert_allclose(X_new, expected)
    assert np.array_equal(y_new, y)


def test_multiclass_shift_raises_the_clean_models_loss():
    rng = np.random.default_rng(1)
    X, y = _frozen(rng.standard_normal((200, 4)), rng.integers(0, 3, 200))
    W, b = rng.standard_normal((3, 4)), rng.standard_normal(3)
    X_new, _ = _run("shift", X, y, coef=W, intercept=b, c=3.0)
    assert _softmax_loss(X_new, y, W, b) > _softmax_loss(X, y, W, b)
    np.testing.assert_allclose(np.linalg.norm(X_new - X, axis=1), 3.0 * np.sqrt(np.mean(X.var(axis=0))) / np.sqrt(200))


def test_label_shift_flips_the_smallest_margin_points_to_the_runner_up():
    rng = np.random.default_rng(2)
    X, y = _frozen(rng.standard_normal((100, 4)), rng.integers(0, 3, 100))
    W, b = rng.standard_normal((3, 4)), np.zeros(3)
    _, y_new = _run("shift", X, y, coef=W, intercept=b, c=1.5, mode="labels")
    flipped = y_new != y
    assert flipped.sum() == 15  # ceil(1.5 * sqrt(100))
    logits = X @ W.T
    margin = np.array([logits[i, y[i]] - np.delete(logits[i], y[i]).max() for i in range(100)])
    assert margin[flipped].max() <= margin[~flipped].min()
    runner_up = [max((k for k in range(3) if k != y[i]), key=lambda k: logits[i, k]) for i in range(100)]
    assert np.array_equal(y_new[flipped], np.array(runner_up)[flipped])


def test_shift_without_the_clean_model_explains_itself():
    X, y = _source()
    with pytest.raises(ValueError, match=r"omniscient.*Adversary"):
        _run("shift", X, y)
    with pytest.raises(ValueError, match=r"coef and intercept must have shapes \(3, 5\)"):
        _run("shift", X, y, coef=np.zeros((2, 5)), intercept=np.zeros(2))
    with pytest.raises(ValueError, match="mode"):
        _run("shift", X, y, coef=np.zeros((3, 5)), intercept=np.zeros(3), mode="both")


@pytest.mark.parametrize(
    "name", ["label_flip", "label_bias", "label_shuffle", "random_labels", "feature_noise", "backdoor"]
)
@pytest.mark.parametrize("p", [-0.1, 1.5, float("nan")])
def test_fraction_outside_unit_interval_is_refused(name, p):
    X, y = _source(d=4)
    with pytest.raises(ValueError, match="p must"):
        _run(name, X, y, p=p, **({"image_shape": (2, 2)} if name == "backdoor" else {}))


@pytest.mark.parametrize("name", ["blur", "dead_pixels"])
def test_image_attacks_refuse_data_without_images(name):
    X, y = _source()
    with pytest.raises(ValueError, match="needs image data"):
        _run(name, X, y)


@pytest.mark.parametrize(
    "name, params, error, match",
    [
        ("label_bias", {"target": 3}, ValueError, r"target must lie in \[0, 2\]"),
        ("backdoor", {"target": -1}, ValueError, "target"),
        ("label_bias", {"target": 1.0}, TypeError, "target"),
        ("feature_noise", {"sigma": -1.0}, ValueError, "sigma"),
        ("dead_pixels", {"image_shape": (1, 5), "p": 2.0}, ValueError, "p must"),
        ("blur", {"image_shape": (2, 2)}, ValueError, "image_shape"),
        ("backdoor", {"size": 9}, ValueError, "size"),
        ("label_flip", {"q": 0.5}, TypeError, "q"),
    ],
)
def test_bad_attack_parameters_are_refused_by_name(name, params, error, match):
    X, y = _source()
    with pytest.raises(error, match=match):
        _run(name, X, y, **params)


@pytest.mark.parametrize("name", sorted(set(ATTACKS.names()) - {"shift"}))
def test_attacks_are_pure_and_repeatable(name):
    X, y = _source(m=40, d=16)
    params = {"image_shape": (4, 4)}
    first = _run(name, X, y, seed=9, **params)
    second = _run(name, X, y, seed=9, **params)
    assert np.array_equal(first[0], second[0]) and np.array_equal(first[1], second[1])
