"""`arc data download` / `arc data prepare` without the internet: small archives in the official layouts, served by
an HTTP server on 127.0.0.1 that the tests start and stop (ranges, a connection dropped half-way, a file changed on
the server), unpacked into the layout that `build_dataset` reads."""

from __future__ import annotations

import hashlib
import io
import re
import shutil
import tarfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from click.testing import CliRunner

from arc.data import build_dataset
from arc.data.download import download_diving48, download_k400, prepare_ssv1
from arc.data.fetch import DownloadError, fetch
from arc.data.progress import Transfers
from arc.data.synth import write_synthetic
from arc.data.unpack import CorruptArchive, unpack
from cli.main import cli

TINY = dict(train_per_class=1, val_per_class=1, frames=(6, 6), size=(24, 32))


# --- a local HTTP server --------------------------------------------------------------------------------------

class Server:
    """Files by URL path; `drop[path] = n` closes the connection after n bytes of the body, once; `requests` logs
    (path, Range header) of every GET."""

    def __init__(self):
        self.files: dict[str, bytes] = {}
        self.drop: dict[str, int] = {}
        self.requests: list[tuple[str, str | None]] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                server.requests.append((self.path, self.headers.get("Range")))
                data = server.files.get(self.path)
                if data is None:
                    self.send_error(404)
                    return
                etag = '"' + hashlib.sha1(data).hexdigest()[:16] + '"'
                start, rng = 0, self.headers.get("Range")
                if rng and self.headers.get("If-Range", etag) == etag:
                    start = int(rng.removeprefix("bytes=").split("-")[0])
                    if start >= len(data):
                        self.send_response(416)
                        self.send_header("Content-Range", f"bytes */{len(data)}")
                        self.end_headers()
                        return
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
                else:
                    self.send_response(200)
                self.send_header("Content-Length", str(len(data) - start))
                self.send_header("ETag", etag)
                self.end_headers()
                body = data[start:]
                cut = server.drop.pop(self.path, None)
                if cut is not None:
                    self.wfile.write(body[:cut])
                    self.wfile.flush()
                    self.close_connection = True
                    return
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    def ranges(self, path):
        return [r for p, r in self.requests if p == path]


@pytest.fixture
def server():
    s = Server()
    s.thread.start()
    yield s
    s.httpd.shutdown()
    s.httpd.server_close()
    s.thread.join()


def targz(folder: Path, names) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name in names:
            tar.add(folder / name, arcname=name)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def diving48(tmp_path_factory):
    """The files of Diving48 as its site serves them (tiny: 10 mp4 videos of 6 frames), by file name."""
    src = write_synthetic(tmp_path_factory.mktemp("d48") / "src", layout="diving48", **TINY)
    files = {"Diving48_rgb.tar.gz": targz(src, ["rgb"])}
    for name in ("Diving48_vocab.json", "Diving48_V2_train.json", "Diving48_V2_test.json"):
        files[name] = (src / name).read_bytes()
    files["Diving48_train.json"] = files["Diving48_V2_train.json"]
    files["Diving48_test.json"] = files["Diving48_V2_test.json"]
    return files


def serve_diving48(server, files, **changed) -> str:
    for name, data in {**files, **changed}.items():
        server.files[f"/resound/{name}"] = data
    return server.url + "/resound/"


def quiet() -> Transfers:
    return Transfers(rich=False, stream=None)


# --- Diving48 -------------------------------------------------------------------------------------------------

def test_diving48_download_lands_in_the_layout_that_build_dataset_reads(server, diving48, tmp_path):
    mirror = serve_diving48(server, diving48)
    root = tmp_path / "home" / "diving48"
    done = download_diving48(root, mirror=mirror, transfers=quiet())
    assert done.datasets == ["diving48", "diving48-v1"]
    assert sorted(p.name for p in root.iterdir()) == ["Diving48_V2_test.json", "Diving48_V2_train.json",
                                                       "Diving48_test.json", "Diving48_train.json",
                                                       "Diving48_vocab.json", "rgb"]   # archive and staging gone
    for name in ("diving48", "diving48-v1"):
        train = build_dataset(name, root, "train", num_segments=2, input_size=32)
        assert len(train) == 5 and all(r.path.is_file() for r in train.records)
        clip, label, *_ = train[0]
        assert tuple(clip.shape) == (1, 2, 3, 32, 32) and 0 <= label < 5
    assert len(build_dataset("diving48", root, "val", num_segments=2)) == 5


