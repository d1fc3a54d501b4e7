"""The paper's Fig. 6: how the input state of one ARC layer evolves over the recursive steps, frame by frame.

An ARC layer computes its output part by part; part `i` reads the state `Z_i` (`Z_1` is the layer's input, later
states add the attention and fusion of the parts already produced; docs/layer.md). The figure shows, under a row of
the RGB frames the model sees, one row per step: `Z_i` averaged over its channels, one image per sampled frame, all
on one colour scale so that the steps can be compared. The default layer is the paper's: the second 3×3 conv of
the second block of res3 (`res3-block1-conv2` = module `layer2.1.conv2`).

    fig = plot_states("runs/demo/best.pt", video="clip.mp4")
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from arc.runtime.device import pick_device
from arc.viz.common import (
    capture_inputs,
    clip_for,
    find_arc_layer,
    load,
    model_label,
    module_name,
    new_figure,
    require_arc,
    suptitle,
    to_rgb,
)

DEFAULT_LAYER = "res3-block1-conv2"


def state_maps(model, clip: torch.Tensor, layer: str = DEFAULT_LAYER) -> np.ndarray:
    """`[n, T, h, w]`: the states `Z_1 … Z_n` of `layer` (from `ARCConv2d.trace`) averaged over channels, for
    the one clip `[1, T, 3, S, S]`."""
    _, module = find_arc_layer(model, layer)
    (x,) = capture_inputs(model, [module], clip)
    with torch.no_grad():
        _, record = module.trace(x)
    return np.stack([z.double().mean(dim=1).cpu().numpy() for z in record["state"]])


def states_figure(frames: np.ndarray, maps: np.ndarray, title: str = "", change: bool = False):
    """RGB frames `[T, S, S, 3]` over the channel-mean states `[n, T, h, w]`: rows = steps, columns = frames, one
    colour scale (and bar) for all the states. `change`: draw `Z_i - Z_1` for `i ≥ 2` (what the recursion added)
    on one symmetric scale instead."""
    rows = maps[1:] - maps[0] if change else maps
    first = 2 if change else 1
    n, T = rows.shape[:2]
    fig = new_figure(max(6.5, 1.25 * T + 1.2), 1.3 * (n + 1) + 0.5)
    axes = fig.subplots(n + 1, T, squeeze=False)
    if change:
        limit = float(np.abs(rows).max()) or 1.0
        scale = dict(cmap="RdBu_r", vmin=-limit, vmax=limit)
    else:
        scale = dict(cmap="viridis", vmin=float(rows.min()), vmax=float(rows.max()))
    for t in range(T):
        axes[0, t].imshow(frames[t])
        axes[0, t].set_title(f"frame {t + 1}", fontsize=9)
        for i in range(n):
            im = axes[i + 1, t].imshow(rows[i, t], interpolation="nearest", **scale)
    for row in axes:
        for ax in row:
            ax.set_xticks([])
            ax.set_yticks([])
    axes[0, 0].set_ylabel("RGB", fontsize=9)
    for i in range(n):
        k = i + first
        axes[i + 1, 0].set_ylabel(f"$Z_{k} - Z_1$" if change else f"$Z_{k}$", fontsize=10)
    fig.colorbar(im, ax=axes[1:, :], label="change of the channel mean" if change else "mean over channels",
                 fraction=0.03, pad=0.01)
    if title:
        suptitle(fig, title, 10)
    return fig


def plot_states(checkpoint: str | Path, *, video=None, layer: str = DEFAULT_LAYER, data_root=None, index: int = 0,
                change: bool = False, device: str = "cpu"):
    """Fig. 6 for a checkpoint: the states of `layer` on `video`, or on validation video `index` (`change`: their
    change from `Z_1`)."""
    device = pick_device(device)
    model, state = load(checkpoint, device)
    require_arc(model, checkpoint, "states")
    name, _ = find_arc_layer(model, layer, checkpoint)
    clip, caption = clip_for(state, video, data_root, index)
    maps = state_maps(model, clip.to(device), name)
    what = "the change of the input state from step 1, $Z_i - Z_1$" if change else "the input state $Z_i$ of each step"
    return states_figure(to_rgb(clip[0]), maps, f"{model_label(state)}, {name} ({module_name(name)}): {what}, mean "
                                               f"over channels\n{caption}", change=change)
