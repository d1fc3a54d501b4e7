"""Getting the datasets into their folders, in the layout `arc.data.formats` reads (docs/data.md, "Getting the
data"): `arc data download` and `arc data prepare`.

- Diving48: the videos archive and the annotation files from the dataset's site (`arc.data.sources`);
- Kinetics-400: the CVDF mirror's tarballs (a list per split), the replacements for corrupted clips and the CSVs;
- Something-Something V1: no longer freely downloadable — `ssv1_instructions` says where to request it, and
  `prepare_ssv1` unpacks the split archive its distributor ships.

Downloads and half-unpacked archives stay in `<folder>/.downloads` and `<folder>/.unpacking-*` until done, so an
interrupted command resumes where it stopped; archives are deleted once unpacked unless `keep_archives`.
The videos go into place only when their archive has been unpacked whole; annotation files are put in place last.
"""

from __future__ import annotations

import contextlib
import json
import os
import posixpath
import re
import shutil
import threading
import urllib.parse
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path

from arc.data import formats
from arc.data.fetch import DownloadError, fetch
from arc.data.home import check_writable, home_folder
from arc.data.progress import Transfers
from arc.data.registry import SPLITS
from arc.data.sources import SOURCES, urls
from arc.data.unpack import CorruptArchive, unpack
from arc.data.video import VIDEO_SUFFIXES

CACHE = ".downloads"


@dataclass
class Downloaded:
    """What a download or prepare put where: the dataset folder and the registry names to check it as."""

    root: Path
    datasets: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def _name(url_or_path: str) -> str:
    return posixpath.basename(urllib.parse.urlparse(url_or_path).path)


def _hint(key: str) -> str:
    return f"point --url {key}=URL or --mirror BASE at a copy"


def _fetch_checked(url: str, dest: Path, key: str, transfers: Transfers, kind: str) -> Path:
    """A small annotation file, fetched and parsed (JSON, CSV or a list of URLs), so that a web page or a proxy's
    error saved in its place is caught now rather than by the first training run."""
    path = fetch(url, dest, transfers=transfers, hint=_hint(key))
    text = path.read_text(encoding="utf-8-sig", errors="replace")
    ok = {"json": lambda: json.loads(text) is not None,
          "csv": lambda: "youtube_id" in text.partition("\n")[0],
          "list": lambda: all(_name(s).endswith((".tar.gz", ".tgz")) for s in text.split())}[kind]
    try:
        good = bool(text.strip()) and ok()
    except ValueError:
        good = False
    if not good:
        path.unlink()
        raise DownloadError(f"{url}: not the expected {kind.upper()} file (it begins {text[:40]!r}); deleted it; "
                            f"{_hint(key)}")
    return path


def _unpack_fetched(archive: Path, staging: Path, key: str, transfers: Transfers) -> Path:
    """Unpack a downloaded archive into `staging`; a corrupt one is deleted (a resume would build on it) and
    reported in one line."""
    shutil.rmtree(staging, ignore_errors=True)          # left by an interrupted run
    try:
        return unpack([archive], staging, transfers=transfers)
    except CorruptArchive as e:
        archive.unlink(missing_ok=True)
        raise DownloadError(f"{e}; deleted {archive} — run the command again to download it anew, or "
                            f"{_hint(key)}") from None


def _video_files(folder: Path):
    return [p for p in folder.rglob("*") if p.suffix.lower() in VIDEO_SUFFIXES and p.is_file()]


# --- Diving48 -------------------------------------------------------------------------------------------------

def download_diving48(root=None, *, versions=(1, 2), mirror: str | None = None, overrides=None,
                      transfers: Transfers | None = None, keep_archives: bool = False) -> Downloaded:
    """Diving48 into `root` (default: its folder in the data home): `rgb/<vid_name>.mp4` from the videos archive,
    `Diving48_vocab.json` and the train/test JSON files of each of `versions` (1: `Diving48_{train,test}.json`,
    2: `Diving48_V2_{train,test}.json`)."""
    transfers = transfers or Transfers(rich=False, stream=None)
    root = Path(root).expanduser() if root is not None else home_folder("diving48")
    table = urls("diving48", mirror=mirror, overrides=overrides)
    check_writable(root)
    cache = root / CACHE
    keys = ["vocab"] + [f"v{v}-{s}" for v in sorted(versions) for s in ("train", "test")]
    official = SOURCES["diving48"].files
    for key in keys:
        _fetch_checked(table[key], cache / _name(official[key]), key, transfers, "json")
    done = Downloaded(root, [{1: "diving48-v1", 2: "diving48"}[v] for v in sorted(versions, reverse=True)])
    videos = root / "rgb"
    if videos.is_dir():
        done.notes.append(f"{videos} is already there; its archive was not fetched (delete the folder to fetch it)")
    else:
        archive = fetch(table["videos"], cache / _name(official["videos"]), transfers=transfers, room=1.0,
                        hint=_hint("videos"))
        staging = _unpack_fetched(archive, root / ".unpacking-videos", "videos", transfers)
        found = staging / "rgb" if (staging / "rgb").is_dir() else _only_folder_with_videos(staging)
        os.replace(found, videos)
        shutil.rmtree(staging, ignore_errors=True)
        if not keep_archives:
            archive.unlink()
    for key in keys:
        os.replace(cache / _name(official[key]), root / _name(official[key]))
    _remove_if_empty(cache)
    return done


