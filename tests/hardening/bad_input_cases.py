"""Bad inputs for every public entry point, each with the error it must get (issue 12, "Hardening").

One list, :data:`CASES`, is both the test (``test_bad_inputs.py`` tries every case) and the docs table
(``render_bad_inputs.py`` writes ``docs/bad_inputs.md``). A case is an entry point, the bad input as a
reader would write it, a call (or a ``multisource`` argv), the exception type and a fragment of the
message. Every message names the argument and the valid range; none is a traceback from a dependency.

Calls take a scratch folder (for files such as stores); in argv, ``{tmp}`` stands for it.
"""

from __future__ import annotations

import contextlib
import functools
import io
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from multisource.runner.store import StoreError


@dataclass(frozen=True)
class Case:
    """One bad input: ``call(tmp)`` (or ``multisource *argv``) must raise ``error`` with ``message`` in it."""

    entry: str
    given: str
    error: type[BaseException]
    message: str
    call: Callable[[Path], object] | None = field(default=None, compare=False)
    argv: tuple[str, ...] = ()
    files: tuple[tuple[str, str], ...] = ()
    argument: str = ""
    """The name the message must use for the spoiled argument, where it is not the one ``given`` spells."""


@dataclass(frozen=True)
class Outcome:
    """What a case did: the exception type raised (None if none) and its one-line message."""

    error: type[BaseException] | None
    message: str
    traceback: str = ""


def cli(command: str, given: str, message: str, *argv: str, files: dict[str, str] | None = None) -> Case:
    """A ``multisource COMMAND ...`` case: exit code 2 with one ``error:`` line on stderr.

    ``files`` (name: text) are written to the scratch folder first.
    """
    return Case(
        f"multisource {command}", given, SystemExit, message, argv=(command, *argv), files=tuple((files or {}).items())
    )


def bound(given: str, message: str, *extra: str, vc: str | None = "3", **values: str) -> Case:
    """A ``multisource bound`` case: a valid ``--N 10 --m 100 --alpha 0.1 --vc 3`` with ``values`` replaced
    (``vc=None`` drops ``--vc``) and ``extra`` arguments appended."""
    options = {"N": "10", "m": "100", "alpha": "0.1", **values}
    argv = [part for key, value in options.items() for part in (f"--{key}", value)]
    return cli("bound", given, message, *argv, *(("--vc", vc) if vc is not None else ()), *extra)


def run_case(case: Case, tmp: Path) -> Outcome:
    """Run one case in-process; a CLI case must exit with code 2 and print one error line, no traceback."""
    for name, text in case.files:
        (tmp / name).write_text(text)
    if case.call is not None:
        try:
            case.call(tmp)
        except Exception as error:  # the outcome is judged by the test, not here
            message = " ".join(str(error).split()).replace(str(tmp), "TMP")
            return Outcome(type(error), message, traceback.format_exc())
        return Outcome(None, "no error")
    from multisource.cli import main

    stderr = io.StringIO()
    argv = [part.replace("{tmp}", str(tmp)) for part in case.argv]
    with contextlib.redirect_stderr(stderr), contextlib.redirect_stdout(io.StringIO()):
        try:
            code: object = main(argv)
        except SystemExit as done:
            code = done.code
        except Exception:
            return Outcome(None, "a traceback", traceback.format_exc())
    errors = [line for line in stderr.getvalue().splitlines() if "error:" in line]
    if code != 2 or len(errors) != 1 or "Traceback" in stderr.getvalue():
        return Outcome(None, f"exit code {code}, stderr {stderr.getvalue()!r}")
    return Outcome(SystemExit, errors[0].split("error: ", 1)[1].replace(str(tmp), "TMP"))


# ---- small valid objects the cases spoil ------------------------------------------------------------


@functools.cache
def _dataset():  # type: ignore[no-untyped-def]
    from multisource.data import make_gaussian_classes, make_multisource

    return make_multisource(make_gaussian_classes(n_samples=200, seed=0), n_sources=5, m=20, seed=0)


def _disc(n: int = 5) -> np.ndarray:
    points = np.arange(n, dtype=np.float64)
    return np.abs(points[:, None] - points[None, :]) / n


def _sizes(n: int = 5) -> np.ndarray:
    return np.full(n, 20)


def _vectors(n: int = 5, d: int = 3) -> np.ndarray:
    return np.random.default_rng(0).normal(size=(n, d))


def _with_nan(array: np.ndarray) -> np.ndarray:
    array = np.array(array, dtype=np.float64)
    array.flat[0] = np.nan
    return array


def _file(tmp: Path, name: str, content: bytes) -> Path:
    path = tmp / name
    path.write_bytes(content)
    return path


def _data(fn: str, **kwargs: object) -> Callable[[Path], object]:
    def call(_: Path) -> object:
        import multisource.data as data

        return getattr(data, fn)(**kwargs)

    return call


def _ms(**kwargs: object) -> Callable[[Path], object]:
    def call(_: Path) -> object:
        from multisource.data import make_gaussian_classes, make_multisource

        params: dict[str, object] = {"n_sources": 5, "m": 20, "seed": 0, **kwargs}
        return make_multisource(make_gaussian_classes(n_samples=200, seed=0), **params)  # type: ignore[arg-type]

    return call


def _adversary(alpha: float = 0.2, attack: str = "label_flip", **kwargs: object) -> Callable[[Path], object]:
    def call(_: Path) -> object:
        from multisource.corruption import Adversary

        return Adversary(alpha, attack, seed=0, **kwargs).corrupt(_dataset())  # type: ignore[arg-type]

    return call


def _bounds(fn: str, *args: object, **kwargs: object) -> Callable[[Path], object]:
    def call(_: Path) -> object:
        import multisource.bounds as bounds

        return getattr(bounds, fn)(*args, **kwargs)

    return call


def _rule(
    fn: str, disc: object = None, sizes: object = None, *args: object, **kwargs: object
) -> Callable[[Path], object]:
    def call(_: Path) -> object:
        import multisource.filtering as filtering

        return getattr(filtering, fn)(
            _disc() if disc is None else disc, _sizes() if sizes is None else sizes, *args, **kwargs
        )

    return call


def _aggregate(name: str, vectors: object = None, **kwargs: object) -> Callable[[Path], object]:
    def call(_: Path) -> object:
        from multisource.aggregation import aggregate

        return aggregate(name, _vectors() if vectors is None else vectors, **kwargs)  # type: ignore[arg-type]

    return call


def _torch_after_fit(method: str, *args: object, **params: object) -> Callable[[Path], object]:
    """``TorchClassifier(**params)`` fitted on the valid 3-feature :func:`_sample`, then ``method(*args)``."""

    def call(_: Path) -> object:
        from multisource.learners import TorchClassifier

        model = TorchClassifier(**{"epochs": 1, "random_state": 0, "device": "cpu", **params}).fit(*_sample())
        return getattr(model, method)(*args)

    return call


def _torch_fit_on(X: object, y: object, sample_weight: object = None, **params: object) -> Callable[[Path], object]:
    """``TorchClassifier(**params).fit(X, y, sample_weight)`` on spoiled data."""

    def call(_: Path) -> object:
        from multisource.learners import TorchClassifier

        model = TorchClassifier(**{"epochs": 1, "random_state": 0, "device": "cpu", **params})
        return model.fit(X, y, sample_weight=sample_weight)

    return call


def _torch_fit(**params: object) -> Callable[[Path], object]:
    def call(_: Path) -> object:
        from multisource.learners import TorchClassifier

        data = _dataset()
        return TorchClassifier(**{"epochs": 1, "random_state": 0, **params}).fit(data.X, data.y)  # type: ignore[arg-type]

    return call


def _sparsegpt(
    W: torch.Tensor | None = None, H: torch.Tensor | None = None, **kwargs: object
) -> Callable[[Path], object]:
    def call(_: Path) -> object:
        from multisource.compress import sparsegpt_prune_layer

        return sparsegpt_prune_layer(torch.ones(4, 8) if W is None else W, torch.eye(8) if H is None else H, **kwargs)  # type: ignore[arg-type]

    return call


def _fit_compressed(**params: object) -> object:
    from multisource.learners import CompressedClassifier

    data = _dataset()
    return CompressedClassifier(**params).fit(data.X, data.y)  # type: ignore[arg-type]


def _nan_weight() -> torch.Tensor:
    W = torch.ones(4, 8)
    W[0, 0] = float("nan")
    return W


def _spec(tmp: Path, extra: str) -> Path:
    text = (
        'name = "tiny"\nalphas = [0.2]\nseeds = [0]\nattacks = ["label_flip"]\nrules = ["all_data"]\n\n'
        '[data]\nname = "synthetic"\nn_sources = 5\nm = 20\n' + extra
    )
    return _file(tmp, "spec.toml", text.encode())


