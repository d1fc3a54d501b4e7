"""arc.files: every file a command writes appears whole or not at all."""

from __future__ import annotations

import ast
import errno
import os
from pathlib import Path

import pytest

from arc.files import WriteError, atomic_open, write_bytes, write_text, write_with


def test_write_replaces_the_file_whole_and_leaves_no_temporary(tmp_path):
    path = tmp_path / "sub" / "a.json"
    write_text(path, "old\n")
    write_text(path, "new\n")
    assert path.read_text() == "new\n"
    assert sorted(os.listdir(path.parent)) == ["a.json"]
    assert write_bytes(tmp_path / "b.bin", b"\x00\x01").read_bytes() == b"\x00\x01"
    assert write_with(tmp_path / "c.bin", lambda f: f.write(b"xyz")).read_bytes() == b"xyz"


def test_an_error_inside_the_block_keeps_the_previous_file(tmp_path):
    path = tmp_path / "a.txt"
    write_text(path, "kept")
    with pytest.raises(KeyError), atomic_open(path) as f:
        f.write("half")
        raise KeyError("boom")
    assert path.read_text() == "kept"
    assert os.listdir(tmp_path) == ["a.txt"]


def test_a_full_disk_is_one_error_naming_the_file_and_the_free_space(tmp_path, monkeypatch):
    path = tmp_path / "metrics.jsonl"
    write_text(path, "kept")

    def no_space(fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fsync", no_space)
    with pytest.raises(WriteError) as e:
        write_text(path, "x" * 1000)
    message = str(e.value)
    assert str(path) in message and "No space left on device" in message and "free space there:" in message
    assert "\n" not in message
    assert path.read_text() == "kept"
    assert os.listdir(tmp_path) == ["metrics.jsonl"]


def test_the_written_file_has_the_usual_permissions(tmp_path):
    mask = os.umask(0o022)
    os.umask(mask)
    assert (os.stat(write_text(tmp_path / "a", "x")).st_mode & 0o777) == 0o666 & ~mask


def test_only_whole_file_modes(tmp_path):
    with pytest.raises(ValueError, match="mode"), atomic_open(tmp_path / "a", "a"):
        pass


def test_a_failed_write_that_a_library_reports_in_its_own_words_is_a_write_error(tmp_path):
    def torch_like(f, errno_=errno.ENOSPC):      # as torch.save: the file's OSError turned into a RuntimeError
        try:
            raise OSError(errno_, os.strerror(errno_))
        except OSError:
            raise RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos 704 vs 598") from None

    with pytest.raises(WriteError, match=r"cannot write .*a\.pt: File too large \(free space there: "):
        write_with(tmp_path / "new" / "a.pt", lambda f: torch_like(f, errno.EFBIG))
    assert os.listdir(tmp_path) == []          # nor the folder made for it
    with pytest.raises(RuntimeError, match="enforce fail"):    # an error that is not a failed write stays itself
        write_with(tmp_path / "a.pt", lambda f: torch_like(f, errno.ENOENT))


# -- every writer of the package goes through arc.files ----------------------------------------------------------

ROOT = Path(__file__).resolve().parents[1]
SAVERS = ("np.save", "np.savez", "torch.save", "torch.jit.save", "onnx.save")      # and any .savefig, .tofile
WRITES_ELSEWHERE = {   # the files that write otherwise, and why that is safe
    "arc/files.py": "the helper itself",
    "arc/data/fetch.py": "a download's .part, appended to by design, moved into place once complete and checked",
    "arc/data/unpack.py": "a staging folder, removed whole on any error and moved into place whole",
    "arc/data/synth.py": "a staging folder, renamed into place whole",
    "arc/data/home.py": "a probe that the data home is writable, removed at once",
    "arc/training/outdir.py": "the .lock file",
    "arc/bench/memory.py": "/proc/self/clear_refs",
    "arc/bench/accuracy.py": "a run's log.txt, the stdout of its process, appended to as it trains (resumed: goes on)",
}


def writing(mode) -> bool:
    """Whether an `open` mode (an expression, or None when not given) may write: a mode it cannot read counts."""
    if mode is None:
        return False
    texts = [n.value for n in ast.walk(mode) if isinstance(n, ast.Constant) and isinstance(n.value, str)]
    return not texts or any(set(t) & set("wax+") for t in texts)


def direct_writes(path: Path) -> list[str]:
    """`line: call` of every call in `path` that writes a file by itself: `Path.write_text/write_bytes`, `open` or
    `os.fdopen` in a writing mode, `os.open` with a writing flag, `mkstemp`, a save (`savefig`, `np.save`,
    `torch.save`, …) given a path rather than the file object `f` that `write_with` hands it."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if not isinstance(node, ast.Call):
            continue
        func, text = node.func, ast.unparse(node)
        name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
        mode = node.args[1] if len(node.args) > 1 else next((k.value for k in node.keywords if k.arg == "mode"), None)
        opens = (isinstance(func, ast.Name) and name == "open") or text.startswith(("os.fdopen(", "io.open("))
        saves = (isinstance(func, ast.Attribute) and name in ("savefig", "tofile")) or text.startswith(SAVERS)
        if ((isinstance(func, ast.Attribute) and name in ("write_text", "write_bytes")) or name == "mkstemp"
                or (opens and writing(mode))
                or (text.startswith("os.open(") and any(f in text for f in ("O_WRONLY", "O_RDWR", "O_CREAT")))
                or (saves and not any(isinstance(a, ast.Name) and a.id == "f" for a in node.args))):
            found.append(f"{node.lineno}: {text[:80]}")
    return found


def writers(root: Path = ROOT) -> dict[str, list[str]]:
    return {path.relative_to(root).as_posix(): calls for folder in ("arc", "cli", "reference")
            for path in sorted((root / folder).rglob("*.py")) if (calls := direct_writes(path))}


def test_every_file_the_package_writes_goes_through_arc_files():
    found = writers()
    assert {k: v for k, v in found.items() if k not in WRITES_ELSEWHERE} == {}
    assert set(found) == set(WRITES_ELSEWHERE)         # an entry that no longer writes goes from the list too


def test_the_rule_sees_a_direct_write(tmp_path):
    (tmp_path / "arc").mkdir()
    (tmp_path / "arc" / "m.py").write_text(
        "import os, torch\nfrom arc.files import write_text, write_with\n"
        "def ok(p, fig, x):\n    write_with(p, lambda f: fig.savefig(f))\n"
        "    write_with(p, lambda f: torch.save(x, f))\n    write_text(p, 'x')\n    open(p).read()\n"
        "    os.open(p, os.O_RDONLY)\n"
        "def bad(p, fig, x):\n    p.write_text('x')\n    fig.savefig(p)\n    torch.save(x, p)\n    open(p, 'a')\n"
        "    open(p, 'ab' if x else 'wb')\n    os.open(p, os.O_WRONLY | os.O_CREAT)\n")
    assert [c.split(":")[0] for c in writers(tmp_path)["arc/m.py"]] == ["10", "11", "12", "13", "14", "15"]