def _only_folder_with_videos(staging: Path) -> Path:
    """The folder of an archive that holds the videos other than in `rgb/` (flat, or in one top folder)."""
    for folder in (staging, *[p for p in staging.iterdir() if p.is_dir()]):
        if any(p.suffix.lower() in VIDEO_SUFFIXES for p in folder.iterdir()):
            return folder
    shutil.rmtree(staging, ignore_errors=True)
    raise DownloadError(f"{staging.parent}: the videos archive holds no rgb/ folder and no videos; check "
                        f"--url videos=…")


def _remove_if_empty(folder: Path) -> None:
    with contextlib.suppress(OSError):
        folder.rmdir()


# --- Kinetics-400 ---------------------------------------------------------------------------------------------

def download_k400(root=None, *, splits=SPLITS, parallel: int = 4, mirror: str | None = None, overrides=None,
                  transfers: Transfers | None = None, keep_archives: bool = False) -> Downloaded:
    """Kinetics-400 from the CVDF mirror into `root` (default: its folder in the data home): the clips of each of
    `splits` in `train/`, `val/`, `test/` (the replacements for corrupted training clips over them) and
    `train.csv`, `val.csv`, `test.csv`. `parallel` archives are fetched and unpacked at once; an archive done is
    marked in `.downloads/<split>/` and skipped by a later run."""
    transfers = transfers or Transfers(rich=False, stream=None)
    root = Path(root).expanduser() if root is not None else home_folder("k400")
    table = urls("k400", mirror=mirror, overrides=overrides)
    check_writable(root)
    cache = root / CACHE
    csvs = [_fetch_checked(table[f"{s}-csv"], cache / f"{s}.csv", f"{s}-csv", transfers, "csv") for s in SPLITS]
    for split in splits:
        listing = _fetch_checked(table[f"{split}-list"], cache / _name(table[f"{split}-list"]), f"{split}-list",
                                 transfers, "list")
        # each part is fetched from the folder its list came from, so a mirror of the lists serves the parts too
        parts = [urllib.parse.urljoin(table[f"{split}-list"], _name(line)) for line in listing.read_text().split()]
        _k400_parts(parts, root, split, cache, transfers, parallel, keep_archives, f"{split}-list")
        if split == "train":
            _k400_part(table["replacement"], root, "train", cache, transfers, keep_archives, "replacement")
    for path in csvs:
        os.replace(path, root / path.name)
    return Downloaded(root, ["k400"])


def _k400_parts(parts, root: Path, split: str, cache: Path, transfers: Transfers, parallel: int,
                keep_archives: bool, key: str) -> None:
    todo = [u for u in parts if not (cache / split / (_name(u) + ".done")).exists()]
    if len(todo) < len(parts):
        transfers.note(f"k400 {split}: {len(parts) - len(todo)} of {len(parts)} archives already unpacked")
    count, lock = [len(parts) - len(todo)], threading.Lock()

    def one(url):
        _k400_part(url, root, split, cache, transfers, keep_archives, key)
        with lock:
            count[0] += 1
            transfers.note(f"k400 {split}: {count[0]} of {len(parts)} archives unpacked")

    with ThreadPoolExecutor(max(1, parallel)) as pool:
        futures = [pool.submit(one, u) for u in todo]
        finished, _ = wait(futures, return_when=FIRST_EXCEPTION)
        failed = [f for f in finished if f.exception() is not None]
        if failed:
            for f in futures:
                f.cancel()
            raise failed[0].exception()


def _k400_part(url: str, root: Path, split: str, cache: Path, transfers: Transfers, keep_archives: bool,
               key: str) -> None:
    name = _name(url)
    mark = cache / split / (name + ".done")
    if mark.exists():
        return
    archive = fetch(url, cache / split / name, transfers=transfers, room=1.0, hint=_hint(key))
    staging = _unpack_fetched(archive, root / f".unpacking-{split}-{name}", key, transfers)
    (root / split).mkdir(exist_ok=True)
    for video in _video_files(staging):
        os.replace(video, root / split / video.name)   # flat; a replacement overwrites the clip it replaces
    shutil.rmtree(staging, ignore_errors=True)
    mark.touch()
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


def prepare_ssv1(sources, root=None, *, transfers: Transfers | None = None) -> Downloaded:
    """Lay out Something-Something V1 from what its distributor ships: the parts of the frames archive
    (`20bn-something-something-v1-NN`, all of them, in any order on the command line) and/or the CSV files; a
    folder among `sources` stands for the files in it. Unpacks into `root` (default: its folder in the data home)."""
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
        try:
            unpack(parts, staging, transfers=transfers)
        except CorruptArchive as e:
            raise CorruptArchive(f"{e}; check that every part is complete (sizes or checksums against the "
                                 f"distributor's) — the parts were left as they are") from None
        found = staging / formats.SSV1_FRAMES
        if not found.is_dir():
            inside = ", ".join(sorted(p.name for p in staging.iterdir())[:5]) or "nothing"
            shutil.rmtree(staging, ignore_errors=True)
            raise ValueError(f"{parts[0]}: the archive holds no {formats.SSV1_FRAMES}/ folder (it holds {inside})")
        os.replace(found, frames)
        shutil.rmtree(staging, ignore_errors=True)
    for csv in csvs:
        shutil.copyfile(csv, root / csv.name)
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
