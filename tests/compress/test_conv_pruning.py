"""Convolutions pruned as Linear layers on their unfolded input patches (``multisource.compress.conv``).

Oracles: the layer's own torch forward pass (for the patches), patches gathered position by position
in the test (for the column order), and the same layer written as an ``nn.Linear`` on those patches,
pruned by the same driver (for every method and target).
"""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from multisource.compress import outlier_ratios, prune_classifier, prune_model
from multisource.compress.adapters import trace_layer_groups, unsupported_layers, weight_matrix
from multisource.compress.conv import unfold_patches
from multisource.learners.cnn import build_cnn

CONVS = [
    (lambda: nn.Conv2d(3, 5, 3, padding=1), (4, 3, 7, 6)),
    (lambda: nn.Conv2d(3, 5, (3, 2), stride=2, dilation=(1, 2), padding=(1, 0)), (4, 3, 9, 8)),
    (lambda: nn.Conv2d(2, 4, 3, padding=2, padding_mode="reflect"), (3, 2, 6, 6)),
    (lambda: nn.Conv2d(2, 4, 3, padding="same", dilation=2, padding_mode="circular"), (3, 2, 7, 7)),
    (lambda: nn.Conv1d(3, 4, 5, stride=2, padding=1, dilation=2), (4, 3, 21)),
    (lambda: nn.Conv1d(2, 4, 3, padding="same", padding_mode="replicate"), (3, 2, 11)),
]


def _double(module: nn.Module) -> nn.Module:
    torch.manual_seed(0)
    return module.double()


@pytest.mark.parametrize("make, shape", CONVS)
def test_unfolded_patches_times_the_weight_matrix_are_the_convolution(make, shape):
    conv = _double(make())
    x = torch.randn(*shape, dtype=torch.float64)
    out = conv(x)
    rows = unfold_patches(conv, x) @ weight_matrix(conv).T + conv.bias
    expected = out.flatten(2).transpose(1, 2).reshape(-1, conv.out_channels)  # (samples x positions) x out
    torch.testing.assert_close(rows, expected, rtol=0, atol=1e-12)


def test_weight_matrix_columns_run_over_kernel_positions_then_input_channels():
    conv = _double(nn.Conv2d(3, 2, (2, 3)))
    W = weight_matrix(conv)
    for ki in range(2):
        for kj in range(3):
            for c in range(3):
                assert torch.equal(W[:, (ki * 3 + kj) * 3 + c], conv.weight[:, c, ki, kj])


def _patches_by_position(conv: nn.Conv2d, x: torch.Tensor) -> torch.Tensor:
    """Patches gathered one output position at a time (zero padding), columns (kernel position, channel)."""
    (kh, kw), (sh, sw), (ph, pw), (dh, dw) = conv.kernel_size, conv.stride, conv.padding, conv.dilation
    padded = nn.functional.pad(x, (pw, pw, ph, ph))
    out_h = (padded.shape[2] - dh * (kh - 1) - 1) // sh + 1
    out_w = (padded.shape[3] - dw * (kw - 1) - 1) // sw + 1
    per_position = []
    for i in range(out_h):
        for j in range(out_w):
            window = [padded[:, :, i * sh + ki * dh, j * sw + kj * dw] for ki in range(kh) for kj in range(kw)]
            per_position.append(torch.cat(window, dim=1))  # (samples, kernel positions x channels)
    return torch.stack(per_position, dim=1).reshape(-1, per_position[0].shape[1])


def _as_linear(conv: nn.Conv2d) -> nn.Linear:
    out, channels, kh, kw = conv.weight.shape
    linear = nn.Linear(channels * kh * kw, out).double()
    with torch.no_grad():
        linear.weight.copy_(conv.weight.permute(0, 2, 3, 1).reshape(out, -1))
        linear.bias.copy_(conv.bias)
    return linear


