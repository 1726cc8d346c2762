"""Thread-pool hygiene for code that mixes torch and scikit-learn on few cores: one limiter for both."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Iterator
from typing import ParamSpec, TypeVar

from threadpoolctl import threadpool_limits

from multisource.utils.validation import check_int

P = ParamSpec("P")
R = TypeVar("R")


@contextlib.contextmanager
def limit_threads(n_threads: int = 1, *, blas: bool = True, torch: bool = True) -> Iterator[None]:
    """Limit BLAS threads (threadpoolctl) and torch's intra-op threads to ``n_threads``, then restore them.

    A context manager, and a decorator as well (each call of the decorated function sets and restores
    the limits)::

        with limit_threads(1):
            ...

        @limit_threads(1, blas=False)
        def column_loop(...): ...

    Many tiny ops (a column loop of small matrix updates, many small fits) gain nothing from threads,
    and with several threads OpenMP spends its time in barriers: on a shared 2-core machine a column
    loop ran up to 30x slower with 2 torch threads than with 1. torch's threads are limited only if
    torch is already imported (code that uses torch has imported it; this module does not load it).
    """
    n_threads = check_int("n_threads", n_threads, minimum=1)
    torch_module = sys.modules.get("torch") if torch else None
    previous = torch_module.get_num_threads() if torch_module is not None else None
    with contextlib.ExitStack() as stack:
        if blas:
            stack.enter_context(threadpool_limits(limits=n_threads, user_api="blas"))
        if torch_module is not None:
            torch_module.set_num_threads(n_threads)
            stack.callback(torch_module.set_num_threads, previous)
        yield


def single_threaded_blas(fn: Callable[P, R]) -> Callable[P, R]:
    """Run ``fn`` with BLAS limited to one thread (:func:`limit_threads` with ``torch=False``).

    Many small scikit-learn fits (lbfgs on a few hundred samples) gain nothing from BLAS threads,
    and once torch's OpenMP pool has run on the same cores, a multi-threaded OpenBLAS makes each
    fit 20-50x slower (measured on 2 cores: a pairwise sklearn discrepancy matrix took 10.7 s
    instead of 0.44 s). Wrap loops of small fits, not single large solves.
    """
    return limit_threads(1, torch=False)(fn)
