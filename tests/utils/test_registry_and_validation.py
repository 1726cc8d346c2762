import numpy as np
import pytest

from multisource.utils.registry import Registry
from multisource.utils.validation import check_alpha, check_delta, check_int, check_random_state


def test_registry_registers_by_decorator_and_lists_valid_names_on_unknown():
    reg: Registry = Registry("attack")

    @reg.register("flip")
    def flip():
        return 1

    assert reg.get("flip") is flip and "flip" in reg and reg.names() == ["flip"]
    with pytest.raises(ValueError, match=r"unknown attack 'nope'.*\['flip'\]"):
        reg.get("nope")
    with pytest.raises(ValueError, match="already registered"):
        reg.register("flip")(lambda: 2)


@pytest.mark.parametrize("alpha", [0.5, 0.7, -0.1, float("nan")])
def test_check_alpha_refuses_values_outside_half_open_interval(alpha):
    with pytest.raises(ValueError, match="alpha"):
        check_alpha(alpha)


def test_validation_accepts_valid_values_and_names_argument():
    assert check_alpha(0.0) == 0.0 and check_delta(0.05) == 0.05
    with pytest.raises(ValueError, match=r"delta must lie in \(0.0, 1.0\)"):
        check_delta(1.0)
    with pytest.raises(ValueError, match="N must be >= 1"):
        check_int("N", 0, minimum=1)
    with pytest.raises(TypeError, match="N must be an integer"):
        check_int("N", 2.5)


def test_check_random_state_is_reproducible():
    a = check_random_state(3).normal(size=4)
    b = check_random_state(3).normal(size=4)
    np.testing.assert_array_equal(a, b)
    g = np.random.default_rng(0)
    assert check_random_state(g) is g
