"""Each dataset loader on tiny files in the exact official layout (docs/data.md), and their errors."""

import csv
import json

import numpy as np
import pytest
from datafiles import index_of, write_frames, write_video

from arc.data import DATASETS, DataFormatError, build_dataset

SSV1_NAMES = ["Pushing something from right to left", "Holding something", "Pushing something from left to right",
              "Turning the camera left while filming something"]


def make_ssv1(root, n_frames=(9, 12, 10, 14)):
    """SSv1 as distributed: labels file in file order, `id;name` CSVs, `20bn-something-something-v1/<id>/`."""
    (root / "something-something-v1-labels.csv").write_text("\n".join(SSV1_NAMES) + "\n")
    frames = root / "20bn-something-something-v1"
    train = [("101", SSV1_NAMES[0]), ("102", SSV1_NAMES[1]), ("103", SSV1_NAMES[2])]
    val = [("201", SSV1_NAMES[3])]
    for (vid, _), n in zip(train + val, n_frames, strict=True):
        write_frames(frames / vid, n, size=(30, 40))
    write_frames(frames / "301", 8, size=(30, 40))
    (root / "something-something-v1-train.csv").write_text("".join(f"{v};{c}\n" for v, c in train))
    (root / "something-something-v1-validation.csv").write_text("".join(f"{v};{c}\n" for v, c in val))
    (root / "something-something-v1-test.csv").write_text("301\n")
    return root


def test_ssv1_reads_frames_and_labels_in_sorted_name_order(tmp_path):
    root = make_ssv1(tmp_path)
    train = build_dataset("ssv1", root, "train", num_segments=4, input_size=32, seed=0)
    assert train.classes == sorted(SSV1_NAMES) and train.num_classes == 4
    # sorted: Holding (0), Pushing l->r (1), Pushing r->l (2), Turning (3)
    assert train.labels.tolist() == [2, 0, 1]
    assert len(train) == 3 and train.train
    clip, label, i, bad = train[1]
    assert clip.shape == (1, 4, 3, 32, 32) and label == 0 and i == 1
    # Pushing l->r / r->l flip into each other; the camera turn has no "right" partner here: never flipped
    assert train.transform.flip_map.tolist() == [0, 2, 1, -1]
    val = build_dataset("ssv1", root, "val", num_segments=4, input_size=32, clips=2)
    assert len(val) == 1 and val.labels.tolist() == [3] and not val.train
    assert val[0][0].shape == (2, 4, 3, 32, 32)
    test = build_dataset("ssv1", root, "test", num_segments=4, input_size=32)
    assert test.labels.tolist() == [-1] and test[0][0].shape == (1, 4, 3, 32, 32)


def test_ssv1_test_sampling_reads_the_centre_frames(tmp_path):
    root = make_ssv1(tmp_path)
    ds = build_dataset("ssv1", root, "train", train=False, num_segments=4, input_size=32)
    from arc.data.clips import read_clips
    frames = read_clips(ds.records[1].path, 4, False, 1, None)[0]    # video 102: 12 frames
    assert [index_of(f) for f in frames] == [1, 4, 7, 10]


def test_ssv1_errors_name_file_line_and_expectation(tmp_path):
    root = make_ssv1(tmp_path)
    csv_file = root / "something-something-v1-train.csv"
    csv_file.write_text(f"101;{SSV1_NAMES[0]}\n102 {SSV1_NAMES[1]}\n")
    with pytest.raises(DataFormatError, match=r"something-something-v1-train.csv, line 2: expected "
                                              r"'<video id>;<class name>'") as e:
        build_dataset("ssv1", root, "train")
    assert e.value.line == 2 and isinstance(e.value, ValueError)
    csv_file.write_text("101;Juggling something\n")
    with pytest.raises(DataFormatError, match=r"line 1: class 'Juggling something' is not in "
                                              r"something-something-v1-labels.csv"):
        build_dataset("ssv1", root, "train")
    (root / "something-something-v1-validation.csv").unlink()
    with pytest.raises(DataFormatError, match="something-something-v1-validation.csv.*not found"):
        build_dataset("ssv1", root, "val")
    with pytest.raises(DataFormatError, match="data root not found"):
        build_dataset("ssv1", root / "nowhere", "val")


def make_diving48(root, version=2):
    vocab = [["Back", "15som", "05Twis", "FREE"], ["Forward", "25som", "NoTwis", "PIKE"],
             ["Inward", "25som", "NoTwis", "TUCK"]]
    (root / "Diving48_vocab.json").write_text(json.dumps(vocab))
    prefix = "Diving48_V2" if version == 2 else "Diving48"
    train = [{"vid_name": "-mmq0PT-u8k_00155", "label": 2, "start_frame": 0, "end_frame": 20},
             {"vid_name": "-mmq0PT-u8k_00156", "label": 0, "start_frame": 0, "end_frame": 24}]
    test = [{"vid_name": "0ZsYOJ8Zyjc_00011", "label": 1, "start_frame": 0, "end_frame": 30}]
    (root / f"{prefix}_train.json").write_text(json.dumps(train))
    (root / f"{prefix}_test.json").write_text(json.dumps(test, indent=1))
    for e in train + test:
        write_video(root / "rgb" / f"{e['vid_name']}.mp4", e["end_frame"], size=(48, 64))
    return root