def test_a_connection_dropped_half_way_is_resumed_with_a_range_request(server, diving48, tmp_path):
    data = diving48["Diving48_rgb.tar.gz"]
    url = serve_diving48(server, diving48) + "Diving48_rgb.tar.gz"
    half = len(data) // 2
    dest = tmp_path / "Diving48_rgb.tar.gz"

    server.drop["/resound/Diving48_rgb.tar.gz"] = half          # no retries: the command stops, the part stays
    with pytest.raises(DownloadError, match="run the same command again to resume") as e:
        fetch(url, dest, retries=0)
    assert "\n" not in str(e.value)
    assert (tmp_path / "Diving48_rgb.tar.gz.part").stat().st_size == half and not dest.exists()
    fetch(url, dest, retries=0)                                  # the next run asks for the rest only
    assert dest.read_bytes() == data
    assert server.ranges("/resound/Diving48_rgb.tar.gz") == [None, f"bytes={half}-"]

    dest.unlink()
    server.drop["/resound/Diving48_rgb.tar.gz"] = half           # with retries, one call resumes by itself
    fetch(url, dest, retries=2, wait=0)
    assert dest.read_bytes() == data
    assert server.ranges("/resound/Diving48_rgb.tar.gz")[-1] == f"bytes={half}-"


def test_a_part_of_a_file_that_changed_on_the_server_is_fetched_anew_not_spliced(server, tmp_path):
    server.files["/f.bin"] = b"A" * 1000
    url, dest = server.url + "/f.bin", tmp_path / "f.bin"
    server.drop["/f.bin"] = 400
    with pytest.raises(DownloadError):
        fetch(url, dest, retries=0)
    server.files["/f.bin"] = b"B" * 1200                        # new ETag: If-Range makes the server send all
    fetch(url, dest, retries=0)
    assert dest.read_bytes() == b"B" * 1200


