"""The notebooks in notebooks/ run top to bottom (small settings), show their plots and write only to their output folder."""

import subprocess

import nbformat
import pytest
from conftest import ROOT
from nbclient import NotebookClient

NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
PLOTS_AT_LEAST = {"lock_propagation.ipynb": 7, "protocol_tradeoffs.ipynb": 1, "sweep_analysis.ipynb": 1}
"""How many figures each notebook must show: every plot call of its story."""


def repository_state() -> str:
    return subprocess.run(["git", "status", "--porcelain", "--untracked-files=all"], cwd=ROOT,
                          capture_output=True, text=True, check=True).stdout


def test_the_notebooks_are_the_ones_we_test():
    assert sorted(p.name for p in NOTEBOOKS) == sorted(PLOTS_AT_LEAST)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebooks_are_stored_without_outputs(path):
    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, f"strip the outputs of {path.name}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_runs_and_shows_its_plots(path, tmp_path, monkeypatch):
    monkeypatch.setenv("CASCADESIM_NOTEBOOK_SMALL", "1")
    monkeypatch.setenv("CASCADESIM_NOTEBOOK_OUT", str(tmp_path / "out"))
    before = repository_state()
    nb = nbformat.read(path, as_version=4)
    NotebookClient(nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    images = [o for cell in nb.cells if cell.cell_type == "code" for o in cell.outputs
              if "image/png" in o.get("data", {})]
    assert len(images) >= PLOTS_AT_LEAST[path.name]
    assert any((tmp_path / "out").iterdir()), "the notebook writes its results under CASCADESIM_NOTEBOOK_OUT"
    assert repository_state() == before, "a notebook wrote into the repository"