@pytest.mark.parametrize("method", ["sparsegpt", "wanda", "magnitude"])
@pytest.mark.parametrize("target", [{"sparsity": 0.5}, {"pattern": "2:4"}, {"sparsity": 0.6, "bits": 4}])
def test_a_pruned_conv_is_the_pruned_linear_on_its_unfolded_inputs(method, target):
    conv = _double(nn.Conv2d(8, 6, 3, stride=2, padding=1))
    linear = _as_linear(conv)
    x = torch.randn(24, 8, 7, 7, dtype=torch.float64)
    batches = torch.split(x, 8)  # the driver's batches of conv inputs, and the same samples' patches
    patches = [_patches_by_position(conv, batch) for batch in batches]
    common = {"method": method, "hessian_dtype": torch.float64, "device": "cpu", "progress": False, **target}
    conv_report = prune_model(nn.Sequential(conv), x, batch_size=8, **common)
    linear_report = prune_model(nn.Sequential(linear), patches, **common)

    W_conv = conv.weight.detach().permute(0, 2, 3, 1).reshape(6, -1)
    assert torch.equal(W_conv == 0, linear.weight.detach() == 0)
    torch.testing.assert_close(W_conv, linear.weight.detach(), rtol=0, atol=1e-6)
    assert conv_report.layers[0].shape == linear_report.layers[0].shape == (6, 72)
    assert conv_report.layers[0].error == pytest.approx(linear_report.layers[0].error, rel=1e-6, nan_ok=True)
    assert not conv_report.skipped
    with torch.no_grad():  # the pruned conv computes the pruned Linear on its unfolded input
        expected = (linear(_patches_by_position(conv, x)).reshape(24, 4, 4, 6)).permute(0, 3, 1, 2)
        torch.testing.assert_close(conv(x), expected, rtol=0, atol=1e-10)


def test_n_m_groups_on_a_conv_kernel_run_along_its_input_channels():
    torch.manual_seed(1)
    net = build_cnn((1, 8, 8), channels=(8, 16), kernel_size=3, pool=2, hidden_sizes=(16,), n_classes=4)
    report = prune_model(net, torch.randn(40, 64), pattern="2:4", device="cpu", progress=False)
    assert [r.name for r in report.layers] == ["1", "4", "8", "10"] and not report.skipped
    kernel = net[4].weight.detach()  # (16 out, 8 in, 3, 3): groups of 4 consecutive input channels
    zeros_per_group = (kernel.permute(0, 2, 3, 1).reshape(16, 3, 3, 2, 4) == 0).sum(dim=-1)
    assert bool((zeros_per_group == 2).all())


