"""Bounds: complexity measures, the multi-source theorems' calculators, floors, KL2019, sample complexity.

Every calculator returns a frozen result with each term named; see ``docs/bounds.md``.
N = 20 sources of m = 1000 samples, a fifth of them bad, a class of VC dimension 10:

>>> from multisource.bounds import fixed_set_bound, required_m
>>> bound = fixed_set_bound(n_sources=20, m=1000, alpha=0.2, delta=0.05, complexity=10)
>>> [round(term, 4) for term in (bound.complexity, bound.confidence, bound.corruption, bound.total)]
[0.2047, 0.0234, 0.4747, 0.7027]

and the samples per source that bring the bound down to 0.1:

>>> required_m(fixed_set_bound, 0.1, n_sources=20, alpha=0.2, delta=0.05, complexity=10)
78208
"""

from multisource.bounds.complexity import (
    Complexity,
    RademacherCallable,
    RademacherValue,
    VCComplexity,
    as_complexity,
)
from multisource.bounds.floors import LowerBound, malicious_noise_floor, multisource_lower_bound, nasty_noise_floor
from multisource.bounds.kl2019 import bound_lambda, kl2019_bound
from multisource.bounds.rademacher import (
    DecisionStumps,
    Estimate,
    FiniteClass,
    LinearClass,
    exact_rademacher,
    monte_carlo_rademacher,
)
from multisource.bounds.result import Bound, ThresholdResult, term_table
from multisource.bounds.sample_complexity import required_m, required_n_sources
from multisource.bounds.theorems import (
    adaptive_set_bound,
    filter_threshold,
    fixed_set_bound,
    multisource_bound,
    oracle_bound,
    pooled_erm_bound,
    single_source_bound,
    theory_threshold,
)

__all__ = [
    "Bound",
    "Complexity",
    "DecisionStumps",
    "Estimate",
    "FiniteClass",
    "LinearClass",
    "LowerBound",
    "RademacherCallable",
    "RademacherValue",
    "ThresholdResult",
    "VCComplexity",
    "adaptive_set_bound",
    "as_complexity",
    "bound_lambda",
    "exact_rademacher",
    "filter_threshold",
    "fixed_set_bound",
    "kl2019_bound",
    "malicious_noise_floor",
    "monte_carlo_rademacher",
    "multisource_bound",
    "multisource_lower_bound",
    "nasty_noise_floor",
    "oracle_bound",
    "pooled_erm_bound",
    "required_m",
    "required_n_sources",
    "single_source_bound",
    "term_table",
    "theory_threshold",
]
