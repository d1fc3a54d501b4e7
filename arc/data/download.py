"""Getting the datasets into their folders, in the layout `arc.data.formats` reads (docs/data.md, "Getting the
data"): `arc data download` and `arc data prepare`.

- Diving48: the videos archive and the annotation files from the dataset's site (`arc.data.sources`);
- Kinetics-400: the CVDF mirror's tarballs (a list per split), the replacements for corrupted clips and the CSVs;
- Something-Something V1: no longer freely downloadable — `ssv1_instructions` says where to request it, and
  `prepare_ssv1` unpacks the split archive its distributor ships.

Downloads and half-unpacked archives stay in `<folder>/.downloads` and `<folder>/.unpacking-*` until done, so an
interrupted command resumes where it stopped; archives are deleted once unpacked unless `keep_archives`.
The videos go into place only when their archive has been unpacked whole; annotation files are put in place last.
Every file is checked against its SHA-256 where one is known, and the first download of each records one
(`arc.data.integrity`); archives are unpacked member by member with the checks and caps of `arc.data.unpack`.
"""

from __future__ import annotations

import contextlib
import json
import os
import posixpath
import queue
import re
import shutil
import stat
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path

from arc.data import formats
from arc.data.fetch import DownloadError, check_room, fetch
from arc.data.home import check_writable, home_folder
from arc.data.integrity import Digest, Manifest, sha256_file
from arc.data.progress import Transfers
from arc.data.registry import SPLITS
from arc.data.sources import INDEX_MAX_BYTES, SOURCES, urls
from arc.data.unpack import Caps, CorruptArchive, UnsafeArchive, unpack
from arc.data.video import VIDEO_SUFFIXES
from arc.files import write_bytes, write_text

CACHE = ".downloads"
STOP_GRACE = 3.0          # seconds the transfers of other threads get to end after Ctrl-C / SIGTERM
_ARCHIVE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*\.(tar\.gz|tgz)")


@dataclass
class Downloaded:
    """What a download or prepare put where: the dataset folder and the registry names to check it as."""

    root: Path
    datasets: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


@dataclass
class _Job:
    """What every file of one download shares: the dataset, its progress and stop flag, the digests it knows
    (pinned by `--sha256`, in the source table, recorded in the manifest) and the caps on its archives. `pending`:
    the digests of files just downloaded, recorded once the file proved to be what it should (`accept`)."""

    dataset: str
    cache: Path
    transfers: Transfers
    manifest: Manifest
    pins: dict[str, str]
    caps: Caps | None = None          # overrides of the derived caps (a field None: derived)
    pending: dict[str, tuple] = field(default_factory=dict)

    def expected(self, key: str | None, name: str) -> Digest | None:
        """The digest pinned for the file `name` (under `.downloads/`) or its `key`, else the one recorded."""
        table = SOURCES[self.dataset].sha256
        for where, source in ((self.pins, "--sha256"), (table, "the source table")):
            for k in (name, key):
                if k in where:
                    return Digest(where[k], f"{source} ({k})")
        return self.manifest.get(f"{self.dataset}/{name}")

    def get(self, url: str, dest: Path, key: str, *, room: float = 0.0, max_bytes: int | None = None,
            by_key: bool = True) -> Path:
        """`fetch` with the digest policy: a copy already in `.downloads/` is used only when it matches a pinned
        digest, or the digest the manifest recorded from this same URL; every new download is checked against the
        known digest and, where none is known, remembered for `accept`. `key` names the file in hints and, unless
        `by_key` is False (a Kinetics archive, hinted by its list's key), in pins."""
        name = dest.relative_to(self.cache).as_posix()
        expect = self.expected(key if by_key else None, name)
        if dest.is_file():
            if expect is not None and (expect.pinned or expect.url == url) and \
                    sha256_file(dest) == expect.sha256:
                return dest
            self.transfers.note(f"{name}: the copy in {self.cache} is not known to be {url}'s; fetching it again")
            dest.unlink()

        def remember(sha256: str, size: int) -> None:
            if expect is None or expect.pinned:
                self.pending[name] = (url, size, sha256)

        return fetch(url, dest, transfers=self.transfers, room=room, hint=_hint(key), expect=expect,
                     max_bytes=max_bytes, on_complete=remember)

    def accept(self, dest: Path) -> None:
        """Record the digest of `dest`, downloaded by `get`, now that it parsed or unpacked: a damaged or hostile
        file deleted on the way is never taken for the file to check later downloads against."""
        name = dest.relative_to(self.cache).as_posix()
        if name in self.pending:
            self.manifest.record(f"{self.dataset}/{name}", *self.pending.pop(name))

    def caps_for(self, archive: Path) -> Caps:
        source = SOURCES[self.dataset]
        derived = Caps.derived(archive.stat().st_size, files=source.videos, size=source.size)
        return derived if self.caps is None else derived.override(self.caps.members, self.caps.bytes)


