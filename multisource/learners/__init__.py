"""Learners: scikit-learn compatible estimators (sklearn models by name, torch MLPs with Adam/SGD/M-FAC)."""

from multisource.learners.compressed_classifier import CompressedClassifier  # registers "compressed_mlp"
from multisource.learners.kl2019_cv import LAMBDA_GRID, LambdaSearch, select_lambda
from multisource.learners.lm_features import LMFeatureMap, encode_texts
from multisource.learners.per_source import aligned_proba, fit_per_source, linear_logits, softmax_proba
from multisource.learners.registry import LEARNERS
from multisource.learners.sklearn_models import logreg, make_learner
from multisource.learners.torch_classifier import TorchClassifier  # registers "torch_mlp"
from multisource.learners.weighting import fit_on_selection, fit_weighted, sample_weights

__all__ = [
    "LAMBDA_GRID",
    "LEARNERS",
    "CompressedClassifier",
    "LMFeatureMap",
    "LambdaSearch",
    "TorchClassifier",
    "aligned_proba",
    "encode_texts",
    "fit_on_selection",
    "fit_per_source",
    "fit_weighted",
    "linear_logits",
    "logreg",
    "make_learner",
    "sample_weights",
    "select_lambda",
    "softmax_proba",
]
