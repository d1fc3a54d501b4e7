"""The paper's Fig. 3: the backward attention of ARC layers, per recursive step and per input channel.

At step `i ≥ 2` an ARC layer adds the attention map `A_i = Σ_{j<i} Wa_j ⋆ (PoolS(U(Y_j)) ⊕ PoolT(U(Y_j)))` to its
embedded input before the state `Z_i` is formed (docs/layer.md). `A_i` is `[N·T, C, H, W]`: one value per input
channel, frame and position. The figure reduces it to one vector per step — the mean over the clips, frames and
positions of each channel — and draws the vectors of steps 2…n as the rows of a heat map (steps × channels), one
panel per layer. A channel that the parts already produced push up (red) or down (blue) is attended to, or away
from, in the next step; step 1 has no attention (`Z_1` is the input itself).

    fig = plot_attention("runs/demo/best.pt")                           # 8 validation clips, first ARC conv per stage
    fig = plot_attention("runs/demo/best.pt", video="clip.mp4", layers=["res3-block1-conv2"])
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from arc.runtime.device import pick_device
from arc.viz.common import (
    VizError,
    capture_inputs,
    describe,
    find_arc_layer,
    load,
    model_label,
    module_name,
    new_figure,
    require_arc,
    suptitle,
    val_clips,
    video_clip,
)


def default_layers(model) -> list[str]:
    """The first ARC conv of each ARC stage (`res3-block0-conv1`, `res4-block0-conv1`, …)."""
    first = {}
    for name in require_arc(model, "the model", "attention"):
        first.setdefault(name.split("-")[0], name)
    return list(first.values())


def attention_vectors(model, clips: torch.Tensor, layers: list[str]) -> dict[str, np.ndarray]:
    """For each named ARC layer, `[n-1, C]`: row `i-2` is the mean of `A_i` over clips, frames and positions
    (from `ARCConv2d.trace` on the input the layer receives when `model` runs on `clips` `[B, T, 3, S, S]`)."""
    found = [find_arc_layer(model, name) for name in layers]
    without = [friendly for friendly, layer in found if layer.attend is None]
    if without:
        raise VizError(f"{describe(without)}: built without the backward attention (aru_terms without 'attend'), "
                       "so there is no attention to show; `arc viz states` shows the states")
    inputs = capture_inputs(model, [layer for _, layer in found], clips)
    out = {}
    for (friendly, layer), x in zip(found, inputs, strict=True):
        with torch.no_grad():
            _, record = layer.trace(x)
        out[friendly] = np.stack([a.double().mean(dim=(0, 2, 3)).cpu().numpy() for a in record["attention"]])
    return out


def attention_figure(vectors: dict[str, np.ndarray], title: str = ""):
    """One heat map per layer: rows the steps 2…n, columns the input channels, colour the mean attention (one
    symmetric scale per layer, with its colour bar)."""
    fig = new_figure(9.5, 0.6 + 1.15 * len(vectors) + 0.25 * sum(len(v) for v in vectors.values()))
    axes = fig.subplots(len(vectors), 1, squeeze=False)[:, 0]
    for ax, (name, v) in zip(axes, vectors.items(), strict=True):
        limit = float(np.abs(v).max()) or 1.0
        im = ax.imshow(v, aspect="auto", cmap="RdBu_r", vmin=-limit, vmax=limit, interpolation="nearest")
        ax.set_yticks(range(len(v)), [f"step {i + 2}" for i in range(len(v))])
        ax.set_xlabel("input channel")
        full = module_name(name)
        ax.set_title(f"{name} ({full}): {v.shape[1]} channels" if full != name else name, fontsize=10, loc="left")
        fig.colorbar(im, ax=ax, label="mean $A_i$", fraction=0.04, pad=0.01)
    if title:
        suptitle(fig, title, 11)
    return fig


def plot_attention(checkpoint: str | Path, *, video=None, layers=None, data_root=None, clips: int = 8,
              device: str = "cpu"):
    """Fig. 3 for a checkpoint: the attention vectors of `layers` (default: the first ARC conv of each ARC stage)
    on `video`, or on the first `clips` validation clips of the checkpoint's dataset."""
    device = pick_device(device)
    model, state = load(checkpoint, device)
    require_arc(model, checkpoint, "attention")
    layers = list(layers) if layers else default_layers(model)
    for name in layers:
        find_arc_layer(model, name, checkpoint)
    if video is not None:
        batch, where = video_clip(video, state), Path(video).name
    else:
        if clips < 1:
            raise VizError(f"--clips must be >= 1, got {clips}")
        batch, _, _ = val_clips(state, data_root, clips)
        where = f"{len(batch)} validation clips"
    vectors = attention_vectors(model, batch.to(device), layers)
    return attention_figure(vectors, f"{model_label(state)}: backward attention per step, mean over {where}, "
                                     f"frames and positions")
