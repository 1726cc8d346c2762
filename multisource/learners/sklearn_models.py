"""scikit-learn learners by name: the registered ``logreg`` default, any sklearn classifier class or dotted path."""

from __future__ import annotations

import importlib

from sklearn.base import BaseEstimator, is_classifier
from sklearn.linear_model import LogisticRegression
from sklearn.utils.discovery import all_estimators

from multisource.learners.registry import LEARNERS
from multisource.utils.validation import check_int, check_real

MAX_SKLEARN_SEED = 2**32 - 1
"""scikit-learn seeds a legacy ``RandomState``, which takes seeds in [0, 2**32 - 1]."""


@LEARNERS.register("logreg")
def logreg(**params: object) -> LogisticRegression:
    """L2-regularised logistic regression (KL2019's base learner); ``max_iter=1000`` so small sets converge.

    ``C`` (inverse L2 strength) must be in (0, inf], ``max_iter`` >= 1 and ``tol`` >= 0.
    """
    params.setdefault("max_iter", 1000)
    if "C" in params:
        check_real("C", params["C"], low=0.0, low_open=True, allow_inf=True)
    check_int("max_iter", params["max_iter"], minimum=1)
    if "tol" in params:
        check_real("tol", params["tol"], low=0.0)
    return LogisticRegression(**params)


def _check_sklearn_params(name: str, estimator: BaseEstimator) -> None:
    """A scikit-learn estimator's parameters against its own declared constraints, now rather than at fit.

    scikit-learn checks ``_parameter_constraints`` only in ``fit``; a bad ``alpha`` or ``n_estimators`` is
    refused here, with the parameter and its valid range named.
    """
    if not hasattr(type(estimator), "_parameter_constraints"):
        return
    try:
        estimator._validate_params()
    except (ValueError, TypeError) as err:  # scikit-learn's InvalidParameterError is both
        raise ValueError(f"learner {name!r}: {err}") from None


def _resolve_class(name: str) -> type:
    """A classifier class from a dotted path (``sklearn.svm.LinearSVC``) or an sklearn class name."""
    if "." in name:
        module_name, _, attr = name.rpartition(".")
        try:
            return getattr(importlib.import_module(module_name), attr)
        except (ImportError, AttributeError):
            raise ValueError(f"learner {name!r}: cannot import {attr!r} from module {module_name!r}") from None
    classifiers = dict(all_estimators(type_filter="classifier"))
    if name not in classifiers:
        raise ValueError(
            f"unknown learner {name!r}; use a registered name {LEARNERS.names()}, "
            "a scikit-learn classifier class name (e.g. 'RandomForestClassifier') or a dotted path"
        )
    return classifiers[name]


def make_learner(name: str, *, random_state: int | None = None, **params: object) -> BaseEstimator:
    """A fresh, unfitted classifier: a ``LEARNERS`` entry, an sklearn classifier class name or a dotted path.

    Parameters
    ----------
    name : e.g. ``"logreg"``, ``"RandomForestClassifier"``, ``"sklearn.svm.LinearSVC"``.
    random_state : an int in [0, 2**32 - 1], set on every ``random_state`` parameter of the estimator,
        nested ones included.
    **params : constructor arguments of the estimator, checked here against the estimator's declared
        constraints (scikit-learn's own ``_parameter_constraints``) rather than at ``fit``.
    """
    if not isinstance(name, str) or not name:
        raise TypeError(f"learner name must be a non-empty string, got {name!r}")
    if random_state is not None:
        random_state = check_int("random_state", random_state, minimum=0, maximum=MAX_SKLEARN_SEED)
    factory = LEARNERS.get(name) if name in LEARNERS else _resolve_class(name)
    try:
        estimator = factory(**params)
    except TypeError as err:
        raise TypeError(f"learner {name!r} does not accept the parameters {sorted(params)}: {err}") from None
    if not (hasattr(estimator, "fit") and hasattr(estimator, "predict") and is_classifier(estimator)):
        raise TypeError(f"learner {name!r} is not a scikit-learn classifier (needs fit/predict and classifier tags)")
    _check_sklearn_params(name, estimator)
    if random_state is not None:
        # meta-estimators (CompressedClassifier, pipelines) seed their inner estimators too
        seeded = [key for key in estimator.get_params() if key.split("__")[-1] == "random_state"]
        estimator.set_params(**{key: random_state for key in seeded})
    return estimator
