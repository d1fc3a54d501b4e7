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
        OutputDir(out, resume=None, overwrite=False).open()
    OutputDir(out, resume=out / "last.pt", overwrite=False).open()
    assert (out / "last.pt").read_text() == "old"


def test_overwrite_removes_the_earlier_runs_files_and_nothing_else(tmp_path):
    out = old_run(tmp_path / "run")
    notes = OutputDir(out, resume=None, overwrite=True).open()
    assert "removed the earlier run's files" in notes[0]
    assert sorted(p.name for p in out.iterdir()) == [".lock", "notes.txt"]


def test_a_second_writer_is_refused_naming_the_holders_pid(tmp_path):
    out = tmp_path / "run"
    holder = subprocess.Popen([sys.executable, "-c", (
        "import sys, time; from arc.training.outdir import OutputDir; "
        f"OutputDir({str(out)!r}, resume=None, overwrite=False).open(); print('held', flush=True); time.sleep(60)")],
        stdout=subprocess.PIPE, text=True, env=dict(os.environ, PYTHONPATH=os.getcwd()))
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(OutputError, match=rf"in use by another arc train \(pid {holder.pid}\)"):
            OutputDir(out, resume=None, overwrite=False).open()
    finally:
        holder.kill()
        holder.wait()
    OutputDir(out, resume=None, overwrite=False).open()      # free again once the holder is gone


def test_unfinished_saves_of_a_killed_run_are_removed_at_start_and_nothing_else(tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    killed = subprocess.run([sys.executable, "-c", (   # killed inside arc.files' write of last.pt
        "import os, signal; from arc.files import atomic_open\n"
        f"with atomic_open({str(out / 'last.pt')!r}, 'wb') as f:\n"
        "    f.write(b'x' * 1000); f.flush(); os.kill(os.getpid(), signal.SIGKILL)")],
        env=dict(os.environ, PYTHONPATH=os.getcwd()))
    assert killed.returncode == -9
    (left,) = out.iterdir()
    (out / "metrics.jsonl.tmp").write_text("an earlier version's temporary")
    for mine in ("notes.tmp", ".notes.txt.tmp"):
        (out / mine).write_text("the user's own file")
    notes = OutputDir(out, resume=out / "last.pt", overwrite=False).open()
    assert sorted(p.name for p in out.iterdir()) == [".lock", ".notes.txt.tmp", "notes.tmp"]
    assert notes == [f"removed 2 unfinished save(s) left by a killed run: {left.name}, metrics.jsonl.tmp"]


def test_resuming_into_a_folder_that_holds_another_run_is_refused_unless_overwritten(tmp_path):
    a, b = old_run(tmp_path / "a"), old_run(tmp_path / "b")
    with pytest.raises(OutputError) as e:
        OutputDir(b, resume=a / "last.pt", overwrite=False).open()
    assert str(e.value) == (f"--out {b} holds another run (last.pt, best.pt, metrics.jsonl) than the one --resume "
                            f"{a / 'last.pt'} continues: --overwrite replaces it, or choose another --out (without "
                            f"--out the run continues in {a})")
    assert (b / "last.pt").read_text() == "old"
    assert OutputDir(b, resume=b / ".." / "b" / "last.pt", overwrite=False).open() == []   # its own run, however spelt
    b = old_run(tmp_path / "c")
    notes = OutputDir(b, resume=a / "last.pt", overwrite=True).open()
    assert "removed the earlier run's files" in notes[0] and (a / "last.pt").read_text() == "old"
    assert sorted(p.name for p in b.iterdir()) == [".lock", "notes.txt"]


def test_a_set_up_that_fails_leaves_no_folder_it_created(tmp_path):
    out = tmp_path / "new" / "runs" / "x"
    outdir = OutputDir(out, resume=None, overwrite=False)
    outdir.open()
    assert sorted(p.name for p in out.iterdir()) == [".lock"]
    outdir.close()                        # nothing was written: the folders it made go
    assert list(tmp_path.iterdir()) == []
    (tmp_path / "kept").mkdir()           # a folder that was there stays, and one the run wrote into stays
    for folder in (tmp_path / "kept", tmp_path / "written"):
        outdir = OutputDir(folder, resume=None, overwrite=False)
        outdir.open()
        if folder.name == "written":
            (folder / "config.json").write_text("{}")
        outdir.close()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["kept", "written"]
    assert sorted(p.name for p in (tmp_path / "kept").iterdir()) == [".lock"]


def test_a_folder_that_cannot_be_written_is_refused_naming_it(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(OutputError, match=r"--out .*file/run: cannot write there"):
        check_writable(blocker / "run")
