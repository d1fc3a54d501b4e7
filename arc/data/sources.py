"""Where the datasets are published: every URL `arc data download` uses, in one table.

Each file is `base + path`. `--mirror BASE` replaces a dataset's base (a proxy, a local copy with the same
folders); `--url KEY=URL` replaces one file. Kinetics-400 parts are listed in a text file per split (one URL a
line); each part is fetched from the folder that list was fetched from, so a mirror of the lists serves the parts
too. Something-Something V1 is not freely downloadable any more: it has a page, no files.

Sizes and file counts are what the datasets were reported to be (sources in docs/data.md); the server's own size
decides what is downloaded, and they bound what an archive may unpack to (`arc.data.unpack.Caps.derived`).
`sha256` holds the digests a publisher states — none of the three does today, so it is empty and the first complete
download records each file's digest in the data home's manifest instead (`arc.data.integrity`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

GB = 10**9


@dataclass(frozen=True)
class Source:
    """Where one dataset is published: its `page` (terms, citation, how to request it), the `base` of its files and
    their paths under it, by key, and the SHA-256 of those whose digest the publisher states, by key or by name
    under `.downloads/` (`train/part_0.tar.gz`). `size` is the download in bytes and `videos` the number of videos
    (files in its archives), as reported (None: unknown)."""

    name: str
    page: str
    base: str
    files: dict[str, str] = field(default_factory=dict)
    size: int | None = None
    videos: int | None = None
    sha256: dict[str, str] = field(default_factory=dict)


INDEX_MAX_BYTES = 32 * 10**6   # an annotation file (JSON, CSV, list of URLs): Kinetics' train.csv is about 10 MB


SOURCES: dict[str, Source] = {s.name: s for s in (
    Source("diving48", page="https://www.svcl.ucsd.edu/projects/resound/dataset.html",
           base="https://www.svcl.ucsd.edu/projects/resound/",
           files={"videos": "Diving48_rgb.tar.gz", "vocab": "Diving48_vocab.json",
                  "v2-train": "Diving48_V2_train.json", "v2-test": "Diving48_V2_test.json",
                  "v1-train": "Diving48_train.json", "v1-test": "Diving48_test.json"},
           size=10 * GB, videos=18_404),
    Source("k400", page="https://github.com/cvdfoundation/kinetics-dataset",
           base="https://s3.amazonaws.com/kinetics/400/",
           files={"train-list": "train/k400_train_path.txt", "val-list": "val/k400_val_path.txt",
                  "test-list": "test/k400_test_path.txt", "train-csv": "annotations/train.csv",
                  "val-csv": "annotations/val.csv", "test-csv": "annotations/test.csv",
                  "replacement": "replacement_for_corrupted_k400.tgz"},
           size=436 * GB, videos=306_245),
    Source("ssv1", page="https://developer.qualcomm.com/software/ai-datasets/something-something", base=""),
)}


def parse_overrides(pairs) -> dict[str, str]:
    """`["videos=https://…", …]` (from `--url KEY=URL`) as a dict; ValueError for a pair without '='."""
    out = {}
    for pair in pairs or ():
        key, sep, url = pair.partition("=")
        if not sep or not key or not url:
            raise ValueError(f"--url {pair!r}: expected KEY=URL, e.g. videos=https://mirror.example/Diving48_rgb.tar.gz")
        out[key.strip()] = url.strip()
    return out


def urls(name: str, *, mirror: str | None = None, overrides: dict[str, str] | None = None) -> dict[str, str]:
    """Every file URL of dataset `name` by key, with `mirror` as the base and `overrides` (key -> URL) applied;
    ValueError for an unknown key, naming the known ones."""
    source = SOURCES[name]
    base = source.base if mirror is None else mirror.rstrip("/") + "/"
    table = {key: base + path for key, path in source.files.items()}
    for key, url in (overrides or {}).items():
        if key not in table:
            raise ValueError(f"--url {key}=…: {name} has no file {key!r}; its files are {', '.join(table)}")
        table[key] = url
    return table
