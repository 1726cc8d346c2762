"""Data: the multi-source dataset, real offline loaders and source splits."""

from multisource.data.dataset import MultiSourceDataset

__all__ = ["MultiSourceDataset"]
