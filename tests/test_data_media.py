"""Reading frames from real video files (PyAV) and frame folders (Pillow); unreadable input."""

import warnings

import av
import numpy as np
import pytest
import torch
from datafiles import cut, frame, index_of, write_faststart, write_frames, write_video

from arc.data import BadSample, ClipDataset, MediaError, Record, collate_clips, load_clip
from arc.data.sampling import sample_indices
from arc.data.video import FrameFolder, TruncatedVideo, VideoFile, list_frames, open_media


@pytest.mark.parametrize("gop", [None, 1, 5])
def test_video_reads_the_requested_frames_in_any_order(tmp_path, gop):
    path = write_video(tmp_path / "v.mp4", 40, gop=gop)
    with VideoFile(path) as v:
        assert v.num_frames == 40
        wanted = [0, 3, 3, 17, 39, 12, 38]
        assert [index_of(img) for img in v.read(wanted)] == wanted
        assert v.read([5])[0].size == (64, 48)


def test_video_seeks_instead_of_decoding_everything(tmp_path):
    path = write_video(tmp_path / "v.mp4", 200, gop=10)
    with VideoFile(path) as v:
        idx = sample_indices(v.num_frames, 8, train=False)[0]
        assert [index_of(img) for img in v.read(idx)] == idx.tolist()
        # each wanted frame sits at most 9 frames after a keyframe: at most 8·10 of the 200 frames decoded
        assert v.decoded <= 80
    with VideoFile(path) as v:
        assert index_of(v.read([195])[0]) == 195
        assert v.decoded <= 10


def test_frame_folder_orders_by_number_and_skips_flow(tmp_path):
    folder = write_frames(tmp_path / "vid", 12, name="img_{:d}.jpg")   # img_1 … img_12: not zero-padded
    for k in (1, 2):
        (tmp_path / "vid" / f"flow_x_{k:05d}.jpg").write_bytes((tmp_path / "vid" / "img_1.jpg").read_bytes())
    assert [p.name for p in list_frames(folder)][:3] == ["img_1.jpg", "img_2.jpg", "img_3.jpg"]
    with open_media(folder) as media:
        assert isinstance(media, FrameFolder) and media.num_frames == 12
        assert [index_of(img) for img in media.read([11, 0, 9, 9])] == [11, 0, 9, 9]


def test_load_clip_from_a_video_and_from_a_frame_folder_agree(tmp_path):
    video = write_video(tmp_path / "v.mp4", 24, size=(48, 64))
    folder = write_frames(tmp_path / "f", 24, size=(48, 64))
    a = load_clip(video, num_segments=4, input_size=32)
    b = load_clip(folder, num_segments=4, input_size=32)
    assert a.shape == b.shape == (1, 4, 3, 32, 32) and a.dtype == torch.float32
    assert torch.allclose(a, b, atol=0.1)     # H.264 vs JPEG, same frames 3, 9, 15, 21
    grey = a[0, :, :, 16:, 16:].mean(dim=(1, 2, 3))
    assert torch.all(grey[1:] > grey[:-1])   # later frames are brighter
    three = load_clip(video, num_segments=4, clips=2, crops=3, input_size=32)
    assert three.shape == (6, 4, 3, 37, 37)   # 256/224·32 = 37, full-resolution three-crop


def test_load_clip_names_the_unreadable_file(tmp_path):
    bad = tmp_path / "broken.mp4"
    bad.write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 8)
    with pytest.raises(MediaError, match="broken.mp4"):
        load_clip(bad)
    with pytest.raises(ValueError, match="no such video file or frame folder"):
        load_clip(tmp_path / "absent.mp4")
    (tmp_path / "empty").mkdir()
    with pytest.raises(MediaError, match="no frame images"):
        load_clip(tmp_path / "empty")


def _dataset(records, train=False):
    return ClipDataset(records, ["a", "b"], name="test", num_segments=4, train=train, input_size=32, seed=0)


