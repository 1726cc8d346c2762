"""Fixtures shared by the learner tests."""

import pytest
import torch
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split


@pytest.fixture(autouse=True)
def single_thread():
    """Tiny models train faster on one thread: no op waits on a descheduled sibling (shared CI CPUs)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def digits():
    """sklearn digits scaled to [0, 1], split 70/30."""
    X, y = load_digits(return_X_y=True)
    return train_test_split(X / 16.0, y, test_size=0.3, random_state=0)
