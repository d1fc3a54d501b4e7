"""The tutorials run top to bottom, against this checkout, and show what their text claims."""

import os
import re
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]
TUTORIALS = ROOT / "tutorials"


def run_notebook(path: Path, monkeypatch) -> tuple[str, int]:
    """Execute the notebook (its kernel imports `arc` from this checkout); return its printed text and the number
    of images it shows."""
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep))
    nb = nbformat.read(path, as_version=4)
    NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}).execute()
    outputs = [out for cell in nb.cells if cell.cell_type == "code" for out in cell.get("outputs", [])]
    return "\n".join(out.get("text", "") for out in outputs), sum("image/png" in out.get("data", {}) for out in outputs)


@pytest.mark.slow
def test_one_arc_layer_tutorial_runs_and_its_numbers_hold(monkeypatch):
    text, images = run_notebook(TUTORIALS / "01_one_arc_layer.ipynb", monkeypatch)
    assert images == 3      # the clip, the states, the two terms of the attention
    assert "non-negative input, max |ARC - plain| = 0.0" in text
    signed = float(re.search(r"signed input, +max \|ARC - plain\| = ([0-9.e-]+)", text).group(1))
    assert signed > 0.1
    by_hand = float(re.search(r"max \|by hand - layer\(x\)\| = ([0-9.e-]+)", text).group(1))
    assert by_hand < 1e-12
    # the states change from step to step, more with every step (the text's claim)
    changes = [float(v) for v in re.findall(r"Z_\d: max \|Z_\d - Z_1\| = ([0-9.]+)", text)]
    assert len(changes) == 3 and 0 < changes[0] < changes[1] < changes[2]
    # A_i is exactly the PoolT term plus the PoolS term the figure draws apart
    splits = [float(v) for v in re.findall(r"A_\d: max \|trace - \(PoolT term \+ PoolS term\)\| = ([0-9.e+-]+)", text)]
    assert len(splits) == 3 and max(splits) < 1e-12
    # the PoolS term hardly changes from frame to frame; the PoolT term is strong on the square's band of rows
    for frames, largest in re.findall(r"PoolS term of A_\d: largest change between frames ([0-9.]+), largest value "
                                      r"([0-9.]+)", text):
        assert float(frames) < 0.2 * float(largest)
    for band, elsewhere in re.findall(r"PoolT term of A_\d on column \d+: mean \|.\| on rows 8-15 ([0-9.]+), "
                                      r"elsewhere ([0-9.]+)", text):
        assert float(band) > 3 * float(elsewhere)
    errors = [float(e) for e in re.findall(r"rel\. error ([0-9.e+-]+)", text)]
    assert len(errors) == 7 and max(errors) < 1e-10
    total, eq8 = re.search(r"total (\d+) = Eq\. 8: (\d+)", text).groups()
    assert total == eq8


@pytest.mark.slow
def test_what_arc_learns_tutorial_runs_and_its_claims_hold(monkeypatch):
    text, images = run_notebook(TUTORIALS / "02_what_arc_learns.ipynb", monkeypatch)
    assert images == 6      # curves, confusion groups, states, their change, attention, Grad-CAM
    # ARC-TSM loaded from TSM with zero ARU maps computes the TSM, up to float rounding
    gap = float(re.search(r"max \|logits difference\| = ([0-9.e+-]+)", text).group(1))
    assert gap < 1e-4
    assert len(re.findall(r"top-1 +\d+ % of 50 validation videos", text)) == 2
    # one epoch of ARC changed the states, a little next to the states themselves
    changes = re.findall(r"Z_\d: mean \|Z_\d - Z_1\| = ([0-9.]+) +\(mean Z_1 = ([0-9.]+)\)", text)
    assert len(changes) == 3 and all(0 < float(d) < 0.25 * float(z) for d, z in changes)
    attention = re.search(r"mean \|A_i\| over the channels, steps 2, 3, 4: \[([0-9. e+-]+)\]", text).group(1)
    assert all(float(a) > 0 for a in attention.split())