def _store(fn: Callable[[Path], Path]) -> Callable[[Path], object]:
    def call(tmp: Path) -> object:
        from multisource.runner import Store

        return Store(fn(tmp), create=False)

    return call


def _selection_of_wrong_length(_: Path) -> object:
    from multisource.filtering import Selection
    from multisource.learners import fit_on_selection, logreg

    return fit_on_selection(logreg(), _dataset(), Selection.from_mask(np.ones(3, dtype=bool), np.full(3, 20)))


DATA = object()
"""Stands for the small valid dataset in :func:`_api` arguments (built on first use)."""


def _api(name: str, *args: object, **kwargs: object) -> Callable[[Path], object]:
    """A call of ``multisource.<name>`` (``"optim.MFAC"``, ``"optim.DynamicInverseFisher.empty"``) with these
    arguments; an argument :data:`DATA` is replaced by the small valid dataset."""

    def call(_: Path) -> object:
        import importlib

        package, *attributes = name.split(".")
        target: Any = importlib.import_module(f"multisource.{package}")
        for attribute in attributes:
            target = getattr(target, attribute)
        return target(*(_dataset() if arg is DATA else arg for arg in args), **kwargs)

    return call


def _pair(
    X_a: np.ndarray, y_a: np.ndarray, X_b: np.ndarray | None = None, **kwargs: object
) -> Callable[[Path], object]:
    """``sklearn_discrepancy`` of (X_a, y_a) against ten valid samples (or ``X_b`` with their labels)."""
    X, y = _sample()
    return _api(
        "discrepancy.sklearn_discrepancy",
        X_a,
        y_a,
        X[:10] if X_b is None else X_b,
        y[:10],
        **{"n_classes": 2, **kwargs},
    )


def _pooled(
    X: np.ndarray | None = None, y: np.ndarray | None = None, source: np.ndarray | None = None
) -> Callable[[Path], object]:
    """``linear_pairwise_matrix`` of four sources of ten samples with one argument spoiled."""
    X0, y0 = _sample()
    return _api(
        "discrepancy.linear_pairwise_matrix",
        X0 if X is None else X,
        y0 if y is None else y,
        np.repeat(np.arange(4), 10) if source is None else source,
        n_sources=4,
        n_classes=2,
    )


def _sample() -> tuple[np.ndarray, np.ndarray]:
    X = np.random.default_rng(0).normal(size=(40, 3))
    return X, (X[:, 0] > 0).astype(np.int64)


def _federated(**config: object) -> Callable[[Path], object]:
    def call(_: Path) -> object:
        from multisource.federated import FederatedConfig, run_federated

        return run_federated(_dataset(), config=FederatedConfig(**{"rounds": 1, **config}))  # type: ignore[arg-type]

    return call


def _mlp() -> torch.nn.Module:
    return torch.nn.Sequential(torch.nn.Linear(2, 8), torch.nn.ReLU(), torch.nn.Linear(8, 2))


def _pushed_nan(_: Path) -> object:
    from multisource.optim import DynamicInverseFisher

    fisher = DynamicInverseFisher.from_gradients(torch.ones(2, 3), damp=1e-3)
    return fisher.push(torch.tensor([1.0, float("nan"), 0.0]))


def _static_mul(_: Path) -> object:
    from multisource.optim import StaticInverseFisher

    return StaticInverseFisher(torch.ones(2, 3), 1e-3).mul(torch.ones(4))


def _hessian_columns(_: Path) -> object:
    from multisource.compress import HessianAccumulator

    return HessianAccumulator(8).add_batch(torch.ones(3, 5))


def _logistic(**spoiled: object) -> Callable[[Path], object]:
    """``fit_weighted_logistic`` of two problems of ten samples (X with an intercept column) with arguments spoiled."""
    X = torch.cat([torch.randn(2, 10, 3, dtype=torch.float64), torch.ones(2, 10, 1, dtype=torch.float64)], dim=-1)
    inputs: dict[str, object] = {
        "X": X,
        "Z": (X[..., :1] > 0).to(torch.float64),
        "weights": torch.full((2, 10), 0.1, dtype=torch.float64),
        "l2": 1e-3,
        **spoiled,
    }
    return _api("discrepancy.fit_weighted_logistic", **inputs)


def _rademacher(fn: str, hypothesis_class: object = None, **kwargs: object) -> Callable[[Path], object]:
    """``bounds.<fn>`` on six points in two features with the stumps class (or ``hypothesis_class``)."""

    def call(_: Path) -> object:
        import multisource.bounds as bounds

        cls = bounds.DecisionStumps() if hypothesis_class is None else hypothesis_class
        return getattr(bounds, fn)(_sample()[0][:6, :2], cls, **kwargs)

    return call


def _unfitted(fn: str, *args: object) -> Callable[[Path], object]:
    def call(_: Path) -> object:
        from sklearn.linear_model import LogisticRegression

        import multisource.learners as learners

        return getattr(learners, fn)(LogisticRegression(), *args)

    return call


INF = float("inf")
NAN = float("nan")

