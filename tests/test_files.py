"""arc.files: every file a command writes appears whole or not at all."""

from __future__ import annotations

import errno
import os

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