@pytest.mark.parametrize("name,version", [("diving48", 2), ("diving48-v1", 1)])
def test_diving48_reads_videos_and_json(tmp_path, name, version):
    root = make_diving48(tmp_path, version)
    train = build_dataset(name, root, "train", num_segments=8, input_size=32, seed=0)
    assert train.classes == ["Back 15som 05Twis FREE", "Forward 25som NoTwis PIKE", "Inward 25som NoTwis TUCK"]
    assert train.labels.tolist() == [2, 0] and train.records[0].path.name == "-mmq0PT-u8k_00155.mp4"
    clip, label, *_ = train[0]
    assert clip.shape == (1, 8, 3, 32, 32) and label == 2     # "always" flip policy keeps the label
    assert DATASETS[name].test_clips == 2
    val = build_dataset(name, root, "val", num_segments=8, input_size=32, clips=2, crops=3)
    assert len(val) == 1 and val.labels.tolist() == [1]
    clip, label, *_ = val[0]
    assert clip.shape == (6, 8, 3, 37, 37) and label == 1


def test_diving48_bad_json_and_labels_are_named_by_file_and_entry(tmp_path):
    root = make_diving48(tmp_path)
    f = root / "Diving48_V2_test.json"
    f.write_text('[\n {"vid_name": "a", "label": 1},\n {"vid_name": "b" "label": 2}\n]')
    with pytest.raises(DataFormatError, match=r"Diving48_V2_test.json, line 3: invalid JSON"):
        build_dataset("diving48", root, "test")
    f.write_text(json.dumps([{"vid_name": "a", "label": 1}, {"vid_name": "b", "label": 7}]))
    with pytest.raises(DataFormatError, match=r"entry 1 \(b\): \"label\" must be an integer in \[0, 3\)"):
        build_dataset("diving48", root, "test")
    f.write_text(json.dumps([{"name": "a", "label": 1}]))
    with pytest.raises(DataFormatError, match=r'entry 0: expected an object with a string "vid_name"'):
        build_dataset("diving48", root, "test")
    (root / "Diving48_vocab.json").unlink()
    with pytest.raises(DataFormatError, match="Diving48_vocab.json"):
        build_dataset("diving48", root, "train")


K400_HEADER = ["label", "youtube_id", "time_start", "time_end", "split", "is_cc"]