def _job(dataset: str, root: Path, transfers, manifest, pins, caps) -> _Job:
    pins = dict(pins or {})
    table = SOURCES[dataset].files
    names = {posixpath.basename(p) for p in table.values()}
    for key in pins:
        if key not in table and key not in names and not (
                dataset == "k400" and re.fullmatch(rf"({'|'.join(SPLITS)})/{_ARCHIVE_NAME.pattern}", key)):
            more = " or <split>/<archive name> (train/part_0.tar.gz)" if dataset == "k400" else ""
            raise ValueError(f"--sha256 {key}=…: {dataset} has no file {key!r}; give one of {', '.join(table)}{more}")
    return _Job(dataset, root / CACHE, transfers or Transfers(rich=False, stream=None),
                manifest if manifest is not None else Manifest(), pins, caps)


def _name(url_or_path: str) -> str:
    return posixpath.basename(urllib.parse.urlparse(url_or_path).path)


def _hint(key: str) -> str:
    return f"point --url {key}=URL or --mirror BASE at a copy"


def _fetch_checked(job: _Job, url: str, dest: Path, key: str, kind: str) -> Path:
    """A small annotation file (at most `INDEX_MAX_BYTES`), fetched and parsed (JSON, CSV or a list of archive
    URLs), so that a web page or a proxy's error saved in its place is caught now rather than by the first training
    run."""
    path = job.get(url, dest, key, max_bytes=INDEX_MAX_BYTES)
    text = path.read_text(encoding="utf-8-sig", errors="replace")
    ok = {"json": lambda: json.loads(text) is not None,
          "csv": lambda: "youtube_id" in text.partition("\n")[0],
          "list": lambda: all(_ARCHIVE_NAME.fullmatch(_name(s)) for s in text.split())}[kind]
    try:
        good = bool(text.strip()) and ok()
    except (ValueError, RecursionError):
        good = False
    if not good:
        path.unlink()
        raise DownloadError(f"{url}: not the expected {kind.upper()} file (it begins {text[:40]!r}); deleted it; "
                            f"{_hint(key)}")
    job.accept(path)
    return path


def _unpack_fetched(job: _Job, archive: Path, staging: Path, key: str) -> Path:
    """Unpack a downloaded archive into `staging`; a corrupt or unsafe one is deleted (a resume would build on it)
    and reported in one line."""
    shutil.rmtree(staging, ignore_errors=True)          # left by an interrupted run
    try:
        unpack([archive], staging, transfers=job.transfers, caps=job.caps_for(archive))
        job.accept(archive)
        return staging
    except CorruptArchive as e:
        archive.unlink(missing_ok=True)
        raise DownloadError(f"{e}; deleted {archive} — run the command again to download it anew, or "
                            f"{_hint(key)}") from None
    except UnsafeArchive as e:
        archive.unlink(missing_ok=True)
        raise DownloadError(f"{e}; deleted {archive}: it is not the dataset's archive as published — "
                            f"{_hint(key)}") from None


def _video_files(folder: Path) -> list[Path]:
    """The regular video files under `folder`, links not followed (an unpacked archive holds none)."""
    found = []
    for dirpath, _, names in os.walk(folder):
        for n in names:
            p = Path(dirpath) / n
            if p.suffix.lower() in VIDEO_SUFFIXES and stat.S_ISREG(p.lstat().st_mode):
                found.append(p)
    return found


def _remove_if_empty(folder: Path) -> None:
    with contextlib.suppress(OSError):
        folder.rmdir()


