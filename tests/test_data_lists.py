"""Generic list files are read one way everywhere: `DATA_ROOT/<split>.txt` by default, `--train-list` /
`--val-list` to point elsewhere — in `arc data check` and in `arc train` alike."""

import pytest
from click.testing import CliRunner
from datafiles import write_frames

from arc.cli.main import cli
from arc.training.config import TrainConfig
from arc.training.loop import train


@pytest.fixture
def lists(tmp_path):
    for i in range(6):
        write_frames(tmp_path / "frames" / f"v{i}", 6, size=(24, 32))
    (tmp_path / "train.txt").write_text("".join(f"frames/v{i} 6 {i % 2}\n" for i in range(4)))
    (tmp_path / "val.txt").write_text("".join(f"frames/v{i} 6 {i % 2}\n" for i in range(4, 6)))
    (tmp_path / "lists").mkdir()
    for split in ("train", "val"):
        (tmp_path / "lists" / f"{split}.txt").write_text((tmp_path / f"{split}.txt").read_text()
                                                         .replace("frames/", "../frames/"))
    return tmp_path


def test_data_check_reads_default_lists_and_the_same_options_as_train(lists):
    default = CliRunner().invoke(cli, ["data", "check", "--dataset", "list", "--data-root", str(lists), "--quick"])
    assert default.exit_code == 0, default.output
    given = CliRunner().invoke(cli, ["data", "check", "--dataset", "list", "--data-root", str(lists / "lists"),
                                     "--train-list", str(lists / "lists" / "train.txt"),
                                     "--val-list", str(lists / "lists" / "val.txt"), "--quick"])
    assert given.exit_code == 0, given.output
    assert [line.split()[:3] for line in given.output.splitlines() if line.startswith(("train ", "val "))] == \
        [["train", "ok", "4"], ["val", "ok", "2"]]


@pytest.mark.slow
def test_train_reads_data_root_lists_without_list_options(lists, tmp_path_factory):
    out = tmp_path_factory.mktemp("out")
    summary = train(TrainConfig(dataset="list", data_root=str(lists), out=str(out), backbone="r18", n=1,
                                num_segments=2, input_size=32, epochs=1, batch_size=2, workers=0, threads=1,
                                pretrained="none"))
    assert summary["epochs"] == 1 and (out / "best.pt").is_file()
