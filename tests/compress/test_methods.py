"""The one pruning registry: records, options, the target checked at the boundary, a user's own pruner."""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits
from torch import nn

from multisource.cli import prune as prune_command
from multisource.compress import (
    PRUNING_METHODS,
    LayerResult,
    PruneTarget,
    check_target,
    layer_pruner,
    prune_classifier,
    prune_model,
    sparsegpt_prune_layer,
    wanda_prune_layer,
)
from multisource.compress.masks import lowest_mask
from multisource.learners import CompressedClassifier, TorchClassifier


@pytest.fixture
def registry(monkeypatch):
    """PRUNING_METHODS as it is, restored after the test (so a toy pruner does not leak into other tests)."""
    monkeypatch.setattr(PRUNING_METHODS, "_entries", dict(PRUNING_METHODS._entries))
    return PRUNING_METHODS


@dataclass(frozen=True)
class _LargestOptions:
    keep_sign: bool = False


def _register_largest_magnitude(registry) -> str:
    """A toy pruner that removes the *largest* |W_ij| of each matrix: easy to recognise in the weights."""

    @layer_pruner("largest_magnitude", options=_LargestOptions, needs_hessian=False)
    def largest_magnitude(W, H, target: PruneTarget, options: _LargestOptions) -> LayerResult:
        start = time.perf_counter()
        mask = lowest_mask(-W.abs(), target.sparsity)
        return LayerResult(W.masked_fill(mask, 0.0), mask, float("nan"), 0.0, time.perf_counter() - start)

    return "largest_magnitude"


def _mlp(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 3))


def test_registry_records_say_what_kind_each_pruner_is():
    kinds = {name: PRUNING_METHODS.get(name).kind for name in PRUNING_METHODS}
    assert kinds == {"magnitude": "layer", "mfac_obs": "model", "sparsegpt": "layer", "wanda": "layer"}
    assert not PRUNING_METHODS.get("magnitude").needs_hessian and PRUNING_METHODS.get("wanda").needs_hessian
    assert PRUNING_METHODS.get("mfac_obs").needs_labels and not PRUNING_METHODS.get("sparsegpt").needs_labels


@pytest.mark.parametrize(
    ("method", "options", "misspelt", "valid"),
    [
        ("sparsegpt", {"blocksze": 64}, "blocksze", "['blocksize', 'percdamp']"),
        ("wanda", {"blocksize": 64}, "blocksize", "[]"),
        ("mfac_obs", {"ngrad": 8}, "ngrad", "['ngrads', 'damp'"),
        ("magnitude", {"scope": "row", "per_row": True}, "per_row", "['scope']"),
    ],
)
def test_a_misspelt_option_is_an_error_naming_it_and_the_valid_ones(method, options, misspelt, valid):
    with pytest.raises(
        ValueError, match=rf"unknown option '{misspelt}' for pruning method '{method}'; valid options: "
    ) as info:
        prune_classifier(_mlp(), torch.randn(64, 8), torch.randint(0, 3, (64,)), method=method, options=options)
    assert valid in str(info.value)


def test_option_values_are_checked_by_the_options_dataclass():
    with pytest.raises(ValueError, match="blocksize must be >= 1, got 0"):
        prune_model(_mlp(), torch.randn(16, 8), options={"blocksize": 0}, progress=False)
    with pytest.raises(ValueError, match="percdamp must lie in"):
        prune_model(_mlp(), torch.randn(16, 8), options={"percdamp": -1.0}, progress=False)
    with pytest.raises(ValueError, match="scope must be one of"):
        prune_model(_mlp(), None, method="magnitude", options={"scope": "global"}, progress=False)


def test_options_apply_to_the_solver():
    X = torch.randn(64, 8, generator=torch.Generator().manual_seed(0))
    default, small_blocks = _mlp(), _mlp()
    prune_model(default, X, sparsity=0.5, progress=False)
    prune_model(small_blocks, X, sparsity=0.5, options={"blocksize": 4}, progress=False)
    layer = small_blocks[0].weight
    assert all(
        int((layer[:, i : i + 4] == 0).sum()) == 32 for i in range(0, 8, 4)
    )  # exact count in every 4-column block
    assert not torch.equal(default[0].weight, layer)


@pytest.mark.parametrize("prune_layer", [sparsegpt_prune_layer, wanda_prune_layer])
def test_mask_together_with_pattern_is_an_error_naming_both(prune_layer):
    W, H = torch.randn(4, 8), torch.eye(8)
    mask = torch.zeros(4, 8, dtype=torch.bool)
    with pytest.raises(ValueError, match=r"mask and pattern='2:4' cannot be combined"):
        prune_layer(W, H, mask=mask, pattern="2:4")
    with pytest.raises(ValueError, match=r"mask and sparsity=0.5 cannot be combined"):
        prune_layer(W, H, mask=mask, sparsity=0.5)


def test_a_fixed_mask_is_applied_exactly_by_every_layer_pruner_and_has_the_right_shape():
    W, H = torch.randn(4, 8), torch.eye(8)
    mask = torch.rand(4, 8, generator=torch.Generator().manual_seed(0)) < 0.5
    for prune_layer in (sparsegpt_prune_layer, wanda_prune_layer):
        result = prune_layer(W, H, mask=mask)
        assert torch.equal(result.mask, mask) and torch.all(result.weight[mask] == 0)
    assert check_target(mask=mask).sparsity == pytest.approx(float(mask.float().mean()))
    with pytest.raises(ValueError, match=r"mask must have the shape of W \(4, 8\), got \(4, 7\)"):
        sparsegpt_prune_layer(W, H, mask=mask[:, :7])


