"""The import graph of ``multisource`` follows the data flow: no package imports from a later one.

Import order (a module may import only from its own package and the packages before it)::

    utils, bounds, data, corruption, optim, compress, learners, discrepancy, filtering,
    aggregation, federated, runner, report, cli

``bounds`` is the theory: it depends on ``utils`` only and may be used by everyone. ``learners`` are
the hypothesis class used by the discrepancy, the filters' cross-validation and aggregation.
``runner`` runs experiments, ``report`` turns their results into tables and figures, and ``cli``
holds the commands. The top-level ``multisource/__init__.py`` is the package's face and may import
anything. Every import counts, at module level or inside a function.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

ORDER = (
    "utils",
    "bounds",
    "data",
    "corruption",
    "optim",
    "compress",
    "learners",
    "discrepancy",
    "filtering",
    "aggregation",
    "federated",
    "runner",
    "report",
    "cli",
)
ROOT = Path(__file__).resolve().parents[1] / "multisource"


def _package_of(module: str) -> str | None:
    """The first-level package of a ``multisource.<package>...`` module name; None for other modules."""
    parts = module.split(".")
    return parts[1] if parts[0] == "multisource" and len(parts) > 1 else None


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(path: Path) -> list[tuple[int, str]]:
    """(line, absolute module name) of every import in the file, relative imports resolved."""
    name = _module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            found.append((node.lineno, base))
    return found


def violations() -> list[str]:
    """Every import from a package later in ``ORDER``, from an unlisted package or from the top-level
    ``multisource`` (which imports everything), as ``file:line: importer -> module``."""
    found = []
    for path in sorted(ROOT.rglob("*.py")):
        importer = _package_of(_module_name(path))
        if importer is None:  # multisource/__init__.py
            continue
        for line, module in imported_modules(path):
            if module == "multisource":
                found.append(f"{path.relative_to(ROOT.parent)}:{line}: {importer} -> multisource")
                continue
            imported = _package_of(module)
            if imported is None or imported == importer:
                continue
            rank = {package: i for i, package in enumerate(ORDER)}
            if importer not in rank or imported not in rank or rank[imported] > rank[importer]:
                found.append(f"{path.relative_to(ROOT.parent)}:{line}: {importer} -> {module}")
    return found


def test_no_module_imports_from_a_later_stage_of_the_data_flow():
    assert violations() == []


def test_bounds_import_only_utils():
    imported = {_package_of(module) for path in (ROOT / "bounds").rglob("*.py") for _, module in imported_modules(path)}
    assert imported - {None} <= {"utils", "bounds"}


def test_the_check_sees_function_level_and_relative_imports(tmp_path, monkeypatch):
    fake = tmp_path / "multisource"
    (fake / "bounds").mkdir(parents=True)
    (fake / "bounds" / "__init__.py").write_text("")
    (fake / "bounds" / "lazy.py").write_text("def f():\n    from ..filtering import rules\n")
    (fake / "bounds" / "facade.py").write_text("from multisource import __version__\n")
    (fake / "utils").mkdir()
    (fake / "utils" / "ok.py").write_text("import numpy\nfrom multisource.utils import validation\n")
    monkeypatch.setattr(sys.modules[__name__], "ROOT", fake)
    assert violations() == [
        "multisource/bounds/facade.py:1: bounds -> multisource",
        "multisource/bounds/lazy.py:2: bounds -> multisource.filtering",
    ]


def test_every_package_has_a_place_in_the_order():
    packages = {path.parent.name for path in ROOT.glob("*/*.py")}
    assert packages <= set(ORDER)
