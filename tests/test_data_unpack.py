"""`arc.data.unpack` against hostile and broken archives, all built here: the CVE-2025-4517 escape (a chain of nested
directory links longer than PATH_MAX, which gets past tarfile's "data" filter on the Python this venv runs), links,
devices, FIFOs, names outside the target, a decompression bomb, a pax header made to hang tarfile's parser, a full
disk — and ordinary archives in every tar dialect, which must unpack as tarfile would."""

from __future__ import annotations

import gzip
import io
import os
import resource
import tarfile
import time
from pathlib import Path

import pytest
from hostile import cve_2025_4517, filter_is_vulnerable, member, tar_gz

from arc.data.errors import DataError
from arc.data.progress import Stopped, Transfers
from arc.data.unpack import Caps, CorruptArchive, UnsafeArchive, unpack


def write(tmp_path: Path, data: bytes, name: str = "a.tar.gz") -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def test_cve_2025_4517_archive_is_refused_although_it_gets_past_tarfiles_filter_here(tmp_path):
    (tmp_path / "outside").mkdir()
    archive = write(tmp_path, tar_gz(cve_2025_4517("outside")))
    if filter_is_vulnerable():        # the attack is real on this Python: the library filter lets the file out
        with tarfile.open(archive) as tar:
            tar.extractall(tmp_path / "by-tarfile", filter="data")
        assert (tmp_path / "outside" / "flag").read_bytes() == b"written outside the target"
        (tmp_path / "outside" / "flag").unlink()
    with pytest.raises(UnsafeArchive) as e:
        unpack([archive], tmp_path / "stage")
    assert str(e.value) == "a.tar.gz: unsafe member a: a symbolic link (to " + "d" * 247 + "); nothing was unpacked"
    assert list((tmp_path / "outside").iterdir()) == [] and not (tmp_path / "stage").exists()


@pytest.mark.parametrize("members, named, reason", [
    ([member("rgb", tarfile.DIRTYPE), member("rgb/escape", tarfile.SYMTYPE, link="/")],
     "rgb/escape", "a symbolic link (to /)"),
    ([member("rgb/a.mp4", data=b"x"), member("rgb/b.mp4", tarfile.SYMTYPE, link="a.mp4")],
     "rgb/b.mp4", "a symbolic link (to a.mp4)"),           # even a link that stays inside
    ([member("rgb/a.mp4", data=b"x"), member("rgb/b.mp4", tarfile.LNKTYPE, link="rgb/a.mp4")],
     "rgb/b.mp4", "a hard link (to rgb/a.mp4)"),
    ([member("rgb/null", tarfile.CHRTYPE)], "rgb/null", "a character device"),
    ([member("rgb/disk", tarfile.BLKTYPE)], "rgb/disk", "a block device"),
    ([member("rgb/pipe.mp4", tarfile.FIFOTYPE)], "rgb/pipe.mp4", "a FIFO"),
    ([member("/etc/evil", data=b"x")], "/etc/evil", "an absolute path"),
    ([member("rgb/../../evil", data=b"x")], "rgb/../../evil", "'..' in its path"),
    ([member("rgb/a.mp4", data=b"1"), member("rgb/a.mp4", data=b"2")], "rgb/a.mp4", "it repeats an earlier member"),
    ([member("rgb", data=b"x"), member("rgb/a.mp4", data=b"y")], "rgb/a.mp4", "a file where its folder should be"),
    ([member("rgb/a.mp4", data=b"x"), member("rgb/a.mp4", tarfile.DIRTYPE)], "rgb/a.mp4",
     "a folder where a file came before"),
    ([member("x" * 300, data=b"x")], "x" * 80 + "…", "a name longer than 1024 bytes or with a part longer than 255"),
])
def test_every_member_that_is_not_a_plain_file_or_folder_inside_the_target_is_refused_by_name(
        tmp_path, members, named, reason):
    archive = write(tmp_path, tar_gz(members))
    with pytest.raises(UnsafeArchive) as e:
        unpack([archive], tmp_path / "stage")
    assert str(e.value) == f"a.tar.gz: unsafe member {named}: {reason}; nothing was unpacked"
    assert not (tmp_path / "stage").exists() and sorted(p.name for p in tmp_path.iterdir()) == ["a.tar.gz"]


def test_a_pax_sparse_file_is_refused_not_unpacked_as_its_map(tmp_path):
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        info = tarfile.TarInfo("rgb/a.mp4")
        info.size, info.pax_headers = 4, {"GNU.sparse.major": "1", "GNU.sparse.minor": "0",
                                          "GNU.sparse.name": "rgb/a.mp4", "GNU.sparse.realsize": "10000000"}
        tar.addfile(info, io.BytesIO(b"0\n\n\n"))
    archive = write(tmp_path, gzip.compress(raw.getvalue()))
    with pytest.raises(UnsafeArchive, match=r"unsafe member rgb/a\.mp4: a sparse file"):
        unpack([archive], tmp_path / "stage")


def test_a_decompression_bomb_stops_at_the_cap_before_its_bytes_are_written(tmp_path):
    zeros = 100 * 2**20                                    # 100 MiB of zeros: a 100 kB archive
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as tar:
        info = tarfile.TarInfo("rgb/a.mp4")
        info.size = zeros
        tar.addfile(info, io.BytesIO(bytes(zeros)))
    archive = write(tmp_path, gzip.compress(raw.getvalue(), compresslevel=1))
    del raw
    assert archive.stat().st_size < zeros // 100
    with pytest.raises(UnsafeArchive, match=r"unsafe member rgb/a\.mp4: more than [\d,]+ bytes unpacked \(the cap"):
        unpack([archive], tmp_path / "stage")              # derived: 3 × the archive + 64 MiB
    assert not (tmp_path / "stage").exists()


