"""Data: the multi-source dataset, real offline loaders and source splits."""

from multisource.data.dataset import MultiSourceDataset
from multisource.data.labeled import LabeledData
from multisource.data.loaders import DATASETS, load_dataset, make_gaussian_classes
from multisource.data.sources import make_multisource
from multisource.data.splits import SPLITS

__all__ = [
    "DATASETS",
    "SPLITS",
    "LabeledData",
    "MultiSourceDataset",
    "load_dataset",
    "make_gaussian_classes",
    "make_multisource",
]
