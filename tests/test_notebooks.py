"""The tutorial notebooks run end to end in fast mode (FAST=1 shrinks their budgets)."""

import re
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")

NOTEBOOKS = sorted((Path(__file__).resolve().parent.parent / "notebooks").glob("*.ipynb"))
# A code cell that draws: pyplot calls, an EvalResult's plot(), the shaping curves.
PLOTS = re.compile(r"\bplt\.|\.plot\(|\bplot_learning_curves\(")


def _outputs(nb):
    return [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]


def _has_image(cell):
    return any("image/png" in o.get("data", {}) for o in cell.outputs)


def _check_title_and_plots(path, nb):
    """The first cell is a markdown title (`# ...`), and every cell that plots has a PNG output."""
    first = nb.cells[0]
    assert first.cell_type == "markdown" and first.source.startswith("# "), f"{path.name}: no title cell"
    plotting = [i for i, c in enumerate(nb.cells) if c.cell_type == "code" and PLOTS.search(c.source)]
    assert plotting, f"{path.name}: no plotting cell"
    missing = [i for i in plotting if not _has_image(nb.cells[i])]
    assert not missing, f"{path.name}: cells {missing} plot but have no image/png output"


def test_notebooks_are_committed_with_outputs():
    assert len(NOTEBOOKS) >= 4
    assert NOTEBOOKS[0].name == "00_getting_started.ipynb"
    for path in NOTEBOOKS:
        nb = nbformat.read(path, as_version=4)
        _check_title_and_plots(path, nb)
        assert not [o for o in _outputs(nb) if o.output_type == "error"], f"{path.name}: has an error output"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs_in_fast_mode(path, monkeypatch):
    monkeypatch.setenv("FAST", "1")
    # As `make test` sets it: each notebook's `%matplotlib inline` must still make its plots outputs.
    monkeypatch.setenv("MPLBACKEND", "Agg")
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    nb = nbformat.read(path, as_version=4)
    client = nbclient.NotebookClient(
        nb, timeout=180, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}
    )
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs = []
    client.execute()  # raises CellExecutionError on the first failing cell
    _check_title_and_plots(path, nb)