def test_a_corrupted_archive_is_refused_with_one_error_line_and_deleted(server, diving48, tmp_path):
    data = bytearray(diving48["Diving48_rgb.tar.gz"])
    for k in range(len(data) // 2, len(data) // 2 + 64):
        data[k] ^= 0x5A                                           # same size, damaged bytes
    mirror = serve_diving48(server, diving48, **{"Diving48_rgb.tar.gz": bytes(data)})
    root = tmp_path / "diving48"
    r = CliRunner().invoke(cli, ["data", "download", "diving48", "--mirror", mirror, "--data-root", str(root)])
    errors = [line for line in r.output.splitlines() if line.startswith("Error:")]
    assert r.exit_code == 2 and len(errors) == 1, r.output
    assert "Diving48_rgb.tar.gz" in errors[0] and "deleted" in errors[0] and "again" in errors[0]
    assert "Traceback" not in r.output
    assert not (root / "rgb").exists() and not list(root.glob(".unpacking*"))
    assert not (root / ".downloads" / "Diving48_rgb.tar.gz").exists()


def test_a_web_page_served_in_place_of_the_archive_is_refused_before_unpacking(tmp_path):
    page = tmp_path / "Diving48_rgb.tar.gz"
    page.write_bytes(b"<!DOCTYPE html><html><body>Access denied</body></html>")
    with pytest.raises(CorruptArchive, match="not a gzip archive.*DOCTYPE"):
        unpack([page], tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_an_archive_cut_short_is_refused(diving48, tmp_path):
    cut = tmp_path / "cut.tar.gz"
    cut.write_bytes(diving48["Diving48_rgb.tar.gz"][:-200])
    with pytest.raises(CorruptArchive, match="cut short|damaged"):
        unpack([cut], tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_the_disk_space_check_stops_before_writing(server, tmp_path):
    server.files["/f.bin"] = b"x" * 1000
    with pytest.raises(DownloadError, match="needs .* free"):
        fetch(server.url + "/f.bin", tmp_path / "f.bin", room=1e12)
    assert not (tmp_path / "f.bin.part").exists() or (tmp_path / "f.bin.part").stat().st_size == 0


def test_cli_download_then_check_and_url_overrides(server, diving48, tmp_path):
    mirror = serve_diving48(server, diving48)
    server.files["/elsewhere/vocab.json"] = diving48["Diving48_vocab.json"]
    root = tmp_path / "diving48"
    r = CliRunner().invoke(cli, ["data", "download", "diving48", "--version", "2", "--mirror", mirror, "--url",
                                 f"vocab={server.url}/elsewhere/vocab.json", "--data-root", str(root)])
    assert r.exit_code == 0, r.output
    assert ("/elsewhere/vocab.json", None) in server.requests
    assert not (root / "Diving48_train.json").exists()           # --version 2: V2 annotations only
    assert any(line.split()[:2] == ["train", "ok"] for line in r.output.splitlines()), r.output
    assert f"train on it: arc train --dataset diving48 --data-root {root}" in r.output
    r = CliRunner().invoke(cli, ["data", "download", "diving48", "--url", "video=http://x/y", "--data-root",
                                 str(root)])
    assert r.exit_code == 2 and "no file 'video'" in r.output and "videos" in r.output


def test_plain_progress_lines_give_bytes_rate_and_time_left():
    out = io.StringIO()
    with Transfers(rich=False, stream=out, every=0) as t:
        task = t.task("x.tar.gz", total=10_000_000)
        task.advance(2_500_000)
        task.close()
    lines = out.getvalue().splitlines()
    assert re.fullmatch(r"x\.tar\.gz: 2\.5 MB of 10\.0 MB \(25%\), [\d.]+ [kMGT]?B/s, \d+:\d\d left", lines[0])
    assert lines[-1].startswith("x.tar.gz: 2.5 MB,")


# --- Kinetics-400 ---------------------------------------------------------------------------------------------

def test_k400_from_a_mirror_fetches_lists_parts_replacements_and_csvs(server, tmp_path):
    src = tmp_path / "src"
    clips = {"train": ["aaaaaaaaaaa_000001_000011", "bbbbbbbbbbb_000002_000012", "ccccccccccc_000000_000010"],
             "val": ["ddddddddddd_000005_000015"], "test": ["eeeeeeeeeee_000000_000010"]}
    labels = {"train": ["abseiling", "archery", "abseiling"], "val": ["archery"], "test": [""]}
    for split, names in clips.items():
        parts = [names[i::2] for i in range(2)] if split == "train" else [names]
        listing = []
        for k, part in enumerate(parts):
            folder = src / split / f"part_{k}"
            folder.mkdir(parents=True)
            for n in part:
                (folder / f"{n}.mp4").write_bytes(f"{split} {n}".encode())
            server.files[f"/kinetics/400/{split}/part_{k}.tar.gz"] = targz(folder, [f"{n}.mp4" for n in part])
            listing.append(f"https://s3.amazonaws.com/kinetics/400/{split}/part_{k}.tar.gz")  # the real host
        server.files[f"/kinetics/400/{split}/k400_{split}_path.txt"] = "\n".join(listing).encode()
        rows = [f"{lab},{n[:11]},{int(n[12:18])},{int(n[19:])},{split}" for n, lab in zip(names, labels[split],
                                                                                               strict=True)]
        server.files[f"/kinetics/400/annotations/{split}.csv"] = (
            "label,youtube_id,time_start,time_end,split\n" + "\n".join(rows) + "\n").encode()
    fixed = src / "replacement_for_corrupted_k400"
    fixed.mkdir()
    (fixed / "bbbbbbbbbbb_000002_000012.mp4").write_bytes(b"replaced")
    server.files["/kinetics/400/replacement_for_corrupted_k400.tgz"] = targz(src, [fixed.name])

    root = tmp_path / "kinetics400"
    done = download_k400(root, parallel=2, mirror=server.url + "/kinetics/400", transfers=quiet())
    assert done.datasets == ["k400"]
    assert not any("amazonaws" in p for p, _ in server.requests)
    assert (root / "train" / "bbbbbbbbbbb_000002_000012.mp4").read_bytes() == b"replaced"
    train = build_dataset("k400", root, "train")
    assert len(train) == 3 and train.classes == ["abseiling", "archery"]
    assert len(build_dataset("k400", root, "val")) == 1 and len(build_dataset("k400", root, "test")) == 1
    assert sorted(p.name for p in (root / ".downloads" / "train").iterdir()) == [
        "part_0.tar.gz.done", "part_1.tar.gz.done", "replacement_for_corrupted_k400.tgz.done"]
    before = len(server.requests)                                 # a second run skips the unpacked archives
    download_k400(root, splits=("val",), mirror=server.url + "/kinetics/400", transfers=quiet())
    assert not [p for p, _ in server.requests[before:] if p.endswith(".tar.gz")]


# --- Something-Something V1 -----------------------------------------------------------------------------------

def test_ssv1_prepare_unpacks_the_split_archive_into_the_layout_that_build_dataset_reads(tmp_path):
    src = write_synthetic(tmp_path / "src", **TINY)                    # the SSv1 layout: frames + CSVs
    data = targz(src, ["20bn-something-something-v1"])
    shipped = tmp_path / "shipped"
    shipped.mkdir()
    third = len(data) // 3 + 1
    for k in range(3):
        (shipped / f"20bn-something-something-v1-{k:02d}").write_bytes(data[k * third:(k + 1) * third])
    for csv in src.glob("*.csv"):
        shutil.copy(csv, shipped / csv.name)
    root = tmp_path / "sthv1"
    done = prepare_ssv1([shipped], root, transfers=quiet())
    assert done.datasets == ["ssv1"]
    train = build_dataset("ssv1", root, "train", num_segments=2, input_size=32)
    assert len(train) == 5 and train.records[0].path.parent == root / "20bn-something-something-v1"
    assert tuple(train[0][0].shape) == (1, 2, 3, 32, 32)
    assert sorted(p.name for p in root.iterdir() if p.name.startswith(".")) == []

    (shipped / "20bn-something-something-v1-01").unlink()
    with pytest.raises(ValueError, match="part -01 is missing"):
        prepare_ssv1([shipped], tmp_path / "again", transfers=quiet())


def test_ssv1_download_says_where_to_request_it_and_how_to_prepare_it(tmp_path):
    r = CliRunner().invoke(cli, ["data", "download", "ssv1", "--data-root", str(tmp_path / "sthv1")])
    assert r.exit_code == 0, r.output
    assert "https://developer.qualcomm.com/" in r.output and "arc data prepare ssv1 --from" in r.output
    assert f"{tmp_path / 'sthv1'}/20bn-something-something-v1/<id>/00001.jpg" in r.output


def test_cli_prepare_takes_every_file_a_shell_glob_expands_to(tmp_path):
    src = write_synthetic(tmp_path / "src", **TINY)
    data = targz(src, ["20bn-something-something-v1"])
    half = len(data) // 2
    parts = [tmp_path / "20bn-something-something-v1-00", tmp_path / "20bn-something-something-v1-01"]
    parts[0].write_bytes(data[:half])
    parts[1].write_bytes(data[half:])
    csvs = sorted(src.glob("*.csv"))
    root = tmp_path / "sthv1"
    r = CliRunner().invoke(cli, ["data", "prepare", "ssv1", "--from", str(parts[1]), str(parts[0]),
                                 *map(str, csvs), "--data-root", str(root)])
    assert r.exit_code == 0, r.output
    assert any(line.split()[:2] == ["train", "ok"] for line in r.output.splitlines()), r.output
