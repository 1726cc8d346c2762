"""Data: the multi-source dataset, real offline loaders, source splits and your own tables.

Tables (pandas frames, CSV and Parquet files) come in through ``MultiSourceDataset.from_frame`` /
``from_arrays`` and ``multisource.data.tables.read_table``; they need the ``tables`` extra (pandas),
so that module is imported only when used.
"""

from multisource.data.dataset import MultiSourceDataset
from multisource.data.labeled import LabeledData
from multisource.data.loaders import DATASETS, load_dataset, make_gaussian_classes
from multisource.data.sources import make_multisource
from multisource.data.splits import SPLITS, Split, register_split

__all__ = [
    "DATASETS",
    "SPLITS",
    "LabeledData",
    "MultiSourceDataset",
    "Split",
    "load_dataset",
    "make_gaussian_classes",
    "make_multisource",
    "register_split",
]
