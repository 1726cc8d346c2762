"""Update attacks agree with ByzFL's to 1e-6 where shared, and with closed forms otherwise.

Mapping to ByzFL 0.0.11 (``byzfl.attacks``): ours ``ipm(epsilon)`` is ``InnerProductManipulation(tau=epsilon)``;
ours ``alie(z)`` is ``ALittleIsEnough(tau=-z)`` (we follow the paper's sign, ``mu - z sigma``);
ours ``mimic(index)`` is ``Mimic(epsilon=index)``; ByzFL returns one vector, we return n_bad copies.
ByzFL's Gaussian draws from the global generator, so ours is checked by its moments instead.
"""

import importlib

import numpy as np
import pytest
import torch

from multisource.aggregation.byzfl import import_byzfl_aggregators
from multisource.corruption import UPDATE_ATTACKS, attack_updates
from multisource.corruption.updates import alie_z


@pytest.fixture(scope="module")
def byzfl_attacks():
    try:
        import_byzfl_aggregators()  # the ByzFL package without its torchvision-importing __init__
    except ImportError as err:
        pytest.skip(str(err))
    return importlib.import_module("byzfl.attacks.attacks")


def _honest(n=7, d=50, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, d)) + rng.normal(size=d)


SHARED = {
    "sign_flip": ({}, lambda A: A.SignFlipping()),
    "ipm": ({"epsilon": 0.5}, lambda A: A.InnerProductManipulation(tau=0.5)),
    "alie": ({"z": 1.3}, lambda A: A.ALittleIsEnough(tau=-1.3)),
    "mimic": ({"index": 3}, lambda A: A.Mimic(epsilon=3)),
    "infinity": ({}, lambda A: A.Inf()),
}


