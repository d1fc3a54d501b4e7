"""The tutorials run top to bottom and show what their text claims."""

import re
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

TUTORIALS = Path(__file__).resolve().parents[1] / "tutorials"


def run_notebook(path: Path) -> str:
    nb = nbformat.read(path, as_version=4)
    NotebookClient(nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}).execute()
    return "\n".join(
        out.get("text", "") for cell in nb.cells if cell.cell_type == "code" for out in cell.get("outputs", [])
    )


@pytest.mark.slow
def test_one_arc_layer_tutorial_runs_and_its_numbers_hold():
    text = run_notebook(TUTORIALS / "01_one_arc_layer.ipynb")
    assert "non-negative input, max |ARC - plain| = 0.0" in text
    signed = float(re.search(r"signed input, +max \|ARC - plain\| = ([0-9.e-]+)", text).group(1))
    assert signed > 0.1
    by_hand = float(re.search(r"max \|by hand - layer\(x\)\| = ([0-9.e-]+)", text).group(1))
    assert by_hand < 1e-12
    errors = [float(e) for e in re.findall(r"rel\. error ([0-9.e+-]+)", text)]
    assert len(errors) == 7 and max(errors) < 1e-10
    total, eq8 = re.search(r"total (\d+) = Eq\. 8: (\d+)", text).groups()
    assert total == eq8