def _in_threads(items, work, parallel: int, transfers: Transfers) -> None:
    """`work(item)` for every item, `parallel` at a time in daemon threads. The first error stops new items
    (those under way finish) and is raised. Ctrl-C or SIGTERM here (any exception in this thread) stops every
    transfer at its next block (`Transfers.stop`), the items not begun are dropped, and after at most
    `STOP_GRACE` seconds it is raised — a thread stuck in a stalled read is left to end with the process."""
    todo: queue.SimpleQueue = queue.SimpleQueue()
    for item in items:
        todo.put(item)
    errors: list[BaseException] = []

    def worker():
        while not errors and not transfers.stopping:
            try:
                item = todo.get_nowait()
            except queue.Empty:
                return
            try:
                work(item)
            except BaseException as e:     # noqa: BLE001 (handed to the main thread)
                errors.append(e)
                return

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(max(1, min(parallel, len(items))))]
    try:
        for t in threads:
            t.start()
        for t in threads:
            while t.is_alive():
                t.join(0.1)
    except BaseException:
        transfers.stop()
        deadline = time.monotonic() + STOP_GRACE
        for t in threads:
            t.join(max(0.0, deadline - time.monotonic()))
        raise
    if errors:
        raise errors[0]


# --- Diving48 -------------------------------------------------------------------------------------------------

def download_diving48(root=None, *, versions=(1, 2), mirror: str | None = None, overrides=None,
                      transfers: Transfers | None = None, keep_archives: bool = False, pins=None,
                      caps: Caps | None = None, manifest: Manifest | None = None) -> Downloaded:
    """Diving48 into `root` (default: its folder in the data home): `rgb/<vid_name>.mp4` from the videos archive,
    `Diving48_vocab.json` and the train/test JSON files of each of `versions` (1: `Diving48_{train,test}.json`,
    2: `Diving48_V2_{train,test}.json`). `pins`: SHA-256 by file key or name (`--sha256`); `caps`: the members
    and bytes the videos archive may unpack to, where not derived; `manifest`: the recorded digests (default: the
    data home's)."""
    root = Path(root).expanduser() if root is not None else home_folder("diving48")
    table = urls("diving48", mirror=mirror, overrides=overrides)
    check_writable(root)
    job = _job("diving48", root, transfers, manifest, pins, caps)
    keys = ["vocab"] + [f"v{v}-{s}" for v in sorted(versions) for s in ("train", "test")]
    official = SOURCES["diving48"].files
    for key in keys:
        _fetch_checked(job, table[key], job.cache / _name(official[key]), key, "json")
    done = Downloaded(root, [{1: "diving48-v1", 2: "diving48"}[v] for v in sorted(versions, reverse=True)])
    videos = root / "rgb"
    archive = job.cache / _name(official["videos"])
    if videos.is_dir():
        done.notes.append(f"{videos} is already there; its archive was not fetched (delete the folder to fetch it)")
        if archive.is_file() and not keep_archives:
            archive.unlink()        # left by a run stopped between moving the videos and deleting it
    else:
        archive = job.get(table["videos"], archive, "videos", room=1.0)
        staging = _unpack_fetched(job, archive, root / ".unpacking-videos", "videos")
        found = staging / "rgb" if (staging / "rgb").is_dir() else _only_folder_with_videos(staging)
        os.replace(found, videos)
        shutil.rmtree(staging, ignore_errors=True)
        if not keep_archives:
            archive.unlink()
    for key in keys:
        os.replace(job.cache / _name(official[key]), root / _name(official[key]))
    _remove_if_empty(job.cache)
    return done


def _only_folder_with_videos(staging: Path) -> Path:
    """The folder of an archive that holds the videos other than in `rgb/` (flat, or in one top folder)."""
    for folder in (staging, *[p for p in staging.iterdir() if p.is_dir()]):
        if any(p.suffix.lower() in VIDEO_SUFFIXES for p in folder.iterdir()):
            return folder
    shutil.rmtree(staging, ignore_errors=True)
    raise DownloadError(f"{staging.parent}: the videos archive holds no rgb/ folder and no videos; check "
                        f"--url videos=…")


# --- Kinetics-400 ---------------------------------------------------------------------------------------------

