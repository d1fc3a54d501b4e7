"""Where the datasets are published (`arc.data.sources`): every URL is its base plus its path, `--mirror` replaces the
base whatever its trailing slash, `--url KEY=URL` replaces one file, and bad keys or pairs are one clear line."""

import pytest

from arc.data.registry import DATASETS
from arc.data.sources import SOURCES, parse_overrides, urls

DIVING48 = {"videos": "https://www.svcl.ucsd.edu/projects/resound/Diving48_rgb.tar.gz",
            "vocab": "https://www.svcl.ucsd.edu/projects/resound/Diving48_vocab.json",
            "v2-train": "https://www.svcl.ucsd.edu/projects/resound/Diving48_V2_train.json",
            "v2-test": "https://www.svcl.ucsd.edu/projects/resound/Diving48_V2_test.json",
            "v1-train": "https://www.svcl.ucsd.edu/projects/resound/Diving48_train.json",
            "v1-test": "https://www.svcl.ucsd.edu/projects/resound/Diving48_test.json"}


def test_the_published_urls_are_written_out_in_full():
    assert urls("diving48") == DIVING48
    k400 = urls("k400")
    assert k400["val-list"] == "https://s3.amazonaws.com/kinetics/400/val/k400_val_path.txt"
    assert k400["train-csv"] == "https://s3.amazonaws.com/kinetics/400/annotations/train.csv"
    assert k400["replacement"] == "https://s3.amazonaws.com/kinetics/400/replacement_for_corrupted_k400.tgz"
    assert len(k400) == 7 and urls("ssv1") == {}           # SSv1: a page to request it from, no files


def test_every_downloadable_dataset_has_a_source_with_a_page_and_its_reported_size():
    downloadable = {spec.get.split()[3] for spec in DATASETS.values() if spec.get}
    assert downloadable == set(SOURCES) == {"diving48", "k400", "ssv1"}
    assert all(s.page.startswith("https://") for s in SOURCES.values())
    assert (SOURCES["diving48"].size, SOURCES["diving48"].videos) == (10 * 10**9, 18_404)
    assert (SOURCES["k400"].size, SOURCES["k400"].videos) == (436 * 10**9, 306_245)
    assert all(s.sha256 == {} for s in SOURCES.values())   # no publisher states a digest: the manifest records them


@pytest.mark.parametrize("mirror", ["http://mirror.lan/d48", "http://mirror.lan/d48/", "http://mirror.lan/d48///"])
def test_a_mirror_replaces_the_base_of_every_file_whatever_its_trailing_slashes(mirror):
    assert urls("diving48", mirror=mirror) == {
        key: "http://mirror.lan/d48/" + url.rsplit("/", 1)[1] for key, url in DIVING48.items()}
    assert urls("k400", mirror=mirror)["val-list"] == "http://mirror.lan/d48/val/k400_val_path.txt"


def test_an_override_replaces_one_file_and_wins_over_the_mirror():
    table = urls("diving48", mirror="http://m/", overrides={"vocab": "file:///tmp/vocab.json"})
    assert table["vocab"] == "file:///tmp/vocab.json"
    assert table["videos"] == "http://m/Diving48_rgb.tar.gz" and len(table) == 6
    with pytest.raises(ValueError, match=r"^--url video=…: diving48 has no file 'video'; its files are videos, vocab, "
                                         r"v2-train, v2-test, v1-train, v1-test$"):
        urls("diving48", overrides={"video": "http://x/y"})


def test_url_pairs_split_at_the_first_equals_sign_only():
    pairs = [" videos = http://m/a.tar.gz?sig=abc=&x=1 ", "vocab=https://h/v.json"]
    assert parse_overrides(pairs) == {"videos": "http://m/a.tar.gz?sig=abc=&x=1", "vocab": "https://h/v.json"}
    assert parse_overrides(None) == {} and parse_overrides(()) == {}


@pytest.mark.parametrize("pair", ["videos", "=http://m/a", "videos=", "videos http://m/a"])
def test_a_url_pair_without_a_key_or_a_url_is_one_line_naming_it(pair):
    with pytest.raises(ValueError, match=rf"^--url {pair!r}: expected KEY=URL, e.g. videos=https://"):
        parse_overrides([pair])
