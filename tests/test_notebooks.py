"""The tutorial notebooks run end to end in fast mode (FAST=1 shrinks their budgets)."""

from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")

NOTEBOOKS = sorted((Path(__file__).resolve().parent.parent / "notebooks").glob("*.ipynb"))


def _outputs(nb):
    return [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]


def test_notebooks_are_committed_with_outputs():
    assert len(NOTEBOOKS) >= 3
    for path in NOTEBOOKS:
        nb = nbformat.read(path, as_version=4)
        assert any("image/png" in o.get("data", {}) for o in _outputs(nb)), f"{path.name}: no plots"
        assert not [o for o in _outputs(nb) if o.output_type == "error"], f"{path.name}: has an error output"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs_in_fast_mode(path, monkeypatch):
    monkeypatch.setenv("FAST", "1")
    monkeypatch.delenv("MPLBACKEND", raising=False)  # the kernel's inline backend: plots become outputs
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    nb = nbformat.read(path, as_version=4)
    client = nbclient.NotebookClient(
        nb, timeout=180, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}
    )
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs = []
    client.execute()  # raises CellExecutionError on the first failing cell
    assert any("image/png" in o.get("data", {}) for o in _outputs(nb)), f"{path.name}: drew no plot"
