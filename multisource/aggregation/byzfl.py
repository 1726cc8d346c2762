"""Import ByzFL's aggregators (the oracle of our tests and benchmark) without its training code.

``import byzfl`` runs its package ``__init__``, which imports its benchmark and torchvision; the
aggregators need only numpy, scipy and torch. This loads ``byzfl.aggregators`` alone.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import types


def import_byzfl_aggregators() -> tuple[types.ModuleType, types.ModuleType]:
    """``(byzfl.aggregators.aggregators, byzfl.aggregators.preaggregators)``; ImportError if ByzFL is absent."""
    if "byzfl" not in sys.modules:
        spec = importlib.util.find_spec("byzfl")
        if spec is None or spec.submodule_search_locations is None:
            raise ImportError("byzfl is not installed: pip install --no-deps byzfl==0.0.11")
        package = types.ModuleType("byzfl")
        package.__path__ = list(spec.submodule_search_locations)
        sys.modules["byzfl"] = package
    return (
        importlib.import_module("byzfl.aggregators.aggregators"),
        importlib.import_module("byzfl.aggregators.preaggregators"),
    )
