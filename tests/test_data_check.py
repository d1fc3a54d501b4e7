"""`arc data check` through the real CLI: it decodes what the test sampler reads, names each missing, unreadable or
short video with the reason, counts them in the table and exits 1 when anything is wrong."""

import json

import pytest
from click.testing import CliRunner
from datafiles import cut, write_faststart, write_frames, write_video

from arc.cli.main import cli
from arc.data.check import check_media


def run(*args):
    return CliRunner().invoke(cli, ["data", "check", *args])


def row(output, split):
    """The table row of `split`, as its cells."""
    return next(line.split() for line in output.splitlines() if line.split()[:1] == [split])


@pytest.fixture(scope="module")
def diving48(tmp_path_factory):
    """Diving48 V2 with 3 good videos, a 0-byte mp4, an mp4 cut in half (index at the end: unopenable) and a
    faststart mp4 cut to a third (index at the front: declares 30 frames, holds fewer)."""
    root = tmp_path_factory.mktemp("d48")
    (root / "Diving48_vocab.json").write_text(json.dumps([["Back"], ["Forward"]]))
    names = ["good1", "zero", "good2", "half", "third", "good3"]
    for name in names:
        (write_faststart if name in ("third", "good3") else write_video)(root / "rgb" / f"{name}.mp4", 30)
    (root / "rgb" / "zero.mp4").write_bytes(b"")
    cut(root / "rgb" / "half.mp4", 1 / 2)
    cut(root / "rgb" / "third.mp4", 1 / 3)
    entries = [{"vid_name": n, "label": k % 2, "start_frame": 0, "end_frame": 30} for k, n in enumerate(names)]
    (root / "Diving48_V2_train.json").write_text(json.dumps(entries))
    (root / "Diving48_V2_test.json").write_text(json.dumps(entries[:1]))
    return root


def test_check_decodes_every_video_and_names_each_unreadable_or_truncated_one(diving48):
    r = run("--dataset", "diving48", "--data-root", str(diving48), "--workers", "0")
    assert r.exit_code == 1, r.output
    # split status videos classes missing unreadable short
    assert row(r.stdout, "train")[:7] == ["train", "problems", "6", "2", "0", "2", "1"]
    assert row(r.stdout, "val")[:7] == ["val", "ok", "1", "2", "0", "0", "0"]
    lines = r.stdout.splitlines()
    assert f"train: unreadable: {diving48 / 'rgb' / 'zero.mp4'}: empty file (0 bytes)" in lines
    assert any(line.startswith(f"train: unreadable: {diving48 / 'rgb' / 'half.mp4'}: ") for line in lines)
    assert any(line.startswith(f"train: short: {diving48 / 'rgb' / 'third.mp4'}: truncated: the container "
                               "declares 30 frames, the file holds ") for line in lines), r.stdout
    assert not any("good" in line for line in lines if line.startswith("train: "))


def test_check_quick_only_looks_for_the_files(diving48):
    r = run("--dataset", "diving48", "--data-root", str(diving48), "--quick")
    assert r.exit_code == 0, r.output
    assert row(r.stdout, "train")[:7] == ["train", "ok", "6", "2", "0", "—", "—"]
    assert "looked for 8 videos on disk" in r.stdout


def test_check_in_parallel_finds_what_one_process_finds_and_shows_progress(diving48):
    one = run("--dataset", "diving48", "--data-root", str(diving48), "--workers", "0")
    two = run("--dataset", "diving48", "--data-root", str(diving48), "--workers", "2")
    assert two.exit_code == 1
    problems = [line for line in one.stdout.splitlines() if line.startswith("train: ")]
    assert len(problems) == 3
    assert [line for line in two.stdout.splitlines() if line.startswith("train: ")] == problems
    # not a terminal: plain progress lines on stderr, at the start and end of each split
    assert "train: 0/6 videos decoded" in two.stderr and "train: 6/6 videos decoded" in two.stderr
    assert "with 2 process(es)" in two.stdout


def ssv1(root, folders):
    """An SSv1 root whose train split lists `folders` (name → number of frames, or None for no folder)."""
    (root / "something-something-v1-labels.csv").write_text("Holding something\nTurning something\n")
    (root / "something-something-v1-train.csv").write_text("".join(f"{v};Holding something\n" for v in folders))
    (root / "something-something-v1-validation.csv").write_text(f"{next(iter(folders))};Turning something\n")
    for name, n in folders.items():
        if n is not None:
            write_frames(root / "20bn-something-something-v1" / name, n, size=(24, 32))
    return root / "20bn-something-something-v1"


def test_check_finds_empty_folders_empty_jpegs_and_gaps_in_the_numbering(tmp_path):
    frames = ssv1(tmp_path, {"1": 20, "2": 0, "3": 20, "4": 20, "5": 20, "6": None})
    (frames / "3" / "00020.jpg").write_bytes(b"")       # the test sampler (8 of 20) never reads frame 20
    (frames / "4" / "00007.jpg").unlink()
    (frames / "5" / "00002.jpg").write_bytes((frames / "5" / "00002.jpg").read_bytes()[:100])   # read: frame 2
    r = run("--dataset", "ssv1", "--data-root", str(tmp_path), "--workers", "0")
    assert r.exit_code == 1, r.output
    assert row(r.stdout, "train")[:7] == ["train", "problems", "6", "2", "1", "3", "1"]
    lines = r.stdout.splitlines()
    assert f"train: missing: {frames / '6'}: not on disk" in lines
    assert any(line.startswith(f"train: unreadable: {frames / '2'}: no frame images") for line in lines)
    assert f"train: unreadable: {frames / '3'}: empty frame image 00020.jpg (0 bytes)" in lines
    assert (f"train: short: {frames / '4'}: frame numbers jump from 6 to 8: 1 of the frames numbered 1…20 are "
            "missing") in lines
    assert any(line.startswith(f"train: unreadable: {frames / '5'}: corrupt frame image 00002.jpg") for line in lines)
    assert row(r.stdout, "val")[:2] == ["val", "ok"]


def test_check_counts_and_lists_kinetics_clips_missing_on_disk(tmp_path):
    header = "label,youtube_id,time_start,time_end,split\n"
    rows = ["abseiling,aaaaaaaaaaa,10,20,train", "abseiling,bbbbbbbbbbb,0,10,train", "zumba,ccccccccccc,5,15,train"]
    (tmp_path / "train.csv").write_text(header + "\n".join(rows) + "\n")
    write_video(tmp_path / "train" / "abseiling" / "aaaaaaaaaaa_000010_000020.mp4", 20)
    r = run("--dataset", "k400", "--data-root", str(tmp_path), "--workers", "0")
    assert r.exit_code == 1, r.output
    assert row(r.stdout, "train")[:7] == ["train", "problems", "3", "2", "2", "0", "0"]
    lines = r.stdout.splitlines()
    for clip in ("bbbbbbbbbbb_000000_000010.mp4", "ccccccccccc_000005_000015.mp4"):
        assert any(line.startswith("train: missing: ") and clip in line for line in lines), r.stdout
    assert row(r.stdout, "val")[:2] == ["val", "absent"]


def test_check_media_decodes_what_a_two_clip_test_sampler_reads(tmp_path):
    folder = write_frames(tmp_path / "f", 16, size=(24, 32))
    (folder / "00001.jpg").write_bytes(b"not a jpeg")       # frame 0: the start of the first segment
    assert check_media(folder, 8, clips=1) is None          # centres 1, 3, …, 15: frame 0 not read
    problem = check_media(folder, 8, clips=2)
    assert problem.kind == "unreadable" and "00001.jpg" in problem.reason
