"""One-shot compression: SparseGPT (unstructured, N:M, joint quantization), magnitude and Wanda
baselines, M-FAC OBS, all behind one registry of pruners (``PRUNING_METHODS``); a sequential
driver for Hugging Face causal LMs and plain torch nets, evaluation, save/load and the compressed
export (``compressed-tensors`` format, ``save_compressed``).
``transformers`` is imported only by the functions that need it."""

from multisource.compress.adapters import find_adapter
from multisource.compress.baselines import (
    MagnitudeOptions,
    WandaOptions,
    magnitude_prune_layer,
    magnitude_pruner,
    wanda_prune_layer,
    wanda_pruner,
)
from multisource.compress.driver import PruningPlan, plan_pruning, prune_model
from multisource.compress.evaluation import perplexity, sparsity_report
from multisource.compress.export import ExportSizes, load_compressed, save_compressed
from multisource.compress.hessian import HessianAccumulator
from multisource.compress.layer import LayerResult, PruneTarget, check_target
from multisource.compress.methods import (
    PRUNING_METHODS,
    LayerPruner,
    ModelPruner,
    NoOptions,
    get_pruner,
    layer_pruner,
    make_options,
    model_pruner,
)
from multisource.compress.mfac_obs import MFACOBSOptions, mfac_obs_prune, mfac_obs_pruner
from multisource.compress.models import load_pruned, load_smollm2, save_pruned
from multisource.compress.quant import QuantGrid, minmax_grid, quantize
from multisource.compress.records import LayerRecord, PruneReport
from multisource.compress.schedule import outlier_ratios, owl_layer_sparsity
from multisource.compress.small_nets import prune_classifier
from multisource.compress.sparsegpt import SparseGPTOptions, sparsegpt_prune_layer, sparsegpt_pruner

__all__ = [
    "PRUNING_METHODS",
    "ExportSizes",
    "HessianAccumulator",
    "LayerPruner",
    "LayerRecord",
    "LayerResult",
    "MFACOBSOptions",
    "MagnitudeOptions",
    "ModelPruner",
    "NoOptions",
    "PruneReport",
    "PruneTarget",
    "PruningPlan",
    "QuantGrid",
    "SparseGPTOptions",
    "WandaOptions",
    "check_target",
    "find_adapter",
    "get_pruner",
    "layer_pruner",
    "load_compressed",
    "load_pruned",
    "load_smollm2",
    "magnitude_prune_layer",
    "magnitude_pruner",
    "make_options",
    "mfac_obs_prune",
    "mfac_obs_pruner",
    "minmax_grid",
    "model_pruner",
    "outlier_ratios",
    "owl_layer_sparsity",
    "perplexity",
    "plan_pruning",
    "prune_classifier",
    "prune_model",
    "quantize",
    "save_compressed",
    "save_pruned",
    "sparsegpt_prune_layer",
    "sparsegpt_pruner",
    "sparsity_report",
    "wanda_prune_layer",
    "wanda_pruner",
]