def test_unreadable_samples_are_left_out_at_test_time_and_replaced_in_training_naming_file_and_reason(tmp_path):
    good = write_video(tmp_path / "good.mp4", 16)
    truncated = tmp_path / "truncated.mp4"
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    garbage = tmp_path / "garbage.mp4"
    garbage.write_bytes(np.random.default_rng(0).bytes(4000))
    folder = write_frames(tmp_path / "frames", 4)    # 4 frames, 4 segments: every frame is read
    jpg = folder / "00003.jpg"
    jpg.write_bytes(jpg.read_bytes()[:200])
    records = [Record(good, 1), Record(truncated, 0), Record(garbage, 0), Record(folder, 1),
               Record(tmp_path / "missing", 0)]
    unreadable = [str(truncated), str(garbage), str(folder), str(tmp_path / "missing")]
    # test time: each unreadable video is a BadSample in its place, dropped by collate and handed back
    items = [_dataset(records)[i] for i in range(len(records))]
    assert not isinstance(items[0], BadSample)
    bad = items[1:]
    assert all(isinstance(b, BadSample) for b in bad)
    assert [b.path for b in bad] == unreadable
    assert "00003.jpg" in bad[2].reason
    assert [b.index for b in bad] == [1, 2, 3, 4] and all(b.reason for b in bad)
    clips, labels, indices, dropped = collate_clips(items)
    assert clips.shape == (1, 1, 4, 3, 32, 32)
    assert labels.tolist() == [1] and indices.tolist() == [0]
    assert dropped == bad
    # training: the next readable video of the index takes its place (wrapping around), the skipped ones listed
    clip, label, j, skipped = _dataset(records, train=True)[1]
    assert (j, label) == (0, 1) and [b.path for b in skipped] == unreadable
    clips, labels, indices, reported = collate_clips([_dataset(records, train=True)[i] for i in (0, 3)])
    assert indices.tolist() == [0, 0] and [b.path for b in reported] == unreadable[2:]
    # too many in a row: the sample itself is given up (collate drops it, all the tries reported)
    gave_up = ClipDataset(records[1:], ["a", "b"], name="t", num_segments=4, train=True, input_size=32)[0]
    assert isinstance(gave_up, BadSample) and [b.path for b in collate_clips([gave_up])[3]] == unreadable


def test_collate_of_only_bad_samples_is_empty():
    clips, labels, indices, bad = collate_clips([BadSample("x", "gone", 3)])
    assert clips.numel() == 0 and labels.numel() == 0 and indices.numel() == 0 and len(bad) == 1


def test_a_good_video_gives_no_warning(tmp_path):
    ds = _dataset([Record(write_video(tmp_path / "v.mp4", 10), 0)])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        clip, label, i, _ = ds[0]
    assert clip.shape == (1, 4, 3, 32, 32) and label == 0 and i == 0


def test_frame_sizes_survive_odd_shapes(tmp_path):
    folder = tmp_path / "portrait"
    folder.mkdir()
    for k in range(6):
        frame(k, size=(80, 30)).save(folder / f"{k:05d}.png")
    clip = load_clip(folder, num_segments=3, crops=3, input_size=24)
    assert clip.shape == (3, 3, 3, 27, 27)


def test_a_good_video_holds_the_frames_its_container_declares(tmp_path):
    with VideoFile(write_video(tmp_path / "v.mp4", 30)) as v:    # x264 with B-frames: reordered timestamps
        assert v.declared_frames == v.num_frames == 30


def test_a_truncated_faststart_video_is_a_bad_sample_not_a_shorter_video(tmp_path):
    path = cut(write_faststart(tmp_path / "third.mp4", 30), 1 / 3)
    with pytest.raises(TruncatedVideo, match="the container declares 30 frames, the file holds 9"):
        VideoFile(path)
    item = _dataset([Record(path, 0)], train=True)[0]
    assert isinstance(item, BadSample) and item.reason.startswith("truncated: ")
    with pytest.raises(MediaError, match="third.mp4: truncated"):
        load_clip(path)


def test_a_cut_matroska_video_is_found_by_its_duration_tag(tmp_path):
    path = tmp_path / "v.mkv"
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=10)
        stream.height, stream.width = 48, 64
        stream.pix_fmt = "yuv420p"
        for k in range(40):
            for packet in stream.encode(av.VideoFrame.from_image(frame(k))):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    with VideoFile(path) as v:
        assert v.declared_frames is None and v.num_frames == 40       # Matroska declares no frame count
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(TruncatedVideo, match=r"declares 4.00 s of video, the file holds"):
        VideoFile(path)


def test_strict_reading_says_where_decoding_stops(tmp_path):
    with VideoFile(write_video(tmp_path / "v.mp4", 12)) as v:
        v.pts.append(v.pts[-1] + (v.pts[-1] - v.pts[-2]))   # a 13th packet that decodes to nothing
        assert index_of(v.read([12])[0]) == 11               # training: the last decoded frame stands in
        with pytest.raises(TruncatedVideo, match="decoding stops after frame 12 of 13; frame 13 cannot be decoded"):
            v.read([3, 12], strict=True)


def test_zero_byte_video_is_named_as_empty(tmp_path):
    (tmp_path / "zero.mp4").write_bytes(b"")
    with pytest.raises(MediaError, match="zero.mp4: empty file"):
        VideoFile(tmp_path / "zero.mp4")