CASES: list[Case] = [
    # ---- data ----------------------------------------------------------------------------------------
    Case("data.load_dataset", 'name="imagenet"', ValueError, "unknown ", _data("load_dataset", name="imagenet")),
    Case(
        "data.make_gaussian_classes",
        "n_samples=0",
        ValueError,
        "n_samples must be >= ",
        _data("make_gaussian_classes", n_samples=0),
    ),
    Case(
        "data.make_gaussian_classes",
        "n_classes=1",
        ValueError,
        "n_classes must be >= 2",
        _data("make_gaussian_classes", n_classes=1),
    ),
    Case(
        "data.make_gaussian_classes",
        "margin=inf",
        ValueError,
        "margin must be a finite number",
        _data("make_gaussian_classes", margin=INF),
    ),
    Case("data.make_multisource", "n_sources=0", ValueError, "n_sources must be >= ", _ms(n_sources=0)),
    Case("data.make_multisource", "m=0", ValueError, "m must be >= 1", _ms(m=0)),
    Case("data.make_multisource", "m=1000 (more than the data holds)", ValueError, "m", _ms(m=1000)),
    Case("data.make_multisource", "m=[20, 20] with n_sources=5", ValueError, "m", _ms(m=[20, 20])),
    Case("data.make_multisource", 'split="random"', ValueError, "unknown ", _ms(split="random")),
    Case("data.make_multisource", "n_test=1.5", ValueError, "n_test must", _ms(n_test=1.5)),
    Case("data.make_multisource", "n_test=nan", ValueError, "n_test must", _ms(n_test=NAN)),
    Case(
        "data.make_multisource",
        'split="dirichlet", concentration=-1',
        ValueError,
        "concentration must",
        _ms(split="dirichlet", concentration=-1.0),
    ),
    Case(
        "data.make_multisource", "concentraton=1 (a misspelt option)", TypeError, "concentraton", _ms(concentraton=1.0)
    ),
    Case(
        "data.make_multisource",
        'standardize="yes"',
        TypeError,
        "standardize must be true or false",
        _ms(standardize="yes"),
    ),
    # ---- corruption ----------------------------------------------------------------------------------
    Case("corruption.Adversary", "alpha=0.5", ValueError, "alpha must lie in [0.0, 0.5)", _adversary(alpha=0.5)),
    Case("corruption.Adversary", "alpha=nan", ValueError, "alpha must be a finite number", _adversary(alpha=NAN)),
    Case("corruption.Adversary", 'attack="poison"', ValueError, "unknown ", _adversary(attack="poison")),
    Case("corruption.Adversary", 'selection="random"', ValueError, "selection must", _adversary(selection="random")),
    Case(
        "corruption.Adversary",
        "bad=[0, 1, 2] of 5 sources",
        ValueError,
        "bad must name fewer than N/2",
        _adversary(bad=[0, 1, 2]),
    ),
    Case(
        "corruption.Adversary",
        "bad=[7] of 5 sources",
        ValueError,
        "bad must hold source indices in [0, 5)",
        _adversary(bad=[7]),
    ),
    Case(
        "corruption.Adversary",
        'attack="label_flip", params={"p": 1.5}',
        ValueError,
        "p must",
        _adversary(params={"p": 1.5}),
        argument="p",
    ),
    Case(
        "corruption.Adversary",
        'attack="feature_noise", params={"sigma": inf}',
        ValueError,
        "sigma must be a finite number",
        _adversary(attack="feature_noise", params={"sigma": INF}),
        argument="sigma",
    ),
    Case(
        "corruption.Adversary",
        'attack="label_flip", params={"q": 1}',
        TypeError,
        "q",
        _adversary(params={"q": 1.0}),
    ),
    # ---- bounds --------------------------------------------------------------------------------------
    Case(
        "bounds.multisource_bound",
        "alpha=0.6",
        ValueError,
        "alpha must lie in [0.0, 0.5)",
        _bounds("multisource_bound", 10, 100, 0.6, 0.05, 5),
    ),
    Case(
        "bounds.multisource_bound",
        "delta=0",
        ValueError,
        "delta must",
        _bounds("multisource_bound", 10, 100, 0.1, 0.0, 5),
    ),
    Case(
        "bounds.multisource_bound",
        "m=0",
        ValueError,
        "m (samples per source) must be >= 1",
        _bounds("multisource_bound", 10, 0, 0.1, 0.05, 5),
    ),
    Case(
        "bounds.multisource_bound",
        "n_sources=0",
        ValueError,
        "n_sources (N) must be >= 1",
        _bounds("multisource_bound", 0, 100, 0.1, 0.05, 5),
    ),
    Case(
        "bounds.multisource_bound",
        'adversary="smart"',
        ValueError,
        "adversary must",
        _bounds("multisource_bound", 10, 100, 0.1, 0.05, 5, adversary="smart"),
    ),
    Case(
        "bounds.multisource_bound",
        "complexity=-1 (VC dimension)",
        ValueError,
        "d (VC dimension) must be >= 1",
        _bounds("multisource_bound", 10, 100, 0.1, 0.05, -1),
        argument="VC dimension",
    ),
    Case(
        "bounds.multisource_bound",
        "complexity=1.5 (Rademacher value)",
        ValueError,
        "must lie in [0.0, 1.0]",
        _bounds("multisource_bound", 10, 100, 0.1, 0.05, 1.5),
    ),
    Case(
        "bounds.multisource_bound",
        'complexity="vc"',
        TypeError,
        "complexity",
        _bounds("multisource_bound", 10, 100, 0.1, 0.05, "vc"),
    ),
    Case(
        "bounds.malicious_noise_floor",
        "beta=1",
        ValueError,
        "beta (malicious noise rate) must lie in [0.0, 1.0)",
        _bounds("malicious_noise_floor", 1.0),
    ),
    Case(
        "bounds.nasty_noise_floor",
        "eta=inf",
        ValueError,
        "eta (nasty noise rate) must be a finite number",
        _bounds("nasty_noise_floor", INF),
    ),
    Case(
        "bounds.required_m", "epsilon=0", ValueError, "epsilon must lie in (0.0, inf)", _bounds("required_m", None, 0.0)
    ),
    Case(
        "bounds.bound_lambda",
        "loss_bound=inf",
        ValueError,
        "loss_bound (M) must be a finite number",
        _bounds("bound_lambda", 0.05, INF),
    ),
    Case(
        "bounds.multisource_lower_bound",
        "delta=1",
        ValueError,
        "delta must",
        _bounds("multisource_lower_bound", 10, 100, 0.1, 1.0),
    ),
    # ---- compress ------------------------------------------------------------------------------------
    Case(
        "compress.sparsegpt_prune_layer",
        "W with a NaN",
        ValueError,
        "W contains NaN or infinite values",
        _sparsegpt(W=_nan_weight(), sparsity=0.5),
    ),
    Case(
        "compress.sparsegpt_prune_layer",
        "percdamp=inf",
        ValueError,
        "percdamp must be a finite number",
        _sparsegpt(percdamp=INF),
    ),
    Case(
        "compress.sparsegpt_prune_layer",
        "percdamp=nan",
        ValueError,
        "percdamp must be a finite number",
        _sparsegpt(percdamp=NAN),
    ),
    Case(
        "compress.sparsegpt_prune_layer",
        "sparsity=1",
        ValueError,
        "sparsity must lie in [0.0, 1.0)",
        _sparsegpt(sparsity=1.0),
    ),
    Case(
        "compress.sparsegpt_prune_layer", "blocksize=0", ValueError, "blocksize must be >= 1", _sparsegpt(blocksize=0)
    ),
    Case(
        "compress.sparsegpt_prune_layer", "H of shape (4, 4) for W (4, 8)", ValueError, "H", _sparsegpt(H=torch.eye(4))
    ),
    Case("compress.sparsegpt_prune_layer", 'pattern="4:2"', ValueError, "pattern", _sparsegpt(pattern="4:2")),
    Case("compress.sparsegpt_prune_layer", "bits=1", ValueError, "bits must", _sparsegpt(bits=1)),
    # ---- learners ------------------------------------------------------------------------------------
    Case("learners.TorchClassifier.fit", "lr=inf", ValueError, "lr must be a finite number", _torch_fit(lr=INF)),
    Case("learners.TorchClassifier.fit", "lr=-1", ValueError, "lr must lie in", _torch_fit(lr=-1.0)),
    Case(
        "learners.TorchClassifier.fit",
        "weight_decay=nan",
        ValueError,
        "weight_decay must be a finite number",
        _torch_fit(weight_decay=NAN),
    ),
    Case("learners.TorchClassifier.fit", 'device="tpu"', ValueError, "device must", _torch_fit(device="tpu")),
    Case("learners.TorchClassifier.fit", "dtype=torch.int32", ValueError, "dtype must", _torch_fit(dtype=torch.int32)),
    Case(
        "learners.TorchClassifier.fit", 'optimizer="adagrad"', ValueError, "unknown ", _torch_fit(optimizer="adagrad")
    ),
    Case(
        "learners.TorchClassifier.fit", "hidden_sizes=(0,)", ValueError, "hidden_sizes", _torch_fit(hidden_sizes=(0,))
    ),
    Case(
        "learners.TorchClassifier.fit", "batch_size=0", ValueError, "batch_size must be >= 1", _torch_fit(batch_size=0)
    ),
    Case(
        "learners.fit_on_selection",
        "a Selection of 3 sources for 5",
        ValueError,
        "selection",
        _selection_of_wrong_length,
    ),
    # ---- discrepancy ---------------------------------------------------------------------------------
    Case(
        "discrepancy.sklearn_discrepancy",
        "X_a with 0 samples",
        ValueError,
        "X_a must hold n >= 1 samples of d >= 1 features",
        _pair(np.zeros((0, 3)), np.zeros(0, np.int64)),
    ),
    Case(
        "discrepancy.sklearn_discrepancy",
        "X_b with 2 features, X_a with 3",
        ValueError,
        "X_a and X_b must have the same features",
        _pair(_sample()[0][:10], _sample()[1][:10], _sample()[0][:10, :2]),
    ),
    Case(
        "discrepancy.sklearn_discrepancy",
        "y_a of 9 labels for 10 rows",
        ValueError,
        "y_a must hold one label per row of X_a",
        _pair(_sample()[0][:10], _sample()[1][:9]),
    ),
    Case(
        "discrepancy.sklearn_discrepancy",
        "X_a all NaN",
        ValueError,
        "X_a contains NaN or infinite values",
        _pair(np.full((10, 3), NAN), _sample()[1][:10]),
    ),
    Case(
        "discrepancy.sklearn_discrepancy",
        "y_a labels 4, 5 with n_classes=2",
        ValueError,
        "y_a must hold labels in [0, 1]",
        _pair(_sample()[0][:10], _sample()[1][:10] + 4),
        argument="y_a",
    ),
    Case(
        "discrepancy.sklearn_discrepancy",
        "n_classes=1",
        ValueError,
        "n_classes must be >= 2",
        _pair(_sample()[0][:10], _sample()[1][:10], n_classes=1),
    ),
    Case(
        "discrepancy.sklearn_discrepancy",
        "max_iter=0",
        ValueError,
        "max_iter must be >= 1",
        _pair(_sample()[0][:10], _sample()[1][:10], max_iter=0),
    ),
    Case(
        "discrepancy.linear_pairwise_matrix",
        "X 1-dimensional",
        ValueError,
        "X must be 2-dimensional",
        _pooled(X=_sample()[0][:, 0]),
    ),
    Case(
        "discrepancy.linear_pairwise_matrix",
        "y labels 3, 4 with n_classes=2",
        ValueError,
        "y must hold labels in [0, 1]",
        _pooled(y=_sample()[1] + 3),
        argument="y",
    ),
    Case(
        "discrepancy.linear_pairwise_matrix",
        "X with a NaN",
        ValueError,
        "X contains NaN or infinite values",
        _pooled(X=_with_nan(_sample()[0])),
    ),
    Case(
        "discrepancy.linear_pairwise_matrix",
        "y float labels",
        TypeError,
        "y must hold integer labels in [0, 1]",
        _pooled(y=_sample()[1] + 0.5),
    ),
    Case(
        "discrepancy.linear_pairwise_matrix",
        "source ids 1..4 with n_sources=4",
        ValueError,
        "source must hold ids in [0, 3]",
        _pooled(source=np.repeat(np.arange(1, 5), 10)),
        argument="source",
    ),
    Case(
        "discrepancy.linear_pairwise_matrix",
        "source of 39 ids for 40 rows",
        ValueError,
        "source must hold 40 integer source ids",
        _pooled(source=np.repeat(np.arange(4), 10)[:-1]),
    ),
    Case(
        "discrepancy.pairwise",
        'estimator="svm"',
        ValueError,
        "unknown discrepancy estimator 'svm'; valid discrepancy estimator names",
        _api("discrepancy.pairwise", DATA, estimator="svm"),
    ),
    Case(
        "discrepancy.pairwise",
        "an array for dataset",
        TypeError,
        "dataset must be a MultiSourceDataset",
        _api("discrepancy.pairwise", np.zeros((3, 2))),
    ),
    Case(
        "discrepancy.stump_discrepancy",
        "X_b with 2 features, X_a with 3",
        ValueError,
        "X_a and X_b must have the same features",
        _api(
            "discrepancy.stump_discrepancy",
            _sample()[0][:10],
            _sample()[1][:10],
            _sample()[0][:10, :2],
            _sample()[1][:10],
            n_classes=2,
        ),
    ),
    # ---- optim ---------------------------------------------------------------------------------------
    Case(
        "optim.StaticInverseFisher",
        "grads 1-D",
        ValueError,
        "grads must be a 2-D (m x d) tensor",
        _api("optim.StaticInverseFisher", torch.ones(3), 1e-3),
    ),
    Case(
        "optim.StaticInverseFisher",
        "damp=0",
        ValueError,
        "Invalid damp: 0.0 (must be a finite number > 0)",
        _api("optim.StaticInverseFisher", torch.ones(2, 3), 0.0),
    ),
    Case(
        "optim.StaticInverseFisher",
        "blocksize=0",
        ValueError,
        "blocksize must be >= 1",
        _api("optim.StaticInverseFisher", torch.ones(2, 3), 1e-3, blocksize=0),
    ),
    Case(
        "optim.StaticInverseFisher.mul",
        "x of length 4 for d=3",
        ValueError,
        "x must be a vector of length d=3",
        _static_mul,
    ),
    Case(
        "optim.inverse_fisher_product",
        "grads all NaN",
        ValueError,
        "grads contains NaN or infinite values",
        _api("optim.inverse_fisher_product", torch.full((2, 3), NAN), torch.ones(3), 1e-3),
    ),
    Case(
        "optim.DynamicInverseFisher.empty",
        "ngrads=0",
        ValueError,
        "Invalid ngrads: 0 (must be an integer >= 1)",
        _api("optim.DynamicInverseFisher.empty", 0, 3, 1e-3),
    ),
    Case(
        "optim.DynamicInverseFisher.push",
        "grad with a NaN",
        ValueError,
        "grad contains NaN or infinite values",
        _pushed_nan,
    ),
    Case(
        "optim.MFAC",
        "lr=-1",
        ValueError,
        "Invalid learning rate: -1 (must be >= 0)",
        _api("optim.MFAC", list(_mlp().parameters()), lr=-1),
        argument="learning rate",
    ),
    Case(
        "optim.MFAC",
        "ngrads=0",
        ValueError,
        "Invalid ngrads: 0 (must be an integer >= 1)",
        _api("optim.MFAC", list(_mlp().parameters()), ngrads=0),
    ),
    Case(
        "optim.MFAC",
        "momentum=1",
        ValueError,
        "Invalid momentum value: 1.0 (must be in [0, 1))",
        _api("optim.MFAC", list(_mlp().parameters()), momentum=1.0),
    ),
    Case(
        "optim.MFAC",
        "momentum=nan",
        ValueError,
        "Invalid momentum value: nan (must be in [0, 1))",
        _api("optim.MFAC", list(_mlp().parameters()), momentum=NAN),
    ),
    Case(
        "optim.MFAC",
        "weight_decay=-1",
        ValueError,
        "Invalid weight_decay value: -1 (must be >= 0)",
        _api("optim.MFAC", list(_mlp().parameters()), weight_decay=-1),
    ),
    Case(
        "optim.MFAC",
        "window_dtype=torch.int32",
        TypeError,
        "Invalid window_dtype: torch.int32 (must be a floating point dtype)",
        _api("optim.MFAC", list(_mlp().parameters()), window_dtype=torch.int32),
    ),
    Case(
        "optim.make_optimizer",
        'name="adagrad"',
        ValueError,
        "unknown optimizer 'adagrad'; valid optimizer names",
        _api("optim.make_optimizer", "adagrad", list(_mlp().parameters()), lr=0.1),
    ),
    Case(
        "optim.make_optimizer",
        "lr=nan",
        ValueError,
        "lr must be a finite number in [0.0, inf)",
        _api("optim.make_optimizer", "sgd", list(_mlp().parameters()), lr=NAN),
    ),
    Case(
        "optim.cholesky_rank_one_update",
        "x of length 4 for a (3, 3) factor",
        ValueError,
        "x must be a vector of length n=3",
        _api("optim.cholesky_rank_one_update", torch.eye(3), torch.ones(4)),
    ),
    Case(
        "optim.cholesky_rank_one_update",
        "factor (3, 2)",
        ValueError,
        "factor must be a square (n, n) tensor",
        _api("optim.cholesky_rank_one_update", torch.ones(3, 2), torch.ones(3)),
    ),
    Case(
        "optim.cholesky_rank_one_update",
        "x with a NaN",
        ValueError,
        "x contains NaN or infinite values",
        _api("optim.cholesky_rank_one_update", torch.eye(3), torch.tensor([1.0, NAN, 0.0])),
    ),
    Case(
        "optim.DynamicInverseFisher",
        "state={} (empty)",
        ValueError,
        "state must hold the tensors ['grads', 'gram', 'factor', 'index', 'count', 'damp']",
        _api("optim.DynamicInverseFisher", {}),
        argument="state",
    ),
    # ---- federated -----------------------------------------------------------------------------------
    Case("federated.run_federated", "rounds=0", ValueError, "rounds must be >= 1", _federated(rounds=0)),
    Case(
        "federated.run_federated", "lr=nan", ValueError, "lr must be a finite number in (0.0, inf)", _federated(lr=NAN)
    ),
    Case(
        "federated.run_federated", "sampling=0", ValueError, "sampling must lie in (0.0, 1.0]", _federated(sampling=0.0)
    ),
    Case(
        "federated.run_federated",
        'aggregator="avg"',
        ValueError,
        "unknown aggregator 'avg'; valid aggregator names",
        _federated(aggregator="avg"),
    ),
    Case(
        "federated.run_federated",
        "config a dict",
        TypeError,
        "config must be a FederatedConfig",
        _api("federated.run_federated", DATA, config={"rounds": 2}),
    ),
    Case(
        "federated.run_federated",
        "an array for dataset",
        TypeError,
        "dataset must be a MultiSourceDataset",
        _api("federated.run_federated", np.zeros(3)),
    ),
    # ---- learners (more) -----------------------------------------------------------------------------
    Case(
        "learners.make_learner",
        'name="svm"',
        ValueError,
        "unknown learner 'svm'; use a registered name",
        _api("learners.make_learner", "svm"),
    ),
    Case("learners.TorchClassifier.fit", "epochs=0", ValueError, "epochs must be >= 1", _torch_fit(epochs=0)),
    Case(
        "learners.TorchClassifier.fit",
        'architecture="rnn"',
        ValueError,
        "architecture must be one of ['cnn', 'mlp']",
        _torch_fit(architecture="rnn"),
    ),
    Case(
        "learners.CompressedClassifier.fit",
        "sparsity=1.5",
        ValueError,
        "sparsity must lie in [0.0, 1.0)",
        lambda _: _fit_compressed(sparsity=1.5),
    ),
    Case(
        "learners.CompressedClassifier.fit",
        'method="foo"',
        ValueError,
        "unknown pruning method 'foo'; valid pruning method names",
        lambda _: _fit_compressed(method="foo"),
    ),
    # ---- compress (more) -----------------------------------------------------------------------------
    Case(
        "compress.magnitude_prune_layer",
        "W all NaN",
        ValueError,
        "W contains NaN or infinite values",
        _api("compress.magnitude_prune_layer", torch.full((4, 8), NAN), sparsity=0.5),
    ),
    Case(
        "compress.magnitude_prune_layer",
        "W 1-D",
        ValueError,
        "W must be a 2-D floating tensor (rows x columns)",
        _api("compress.magnitude_prune_layer", torch.ones(8), sparsity=0.5),
    ),
    Case(
        "compress.wanda_prune_layer",
        "H (4, 4) for W (4, 8)",
        ValueError,
        "H must have shape (8, 8) for W of shape (4, 8)",
        _api("compress.wanda_prune_layer", torch.ones(4, 8), torch.eye(4), sparsity=0.5),
    ),
    Case(
        "compress.wanda_prune_layer",
        "H all NaN",
        ValueError,
        "H contains NaN or infinite values",
        _api("compress.wanda_prune_layer", torch.ones(4, 8), torch.full((8, 8), NAN), sparsity=0.5),
    ),
    Case(
        "compress.wanda_prune_layer",
        "mask (3, 3) for W (4, 8)",
        ValueError,
        "mask must have the shape of W (4, 8)",
        _api("compress.wanda_prune_layer", torch.ones(4, 8), torch.eye(8), mask=torch.ones(3, 3, dtype=torch.bool)),
    ),
    Case(
        "compress.sparsegpt_prune_layer",
        "H = -I (not PD)",
        ValueError,
        "the Hessian is not positive definite even with damping",
        _sparsegpt(H=-torch.eye(8), sparsity=0.5),
    ),
    Case(
        "compress.sparsegpt_prune_layer",
        "W a numpy array",
        ValueError,
        "W must be a 2-D floating tensor",
        _sparsegpt(W=np.ones((4, 8)), sparsity=0.5),
    ),  # type: ignore[arg-type]
    Case(
        "compress.check_target",
        "bits=3.5",
        TypeError,
        "bits must be an integer",
        _api("compress.check_target", 0.5, pattern="2:4", bits=3.5),
    ),
    Case(
        "compress.minmax_grid",
        "bits=0",
        ValueError,
        "bits must be >= 2",
        _api("compress.minmax_grid", torch.ones(4, 8), 0),
    ),
    Case(
        "compress.HessianAccumulator",
        "columns=0",
        ValueError,
        "columns must be >= 1",
        _api("compress.HessianAccumulator", 0),
    ),
    Case(
        "compress.HessianAccumulator.add_batch",
        "inputs of 5 features for 8 columns",
        ValueError,
        "input has 5 features, expected 8",
        _hessian_columns,
    ),
    Case(
        "compress.get_pruner",
        'method="obs"',
        ValueError,
        "unknown pruning method 'obs'; valid pruning method names",
        _api("compress.get_pruner", "obs"),
    ),
    Case(
        "compress.plan_pruning",
        "sparsity=-0.1",
        ValueError,
        "sparsity must lie in [0.0, 1.0)",
        _api("compress.plan_pruning", "sparsegpt", sparsity=-0.1),
    ),
    Case(
        "compress.plan_pruning",
        'options={"blocksz": 3}',
        ValueError,
        "unknown option 'blocksz' for pruning method 'sparsegpt'; valid options",
        _api("compress.plan_pruning", "sparsegpt", options={"blocksz": 3}),
    ),
    Case(
        "compress.plan_pruning",
        'options={"blocksize": 0}',
        ValueError,
        "blocksize must be >= 1",
        _api("compress.plan_pruning", "sparsegpt", options={"blocksize": 0}),
    ),
    Case(
        "compress.prune_model",
        "a model with no Linear layer",
        ValueError,
        "ReLU has no nn.Linear",
        _api("compress.prune_model", torch.nn.ReLU(), torch.randn(8, 2)),
    ),
    Case(
        "compress.perplexity",
        "seqlen=0",
        ValueError,
        "seqlen must be >= 2",
        _api("compress.perplexity", _mlp(), torch.ones(10, dtype=torch.long), seqlen=0),
    ),
    Case(
        "compress.find_adapter",
        'family="opt" for an MLP',
        ValueError,
        "so it is not a opt model",
        _api("compress.find_adapter", _mlp(), family="opt"),
        argument="opt",
    ),
    Case(
        "compress.sparsity_report",
        'pattern="x"',
        ValueError,
        "pattern must look like 'N:M'",
        _api("compress.sparsity_report", _mlp(), pattern="x"),
    ),
    Case(
        "compress.owl_layer_sparsity",
        "sparsity=1.5",
        ValueError,
        "sparsity must lie in [0.0, 1.0)",
        _api("compress.owl_layer_sparsity", _mlp(), torch.randn(8, 2), 1.5),
    ),
    Case(
        "compress.mfac_obs_prune",
        "no calibration batches",
        ValueError,
        "batches gave 0 calibration batches but ngrads=64",
        _api("compress.mfac_obs_prune", _mlp(), torch.nn.functional.cross_entropy, [], 0.5),
    ),
    # ---- filtering -----------------------------------------------------------------------------------
    Case(
        "filtering.threshold_majority",
        "disc with a NaN",
        ValueError,
        "disc",
        _rule("threshold_majority", _with_nan(_disc())),
    ),
    Case(
        "filtering.threshold_majority",
        "threshold=inf",
        ValueError,
        "threshold must be a finite number",
        _rule("threshold_majority", threshold=INF),
    ),
    Case(
        "filtering.threshold_majority", "disc (5, 4)", ValueError, "disc", _rule("threshold_majority", _disc()[:, :4])
    ),
    Case(
        "filtering.threshold_majority",
        "sizes of length 3 for a (5, 5) disc",
        ValueError,
        "sizes",
        _rule("threshold_majority", None, _sizes(3)),
    ),
    Case("filtering.known_alpha", "n_bad=3 of 5 sources", ValueError, "n_bad must be", _rule("known_alpha", n_bad=3)),
    Case("filtering.quantile", "alpha=None and n_bad=None", ValueError, "n_bad", _rule("quantile")),
    Case("filtering.multi_krum", "n_bad=-1", ValueError, "n_bad must be >= 0", _rule("multi_krum", n_bad=-1)),
    Case(
        "filtering.kl2019_weighting",
        "reference=9 of 5 sources",
        ValueError,
        "reference",
        _rule("kl2019_weighting", reference=9),
    ),
    Case("filtering.kl2019_weighting", "lam=nan", ValueError, "lam", _rule("kl2019_weighting", lam=NAN)),
    Case("filtering.single_trusted", "trusted=-1", ValueError, "trusted", _rule("single_trusted", trusted=-1)),
    # ---- aggregation ---------------------------------------------------------------------------------
    Case("aggregation.aggregate", 'name="average"', ValueError, "unknown ", _aggregate("average")),
    Case("aggregation.aggregate", "krum with n_bad=2 of 5 vectors", ValueError, "n_bad", _aggregate("krum", n_bad=2)),
    Case(
        "aggregation.aggregate",
        "vectors with a NaN",
        ValueError,
        "NaN",
        _aggregate("krum", _with_nan(_vectors()), n_bad=1),
    ),
    Case(
        "aggregation.aggregate",
        "float64 vectors with a row of 1e200 (its squared norm overflows)",
        ValueError,
        "are too large: their squared norms overflow float64",
        _aggregate("geometric_median", np.vstack([_vectors(), np.full((1, 3), 1e200)])),
    ),
    Case(
        "aggregation.aggregate", "vectors of shape (0, 3)", ValueError, "vectors", _aggregate("mean", np.zeros((0, 3)))
    ),
    Case(
        "aggregation.aggregate",
        "centered_clipping tau=inf",
        ValueError,
        "tau must be a finite number",
        _aggregate("centered_clipping", params={"tau": INF}),
    ),
    Case(
        "aggregation.aggregate",
        "geometric_median tol=nan",
        ValueError,
        "tol must be a finite number",
        _aggregate("geometric_median", params={"tol": NAN}),
    ),
    Case(
        "aggregation.aggregate",
        "trimmed_mean params={'beta': 0.1}",
        ValueError,
        "trimmed_mean has no option(s) ['beta']",
        _aggregate("trimmed_mean", n_bad=1, params={"beta": 0.1}),
    ),
    # ---- runner --------------------------------------------------------------------------------------
    Case("runner.Store", "a folder", StoreError, "is a directory; give a file path", _store(lambda tmp: tmp)),
    Case(
        "runner.Store",
        "a 0-byte file",
        StoreError,
        "is an empty file (0 bytes)",
        _store(lambda tmp: _file(tmp, "empty.sqlite", b"")),
    ),
    Case(
        "runner.Store",
        "a text file",
        StoreError,
        "is not a SQLite database",
        _store(lambda tmp: _file(tmp, "notes.sqlite", b"not a database\n" * 100)),
    ),
    # ---- cli -----------------------------------------------------------------------------------------
    cli("prune", "--calib-tokens -5", "--calib-tokens must be >= 1", "--calib-tokens", "-5"),
    cli("prune", "--calib-tokens 0", "--calib-tokens must be >= 1", "--calib-tokens", "0"),
    cli("prune", "--seqlen 0", "--seqlen must be >= 2", "--seqlen", "0"),
    cli("prune", "--percdamp -1", "percdamp must lie in", "--percdamp", "-1"),
    cli("prune", "--percdamp nan", "percdamp must be a finite number", "--percdamp", "nan"),
    cli("prune", "--blocksize 0", "blocksize must be >= 1", "--blocksize", "0"),
    cli("prune", "--sparsity 1", "sparsity must lie in [0.0, 1.0)", "--sparsity", "1"),
    cli("prune", "--bits 1", "bits must", "--bits", "1"),
    cli("prune", "--eval-tokens 0", "--eval-tokens must be >= 512", "--eval-tokens", "0"),
    cli("prune", "--calib-corpora klingon", "klingon", "--calib-corpora", "klingon"),
    cli("prune", "--device tpu", "device must", "--device", "tpu"),
    cli("prune", "--model nowhere/", "--model must be one of", "--model", "nowhere/"),
    cli("prune", "--pattern 2-4", "pattern", "--pattern", "2-4"),
    cli("report", "STORE is a 0-byte file", "STORE", "{tmp}/empty.sqlite", files={"empty.sqlite": ""}),
    cli("report", "STORE is missing", "STORE", "{tmp}/missing.sqlite"),
    cli("report", "STORE is a folder", "STORE", "{tmp}"),
    bound("--alpha 0.5", "alpha must lie in [0.0, 0.5)", alpha="0.5"),
    bound("--alpha nan", "alpha must be a finite number in [0.0, 0.5)", alpha="nan"),
    bound("--delta inf", "delta must be a finite number in (0.0, 1.0)", "--delta", "inf"),
    bound("--N 0", "n_sources (N) must be >= 1", N="0"),
    bound("--m -5", "m (samples per source) must be >= 1", m="-5"),
    bound("--vc -1", "d (VC dimension) must be >= 1", vc="-1"),
    bound("--rademacher 2", "must lie in [0.0, 1.0]", "--rademacher", "2", vc=None),
    bound("--solve-m without --epsilon", "--solve-m / --solve-n need --epsilon", "--solve-m"),
    bound("--epsilon -1 --solve-m", "epsilon must lie in (0.0, inf)", "--epsilon", "-1", "--solve-m"),
    bound("--m ten", "argument --m: invalid int value", m="ten"),
    cli("run", "SPEC is missing", "SPEC", "{tmp}/nope.toml"),
    cli("run", "--jobs 0", "--jobs must be >= 1", "{tmp}/nope.toml", "--jobs", "0"),
    # ---- second pass (issue 12): entry points the first table left out ----------------------------------
    Case(
        "data.make_gaussian_classes",
        "seed=-1",
        ValueError,
        "seed must be >= 0",
        _api("data.make_gaussian_classes", seed=-1),
    ),
    Case(
        "data.make_gaussian_classes",
        "seed=1.5",
        TypeError,
        "seed must be an int, a numpy Generator or None",
        _api("data.make_gaussian_classes", seed=1.5),
    ),
    Case(
        "data.make_gaussian_classes",
        "n_features=0",
        ValueError,
        "n_features must be >= 1",
        _api("data.make_gaussian_classes", n_features=0),
    ),
    Case(
        "data.make_gaussian_classes",
        "n_samples=True",
        TypeError,
        "n_samples must be an integer",
        _api("data.make_gaussian_classes", n_samples=True),
    ),
    Case("data.make_multisource", "seed=-1", ValueError, "seed must be >= 0", _ms(seed=-1)),
    Case(
        "data.make_multisource", "m=[20, 20, 20, 20, -1]", ValueError, "m[4] must be >= 1", _ms(m=[20, 20, 20, 20, -1])
    ),
    Case("data.make_multisource", "n_test=1.0", ValueError, "n_test must lie in (0.0, 1.0)", _ms(n_test=1.0)),
    Case(
        "data.make_multisource",
        "data an array",
        TypeError,
        "data must be a LabeledData or a data set name",
        _api("data.make_multisource", np.zeros((5, 2)), n_sources=5, m=20),
    ),
    Case(
        "data.LabeledData",
        "y of 5 labels for 40 rows",
        ValueError,
        "y must be 1-dimensional with 40 entries",
        _api("data.LabeledData", _sample()[0], _sample()[1][:5], 2),
    ),
    Case(
        "data.MultiSourceDataset",
        "source of 3 ids for 40 rows",
        ValueError,
        "X, y and source must have the same length",
        _api("data.MultiSourceDataset", *_sample(), np.zeros(3, np.int64), *_sample(), 2, 4),
        argument="source",
    ),
    Case(
        "corruption.add_trigger",
        "X 1-D",
        ValueError,
        "X must be an (n, d) matrix of samples",
        _api("corruption.add_trigger", np.zeros(5)),
    ),
    Case(
        "corruption.add_trigger",
        "image_shape=(3, 3) for 16 features",
        ValueError,
        "image_shape must hold the 16 features",
        _api("corruption.add_trigger", np.zeros((3, 16)), image_shape=(3, 3)),
        argument="image_shape",
    ),
    Case(
        "corruption.add_trigger",
        "value=nan",
        ValueError,
        "value must be a finite number",
        _api("corruption.add_trigger", np.zeros((3, 16)), value=NAN),
    ),
    Case(
        "corruption.add_trigger",
        "size=0",
        ValueError,
        "size must be >= 1",
        _api("corruption.add_trigger", np.zeros((3, 16)), size=0),
    ),
    Case(
        "corruption.attack_updates",
        "n_bad=-1",
        ValueError,
        "n_bad must be >= 0",
        _api("corruption.attack_updates", "sign_flip", np.ones((5, 3)), -1),
    ),
    Case(
        "corruption.attack_updates",
        "honest 1-D",
        ValueError,
        "honest must be an (n_honest, d) matrix",
        _api("corruption.attack_updates", "sign_flip", np.ones(5), 1),
    ),
    Case(
        "corruption.attack_updates",
        "seed=-1",
        ValueError,
        "seed must be >= 0",
        _api("corruption.attack_updates", "gaussian", np.ones((5, 3)), 1, seed=-1),
    ),
    Case(
        "corruption.attack_updates",
        'name="nope"',
        ValueError,
        "unknown update attack 'nope'; valid update attack names",
        _api("corruption.attack_updates", "nope", np.ones((5, 3)), 1),
    ),
    Case(
        "corruption.Adversary",
        'bad=[1], selection="adaptive"',
        ValueError,
        "selection must be 'fixed' when the bad sources are given",
        _adversary(bad=[1], selection="adaptive"),
    ),
    Case(
        "discrepancy.fit_weighted_logistic",
        "X 2-D (10, 4)",
        ValueError,
        "X must be a (B, n, d+1) batch of design matrices",
        _logistic(X=torch.ones(10, 4, dtype=torch.float64)),
    ),
    Case(
        "discrepancy.fit_weighted_logistic",
        "weights negative",
        ValueError,
        "weights must be finite and non-negative",
        _logistic(weights=torch.full((2, 10), -0.1, dtype=torch.float64)),
    ),
    Case(
        "discrepancy.fit_weighted_logistic",
        "Z of 9 rows for 10",
        ValueError,
        "Z must have shape (2, 10, K)",
        _logistic(Z=torch.zeros(2, 9, 1, dtype=torch.float64)),
        argument="Z",
    ),
    Case("discrepancy.fit_weighted_logistic", "l2=-1", ValueError, "l2 must lie in [0.0, inf)", _logistic(l2=-1.0)),
    Case("discrepancy.fit_weighted_logistic", "max_iter=0", ValueError, "max_iter must be >= 1", _logistic(max_iter=0)),
    Case(
        "discrepancy.pairwise",
        'estimator="mlp", seed=-1',
        ValueError,
        "seed must be >= 0",
        _api("discrepancy.pairwise", DATA, estimator="mlp", seed=-1, max_epochs=1),
    ),
    Case(
        "discrepancy.linear_pairwise_matrix",
        "n_sources=5 with source 4 empty",
        ValueError,
        "every source needs at least one sample; empty sources: [4]",
        _api("discrepancy.linear_pairwise_matrix", *_sample(), np.repeat(np.arange(4), 10), n_sources=5, n_classes=2),
        argument="source",
    ),
    Case(
        "discrepancy.linear_pairwise_matrix",
        'solver="bogus"',
        ValueError,
        "solver must be one of ['mm', 'newton']",
        _api(
            "discrepancy.linear_pairwise_matrix",
            *_sample(),
            np.repeat(np.arange(4), 10),
            n_sources=4,
            n_classes=2,
            solver="bogus",
        ),
    ),
    Case(
        "filtering.central_source",
        "disc (5, 4)",
        ValueError,
        "disc must be a square (N, N) matrix with N >= 1",
        _api("filtering.central_source", _disc()[:, :4]),
    ),
    Case(
        "filtering.central_source",
        "disc (0, 0)",
        ValueError,
        "disc must be a square (N, N) matrix with N >= 1",
        _api("filtering.central_source", np.zeros((0, 0))),
    ),
    Case(
        "filtering.derived_threshold",
        "disc with a NaN",
        ValueError,
        "disc must hold every pair, got NaN",
        _api("filtering.derived_threshold", _with_nan(_disc()), 3),
    ),
    Case(
        "filtering.derived_threshold",
        "k=0",
        ValueError,
        "k must be >= 1",
        _api("filtering.derived_threshold", _disc(), 0),
    ),
    Case(
        "filtering.krum_scores",
        "n_bad=-1",
        ValueError,
        "n_bad must be >= 0",
        _api("filtering.krum_scores", _disc(), -1),
    ),
    Case(
        "filtering.krum_scores",
        "n_bad=1.5",
        TypeError,
        "n_bad must be an integer",
        _api("filtering.krum_scores", _disc(), 1.5),
    ),
    Case(
        "filtering.krum_scores",
        "disc with a NaN on the diagonal",
        ValueError,
        "disc must have a symmetric pattern of NaN (unevaluated pairs) off the diagonal",
        _api("filtering.krum_scores", _with_nan(_disc()), 1),
    ),
    Case(
        "filtering.known_alpha",
        'variant="bogus"',
        ValueError,
        "variant must be 'paper' or 'flea'",
        _rule("known_alpha", n_bad=1, variant="bogus"),
    ),
    Case(
        "filtering.Selection.from_mask",
        "kept=[0, 1, 2] (ints)",
        TypeError,
        "kept must be an (N,) boolean mask",
        _api("filtering.Selection.from_mask", np.array([0, 1, 2]), np.full(3, 20)),
        argument="kept",
    ),
    Case(
        "filtering.Selection.from_mask",
        "sizes of length 4 for 3 sources",
        ValueError,
        "sizes must hold 3 positive counts, one per source",
        _api("filtering.Selection.from_mask", np.ones(3, dtype=bool), np.full(4, 20)),
    ),
    Case(
        "bounds.multisource_lower_bound",
        "tol=0",
        ValueError,
        "tol must lie in (0.0, inf)",
        _bounds("multisource_lower_bound", 10, 100, 0.1, 0.05, tol=0.0),
    ),
    Case(
        "bounds.multisource_lower_bound",
        "tol=nan",
        ValueError,
        "tol must be a finite number",
        _bounds("multisource_lower_bound", 10, 100, 0.1, 0.05, tol=NAN),
    ),
    Case(
        "bounds.term_table", "bounds=[]", ValueError, "bounds must hold at least one Bound", _bounds("term_table", [])
    ),
    Case(
        "bounds.term_table",
        "bounds=[3]",
        TypeError,
        "bounds must be a list of Bound results",
        _bounds("term_table", [3]),
    ),
    Case(
        "bounds.required_m",
        "bound=3",
        TypeError,
        "bound must be a bound function such as multisource_bound",
        _bounds("required_m", 3, 0.1),
    ),
    Case(
        "bounds.monte_carlo_rademacher",
        'hypothesis_class="stumps"',
        TypeError,
        "hypothesis_class must be a HypothesisClass",
        _rademacher("monte_carlo_rademacher", "stumps"),
    ),
    Case(
        "bounds.monte_carlo_rademacher",
        "seed=-1",
        ValueError,
        "seed must be >= 0",
        _rademacher("monte_carlo_rademacher", seed=-1),
    ),
    Case(
        "bounds.monte_carlo_rademacher",
        "n_draws=1",
        ValueError,
        "n_draws must be >= 2",
        _rademacher("monte_carlo_rademacher", n_draws=1),
    ),
    Case(
        "bounds.exact_rademacher",
        "X of 60 rows",
        ValueError,
        "exact enumeration needs n <= 20 samples",
        _api("bounds.exact_rademacher", np.zeros((60, 2)), _api("bounds.DecisionStumps")(Path())),
        argument="n",
    ),
    Case("bounds.LinearClass", "C=-1", ValueError, "C must lie in (0.0, inf)", _api("bounds.LinearClass", C=-1.0)),
    Case(
        "bounds.LinearClass",
        'surrogate="bogus"',
        ValueError,
        "surrogate must be 'hinge' or 'logistic'",
        _api("bounds.LinearClass", surrogate="bogus"),
    ),
    Case(
        "bounds.LinearClass", "max_iter=0", ValueError, "max_iter must be >= 1", _api("bounds.LinearClass", max_iter=0)
    ),
    Case("bounds.FiniteClass", "predict=3", TypeError, "predict must be a callable", _api("bounds.FiniteClass", 3)),
    Case(
        "bounds.VCComplexity",
        "d=2.5",
        TypeError,
        "d (VC dimension) must be an integer",
        _api("bounds.VCComplexity", 2.5),
    ),
    Case(
        "bounds.kl2019_bound",
        "weights summing to 2",
        ValueError,
        "weights must be (N,) = (5,), non-negative and sum to 1",
        _bounds("kl2019_bound", np.full(5, 0.4), np.zeros(5), np.full(5, 20), 0.05, 3),
        argument="weights",
    ),
    Case(
        "learners.sample_weights",
        "weights of 3 sources for 4",
        ValueError,
        "weights and sizes must hold one non-negative weight and one positive count per source",
        _api("learners.sample_weights", np.ones(3) / 3, np.repeat(np.arange(4), 10), np.full(4, 10)),
        argument="weights",
    ),
    Case(
        "learners.sample_weights",
        "weights all NaN",
        ValueError,
        "weights contains NaN or infinite values",
        _api("learners.sample_weights", np.full(4, NAN), np.repeat(np.arange(4), 10), np.full(4, 10)),
        argument="weights",
    ),
    Case(
        "learners.sample_weights",
        "source id 7 of 4 sources",
        ValueError,
        "source must hold ids in [0, 3]",
        _api("learners.sample_weights", np.full(4, 0.25), np.full(40, 7), np.full(4, 10)),
        argument="source",
    ),
    Case(
        "learners.fit_weighted",
        "sample_weight of 3 for 40 samples",
        ValueError,
        "sample_weight must hold 40 non-negative weights, one per sample",
        _unfitted("fit_weighted", *_sample(), np.ones(3)),
        argument="sample_weight",
    ),
    Case(
        "learners.fit_weighted",
        "sample_weight all NaN",
        ValueError,
        "sample_weight contains NaN or infinite values",
        _unfitted("fit_weighted", *_sample(), np.full(40, NAN)),
        argument="sample_weight",
    ),
    Case(
        "learners.fit_weighted",
        "y of 9 labels for 40 rows",
        ValueError,
        "X and y must hold the same number of samples, got 40 and 9",
        _unfitted("fit_weighted", _sample()[0], _sample()[1][:9], None),
        argument="y",
    ),
    Case(
        "learners.linear_logits",
        "an unfitted model",
        ValueError,
        "model must be a fitted classifier, got an unfitted LogisticRegression",
        _unfitted("linear_logits", 2, 3),
        argument="model",
    ),
    Case(
        "learners.aligned_proba",
        "an unfitted model",
        ValueError,
        "model must be a fitted classifier, got an unfitted LogisticRegression",
        _unfitted("aligned_proba", _sample()[0], 2),
        argument="model",
    ),
    Case(
        "learners.softmax_proba",
        "theta (2, 5) for X (40, 3)",
        ValueError,
        "theta must have shape (K, d + 1) = (K, 4)",
        _api("learners.softmax_proba", np.zeros((2, 5)), _sample()[0]),
        argument="theta",
    ),
    Case(
        "learners.softmax_proba",
        "X with a NaN",
        ValueError,
        "X contains NaN or infinite values",
        _api("learners.softmax_proba", np.zeros((2, 4)), _with_nan(_sample()[0])),
        argument="X",
    ),
    Case(
        "learners.select_lambda",
        "n_splits=1",
        ValueError,
        "n_splits must be >= 2",
        _api("learners.select_lambda", DATA, _disc()[0], 0, _api("learners.logreg")(Path()), n_splits=1),
    ),
    Case(
        "learners.TorchClassifier.fit",
        'architecture="cnn", input_shape=(1, 3, 3) for 2 features',
        ValueError,
        "input_shape must hold the 2 features",
        _torch_fit(architecture="cnn", input_shape=(1, 3, 3)),
        argument="input_shape",
    ),
    Case(
        "learners.TorchClassifier.fit",
        'architecture="cnn", kernel_size=0',
        ValueError,
        "kernel_size must be >= 1",
        _torch_fit(architecture="cnn", input_shape=(1, 1, 2), kernel_size=0),
    ),
    bound("--epsilon 0.1 without --solve-m / --solve-n", "--epsilon needs --solve-m or --solve-n", "--epsilon", "0.1"),
    bound("--rademacher nan", "must be a finite number in [0.0, 1.0]", "--rademacher", "nan", vc=None),
    cli("prune", "--seed -1", "--seed must be >= 0", "--seed", "-1"),
    cli(
        "prune",
        "--out a file",
        "--out must be a folder, got the file",
        "--out",
        "{tmp}/model.txt",
        files={"model.txt": "x"},
    ),
    cli("prune", "--calib-corpora kjv,kjv", "each named once", "--calib-corpora", "kjv,kjv"),
    cli("prune", "--sparsity nan", "sparsity must be a finite number in [0.0, 1.0)", "--sparsity", "nan"),
    cli("prune", "--pattern 0:4", "N (zeros per N:M group) must be >= 1", "--pattern", "0:4"),
    cli("run", "--retries -1", "--retries must be >= 0", "{tmp}/nope.toml", "--retries", "-1"),
    cli(
        "run",
        "--plugin no.such.module",
        "--plugin 'no.such.module' cannot be imported",
        "{tmp}/nope.toml",
        "--plugin",
        "no.such.module",
    ),
    cli("run", "--scheduler ''", "--scheduler must be a Dask scheduler address", "{tmp}/nope.toml", "--scheduler", ""),
    # ---- third pass: the estimator's own input checks, seeds, sklearn parameters, flags, registry names ----
    Case(
        "learners.TorchClassifier.fit",
        "X with a NaN",
        ValueError,
        "X contains NaN or infinite values",
        _torch_fit_on(_with_nan(_sample()[0]), _sample()[1]),
        argument="X",
    ),
    Case(
        "learners.TorchClassifier.fit",
        "float labels y such as 0.5 (a regression target)",
        ValueError,
        "Unknown label type: continuous",
        _torch_fit_on(_sample()[0], _sample()[1] + 0.5),
        argument="y",
    ),
    Case(
        "learners.TorchClassifier.fit",
        "a 1-D X",
        ValueError,
        "X must be a 2-D array of shape (n_samples, n_features), got shape (40,)",
        _torch_fit_on(_sample()[0][:, 0], _sample()[1]),
        argument="X",
    ),
    Case(
        "learners.TorchClassifier.fit",
        "an empty X (0 rows)",
        ValueError,
        "X must hold at least 1 sample",
        _torch_fit_on(_sample()[0][:0], _sample()[1][:0]),
        argument="X",
    ),
    Case(
        "learners.TorchClassifier.fit",
        "y of 3 labels for 40 rows",
        ValueError,
        "y must hold one label per row of X (40)",
        _torch_fit_on(_sample()[0], _sample()[1][:3]),
        argument="y",
    ),
    Case(
        "learners.TorchClassifier.fit",
        "sample_weight=zeros",
        ValueError,
        "sample_weight must be non-negative and not all zero",
        _torch_fit_on(*_sample(), sample_weight=np.zeros(40)),
    ),
    Case(
        "learners.TorchClassifier.fit",
        "random_state=-1",
        ValueError,
        "random_state must be >= 0",
        _torch_fit(random_state=-1),
    ),
    Case(
        "learners.TorchClassifier.fit",
        'architecture="cnn", X with a NaN',
        ValueError,
        "X contains NaN or infinite values",
        _torch_fit_on(_with_nan(np.ones((4, 4))), np.array([0, 1, 0, 1]), architecture="cnn", pool=1),
        argument="X",
    ),
    Case(
        "learners.TorchClassifier.predict",
        "X of 4 features for a model fitted on 3",
        ValueError,
        "X has 4 features, but TorchClassifier is expecting 3 features as input",
        _torch_after_fit("predict", np.zeros((2, 4))),
        argument="X",
    ),
    Case(
        "learners.TorchClassifier.predict",
        "a 1-D X",
        ValueError,
        "X must be a 2-D array",
        _torch_after_fit("predict", np.zeros(3)),
        argument="X",
    ),
    Case(
        "learners.TorchClassifier.predict_proba",
        "X with a NaN",
        ValueError,
        "X contains NaN or infinite values",
        _torch_after_fit("predict_proba", _with_nan(np.zeros((2, 3)))),
        argument="X",
    ),
    Case(
        "learners.TorchClassifier.predict_proba",
        "an empty X (0 rows)",
        ValueError,
        "X must hold at least 1 sample",
        _torch_after_fit("predict_proba", np.zeros((0, 3))),
        argument="X",
    ),
    Case(
        "learners.TorchClassifier.score",
        "float labels y such as 0.5",
        ValueError,
        "Unknown label type: continuous",
        _torch_after_fit("score", _sample()[0], _sample()[1] + 0.5),
        argument="y",
    ),
    Case(
        "learners.TorchClassifier.score",
        "y of 3 labels for 40 rows",
        ValueError,
        "y must hold one label per row of X (40)",
        _torch_after_fit("score", _sample()[0], _sample()[1][:3]),
        argument="y",
    ),
    Case(
        "learners.make_learner",
        "random_state=-1",
        ValueError,
        "random_state must be >= 0",
        _api("learners.make_learner", "logreg", random_state=-1),
    ),
    Case(
        "learners.make_learner",
        '"logreg", C=-1',
        ValueError,
        "C must lie in (0.0, inf)",
        _api("learners.make_learner", "logreg", C=-1),
    ),
    Case(
        "learners.make_learner",
        '"logreg", C=nan',
        ValueError,
        "C must be a finite number",
        _api("learners.make_learner", "logreg", C=NAN),
    ),
    Case(
        "learners.make_learner",
        '"logreg", max_iter=0',
        ValueError,
        "max_iter must be >= 1",
        _api("learners.make_learner", "logreg", max_iter=0),
    ),
    Case(
        "learners.make_learner",
        '"SGDClassifier", alpha=-1',
        ValueError,
        "The 'alpha' parameter of SGDClassifier must be a float in the range [0.0, inf)",
        _api("learners.make_learner", "SGDClassifier", alpha=-1.0),
    ),
    Case(
        "learners.fit_per_source",
        "learner=3",
        TypeError,
        "learner must be a scikit-learn estimator instance",
        _api("learners.fit_per_source", 3, DATA),
    ),
    Case(
        "learners.select_lambda",
        'progress="yes"',
        TypeError,
        "progress must be true or false",
        _api("learners.select_lambda", DATA, _disc()[0], 0, _api("learners.logreg")(Path()), progress="yes"),
    ),
    Case(
        "discrepancy.linear_pairwise_matrix",
        'progress="yes"',
        TypeError,
        "progress must be true or false",
        _api(
            "discrepancy.linear_pairwise_matrix",
            *_sample(),
            np.repeat(np.arange(4), 10),
            n_sources=4,
            n_classes=2,
            progress="yes",
        ),
    ),
    Case(
        "discrepancy.linear_pairwise_matrix",
        "rng=-1",
        ValueError,
        "rng must be >= 0",
        _api(
            "discrepancy.linear_pairwise_matrix",
            *_sample(),
            np.repeat(np.arange(4), 10),
            n_sources=4,
            n_classes=2,
            rng=-1,
        ),
    ),
    Case(
        "federated.run_federated",
        'progress="yes"',
        TypeError,
        "progress must be true or false",
        _api("federated.run_federated", DATA, progress="yes"),
    ),
    Case(
        "data.register_split",
        'name=""',
        ValueError,
        "split name must be a non-empty string",
        _api("data.register_split", ""),
    ),
    Case(
        "corruption.register_update_attack",
        "name=3",
        TypeError,
        "update attack name must be a non-empty string",
        _api("corruption.register_update_attack", 3),
    ),
    Case(
        "filtering.FILTERING_RULES.register",
        'name=""',
        ValueError,
        "filtering rule name must be a non-empty string",
        _api("filtering.FILTERING_RULES.register", ""),
    ),
    Case(
        "compress.layer_pruner",
        'name=" "',
        ValueError,
        "pruning method name must be a non-empty string",
        _api("compress.layer_pruner", " "),
    ),
]