@pytest.mark.parametrize(
    ("W", "H", "message"),
    [
        (torch.tensor([[1.0, float("nan")]]), torch.eye(2), "W contains NaN or infinite values"),
        (torch.ones(1, 2), torch.tensor([[1.0, 0.0], [0.0, float("inf")]]), "H contains NaN or infinite values"),
        (torch.ones(1, 2), torch.tensor([[1.0, float("nan")], [float("nan"), 1.0]]), "H contains NaN or infinite"),
        (torch.ones(1, 2), torch.tensor([[2.0, float("-inf")], [float("-inf"), 2.0]]), "H contains NaN or infinite"),
    ],
)
def test_non_finite_weights_or_hessian_are_refused_before_the_solve(W, H, message):
    with pytest.raises(ValueError, match=message):
        sparsegpt_prune_layer(W, H, sparsity=0.5)


def test_the_driver_names_the_layer_whose_calibration_inputs_are_not_finite():
    net = _mlp()
    X = torch.randn(32, 8)
    X[3, 2] = float("nan")
    with pytest.raises(ValueError, match=r"layer '0': H contains NaN or infinite values"):
        prune_model(net, X, progress=False)


class _WithExtras(nn.Module):
    """A Linear the forward never calls and a grouped convolution: neither can be pruned, both must be reported."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv1d(2, 2, 3, groups=2)
        self.used = nn.Linear(12, 4)
        self.unused = nn.Linear(4, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.used(self.conv(x.unsqueeze(1).expand(-1, 2, -1)).flatten(1))


def test_layers_the_driver_cannot_prune_are_listed_in_the_report_with_the_reason():
    report = prune_model(_WithExtras(), torch.randn(16, 8), sparsity=0.5, progress=False)
    assert [r.name for r in report.layers] == ["used"]
    assert set(report.skipped) == {"conv", "unused"}
    assert "Conv1d" in report.skipped["conv"] and "never calls it" in report.skipped["unused"]
    assert "not pruned: conv" in report.table()
    magnitude = prune_model(_WithExtras(), None, method="magnitude", sparsity=0.5, progress=False)
    assert [r.name for r in magnitude.layers] == ["used", "unused"] and set(magnitude.skipped) == {"conv"}


def test_layers_left_dense_on_purpose_are_not_reported_as_skipped():
    report = prune_model(_WithExtras(), torch.randn(16, 8), sparsity={"used": 0.5}, progress=False)
    assert report.skipped == {}
    report = prune_model(_WithExtras(), torch.randn(16, 8), sparsity={"used": 0.5, "conv": 0.5}, progress=False)
    assert set(report.skipped) == {"conv"}


def test_bad_target_fails_before_any_weight_changes():
    net = _mlp()
    before = [p.clone() for p in net.parameters()]
    with pytest.raises(ValueError, match="blocksize=6 must be a multiple of M=4"):
        prune_model(net, torch.randn(16, 8), pattern="2:4", options={"blocksize": 6}, progress=False)
    with pytest.raises(ValueError, match="pattern and bits apply to the layer-wise methods"):
        prune_model(net, (torch.randn(16, 8), torch.zeros(16, dtype=torch.long)), method="mfac_obs", bits=4)
    with pytest.raises(ValueError, match="give one sparsity, not one per layer"):
        prune_classifier(
            net, torch.randn(16, 8), torch.zeros(16, dtype=torch.long), method="mfac_obs", sparsity={"0": 0.5}
        )  # type: ignore[arg-type]
    assert all(torch.equal(p, q) for p, q in zip(net.parameters(), before, strict=True))


def _method_choices() -> list[str]:
    parser = argparse.ArgumentParser()
    prune_command.configure(parser)
    return next(action.choices for action in parser._actions if action.dest == "method")


def test_the_registry_drives_the_prune_command_choices(registry):
    assert _method_choices() == ["magnitude", "sparsegpt", "wanda"]  # mfac_obs needs labels, text has none
    _register_largest_magnitude(registry)
    assert "largest_magnitude" in _method_choices()


def test_a_registered_toy_pruner_works_in_prune_model_and_compressed_classifier(registry):
    name = _register_largest_magnitude(registry)
    net = _mlp()
    dense = net[0].weight.detach().clone()
    report = prune_model(net, None, method=name, sparsity=0.25, progress=False)
    assert report.method == name and [r.name for r in report.layers] == ["0", "2"]
    removed = net[0].weight == 0
    assert int(removed.sum()) == 32 and dense[removed].abs().min() >= dense[~removed].abs().max()
    with pytest.raises(ValueError, match=r"unknown option 'keep_signs'.*valid options: \['keep_sign'\]"):
        prune_model(_mlp(), None, method=name, options={"keep_signs": True}, progress=False)

    X, y = load_digits(return_X_y=True)
    clf = CompressedClassifier(
        TorchClassifier(hidden_sizes=(16,), epochs=2, random_state=0, device="cpu"), method=name, sparsity=0.5
    ).fit(X[:300] / 16, y[:300])
    assert clf.report_.method == name and clf.predict(X[300:310] / 16).shape == (10,)
    weights = [m.weight for m in clf.estimator_.module_ if isinstance(m, nn.Linear)]
    assert all(float((w == 0).float().mean()) == pytest.approx(0.5, abs=0.01) for w in weights)
    assert np.isfinite(clf.predict_proba(X[:5] / 16)).all()
