"""One-shot compression: SparseGPT (unstructured, N:M, joint quantization), magnitude and Wanda
baselines, a sequential driver for Hugging Face causal LMs and plain torch nets, evaluation and
save/load. ``transformers`` is imported only by the functions that need it."""

from multisource.compress.adapters import find_adapter
from multisource.compress.baselines import magnitude_prune_layer, wanda_prune_layer
from multisource.compress.driver import LayerRecord, PruneReport, prune_model
from multisource.compress.evaluation import perplexity, sparsity_report
from multisource.compress.hessian import HessianAccumulator
from multisource.compress.layer import LayerResult, PruneTarget, check_target
from multisource.compress.methods import PRUNING_METHODS, PruningMethod
from multisource.compress.models import load_pruned, load_smollm2, save_pruned
from multisource.compress.quant import QuantGrid, minmax_grid, quantize
from multisource.compress.schedule import outlier_ratios, owl_layer_sparsity
from multisource.compress.small_nets import prune_classifier
from multisource.compress.sparsegpt import sparsegpt_prune_layer

__all__ = [
    "HessianAccumulator",
    "LayerRecord",
    "LayerResult",
    "PRUNING_METHODS",
    "PruneReport",
    "PruneTarget",
    "PruningMethod",
    "QuantGrid",
    "check_target",
    "find_adapter",
    "load_pruned",
    "load_smollm2",
    "magnitude_prune_layer",
    "minmax_grid",
    "outlier_ratios",
    "owl_layer_sparsity",
    "perplexity",
    "prune_classifier",
    "prune_model",
    "quantize",
    "save_pruned",
    "sparsegpt_prune_layer",
    "sparsity_report",
    "wanda_prune_layer",
]
