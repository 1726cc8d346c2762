"""Every registered pruner behind one interface on a small MLP trained on scikit-learn's digits."""

from __future__ import annotations

import copy

import pytest
import torch
from sklearn.datasets import load_digits
from torch import nn

from multisource.compress.methods import PRUNING_METHODS
from multisource.compress.small_nets import prune_classifier


@pytest.fixture(scope="module")
def trained():
    digits = load_digits()
    X = torch.tensor(digits.data / 16.0, dtype=torch.float32)
    y = torch.tensor(digits.target)
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 10))
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    for _ in range(80):
        opt.zero_grad()
        nn.functional.cross_entropy(net(X[:1200]), y[:1200]).backward()
        opt.step()
    return net, X, y


def _accuracy(net, X, y):
    with torch.no_grad():
        return float((net(X).argmax(1) == y).float().mean())


def test_every_method_reaches_the_per_layer_sparsity_through_one_interface(trained):
    net, X, y = trained
    accuracy = {}
    for method in PRUNING_METHODS.names():
        model = copy.deepcopy(net)
        report = prune_classifier(model, X[:1200], y[:1200], method=method, sparsity=0.7)
        assert [r.name for r in report.layers] == ["0", "2"]
        assert all(r.sparsity == pytest.approx(0.7, abs=0.01) for r in report.layers)
        assert float((model[0].weight == 0).float().mean()) == pytest.approx(0.7, abs=0.01)
        accuracy[method] = _accuracy(model, X[1200:], y[1200:])
    assert accuracy["sparsegpt"] > accuracy["magnitude"]


def test_unknown_method_and_too_few_samples_are_rejected(trained):
    net, X, y = trained
    with pytest.raises(ValueError, match="unknown pruning method 'obs'"):
        prune_classifier(net, X, y, method="obs")
    with pytest.raises(ValueError, match="at least ngrads=8 calibration samples, got 4"):
        prune_classifier(net, X[:4], y[:4], method="mfac_obs", options={"ngrads": 8})
