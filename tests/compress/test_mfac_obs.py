"""M-FAC OBS pruning: exact OBS on least squares, masks and schedule, and accuracy vs magnitude pruning."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from torch.nn.functional import cross_entropy

from multisource.compress.driver import prune_model
from multisource.compress.mfac_obs import (
    mfac_obs_prune,
    obs_scores,
    obs_update,
    prunable_parameters,
    recompute_schedule,
)
from multisource.learners import TorchClassifier
from multisource.optim import StaticInverseFisher

DAMP = 1e-2


@pytest.fixture(scope="module")
def ridge_problem():
    """Ridge regression L(w) = ||X w - y||^2 / (2n) + (damp/2) ||w||^2 at its optimum w*.

    Its Hessian X^T X / n + damp I is the damped Fisher of the m = n rows x_i (the per-sample
    gradients of the linear output), so M-FAC's F^-1 is exact here.
    """
    gen = torch.Generator().manual_seed(0)
    n, d = 200, 12
    X = torch.randn(n, d, generator=gen, dtype=torch.float64) * torch.linspace(0.2, 2.0, d, dtype=torch.float64)
    X = X + 0.5 * X[:, :1]  # correlated features, so the OBS update matters
    y = X @ torch.randn(d, generator=gen, dtype=torch.float64) + 0.1 * torch.randn(
        n, generator=gen, dtype=torch.float64
    )
    hessian = X.T @ X / n + DAMP * torch.eye(d, dtype=torch.float64)
    w_star = torch.linalg.solve(hessian, X.T @ y / n)
    return X, y, w_star


def _ridge_loss(X, y, w):
    return float((X @ w - y).square().mean() / 2 + DAMP / 2 * w.square().sum())


def _constrained_optimum(X, y, q):
    """argmin L(w) subject to w_q = 0, solved directly on the other coordinates."""
    n, d = X.shape
    keep = [j for j in range(d) if j != q]
    Xk = X[:, keep]
    w = torch.zeros(d, dtype=X.dtype)
    w[keep] = torch.linalg.solve(Xk.T @ Xk / n + DAMP * torch.eye(d - 1, dtype=X.dtype), Xk.T @ y / n)
    return w


def test_single_obs_step_equals_the_constrained_least_squares_optimum(ridge_problem):
    X, y, w_star = ridge_problem
    finv = StaticInverseFisher(X, DAMP)  # m = n gradients x_i: F = X^T X / n + damp I exactly
    scores = obs_scores(w_star, finv.diag())
    for q in range(X.shape[1]):
        drop = torch.zeros(X.shape[1], dtype=torch.bool)
        drop[q] = True
        pruned = obs_update(w_star, finv, drop)
        expected = _constrained_optimum(X, y, q)
        assert pruned[q] == 0
        assert torch.allclose(pruned, expected, rtol=1e-9, atol=1e-11)
        # rho_q is exactly the loss increase of the best pruned solution
        assert float(scores[q]) == pytest.approx(_ridge_loss(X, y, expected) - _ridge_loss(X, y, w_star), rel=1e-7)


def test_prune_one_weight_of_a_linear_model_picks_the_brute_force_best(ridge_problem):
    X, y, w_star = ridge_problem
    d = X.shape[1]
    model = torch.nn.Linear(d, 1, bias=False).double()
    with torch.no_grad():
        model.weight.copy_(w_star[None])
    # the gradient of the summed output w.r.t. w is x_i: one "batch" per row gives F's exact factor
    batches = [(X[i : i + 1], y[i : i + 1]) for i in range(len(X))]
    masks = mfac_obs_prune(
        model, lambda out, _: out.sum(), batches, 1 / d, ngrads=len(X), damp=DAMP, blocksize=None, nrecomps=1
    )
    losses = [_ridge_loss(X, y, _constrained_optimum(X, y, q)) for q in range(d)]
    best = int(np.argmin(losses))
    assert masks["weight"].view(-1).nonzero().view(-1).tolist() == [best]
    assert torch.allclose(model.weight.detach().view(-1), _constrained_optimum(X, y, best), rtol=1e-9, atol=1e-11)


def test_recompute_schedule_shrinks_density_geometrically_to_the_target():
    schedule = recompute_schedule(0.2, 0.9, 4)
    densities = 1 - np.array([0.2, *schedule])
    ratios = densities[1:] / densities[:-1]
    assert schedule[-1] == 0.9
    assert np.allclose(ratios, ratios[0]) and ratios[0] == pytest.approx((0.1 / 0.8) ** 0.25)
    assert recompute_schedule(0.0, 0.5, 1) == [0.5]
    with pytest.raises(ValueError, match="must be >= the starting sparsity"):
        recompute_schedule(0.5, 0.2, 2)
    with pytest.raises(ValueError, match="nrecomps must be >= 1"):
        recompute_schedule(0.0, 0.5, 0)


def _mlp_and_batches(seed: int = 0, count: int = 16):
    gen = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    model = torch.nn.Sequential(torch.nn.Linear(6, 10), torch.nn.ReLU(), torch.nn.Linear(10, 3))
    batches = [(torch.randn(8, 6, generator=gen), torch.randint(0, 3, (8,), generator=gen)) for _ in range(count)]
    return model, batches


@pytest.mark.parametrize("scope", ["global", "layer"])
def test_masks_hit_the_target_and_removed_weights_are_exactly_zero(scope):
    model, batches = _mlp_and_batches()
    biases = [model[0].bias.detach().clone(), model[2].bias.detach().clone()]
    model.train()
    masks = mfac_obs_prune(
        model, cross_entropy, batches, 0.7, ngrads=16, damp=1e-4, blocksize=16, nrecomps=3, scope=scope
    )
    params = prunable_parameters(model)
    assert set(masks) == {"0.weight", "2.weight"}
    for name, mask in masks.items():
        assert torch.all(params[name][mask] == 0)
    if scope == "global":
        total = sum(p.numel() for p in params.values())
        assert sum(int(mask.sum()) for mask in masks.values()) == round(0.7 * total)
    else:
        assert all(int(mask.sum()) == round(0.7 * mask.numel()) for mask in masks.values())
    assert torch.equal(model[0].bias, biases[0]) and torch.equal(model[2].bias, biases[1])
    assert model.training  # the mode is restored


def test_pruning_again_to_a_higher_sparsity_keeps_the_earlier_zeros():
    model, batches = _mlp_and_batches(seed=1)
    first = mfac_obs_prune(model, cross_entropy, batches, 0.3, ngrads=16, damp=1e-4, nrecomps=1)
    second = mfac_obs_prune(model, cross_entropy, batches, 0.6, ngrads=16, damp=1e-4, nrecomps=3)
    params = prunable_parameters(model)
    for name, mask in first.items():
        assert torch.all(second[name][mask])  # zero weights score 0, so they are removed first
        assert torch.all(params[name][second[name]] == 0)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(sparsity=1.0), r"sparsity must lie in \[0.0, 1.0\)"),
        (dict(scope="row"), "scope must be one of"),
        (dict(damp=0.0), "Invalid damp: 0.0"),
        (dict(ngrads=0), "Invalid ngrads: 0"),
        (dict(ngrads=40), "batches gave 16 calibration batches but ngrads=40"),
    ],
)
def test_bad_pruning_arguments_get_clear_errors(kwargs, match):
    model, batches = _mlp_and_batches()
    args = dict(sparsity=0.5, ngrads=16) | kwargs
    with pytest.raises(ValueError, match=match):
        mfac_obs_prune(model, cross_entropy, batches, **args)


def _accuracy(model, X, y):
    with torch.no_grad():
        return float((model(X).argmax(dim=1) == y).float().mean())


@pytest.mark.slow
def test_mfac_obs_beats_magnitude_pruning_on_digits_without_retraining():
    """MLP 64-64-10 on sklearn digits, the same sparsity in every layer, 3 seeds."""
    X, y = load_digits(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(X / 16.0, y, test_size=0.3, random_state=0)
    X_train_t, y_train_t = torch.tensor(X_train, dtype=torch.float32), torch.tensor(y_train)
    X_test_t, y_test_t = torch.tensor(X_test, dtype=torch.float32), torch.tensor(y_test)
    results = {0.5: [], 0.8: []}
    for seed in range(3):
        dense = TorchClassifier(hidden_sizes=(64,), epochs=30, lr=3e-3, random_state=seed, device="cpu")
        dense = dense.fit(X_train, y_train).module_
        order = torch.randperm(len(X_train_t), generator=torch.Generator().manual_seed(seed))
        batches = [(X_train_t[idx], y_train_t[idx]) for idx in order[: 64 * 16].split(16)]
        for sparsity in results:
            magnitude = copy.deepcopy(dense)
            prune_model(magnitude, None, method="magnitude", sparsity=sparsity, family="generic", progress=False)
            obs = copy.deepcopy(dense)
            mfac_obs_prune(
                obs, cross_entropy, batches, sparsity, ngrads=64, damp=1e-5, blocksize=128, nrecomps=4, scope="layer"
            )
            results[sparsity].append((_accuracy(magnitude, X_test_t, y_test_t), _accuracy(obs, X_test_t, y_test_t)))
    for sparsity, pairs in results.items():
        magnitude_mean, obs_mean = np.mean(pairs, axis=0)
        print(f"sparsity {sparsity}: magnitude {magnitude_mean:.3f}, M-FAC OBS {obs_mean:.3f}")
        assert obs_mean > magnitude_mean