def test_convs_reading_one_input_with_different_kernels_get_their_own_hessian():
    class TwoBranches(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.wide = nn.Conv2d(4, 6, 3, padding=1)
            self.point = nn.Conv2d(4, 6, 1)
            self.same = nn.Conv2d(4, 6, 3, padding=1)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.wide(x) + self.point(x) + self.same(x)

    net = _double(TwoBranches())
    x = torch.randn(16, 4, 5, 5, dtype=torch.float64)
    assert trace_layer_groups(net, lambda: net(x)) == [["wide", "same"], ["point"]]
    alone = {name: copy.deepcopy(getattr(net, name)) for name in ("wide", "point", "same")}
    prune_model(net, x, sparsity=0.5, hessian_dtype=torch.float64, device="cpu", progress=False)
    for name, conv in alone.items():  # each branch reads x itself, so pruning it alone is the oracle
        prune_model(nn.Sequential(conv), x, sparsity=0.5, hessian_dtype=torch.float64, device="cpu", progress=False)
        torch.testing.assert_close(getattr(net, name).weight, conv.weight, rtol=0, atol=1e-10)


class _Mixed(nn.Module):
    """One prunable conv and head, and every kind of layer the driver cannot prune."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(4, 4, 3, padding=1)
        self.grouped = nn.Conv2d(4, 4, 3, padding=1, groups=2)
        self.depthwise = nn.Conv2d(4, 4, 3, padding=1, groups=4)
        self.volume = nn.Conv3d(4, 4, 1)
        self.transposed = nn.ConvTranspose2d(4, 4, 1)
        self.unused = nn.Linear(4, 4)
        self.head = nn.Linear(4 * 36, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.conv(x)
        h = self.grouped(h) + self.depthwise(h)
        h = self.transposed(self.volume(h.unsqueeze(2)).squeeze(2))
        return self.head(h.flatten(1))


@pytest.mark.parametrize("method", ["sparsegpt", "wanda", "magnitude"])
def test_every_layer_with_weights_is_pruned_or_listed_with_the_reason(method):
    torch.manual_seed(0)
    net = _Mixed()
    report = prune_model(net, torch.randn(8, 4, 6, 6), method=method, device="cpu", progress=False)
    with_weights = {name for name, m in net.named_modules() if getattr(m, "weight", None) is not None}
    pruned = {r.name for r in report.layers}
    assert pruned | set(report.skipped) == with_weights and not pruned & set(report.skipped)
    assert {"conv", "head"} <= pruned
    assert "groups=2" in report.skipped["grouped"] and "groups=4" in report.skipped["depthwise"]
    assert "only Conv1d and Conv2d" in report.skipped["volume"]
    assert "transposed convolution" in report.skipped["transposed"]
    if method != "magnitude":  # magnitude needs no forward pass, so it prunes the unused Linear too
        assert "never calls it" in report.skipped["unused"]
    assert set(unsupported_layers(net)) == {"grouped", "depthwise", "volume", "transposed"}
    for name in pruned:
        assert float((weight_matrix(net.get_submodule(name)) == 0).float().mean()) == pytest.approx(0.5, abs=0.02)


def test_mfac_obs_prunes_the_conv_kernels_of_a_cnn():
    torch.manual_seed(0)
    net = build_cnn((1, 8, 8), channels=(4, 8), kernel_size=3, pool=2, hidden_sizes=(), n_classes=3)
    X, y = torch.randn(64, 64), torch.randint(0, 3, (64,))
    report = prune_classifier(net, X, y, method="mfac_obs", sparsity=0.5, options={"ngrads": 8}, device="cpu")
    assert [(r.name, r.shape) for r in report.layers] == [("1", (4, 9)), ("4", (8, 36)), ("8", (3, 32))]
    assert float((net[4].weight == 0).float().mean()) == pytest.approx(0.5, abs=0.01)


def test_owl_outlier_ratios_read_a_convs_unfolded_patches():
    conv = _double(nn.Conv2d(3, 4, 3, padding=1))
    x = torch.randn(10, 3, 5, 5, dtype=torch.float64)
    ratio = outlier_ratios(nn.Sequential(conv), x, M=2.0)
    norms = _patches_by_position(conv, x).norm(dim=0)  # ||X_j|| of every column, from the test's own patches
    scores = conv.weight.detach().permute(0, 2, 3, 1).reshape(4, -1).abs() * norms
    assert ratio == [pytest.approx(float((scores > 2.0 * scores.mean()).double().mean()))]


def test_dense_layers_keeps_the_first_conv_dense_reports_it_and_prunes_the_rest_as_without_it():
    torch.manual_seed(1)
    net = build_cnn((1, 8, 8), channels=(8, 16), kernel_size=3, pool=2, hidden_sizes=(16,), n_classes=4)
    twin = copy.deepcopy(net)
    X = torch.randn(40, 64)
    first = net[1].weight.detach().clone()
    report = prune_model(net, X, sparsity=0.5, dense_layers=["1"], device="cpu", progress=False)
    assert [r.name for r in report.layers] == ["4", "8", "10"]
    assert report.skipped == {"1": "kept dense by request (dense_layers)"}
    assert torch.equal(net[1].weight, first)
    # oracle: a per-layer sparsity that leaves "1" out prunes the other layers identically
    prune_model(twin, X, sparsity={"4": 0.5, "8": 0.5, "10": 0.5}, device="cpu", progress=False)
    for got, want in zip(net.state_dict().values(), twin.state_dict().values(), strict=True):
        assert torch.equal(got, want)
    with pytest.raises(ValueError, match="dense_layers names \\['conv9'\\]"):
        prune_model(net, X, dense_layers=["conv9"], device="cpu", progress=False)