def make_k400(root):
    """K400 as distributed: CSVs with a header; train clips in per-class folders, validation clips flat."""
    train = [("abseiling", "AAAAAAAAAA1", 10, 20), ("zumba", "BBBBBBBBBB2", 0, 10),
             ("air drumming", "CCCCCCCCCC3", 5, 15), ("zumba", "GONEGONEGO4", 1, 11)]
    val = [("air drumming", "DDDDDDDDDD4", 30, 40)]
    for name, rows, split in (("train.csv", train, "train"), ("validate.csv", val, "val")):
        with open(root / name, "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(K400_HEADER)
            w.writerows([[lab, yid, s, e, split, 0] for lab, yid, s, e in rows])
    for lab, yid, s, e in train[:3]:
        write_video(root / "train" / lab / f"{yid}_{s:06d}_{e:06d}.mp4", 12, size=(48, 64))
    for _, yid, s, e in val:
        write_video(root / "val" / f"{yid}_{s:06d}_{e:06d}.mp4", 12, size=(64, 48))   # portrait
    return root


def test_k400_reads_csv_with_header_per_class_and_flat_folders(tmp_path):
    root = make_k400(tmp_path)
    train = build_dataset("k400", root, "train", num_segments=4, input_size=32, seed=0)
    assert train.missing == [root / "train" / "GONEGONEGO4_000001_000011.mp4"]   # left out, listed
    assert train.classes == ["abseiling", "air drumming", "zumba"]
    assert train.labels.tolist() == [0, 2, 1] and len(train) == 3
    assert train.records[2].path.name == "CCCCCCCCCC3_000005_000015.mp4"
    assert train[0][0].shape == (1, 4, 3, 32, 32)
    val = build_dataset("k400", root, "val", num_segments=4, input_size=32)
    assert val.classes == train.classes and val.labels.tolist() == [1]
    assert DATASETS["k400"].prescale == 320
    assert val[0][0].shape == (1, 4, 3, 32, 32)


def test_k400_bad_header_times_and_absent_clips_are_named_by_file_and_line(tmp_path):
    root = make_k400(tmp_path)
    (root / "validate.csv").write_text("label,youtube_id,start,end\nzumba,X,1,2\n")
    with pytest.raises(DataFormatError, match=r"validate.csv, line 1: header must have .* missing time_start"):
        build_dataset("k400", root, "val")
    (root / "validate.csv").write_text(",".join(K400_HEADER) + "\nzumba,X,one,2,val,0\n")
    with pytest.raises(DataFormatError, match=r"validate.csv, line 2: time_start/time_end must be numbers"):
        build_dataset("k400", root, "val")
    (root / "validate.csv").write_text(",".join(K400_HEADER) + "\nzumba,NOPE,1,2,val,0\n")
    with pytest.raises(DataFormatError, match=r"none of its 1 clips was found .*NOPE_000001_000002"):
        build_dataset("k400", root, "val")


def test_generic_lists_of_frame_folders_and_videos(tmp_path):
    write_frames(tmp_path / "frames" / "a", 10, size=(40, 40))
    write_frames(tmp_path / "frames" / "b", 7, size=(40, 40), name="img_{:05d}.jpg")
    write_video(tmp_path / "videos" / "c.mp4", 15, size=(48, 64))
    (tmp_path / "train.txt").write_text("frames/a 10 0\nframes/b 7 2\nvideos/c.mp4 1\n")
    (tmp_path / "classes.txt").write_text("waving\nclapping\njumping\n")
    ds = build_dataset("list", tmp_path, "train", num_segments=3, input_size=32, seed=0)
    assert ds.classes == ["waving", "clapping", "jumping"]      # index order = file order for lists
    assert ds.labels.tolist() == [0, 2, 1]
    assert [r.path.name for r in ds.records] == ["a", "b", "c.mp4"]
    for i in range(3):
        clip, label, j, _ = ds[i]
        assert clip.shape == (1, 3, 3, 32, 32) and j == i and label == ds.labels[i]
    (tmp_path / "classes.txt").unlink()
    (tmp_path / "lists").mkdir()
    (tmp_path / "lists" / "val_videos.txt").write_text(f"{tmp_path / 'videos' / 'c.mp4'} 4\n")
    val = build_dataset("list", tmp_path, "val", list_file="lists/{split}_videos.txt", num_segments=3,
                        input_size=32)
    assert val.classes == ["0", "1", "2", "3", "4"] and val.labels.tolist() == [4]
    assert val[0][0].shape == (1, 3, 3, 32, 32)


def test_generic_list_bad_lines_and_unnamed_labels_are_named_by_file_and_line(tmp_path):
    (tmp_path / "train.txt").write_text("a 3 1\nb two 1\n")
    with pytest.raises(DataFormatError, match=r"train.txt, line 2: expected 'path num_frames label' or "
                                              r"'path label'"):
        build_dataset("list", tmp_path, "train")
    (tmp_path / "train.txt").write_text("a 3 1\nb 4 5\n")
    (tmp_path / "classes.txt").write_text("x\ny\n")
    with pytest.raises(DataFormatError, match=r"train.txt, line 2: label 5 has no name in .*classes.txt"):
        build_dataset("list", tmp_path, "train")
    with pytest.raises(DataFormatError, match=r"val.txt: list file for split 'val' not found"):
        build_dataset("list", tmp_path, "val")


def test_unknown_names_are_refused(tmp_path):
    with pytest.raises(ValueError, match="unknown dataset 'ucf101'"):
        build_dataset("ucf101", tmp_path, "train")
    with pytest.raises(ValueError, match="unknown split 'dev'"):
        build_dataset("ssv1", tmp_path, "dev")


def test_seeded_augmentation_is_a_function_of_seed_epoch_and_index(tmp_path):
    root = make_ssv1(tmp_path)
    a = build_dataset("ssv1", root, "train", num_segments=4, input_size=32, seed=3)
    b = build_dataset("ssv1", root, "train", num_segments=4, input_size=32, seed=3)
    assert np.array_equal(a[2][0].numpy(), b[2][0].numpy())
    draws = set()
    for epoch in range(6):
        draws.add(a[(2, epoch)][0].numpy().tobytes())
    assert len(draws) > 3


# --- malformed index files: one error naming the file and the line ----------------------------------------------

def k400_val_csv(root, row: str):
    make_k400(root)
    (root / "validate.csv").write_text(",".join(K400_HEADER) + "\nzumba,DDDDDDDDDD4,30,40,val,0\n" + row + "\n")
    return "k400", root / "validate.csv", 3


def diving48_test_json(root, text: str, line: int | None):
    make_diving48(root)
    (root / "Diving48_V2_test.json").write_text(text)
    return "diving48", root / "Diving48_V2_test.json", line


def list_file(root, text: str, classes: str | None = None):
    write_frames(root / "a", 4, size=(16, 16))
    (root / "val.txt").write_text("a 4 0\n" + text + "\n")
    if classes is not None:
        (root / "classes.txt").write_text(classes)
    return "list", root / "val.txt", 2


MALFORMED = {
    "k400-inf": (lambda r: k400_val_csv(r, "zumba,EEEEEEEEEE5,inf,40,val,0"), "time_start/time_end must be numbers"),
    "k400-nan": (lambda r: k400_val_csv(r, "zumba,EEEEEEEEEE5,1,nan,val,0"), "time_start/time_end must be numbers"),
    "k400-negative": (lambda r: k400_val_csv(r, "zumba,EEEEEEEEEE5,-5,4,val,0"), "numbers of seconds >= 0"),
    "k400-huge-field": (lambda r: k400_val_csv(r, "zumba,E" + "x" * 200_000 + ",1,2,val,0"),
                        "not a readable CSV row (field larger than field limit (131072))"),
    "k400-nul": (lambda r: k400_val_csv(r, "zumba,EEE\0EEEE,1,2,val,0"), "is not a plain file name"),
    "k400-path": (lambda r: k400_val_csv(r, "zumba,../../etc/x,1,2,val,0"), "is not a plain file name"),
    "diving48-nested": (lambda r: diving48_test_json(r, '[\n{"vid_name": "a", "label": 1},\n' + "[" * 100_000, 3),
                        "lists and objects nested more than 32 deep"),
    "diving48-huge-int": (lambda r: diving48_test_json(r, '[\n{"vid_name": "a",\n "label": ' + "9" * 5000 + "}]", 3),
                          "invalid JSON: Exceeds the limit (4300 digits)"),
    "diving48-path": (lambda r: diving48_test_json(r, '[{"vid_name": "../../x", "label": 1}]', None),
                      "entry 0: vid_name '../../x' is not a plain file name"),
    "list-double-minus": (lambda r: list_file(r, "a 4 --1"), "integers of ASCII digits after the path"),
    "list-superscript": (lambda r: list_file(r, "a 4 ²"), "integers of ASCII digits after the path"),
    "list-label-1e10": (lambda r: list_file(r, f"a 4 {10**10}"),
                        "label 10000000000 would make 10,000,000,001 classes, more than 100,000 without their names"),
    "list-beyond-classes": (lambda r: list_file(r, "a 4 2", classes="x\ny\n"), "label 2 has no name in"),
}


@pytest.mark.parametrize("case", list(MALFORMED))
def test_every_malformed_line_field_or_number_is_one_error_naming_file_and_line(tmp_path, case):
    make, expected = MALFORMED[case]
    dataset, path, line = make(tmp_path)
    with pytest.raises(DataFormatError) as e:
        build_dataset(dataset, tmp_path, "val")
    message = str(e.value)
    where = f"{path}, line {line}: " if line is not None else f"{path}: "       # a JSON entry names itself
    assert message.startswith(where) and expected in message, message
    assert "\n" not in message and len(message) < 400


def test_data_check_reports_a_malformed_index_in_one_line_without_a_traceback(tmp_path):
    from click.testing import CliRunner

    from arc.cli.main import cli

    k400_val_csv(tmp_path, "zumba,EEEEEEEEEE5,inf,40,val,0")
    r = CliRunner().invoke(cli, ["data", "check", "--dataset", "k400", "--data-root", str(tmp_path), "--quick"])
    assert r.exit_code == 1 and "Traceback" not in r.output, r.output
    assert f"val: {tmp_path / 'validate.csv'}, line 3: time_start/time_end must be numbers of seconds >= 0, got " \
           f"'inf', '40'" in r.output.splitlines()


@pytest.mark.parametrize("case", list(MALFORMED))
def test_train_on_a_malformed_index_is_one_error_line_exit_2_and_makes_no_run_folder(tmp_path, case):
    from click.testing import CliRunner

    from arc.cli.main import cli

    make, expected = MALFORMED[case]
    dataset, path, line = make(tmp_path)
    lists = ["--train-list", str(path), "--val-list", str(path)] if dataset == "list" else []
    r = CliRunner().invoke(cli, ["train", "--dataset", dataset, "--data-root", str(tmp_path), *lists, "--out",
                                 str(tmp_path / "run"), "--pretrained", "none", "--workers", "0"])
    errors = [x for x in r.output.splitlines() if x.startswith("Error:")]
    where = f"{path}, line {line}: " if line is not None else f"{path}: "
    assert r.exit_code == 2 and len(errors) == 1, r.output
    assert where in errors[0] and expected in errors[0], errors[0]
    assert "Traceback" not in r.output and not (tmp_path / "run").exists()