@pytest.mark.parametrize("name", sorted(SHARED))
@pytest.mark.parametrize("seed", [0, 1])
def test_update_attack_matches_byzfl_on_numpy(name, seed, byzfl_attacks):
    options, byzfl = SHARED[name]
    H = _honest(seed=seed)
    ours = attack_updates(name, H, 3, **options)
    expected = np.asarray(byzfl(byzfl_attacks)(H))
    assert isinstance(ours, np.ndarray) and ours.shape == (3, H.shape[1])
    np.testing.assert_allclose(ours, np.broadcast_to(expected, ours.shape), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("name", sorted(SHARED))
def test_update_attack_matches_byzfl_on_torch_float32(name, byzfl_attacks):
    options, byzfl = SHARED[name]
    H = torch.from_numpy(_honest(seed=2)).float()
    ours = attack_updates(name, H, 2, **options)
    expected = byzfl(byzfl_attacks)(H)
    assert isinstance(ours, torch.Tensor) and ours.dtype == torch.float32
    torch.testing.assert_close(ours, expected.to(torch.float32).expand_as(ours), rtol=1e-6, atol=1e-5)


def test_alie_default_z_is_the_papers_formula():
    # Baruch et al. 2019: n = 10, f = 4 -> s = floor(6) - 4 = 2, z = Phi^-1(8/10) = 0.8416.
    assert alie_z(10, 4) == pytest.approx(0.8416212335729143, abs=1e-12)
    H = _honest(n=6)
    mu, sigma = H.mean(axis=0), H.std(axis=0, ddof=1)
    np.testing.assert_allclose(attack_updates("alie", H, 4)[0], mu - 0.8416212335729143 * sigma, atol=1e-12)


def test_alie_z_is_refused_when_the_attackers_already_hold_a_majority():
    # n = 4, n_bad = 3: s = floor(3) - 3 = 0 honest clients to win over, Phi^-1(1) is infinite.
    with pytest.raises(ValueError, match=r"s = floor\(n/2 \+ 1\) - n_bad"):
        attack_updates("alie", _honest(n=2), 3)


def test_gaussian_draws_independent_seeded_vectors_with_the_given_moments():
    H = _honest(n=3, d=20_000)
    bad = attack_updates("gaussian", H, 2, seed=5, mean=1.5, std=0.5)
    assert bad.shape == (2, 20_000)
    # Closed form: each coordinate N(1.5, 0.25); the s.e. of the mean is 0.5 / sqrt(2e4) = 0.0035.
    assert abs(bad.mean() - 1.5) < 0.02 and abs(bad.std() - 0.5) < 0.02
    assert not np.allclose(bad[0], bad[1])
    np.testing.assert_array_equal(bad, attack_updates("gaussian", H, 2, seed=5, mean=1.5, std=0.5))
    expected = np.random.default_rng(5).normal(1.5, 0.5, size=(2, 20_000))  # the documented draw order
    np.testing.assert_array_equal(bad, expected)


def test_gaussian_is_the_same_on_torch_and_numpy():
    H = _honest()
    np.testing.assert_array_equal(
        attack_updates("gaussian", torch.from_numpy(H), 2, seed=1).numpy(), attack_updates("gaussian", H, 2, seed=1)
    )


def test_omniscience_is_declared_for_the_attacks_that_read_the_honest_updates():
    omniscient = {name for name in UPDATE_ATTACKS if UPDATE_ATTACKS.get(name).omniscient}
    assert omniscient == {"sign_flip", "ipm", "alie", "mimic"}


def test_colluding_attackers_send_identical_rows_and_inputs_are_untouched():
    H = _honest()
    before = H.copy()
    bad = attack_updates("sign_flip", H, 4)
    np.testing.assert_array_equal(bad, np.broadcast_to(-H.mean(axis=0), bad.shape))
    np.testing.assert_array_equal(H, before)


@pytest.mark.parametrize("name", sorted(UPDATE_ATTACKS))
def test_no_byzantine_client_gives_an_empty_matrix(name):
    H = torch.from_numpy(_honest()).float()
    bad = attack_updates(name, H, 0)
    assert bad.shape == (0, H.shape[1]) and bad.dtype == torch.float32


def test_integer_updates_are_attacked_in_float64():
    bad = attack_updates("ipm", np.array([[1, 2], [3, 4]]), 1, epsilon=1.0)
    assert bad.dtype == np.float64
    np.testing.assert_array_equal(bad, [[-2.0, -3.0]])


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (lambda H: attack_updates("ipm", H, 1, eps=0.1), ValueError, r"has no option\(s\) \['eps'\]"),
        (lambda H: attack_updates("ipm", H, 1, epsilon=-1.0), ValueError, r"epsilon must lie in \(0.0, inf., got -1.0"),
        (lambda H: attack_updates("gaussian", H, 1, std=-1.0), ValueError, r"std must lie in \[0.0, inf., got -1.0"),
        (lambda H: attack_updates("mimic", H, 1, index=7), ValueError, r"mimic index must be in \[0, 6\]"),
        (lambda H: attack_updates("alie", H[:1], 1), ValueError, r"alie needs n_honest >= 2"),
        (lambda H: attack_updates("sign_flip", H, -1), ValueError, r"n_bad must be >= 0, got -1"),
        (lambda H: attack_updates("sign_flip", H, 1.5), TypeError, r"n_bad must be an integer"),
        (lambda H: attack_updates("sign_flip", H[0], 1), ValueError, r"honest must be an \(n_honest, d\) matrix"),
        (lambda H: attack_updates("sign_flip", H.tolist(), 1), TypeError, r"honest must be a numpy array"),
        (lambda H: attack_updates("flip", H, 1), ValueError, r"unknown update attack 'flip'"),
        (lambda H: attack_updates("gaussian", H, 1, seed="0"), TypeError, r"seed must be an int"),
    ],
)
def test_bad_input_gets_an_error_naming_the_argument(call, error, match):
    with pytest.raises(error, match=match):
        call(_honest())
