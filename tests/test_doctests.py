"""Every docstring example in ``multisource/`` runs and prints what it shows (doctest).

Only the modules whose source holds a ``>>>`` prompt are imported, so collecting this file imports
nothing heavy (no ``transformers``) and a module without examples costs nothing.
"""

from __future__ import annotations

import doctest
import importlib
from pathlib import Path

import numpy as np
import pytest
import torch

import multisource

PACKAGE_DIR = Path(multisource.__file__).parent


def _modules_with_examples() -> list[str]:
    names = []
    for path in sorted(PACKAGE_DIR.rglob("*.py")):
        if ">>>" in path.read_text(encoding="utf-8"):
            parts = path.relative_to(PACKAGE_DIR.parent).with_suffix("").parts
            names.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return names


@pytest.mark.parametrize("module_name", _modules_with_examples())
def test_docstring_examples_print_what_they_show(module_name: str) -> None:
    module = importlib.import_module(module_name)
    tests = doctest.DocTestFinder(exclude_empty=True).find(module, module_name)
    assert sum(len(test.examples) for test in tests) > 0, f"{module_name} has '>>>' outside any docstring"
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    report: list[str] = []
    torch.manual_seed(0)
    np.random.seed(0)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny examples: no op waits on a descheduled sibling thread (shared CI CPUs)
    try:
        for test in tests:
            runner.run(test, out=report.append)
    finally:
        torch.set_num_threads(threads)
    assert runner.failures == 0, "".join(report)
