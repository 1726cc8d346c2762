"""Any model as one vector: flatten/unflatten round trips for torch modules and sklearn linear models."""

import numpy as np
import pytest
import torch
from sklearn.datasets import load_iris
from sklearn.linear_model import LinearRegression, LogisticRegression, Ridge

import multisource.aggregation as agg


def _mlp(seed, dtype=torch.float32):
    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 3)).to(dtype)


def test_flattened_parameters_written_into_a_fresh_module_reproduce_its_outputs():
    source, target = _mlp(0), _mlp(1)
    vector = agg.flatten_parameters(source)
    assert vector.shape == (4 * 8 + 8 + 8 * 3 + 3,)
    agg.unflatten_parameters(target, vector)
    x = torch.randn(5, 4)
    torch.testing.assert_close(target(x), source(x), rtol=0, atol=0)


def test_the_flat_vector_is_a_copy_so_aggregating_it_leaves_the_module_alone():
    module = _mlp(0)
    vector = agg.flatten_parameters(module)
    vector.zero_()
    assert float(agg.flatten_parameters(module).abs().sum()) > 0


def test_unflatten_takes_numpy_and_casts_to_the_module_dtype():
    module = _mlp(0, torch.float64)
    vector = agg.flatten_parameters(_mlp(2)).numpy()
    agg.unflatten_parameters(module, vector)
    assert next(module.parameters()).dtype == torch.float64
    np.testing.assert_allclose(agg.flatten_parameters(module).numpy(), vector, rtol=1e-7)


def test_unflatten_rejects_a_vector_of_the_wrong_length():
    with pytest.raises(ValueError, match=r"vector must be 1-D with 67 entries"):
        agg.unflatten_parameters(_mlp(0), torch.zeros(66))
    with pytest.raises(TypeError, match=r"torch\.nn\.Module"):
        agg.flatten_parameters(LinearRegression())


def test_the_coordinate_median_of_five_flattened_mlps_is_a_module_of_the_same_shape():
    models = [_mlp(seed) for seed in range(5)]
    stacked = torch.stack([agg.flatten_parameters(m) for m in models])
    merged = agg.unflatten_parameters(_mlp(9), agg.coordinate_median(stacked))
    first = next(merged.parameters())
    expected = torch.stack([next(m.parameters()) for m in models]).median(dim=0).values
    torch.testing.assert_close(first, expected, rtol=0, atol=0)


@pytest.mark.parametrize(
    "make",
    [
        lambda: LogisticRegression(max_iter=500),  # (3, 4) coef_, (3,) intercept_
        lambda: LinearRegression(),  # (4,) coef_, scalar intercept_
        lambda: Ridge(fit_intercept=False),  # intercept_ = 0.0
    ],
)
def test_a_linear_model_round_trips_through_its_flat_vector(make):
    X, y = load_iris(return_X_y=True)
    fitted, other = make().fit(X, y), make().fit(X[::3], y[::3])
    vector = agg.flatten_linear_model(fitted)
    coef, intercept = np.asarray(fitted.coef_), np.asarray(fitted.intercept_)
    assert vector.shape == (coef.size + intercept.size,)
    agg.unflatten_linear_model(other, vector)
    assert np.shape(other.coef_) == coef.shape and np.shape(other.intercept_) == intercept.shape
    np.testing.assert_array_equal(other.predict(X), fitted.predict(X))


def test_an_unfitted_linear_model_cannot_be_flattened():
    with pytest.raises(ValueError, match="not a fitted linear model"):
        agg.flatten_linear_model(LogisticRegression())
    with pytest.raises(ValueError, match="5 entries"):
        agg.unflatten_linear_model(LinearRegression().fit(np.eye(4), np.arange(4.0)), np.zeros(3))
