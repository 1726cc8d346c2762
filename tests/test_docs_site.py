"""The docs site builds with warnings as errors, and its API reference shows every public name."""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
API_PAGES = [
    "data",
    "corruption",
    "discrepancy",
    "filtering",
    "aggregation",
    "federated",
    "learners",
    "optim",
    "compress",
    "bounds",
    "runner",
    "report",
]


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    pytest.importorskip("mkdocs")
    out = tmp_path_factory.mktemp("site")
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    done = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-q", "-d", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return out


@pytest.mark.parametrize("package", API_PAGES)
def test_api_reference_shows_every_name_the_package_exports(site: Path, package: str) -> None:
    module = importlib.import_module(f"multisource.{package}")
    page = (site / "api" / package / "index.html").read_text()
    missing = [name for name in module.__all__ if f'id="multisource.{package}.{name}"' not in page]
    assert not missing, f"multisource.{package} exports names the API reference lacks: {missing}"


def test_notebooks_are_rendered_into_the_site(site: Path) -> None:
    notebooks = sorted(p.stem for p in (ROOT / "notebooks").glob("*.ipynb"))
    assert notebooks
    for name in notebooks:
        assert (site / "notebooks" / name / "index.html").is_file(), name
