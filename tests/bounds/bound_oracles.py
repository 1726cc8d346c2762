"""The bounds of docs/bounds.md ("The bounds") written out by hand, independently of multisource.bounds."""

import math


def hand_rad(n, d):
    """VC plug-in for n > d: sqrt(d ln(e n / d) / (2 n)) (Massart + Sauer, Mohri et al. Cor. 3.8 / 3.18)."""
    assert n > d and d * (1.0 + math.log(n / d)) < n * math.log(2.0), "only the Sauer branch is written out"
    return math.sqrt(d * (1.0 + math.log(n / d)) / (2.0 * n))


def hand_values(N, m, alpha, d, delta):
    """Delta_m, s and every bound of the 2020 setting, term by term."""
    delta_m = 2 * hand_rad(m, d) + math.sqrt(math.log(4 * N / delta) / (2 * m))
    G = math.ceil((1 - alpha) * N)
    oracle = 4 * hand_rad(G * m, d) + 2 * math.sqrt(math.log(4 / delta) / (2 * G * m))
    adaptive_stat = (2 / (1 - alpha)) * (2 * hand_rad(N * m, d) + math.sqrt(math.log(4 / delta) / (2 * N * m)))
    return {
        "delta_m": delta_m,
        "s": 2 * delta_m,
        "fixed": oracle + 6 * alpha * delta_m,
        "adaptive": adaptive_stat + 2 * alpha * (3 + 1 / (1 - alpha)) * delta_m,
        "single": 4 * hand_rad(m, d) + 2 * math.sqrt(math.log(2 / delta) / (2 * m)),
        "oracle": oracle,
    }
