"""Augmentation and test-time views: geometry, flips, normalisation."""

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image
from strategies import seeds

from arc.data.transforms import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    SCALES,
    ClipTransform,
    centre_crop_box,
    multiscale_crop_box,
    prescaled_size,
    three_crop_boxes,
)


def ramp_image(w=80, h=60):
    """Red channel = column index, green = row index: a crop's content tells where it came from."""
    a = np.zeros((h, w, 3), dtype=np.uint8)
    a[..., 0] = np.arange(w)[None, :]
    a[..., 1] = np.arange(h)[:, None]
    return Image.fromarray(a)


def unnormalise(x: torch.Tensor) -> torch.Tensor:
    """`[..., 3, H, W]` normalised → 0..255."""
    mean, std = torch.tensor(IMAGENET_MEAN).view(3, 1, 1), torch.tensor(IMAGENET_STD).view(3, 1, 1)
    return (x * std + mean) * 255


@given(w=st.integers(40, 700), h=st.integers(40, 700), size=st.sampled_from([32, 64, 112, 224]), seed=seeds)
def test_multiscale_crop_is_inside_the_frame_with_tsm_sizes(w, h, size, seed):
    left, top, right, bottom = multiscale_crop_box(w, h, size, np.random.default_rng(seed))
    assert 0 <= left < right <= 1 + 1e-9 and 0 <= top < bottom <= 1 + 1e-9
    cw, ch = round((right - left) * w), round((bottom - top) * h)
    base = min(w, h)
    allowed = [size if abs(int(base * s) - size) < 3 else int(base * s) for s in SCALES]
    ok = [min(a, lim) for a in allowed for lim in (w, h)]
    assert cw in ok and ch in ok
    # width and height are at most one scale step apart
    iw, ih = allowed.index(cw) if cw in allowed else None, allowed.index(ch) if ch in allowed else None
    if iw is not None and ih is not None:
        assert abs(iw - ih) <= 1


def test_multiscale_crop_uses_all_positions_and_scales():
    rng = np.random.default_rng(0)
    boxes = {multiscale_crop_box(320, 240, 224, rng) for _ in range(3000)}
    lefts = {round(b[0] * 320) for b in boxes}
    widths = {round((b[2] - b[0]) * 320) for b in boxes}
    assert widths == {240, 210, 180, 158}       # 240·(1, .875, .75, .66)
    assert 0 in lefts and max(lefts) == 4 * ((320 - 158) // 4)   # 13 positions on quarter steps
    # sizes within 3 px of the input size snap to it: 256·.875 = 224
    snapped = {round((b[2] - b[0]) * 340) for b in (multiscale_crop_box(340, 256, 224, rng) for _ in range(500))}
    assert snapped == {256, 224, 192, 168}


def test_prescale_sizes_follow_the_input_size():
    assert prescaled_size(176, 100, (240, 320), 224) == (320, 240)     # SSv1 frames are 100 px high
    assert prescaled_size(176, 100, (240, 320), 112) == (160, 120)
    assert prescaled_size(340, 256, 320, 224) == (425, 320)            # Kinetics: shorter side 320
    assert prescaled_size(256, 340, 320, 224) == (320, 425)
    assert prescaled_size(77, 55, None, 224) == (77, 55)


def test_centre_crop_is_224_of_the_256_resize():
    left, top, right, bottom = centre_crop_box(320, 240, 224)
    # shorter side 240 -> 256, so the 224 crop covers 224·240/256 = 210 pre-scaled pixels, centred
    assert right - left == pytest.approx(210 / 320) and bottom - top == pytest.approx(210 / 240)
    assert left == pytest.approx((320 - 210) / 2 / 320) and top == pytest.approx(15 / 240)


def test_three_crops_cover_start_centre_end_of_the_long_side():
    assert three_crop_boxes(400, 200) == [(0.0, 0.0, 0.5, 1.0), (0.25, 0.0, 0.75, 1.0), (0.5, 0.0, 1.0, 1.0)]
    assert three_crop_boxes(100, 200) == [(0.0, 0.0, 1.0, 0.5), (0.0, 0.25, 1.0, 0.75), (0.0, 0.5, 1.0, 1.0)]
    views, label = ClipTransform(input_size=28, crops=3)([[ramp_image(90, 30)] * 2], 5)
    assert views.shape == (3, 2, 3, 32, 32) and label == 5
    red = unnormalise(views[:, 0])[:, 0].mean(dim=(1, 2))   # mean column of each crop
    assert red[0] == pytest.approx(14.5, abs=1.5) and red[1] == pytest.approx(44.5, abs=1.5)
    assert red[2] == pytest.approx(74.5, abs=1.5)


def test_normalisation_uses_imagenet_statistics():
    grey = Image.new("RGB", (40, 30), tuple(round(255 * m) for m in IMAGENET_MEAN))
    views, _ = ClipTransform(input_size=16)([[grey]], 0)
    assert views.dtype == torch.float32 and views.shape == (1, 1, 3, 16, 16)
    assert views.abs().max() < 0.01
    white = Image.new("RGB", (40, 30), (255, 255, 255))
    views, _ = ClipTransform(input_size=16)([[white]], 0)
    expected = [(1 - m) / s for m, s in zip(IMAGENET_MEAN, IMAGENET_STD, strict=True)]
    assert torch.allclose(views[0, 0, :, 0, 0], torch.tensor(expected), atol=1e-5)


def test_flip_mirrors_the_clip_and_swaps_a_paired_label():
    frames = [[ramp_image(), ramp_image().rotate(5)]]
    flip = np.array([1, 0, -1, 3])      # 0<->1 paired, 2 never flipped, 3 into itself
    with_flip = ClipTransform(input_size=32, train=True, flip_map=flip)
    without = ClipTransform(input_size=32, train=True, flip_map=np.array([-1, -1, -1, -1]))
    seen = {0: set(), 2: set(), 3: set()}
    for seed in range(40):
        for label in seen:
            a, la = with_flip(frames, label, np.random.default_rng(seed))
            b, lb = without(frames, label, np.random.default_rng(seed))    # same crop, no flip
            assert lb == label
            if torch.equal(a, b):
                assert la == label
                seen[label].add("same")
            else:
                assert torch.equal(a, torch.flip(b, dims=[-1]))
                assert la == {0: 1, 3: 3}[label]
                seen[label].add("flipped")
    assert seen[0] == {"same", "flipped"} and seen[3] == {"same", "flipped"}
    assert seen[2] == {"same"}


def test_one_crop_for_all_frames_of_a_clip():
    frames = [[ramp_image()] * 4]
    views, _ = ClipTransform(input_size=24, train=True)(frames, 0, np.random.default_rng(1))
    assert views.shape == (1, 4, 3, 24, 24)
    assert all(torch.equal(views[0, 0], views[0, t]) for t in range(4))


def test_bad_transform_settings_are_refused():
    with pytest.raises(ValueError, match="crops must be one of 1, 3, got 5"):
        ClipTransform(crops=5)
