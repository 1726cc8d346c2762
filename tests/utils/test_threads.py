"""limit_threads: BLAS and torch's intra-op threads limited inside, restored after, as a context or a decorator."""

import pytest
import torch
from threadpoolctl import threadpool_info

from multisource.utils.threads import limit_threads, single_threaded_blas


def _blas_threads() -> list[int]:
    return [pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"]


@pytest.fixture
def two_torch_threads():
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    yield
    torch.set_num_threads(before)


def test_limit_threads_sets_torch_and_blas_to_one_and_restores_them(two_torch_threads):
    blas_before = _blas_threads()
    assert blas_before, "numpy's BLAS should be loaded"
    with limit_threads(1):
        assert torch.get_num_threads() == 1
        assert all(n == 1 for n in _blas_threads())
    assert torch.get_num_threads() == 2
    assert _blas_threads() == blas_before


def test_limit_threads_restores_torch_threads_when_the_block_raises(two_torch_threads):
    with pytest.raises(RuntimeError, match="inside"), limit_threads(1):
        raise RuntimeError("inside")
    assert torch.get_num_threads() == 2


def test_limit_threads_decorates_a_function_and_can_leave_torch_alone(two_torch_threads):
    @limit_threads(1, blas=False)
    def torch_threads_inside() -> int:
        return torch.get_num_threads()

    @single_threaded_blas
    def torch_and_blas_inside() -> tuple[int, list[int]]:
        return torch.get_num_threads(), _blas_threads()

    assert torch_threads_inside() == 1 and torch_threads_inside() == 1
    threads, blas = torch_and_blas_inside()
    assert threads == 2 and all(n == 1 for n in blas)
    assert torch.get_num_threads() == 2


def test_limit_threads_rejects_a_non_positive_count():
    with pytest.raises(ValueError, match="n_threads must be >= 1, got 0"), limit_threads(0):
        pass
