import numpy as np
import pytest
import torch
from sklearn.linear_model import LogisticRegression

from multisource.discrepancy import fit_weighted_logistic


@pytest.mark.parametrize("l2", [1e-3, 1e-1])
def test_batched_newton_matches_sklearn_on_every_weighted_problem(l2):
    rng = np.random.default_rng(0)
    B, n, d, K = 3, 40, 4, 2
    X = rng.standard_normal((B, n, d))
    Z = (rng.random((B, n, K)) < 0.5).astype(float)
    weights = rng.random((B, n)) / n
    weights[:, -5:] = 0.0  # padding rows must not matter
    design = torch.tensor(np.concatenate([X, np.ones((B, n, 1))], axis=2))
    W = fit_weighted_logistic(design, torch.tensor(Z), torch.tensor(weights), l2=l2, tol=1e-16).numpy()
    for b in range(B):
        for k in range(K):
            ref = LogisticRegression(C=1.0 / l2, tol=1e-12, max_iter=10_000)
            ref.fit(X[b, :-5], Z[b, :-5, k], sample_weight=weights[b, :-5])
            np.testing.assert_allclose(W[b, k, :-1], ref.coef_[0], atol=1e-5)
            np.testing.assert_allclose(W[b, k, -1], ref.intercept_[0], atol=1e-5)


def test_batched_newton_reaches_a_stationary_point_on_separable_data():
    rng = np.random.default_rng(1)
    X = rng.standard_normal((1, 30, 2))
    Z = (X[..., :1] > 0).astype(float)  # separable: only the ridge keeps the solution finite
    design = torch.tensor(np.concatenate([X, np.ones((1, 30, 1))], axis=2))
    weights = torch.full((1, 30), 1 / 30, dtype=torch.float64)
    W = fit_weighted_logistic(design, torch.tensor(Z), weights, l2=1e-3, tol=1e-16).requires_grad_(True)
    logits = torch.einsum("bnd,bkd->bnk", design, W)
    objective = (weights[..., None] * (torch.nn.functional.softplus(logits) - torch.tensor(Z) * logits)).sum()
    objective = objective + 0.5e-3 * (W[..., :-1] ** 2).sum()
    objective.backward()
    assert W.grad.abs().max() < 1e-9
