"""Every notebook in notebooks/ executes headless from top to bottom (nbclient + the venv's kernel)."""

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs_without_error_and_shows_its_figures(path, tmp_path):
    nb = nbformat.read(path, as_version=4)
    NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    outputs = [out for cell in nb.cells if cell.cell_type == "code" for out in cell.get("outputs", [])]
    assert not [out for out in outputs if out.get("output_type") == "error"]
    if "plt.show()" in "".join(cell.source for cell in nb.cells):
        assert any("image/png" in out.get("data", {}) for out in outputs)


def test_notebooks_folder_is_not_empty():
    assert NOTEBOOKS, "notebooks/ holds no .ipynb walkthrough"
