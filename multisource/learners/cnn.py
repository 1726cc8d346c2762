"""A small convolutional net on flat feature rows: 2-D for images (8x8 digits), 1-D for signals (MNIST-1D).

The net takes the same ``(samples, features)`` rows as the MLP and reshapes them to ``input_shape``
(channels, *spatial) in its first layer, so training, prediction and one-shot pruning
(``multisource.compress.prune_model``, which prunes ``Conv1d`` / ``Conv2d`` through their unfolded
input patches) see one interface. Each stage is conv (odd kernel, "same" padding) -> ReLU ->
max-pool; then the flattened maps go through the ReLU hidden layers of ``hidden_sizes`` to the logits.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

import torch

from multisource.utils.validation import check_int

ARCHITECTURES = ("cnn", "mlp")


def infer_input_shape(n_features: int) -> tuple[int, ...]:
    """One channel: a square image for a perfect square (64 -> (1, 8, 8)), else a signal (40 -> (1, 40))."""
    side = math.isqrt(n_features)
    return (1, side, side) if side * side == n_features else (1, n_features)


def check_input_shape(input_shape: Sequence[int] | None, n_features: int) -> tuple[int, ...]:
    """``input_shape`` (channels, length) or (channels, height, width) holding exactly ``n_features`` values.

    None infers it with ``infer_input_shape``.
    """
    if input_shape is None:
        return infer_input_shape(n_features)
    shape = tuple(input_shape)
    if len(shape) not in (2, 3):
        raise ValueError(f"input_shape must be (channels, length) or (channels, height, width), got {input_shape!r}")
    shape = tuple(check_int("input_shape entry", size, minimum=1) for size in shape)
    if math.prod(shape) != n_features:
        raise ValueError(f"input_shape must hold the {n_features} features (product {n_features}), got {shape}")
    return shape


def build_cnn(
    input_shape: Sequence[int],
    channels: Sequence[int],
    kernel_size: int,
    pool: int,
    hidden_sizes: Sequence[int],
    n_classes: int,
) -> torch.nn.Sequential:
    """Unflatten -> [Conv(kernel_size, same padding) -> ReLU -> MaxPool(pool)] per entry of ``channels``
    -> Flatten -> [Linear -> ReLU] per entry of ``hidden_sizes`` -> Linear to ``n_classes`` logits.

    Raises
    ------
    ValueError
        If ``kernel_size`` is not odd, or the input is too small for ``len(channels)`` poolings.
    """
    kernel_size = check_int("kernel_size", kernel_size, minimum=1)
    if kernel_size % 2 == 0:
        raise ValueError(f"kernel_size must be odd (same padding keeps the size), got {kernel_size}")
    pool = check_int("pool", pool, minimum=1)
    widths = [check_int("channels entry", width, minimum=1) for width in channels]
    if not widths:
        raise ValueError(f"channels must name at least one convolution width, got {channels!r}")
    in_channels, *spatial = input_shape
    if min(spatial) < pool ** len(widths):
        raise ValueError(
            f"input_shape {tuple(input_shape)} is too small for {len(widths)} poolings of {pool} "
            f"(each spatial size must be >= {pool ** len(widths)}); use fewer channels entries or a smaller pool"
        )
    one_d = len(spatial) == 1
    conv, max_pool = (torch.nn.Conv1d, torch.nn.MaxPool1d) if one_d else (torch.nn.Conv2d, torch.nn.MaxPool2d)
    layers: list[torch.nn.Module] = [torch.nn.Unflatten(1, tuple(input_shape))]
    for width_in, width_out in itertools.pairwise([in_channels, *widths]):
        layers += [conv(width_in, width_out, kernel_size, padding=kernel_size // 2), torch.nn.ReLU()]
        if pool > 1:
            layers.append(max_pool(pool))
    flat = widths[-1] * math.prod(size // pool ** len(widths) for size in spatial)
    layers.append(torch.nn.Flatten())
    for width_in, width_out in itertools.pairwise([flat, *hidden_sizes]):
        layers += [torch.nn.Linear(width_in, width_out), torch.nn.ReLU()]
    layers.append(torch.nn.Linear([flat, *hidden_sizes][-1], n_classes))
    return torch.nn.Sequential(*layers)