def download_k400(root=None, *, splits=SPLITS, parallel: int = 4, mirror: str | None = None, overrides=None,
                  transfers: Transfers | None = None, keep_archives: bool = False, pins=None,
                  caps: Caps | None = None, manifest: Manifest | None = None) -> Downloaded:
    """Kinetics-400 from the CVDF mirror into `root` (default: its folder in the data home): the clips of each of
    `splits` in `train/`, `val/`, `test/` (the replacements for corrupted training clips over them) and
    `train.csv`, `val.csv`, `test.csv`. `parallel` archives are fetched and unpacked at once; an archive done is
    marked in `.downloads/<split>/` and skipped by a later run; a URL listed twice is fetched once. `pins`, `caps`,
    `manifest` as in `download_diving48` (pins by key, or by `<split>/<archive name>`)."""
    root = Path(root).expanduser() if root is not None else home_folder("k400")
    table = urls("k400", mirror=mirror, overrides=overrides)
    check_writable(root)
    job = _job("k400", root, transfers, manifest, pins, caps)
    csvs = [_fetch_checked(job, table[f"{s}-csv"], job.cache / f"{s}.csv", f"{s}-csv", "csv") for s in SPLITS]
    for split in splits:
        listing = _fetch_checked(job, table[f"{split}-list"], job.cache / _name(table[f"{split}-list"]),
                                 f"{split}-list", "list")
        # each part is fetched from the folder its list came from, so a mirror of the lists serves the parts too
        names = dict.fromkeys(_name(line) for line in listing.read_text().split())
        parts = [urllib.parse.urljoin(table[f"{split}-list"], n) for n in names]
        _k400_parts(job, parts, root, split, parallel, keep_archives, f"{split}-list")
        if split == "train":
            _k400_part(job, table["replacement"], root, "train", keep_archives, "replacement")
    for path in csvs:
        os.replace(path, root / path.name)
    return Downloaded(root, ["k400"])


def _k400_parts(job: _Job, parts, root: Path, split: str, parallel: int, keep_archives: bool, key: str) -> None:
    todo = [u for u in parts if not (job.cache / split / (_name(u) + ".done")).exists()]
    for url in set(parts) - set(todo):
        if not keep_archives:       # left by a run stopped between the mark and the deletion
            (job.cache / split / _name(url)).unlink(missing_ok=True)
    if len(todo) < len(parts):
        job.transfers.note(f"k400 {split}: {len(parts) - len(todo)} of {len(parts)} archives already unpacked")
    count, lock = [len(parts) - len(todo)], threading.Lock()

    def one(url):
        _k400_part(job, url, root, split, keep_archives, key)
        with lock:
            count[0] += 1
            job.transfers.note(f"k400 {split}: {count[0]} of {len(parts)} archives unpacked")

    _in_threads(todo, one, parallel, job.transfers)


def _k400_part(job: _Job, url: str, root: Path, split: str, keep_archives: bool, key: str) -> None:
    name = _name(url)
    mark = job.cache / split / (name + ".done")
    if mark.exists():
        return
    archive = job.get(url, job.cache / split / name, key, room=1.0, by_key=key == "replacement")
    staging = _unpack_fetched(job, archive, root / f".unpacking-{split}-{name}", key)
    (root / split).mkdir(exist_ok=True)
    for video in _video_files(staging):
        os.replace(video, root / split / video.name)   # flat; a replacement overwrites the clip it replaces
    shutil.rmtree(staging, ignore_errors=True)
    write_text(mark, "")
    if not keep_archives:
        archive.unlink()


# --- Something-Something V1 -----------------------------------------------------------------------------------

SSV1_PART = re.compile(r"^20bn-something-something-v1-(\d+)$")
SSV1_CSVS = (formats.SSV1_LABELS, *formats.SSV1_FILES.values())


def ssv1_instructions(root=None) -> str:
    """Where to request Something-Something V1 and how `arc data prepare ssv1` lays it out."""
    root = Path(root).expanduser() if root is not None else home_folder("ssv1")
    return "\n".join([
        "Something-Something V1 is no longer freely downloadable: 20BN, who published it, was acquired by Qualcomm.",
        f"Request it on the distributor's page: {SOURCES['ssv1'].page}",
        "(if V1 is not offered there, write to the dataset's authors: Goyal et al., ICCV 2017).",
        "You receive the JPEG frames as one tar.gz cut into parts, 20bn-something-something-v1-00, -01, …, and the",
        f"annotation files {', '.join(SSV1_CSVS)}. Then run",
        "",
        "    arc data prepare ssv1 --from DOWNLOAD_FOLDER",
        "",
        "which unpacks the parts in order (no need to join them first) and checks the result, giving",
        "",
        f"    {root}/20bn-something-something-v1/<id>/00001.jpg …",
        f"    {root}/something-something-v1-{{labels,train,validation,test}}.csv",
        "",
        "(about 108,000 videos, 174 classes). Then: arc train --dataset ssv1",
    ])


