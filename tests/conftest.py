"""Fixtures shared across the test packages."""

import pytest
import torch


@pytest.fixture
def one_torch_thread():
    """One torch thread for the test: tiny ops train faster when none waits on a descheduled sibling
    (the CI machine's cores are shared); the previous count is restored afterwards."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