def test_member_and_byte_caps_count_what_the_archive_holds(tmp_path):
    archive = write(tmp_path, tar_gz([member(f"rgb/{i}.mp4", data=b"0123456789") for i in range(5)]))
    unpack([archive], tmp_path / "ok", caps=Caps(members=5, bytes=50))           # exactly at both caps
    assert sorted(p.name for p in (tmp_path / "ok" / "rgb").iterdir()) == [f"{i}.mp4" for i in range(5)]
    with pytest.raises(UnsafeArchive, match=r"unsafe member rgb/4\.mp4: more than 4 members"):
        unpack([archive], tmp_path / "a", caps=Caps(members=4))
    with pytest.raises(UnsafeArchive, match=r"unsafe member rgb/4\.mp4: more than 49 bytes"):
        unpack([archive], tmp_path / "b", caps=Caps(bytes=49))
    assert Caps.derived(10**9, files=100, size=10**12) == Caps(10_200, 3 * 10**9 + 64 * 2**20)
    assert Caps.derived(10**9, size=10**8) == Caps(10**9 // 256 + 10_000, 3 * 10**8 + 64 * 2**20)


def test_a_pax_header_made_to_hang_tarfiles_parser_is_refused_at_once(tmp_path):
    payload = b"1" * 2**20          # CVE-2024-6232: tarfile's regex takes ~1000 s on this on Python < 3.11.10
    header = tarfile.TarInfo("././@PaxHeader")
    header.type, header.size = tarfile.XHDTYPE, len(payload)
    raw = header.tobuf(format=tarfile.USTAR_FORMAT) + payload + bytes(-len(payload) % 512)
    raw += tarfile.TarInfo("a.mp4").tobuf(format=tarfile.USTAR_FORMAT) + bytes(1024)
    archive = write(tmp_path, gzip.compress(raw))
    start = time.perf_counter()
    with pytest.raises(UnsafeArchive, match=r"an extended header of 1048576 bytes \(at most 65536\)"):
        unpack([archive], tmp_path / "stage")
    assert time.perf_counter() - start < 2


@pytest.mark.parametrize("fmt", [tarfile.PAX_FORMAT, tarfile.GNU_FORMAT, tarfile.USTAR_FORMAT],
                         ids=["pax", "gnu", "ustar"])
def test_ordinary_archives_unpack_as_tarfile_unpacks_them_in_every_dialect(tmp_path, fmt):
    long_dir = "20bn-something-something-v1/" + "n" * 90          # ustar: name + prefix; pax, GNU: long names
    names = {f"{long_dir}/{i:05d}.jpg": bytes((i * k) % 256 for k in range(700)) for i in range(1, 4)}
    names["rgb/é-ünïcode.mp4"] = b"video"
    names["rgb/big.mp4"] = os.urandom(3000)
    members = [member("20bn-something-something-v1", tarfile.DIRTYPE), member("./", tarfile.DIRTYPE)]
    members += [member(n, data=d) for n, d in names.items()]
    if fmt == tarfile.USTAR_FORMAT:
        del names["rgb/é-ünïcode.mp4"]
        members = [m for m in members if "ü" not in m[0]]
    archive = write(tmp_path, tar_gz(members, fmt))
    unpack([archive], tmp_path / "ours")
    with tarfile.open(archive) as tar:
        tar.extractall(tmp_path / "theirs", filter="data")
    ours = {p.relative_to(tmp_path / "ours").as_posix(): p.read_bytes()
            for p in (tmp_path / "ours").rglob("*") if p.is_file()}
    theirs = {p.relative_to(tmp_path / "theirs").as_posix(): p.read_bytes()
              for p in (tmp_path / "theirs").rglob("*") if p.is_file()}
    assert ours == theirs == names
    assert {oct(p.stat().st_mode & 0o777) for p in (tmp_path / "ours").rglob("*") if p.is_file()} == {"0o644"}


def test_a_damaged_header_is_corrupt_not_unsafe(tmp_path):
    raw = bytearray(tarfile.TarInfo("a.mp4").tobuf())
    raw[0] ^= 1                                         # the name changes, the checksum does not
    archive = write(tmp_path, gzip.compress(bytes(raw) + bytes(1024)))
    with pytest.raises(CorruptArchive, match=r"a\.tar\.gz: the archive is damaged \(a tar header's checksum"):
        unpack([archive], tmp_path / "stage")


def test_a_full_disk_is_one_error_that_keeps_the_archive(tmp_path):
    archive = write(tmp_path, tar_gz([member("rgb/a.mp4", data=os.urandom(200_000))]))
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (100_000, hard))       # writes past 100 kB fail: EFBIG
    try:
        with pytest.raises(DataError) as e:
            unpack([archive], tmp_path / "stage")
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
    assert str(e.value) == (f"unpacking a.tar.gz into {tmp_path}: File too large; the archive is kept — fix that "
                            f"(e.g. free some space) and run the command again")
    assert archive.is_file() and not (tmp_path / "stage").exists()


def test_a_stop_request_ends_unpacking_at_the_next_block_and_removes_the_staging_folder(tmp_path):
    archive = write(tmp_path, tar_gz([member(f"rgb/{i}.mp4", data=os.urandom(300_000)) for i in range(8)]))
    transfers = Transfers(rich=False, stream=None)
    transfers.stop()
    with pytest.raises(Stopped):
        unpack([archive], tmp_path / "stage", transfers=transfers)
    assert not (tmp_path / "stage").exists()
