"""The output folder: a run is never replaced by accident, never written by two processes, never left with half a
save, and a folder that cannot be written is refused before any work."""

import os
import subprocess
import sys

import pytest

from arc.training.outdir import OutputDir, OutputError, check_writable


def old_run(folder):
    folder.mkdir(parents=True, exist_ok=True)
    for name in ("last.pt", "best.pt", "metrics.jsonl", "config.json", "best-val-confusion.npy"):
        (folder / name).write_text("old")
    (folder / "tb").mkdir()
    (folder / "notes.txt").write_text("the user's own file")
    return folder


def test_a_folder_holding_a_run_is_refused_unless_resumed_or_overwritten(tmp_path):
    out = old_run(tmp_path / "run")
    with pytest.raises(OutputError, match=r"holds a run: --resume .*last.pt continues it, --overwrite replaces it"):
        OutputDir(out, resume=False, overwrite=False).open()
    OutputDir(out, resume=True, overwrite=False).open()
    assert (out / "last.pt").read_text() == "old"


def test_overwrite_removes_the_earlier_runs_files_and_nothing_else(tmp_path):
    out = old_run(tmp_path / "run")
    notes = OutputDir(out, resume=False, overwrite=True).open()
    assert "removed the earlier run's files" in notes[0]
    assert sorted(p.name for p in out.iterdir()) == [".lock", "notes.txt"]


def test_a_second_writer_is_refused_naming_the_holders_pid(tmp_path):
    out = tmp_path / "run"
    holder = subprocess.Popen([sys.executable, "-c", (
        "import sys, time; from arc.training.outdir import OutputDir; "
        f"OutputDir({str(out)!r}, resume=False, overwrite=False).open(); print('held', flush=True); time.sleep(60)")],
        stdout=subprocess.PIPE, text=True, env=dict(os.environ, PYTHONPATH=os.getcwd()))
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(OutputError, match=rf"in use by another arc train \(pid {holder.pid}\)"):
            OutputDir(out, resume=False, overwrite=False).open()
    finally:
        holder.kill()
        holder.wait()
    OutputDir(out, resume=False, overwrite=False).open()      # free again once the holder is gone


def test_unfinished_saves_of_a_killed_run_are_removed_at_start(tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    (out / "last.pt.tmp").write_bytes(b"x" * 1000)
    notes = OutputDir(out, resume=True, overwrite=False).open()
    assert not (out / "last.pt.tmp").exists() and "last.pt.tmp" in notes[0]


def test_a_folder_that_cannot_be_written_is_refused_naming_it(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(OutputError, match=r"--out .*file/run: cannot write there"):
        check_writable(blocker / "run")
