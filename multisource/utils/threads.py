"""Thread-pool hygiene for code that mixes torch and scikit-learn on few cores."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import ParamSpec, TypeVar

from threadpoolctl import threadpool_limits

P = ParamSpec("P")
R = TypeVar("R")


def single_threaded_blas(fn: Callable[P, R]) -> Callable[P, R]:
    """Run ``fn`` with BLAS limited to one thread.

    Many small scikit-learn fits (lbfgs on a few hundred samples) gain nothing from BLAS threads,
    and once torch's OpenMP pool has run on the same cores, a multi-threaded OpenBLAS makes each
    fit 20-50x slower (measured on 2 cores: a pairwise sklearn discrepancy matrix took 10.7 s
    instead of 0.44 s). Wrap loops of small fits, not single large solves.
    """

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        with threadpool_limits(limits=1, user_api="blas"):
            return fn(*args, **kwargs)

    return wrapper
