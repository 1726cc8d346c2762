"""Convolutions as Linear layers on unfolded input patches, so every layer pruner prunes them unchanged.

A ``Conv1d`` / ``Conv2d`` with ``groups=1`` computes, at every output position ``l``,
``y[:, l] = W_mat @ p_l + b``, where ``p_l`` is the input patch the kernel covers at ``l`` (after
the layer's own padding, with its stride and dilation) and ``W_mat`` is the kernel reshaped to
outputs x (kernel positions x input channels). The layer-wise loss ``||W X - W' X||^2`` of SparseGPT
(eq. 1) is then the loss of that Linear layer over all patches, so its Hessian is
``H = 2 P P^T / n`` over the ``n`` = samples x positions patches ``P`` (the "unfolded-patch
Hessian"), and SparseGPT, Wanda and magnitude prune ``W_mat`` exactly as they prune a Linear weight.

Column order. The columns of ``W_mat`` run over kernel positions, and within each position over
the input channels (the channels-last ``(out, *kernel, in)`` layout), so an N:M group of M
consecutive columns is M consecutive *input channels* at one kernel position when the channel
count is a multiple of M: N:M along the input dimension, as sparse tensor cores use it for
convolutions. ``weight_matrix`` therefore returns a permuted copy and ``set_weight_matrix`` writes
back through the same permutation.

Not handled (the driver lists such a layer in ``PruneReport.skipped`` with the reason from
``unsupported_reason``): grouped and depthwise convolutions (``groups > 1``: each group is its own
weight matrix on its own input channels, with its own Hessian), ``Conv3d``, and transposed
convolutions (their weight acts on the output side; the patch identity above does not hold).
"""

from __future__ import annotations

from typing import TypeGuard

import torch
from torch import nn

CONV_TYPES = (nn.Conv1d, nn.Conv2d)
TRANSPOSED_TYPES = (nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d)


def unsupported_reason(module: nn.Module) -> str | None:
    """Why a convolution cannot be pruned through unfolded patches; None for one that can (or a non-convolution)."""
    kind = type(module).__name__
    if isinstance(module, TRANSPOSED_TYPES):
        return f"{kind} is a transposed convolution: its kernel is not a Linear layer on input patches"
    if isinstance(module, nn.Conv3d):
        return f"{kind}: only Conv1d and Conv2d are unfolded into patches"
    if isinstance(module, CONV_TYPES) and module.groups != 1:
        return (
            f"{kind} with groups={module.groups}: each group is its own weight matrix on its own input channels "
            "(with its own Hessian); only groups=1 is unfolded into patches"
        )
    return None


def is_patch_conv(module: nn.Module) -> TypeGuard[nn.Conv1d | nn.Conv2d]:
    """A ``Conv1d`` / ``Conv2d`` with ``groups=1``: a Linear layer on its unfolded input patches."""
    return isinstance(module, CONV_TYPES) and module.groups == 1


def conv_weight_matrix(conv: nn.Conv1d | nn.Conv2d) -> torch.Tensor:
    """The kernel ``(out, in, *kernel)`` as outputs x (kernel positions x input channels), a copy."""
    weight = conv.weight
    return weight.movedim(1, -1).reshape(weight.shape[0], -1)


def set_conv_weight_matrix(conv: nn.Conv1d | nn.Conv2d, W: torch.Tensor) -> None:
    """Write an outputs x (kernel positions x input channels) matrix back into the kernel, in place."""
    weight = conv.weight
    channels_last = (weight.shape[0], *weight.shape[2:], weight.shape[1])
    with torch.no_grad():
        weight.copy_(W.to(dtype=weight.dtype, device=weight.device).reshape(channels_last).movedim(-1, 1))


def _padding(conv: nn.Conv1d | nn.Conv2d) -> list[int]:
    """``F.pad`` amounts (last spatial dimension first, left then right) of the layer's own padding."""
    amounts: list[int] = []
    for i in reversed(range(len(conv.kernel_size))):
        if conv.padding == "same":  # torch's rule: the extra element of an odd total goes right
            total = conv.dilation[i] * (conv.kernel_size[i] - 1)
            amounts += [total // 2, total - total // 2]
        elif conv.padding == "valid":
            amounts += [0, 0]
        else:
            amounts += [int(conv.padding[i])] * 2
    return amounts


def unfold_patches(conv: nn.Conv1d | nn.Conv2d, x: torch.Tensor) -> torch.Tensor:
    """The input patches of ``conv`` on ``x`` as rows: (samples x positions) x (kernel positions x channels).

    ``x`` is (samples, channels, *spatial) or unbatched (channels, *spatial); padding follows the
    layer's ``padding`` and ``padding_mode``. Then ``unfold_patches(conv, x) @ conv_weight_matrix(conv).T``
    (+ bias) are the layer's outputs, position by position (row-major over the output positions).
    """
    spatial = len(conv.kernel_size)
    if x.ndim == spatial + 1:
        x = x.unsqueeze(0)
    if x.ndim != spatial + 2 or x.shape[1] != conv.in_channels:
        raise ValueError(
            f"input of {type(conv).__name__} must have shape (samples, {conv.in_channels}, ...) with {spatial} "
            f"spatial dimension(s), got {tuple(x.shape)}"
        )
    mode = "constant" if conv.padding_mode == "zeros" else conv.padding_mode
    x = nn.functional.pad(x, _padding(conv), mode=mode)
    if spatial == 1:  # a 1-D signal is an image of height 1
        x = x.unsqueeze(2)
        kernel, dilation, stride = (1, *conv.kernel_size), (1, *conv.dilation), (1, *conv.stride)
    else:
        kernel, dilation, stride = conv.kernel_size, conv.dilation, conv.stride
    cols = nn.functional.unfold(x, kernel_size=kernel, dilation=dilation, stride=stride)  # (n, in * k, L)
    n, _, positions = cols.shape
    cols = cols.reshape(n, conv.in_channels, -1, positions)  # (n, in, kernel positions, L)
    return cols.permute(0, 3, 2, 1).reshape(n * positions, -1)


def patch_geometry(module: nn.Module) -> tuple | None:
    """What decides a layer's unfolded inputs (None for a Linear): layers sharing an input share H only if equal."""
    if not is_patch_conv(module):
        return None
    return (module.kernel_size, module.stride, module.padding, module.dilation, module.padding_mode)
