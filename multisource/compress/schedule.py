"""Layer-wise sparsity schedules: OWL, outlier-weighted layerwise sparsity (Yin et al., ICML 2024).

For block ``b`` let ``r_b`` be its fraction of *outlier* weights, those whose Wanda score
``|W_ij| * ||X_j||`` exceeds ``M`` times the mean score of their layer. The ratios are rescaled to
``[0, 2 lambda]`` and the block's sparsity is

    s_b = s - (r'_b - mean(r')),        r'_b = 2 lambda (r_b - min r) / (max r - min r),

so blocks with many outliers are pruned less, the mean sparsity stays ``s`` and every ``s_b`` lies in
``[s - 2 lambda, s + 2 lambda]`` (OWL's defaults: M = 5, lambda = 0.08).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import nn

from multisource.compress.adapters import find_adapter, layer_inputs, prunable_layers, weight_matrix
from multisource.compress.masks import check_sparsity
from multisource.utils.validation import check_real


def outlier_ratios(
    model: nn.Module,
    calibration: torch.Tensor | Sequence[torch.Tensor],
    *,
    M: float = 5.0,
    family: str | None = None,
    batch_size: int = 8,
) -> list[float]:
    """Per block, the fraction of weights whose Wanda score exceeds ``M`` x their layer's mean score.

    Input norms ``||X_j||`` come from one forward pass of the *dense* model over ``calibration``.
    """
    M = check_real("M", M, low=0.0, low_open=True)
    adapter = find_adapter(model, family)
    layers = {
        name: layer
        for block, prefix in zip(adapter.blocks, adapter.prefixes, strict=True)
        for name, layer in prunable_layers(block, prefix).items()
    }
    sq_norms = {name: torch.zeros(weight_matrix(layer).shape[1], dtype=torch.float64) for name, layer in layers.items()}

    def accumulate(name: str) -> Callable[[nn.Module, tuple], None]:
        def hook(module: nn.Module, args: tuple) -> None:
            X = layer_inputs(module, args[0].detach())  # a convolution's unfolded patches
            X = X.reshape(-1, X.shape[-1]).to(torch.float64)
            sq_norms[name] += (X * X).sum(dim=0).cpu()

        return hook

    handles = [layer.register_forward_pre_hook(accumulate(name)) for name, layer in layers.items()]
    batches = torch.split(calibration, batch_size) if isinstance(calibration, torch.Tensor) else calibration
    try:
        with torch.inference_mode():
            for batch in batches:
                model(input_ids=batch, use_cache=False) if adapter.is_causal_lm else model(batch)
    finally:
        for handle in handles:
            handle.remove()
    ratios = []
    for block, prefix in zip(adapter.blocks, adapter.prefixes, strict=True):
        outliers, total = 0, 0
        for name, layer in prunable_layers(block, prefix).items():
            scores = weight_matrix(layer).detach().abs().cpu().to(torch.float64) * sq_norms[name].sqrt()
            outliers += int((scores > M * scores.mean()).sum())
            total += scores.numel()
        ratios.append(outliers / total)
    return ratios


def owl_layer_sparsity(
    model: nn.Module,
    calibration: torch.Tensor | Sequence[torch.Tensor],
    sparsity: float,
    *,
    M: float = 5.0,
    lmbda: float = 0.08,
    family: str | None = None,
    batch_size: int = 8,
) -> dict[str, float]:
    """OWL sparsity per prunable layer (all layers of a block share their block's value).

    The result is a dict for ``prune_model(..., sparsity=...)``.

    Raises
    ------
    ValueError
        If ``sparsity +- 2 lambda`` leaves [0, 1).
    """
    sparsity = check_sparsity(sparsity)
    lmbda = check_real("lmbda", lmbda, low=0.0)
    if sparsity - 2 * lmbda < 0 or sparsity + 2 * lmbda >= 1:
        raise ValueError(f"sparsity={sparsity} +- 2*lmbda={2 * lmbda} must stay inside [0, 1)")
    ratios = torch.tensor(
        outlier_ratios(model, calibration, M=M, family=family, batch_size=batch_size), dtype=torch.float64
    )
    spread = ratios.max() - ratios.min()
    scaled = 2 * lmbda * (ratios - ratios.min()) / spread if spread > 0 else torch.zeros_like(ratios)
    block_sparsity = sparsity - (scaled - scaled.mean())
    adapter = find_adapter(model, family)
    return {
        name: float(block_sparsity[b])
        for b, (block, prefix) in enumerate(zip(adapter.blocks, adapter.prefixes, strict=True))
        for name in prunable_layers(block, prefix)
    }