def prepare_ssv1(sources, root=None, *, transfers: Transfers | None = None, caps: Caps | None = None) -> Downloaded:
    """Lay out Something-Something V1 from what its distributor ships: the parts of the frames archive
    (`20bn-something-something-v1-NN`, all of them, in any order on the command line) and/or the CSV files; a
    folder among `sources` stands for the files in it. Unpacks into `root` (default: its folder in the data home),
    after checking it has room for as many bytes as the parts hold; `caps` as in `download_diving48`."""
    transfers = transfers or Transfers(rich=False, stream=None)
    root = Path(root).expanduser() if root is not None else home_folder("ssv1")
    parts, csvs = _ssv1_files(sources)
    check_writable(root)
    root.mkdir(parents=True, exist_ok=True)
    done = Downloaded(root, ["ssv1"])
    frames = root / formats.SSV1_FRAMES
    if parts and frames.is_dir():
        done.notes.append(f"{frames} is already there; the archive was not unpacked (delete the folder to redo it)")
    elif parts:
        staging = root / ".unpacking-frames"
        shutil.rmtree(staging, ignore_errors=True)
        archive_bytes = sum(p.stat().st_size for p in parts)
        check_room(root, archive_bytes)              # JPEG frames unpack to about the archive's size
        derived = Caps.derived(archive_bytes, files=SOURCES["ssv1"].videos, size=SOURCES["ssv1"].size)
        try:
            unpack(parts, staging, transfers=transfers,
                   caps=derived if caps is None else derived.override(caps.members, caps.bytes))
        except CorruptArchive as e:
            raise CorruptArchive(f"{e}; check that every part is complete (sizes or checksums against the "
                                 f"distributor's) — the parts were left as they are") from None
        except UnsafeArchive as e:
            raise UnsafeArchive(f"{e}; these parts are not the distributor's archive as shipped — the parts were "
                                f"left as they are") from None
        found = staging / formats.SSV1_FRAMES
        if not found.is_dir():
            inside = ", ".join(sorted(p.name for p in staging.iterdir())[:5]) or "nothing"
            shutil.rmtree(staging, ignore_errors=True)
            raise ValueError(f"{parts[0]}: the archive holds no {formats.SSV1_FRAMES}/ folder (it holds {inside})")
        os.replace(found, frames)
        shutil.rmtree(staging, ignore_errors=True)
    for csv in csvs:
        write_bytes(root / csv.name, csv.read_bytes())
    return done


def _ssv1_files(sources) -> tuple[list[Path], list[Path]]:
    """The archive parts (in order, none missing) and the CSV files among `sources` (files or folders)."""
    files = []
    for s in map(lambda p: Path(p).expanduser(), sources):
        if s.is_dir():
            files += [p for p in sorted(s.iterdir()) if SSV1_PART.match(p.name) or p.name in SSV1_CSVS]
        elif s.is_file():
            files.append(s)
        else:
            raise FileNotFoundError(2, "no such file or folder (--from)", str(s))
    parts = sorted((p for p in files if SSV1_PART.match(p.name)), key=lambda p: int(SSV1_PART.match(p.name)[1]))
    csvs = [p for p in files if p.name in SSV1_CSVS]
    other = [p for p in files if p not in parts and p not in csvs]
    if other:
        raise ValueError(f"{other[0]}: not a Something-Something V1 file (expected the archive parts "
                         f"20bn-something-something-v1-00, -01, … or {', '.join(SSV1_CSVS)})")
    if not parts and not csvs:
        raise ValueError(f"no Something-Something V1 files in {', '.join(map(str, sources))} (expected "
                         f"20bn-something-something-v1-00, -01, … and the CSV files)")
    numbers = [int(SSV1_PART.match(p.name)[1]) for p in parts]
    if numbers and numbers != list(range(len(parts))):
        missing = sorted(set(range(max(numbers) + 1)) - set(numbers))
        which = f"part -{missing[0]:02d} is missing" if missing else "a part is given twice"
        raise ValueError(f"{parts[0].parent}: {which} (have {', '.join(f'-{n:02d}' for n in numbers)}); the "
                         f"archive needs all its parts")
    return parts, csvs


DOWNLOADERS = {"diving48": download_diving48, "k400": download_k400}
