"""The paper's Fig. 5: Grad-CAM (Selvaraju et al., 2017) of a video model on one clip, baseline beside ARC.

For a class `c` and the features `F` `[T, K, h, w]` that a chosen layer outputs for the clip's `T` frames, the
clip's score `y_c` (the logit: frame scores averaged over `T`) is differentiated with respect to `F`; each frame's
channel weights are the spatial means of those gradients, `α_tk = mean_hw ∂y_c/∂F_tkhw`, and its map is
`ReLU(Σ_k α_tk F_tk)`, resized (bilinear) to the frame. Default layer: the output of res3 (`layer2`), as the paper;
any stage, block or module can be named. The figure overlays each model's maps on the RGB frames, scaled by the
largest value over the clip (so frames of one model compare; two models' absolute values do not).

    fig = plot_cam("runs/arc/best.pt", baseline="runs/tsm/best.pt", video="clip.mp4")          # predicted classes
    fig = plot_cam("runs/arc/best.pt", video="clip.mp4", target="Moving something from left to right")
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from matplotlib.cm import ScalarMappable

from arc.runtime.device import pick_device
from arc.viz.common import clip_for, find_module, load, model_label, new_figure, pick_class, suptitle, to_rgb

DEFAULT_LAYER = "res3"


def grad_cam(model, clip: torch.Tensor, layer: str = DEFAULT_LAYER, target: int | None = None):
    """Grad-CAM of `model` on one clip `[1, T, 3, S, S]` at `layer`: `(maps [T, S, S] ≥ 0, the class explained,
    the class probabilities [K])`. `target` None explains the predicted class."""
    _, module = find_module(model, layer)
    seen = []
    handle = module.register_forward_hook(lambda m, args, out: seen.append(out))
    try:
        with torch.enable_grad():
            logits = model(clip)
            features = seen[0]
            probs = logits[0].detach().softmax(-1)
            c = int(probs.argmax()) if target is None else int(target)
            (grads,) = torch.autograd.grad(logits[0, c], features)
    finally:
        handle.remove()
    weights = grads.mean(dim=(2, 3), keepdim=True)                   # α_tk, [T, K, 1, 1]
    maps = F.relu((weights * features.detach()).sum(dim=1, keepdim=True))
    maps = F.interpolate(maps, size=clip.shape[-2:], mode="bilinear", align_corners=False)
    return maps[:, 0].double().cpu().numpy().clip(min=0), c, probs.cpu().numpy()


def cam_figure(frames: np.ndarray, rows: list[tuple[str, np.ndarray]], title: str = ""):
    """RGB frames `[T, S, S, 3]`, then one row per model `(label, maps [T, S, S])` overlaid on the frames, each
    model's maps divided by their maximum over the clip (colour scale 0–1, with its bar)."""
    T = len(frames)
    fig = new_figure(1.3 * T + 1.5, 1.6 * (len(rows) + 1) + 0.4)
    panels = fig.subfigures(len(rows) + 1, 1)
    axes = panels[0].subplots(1, T, squeeze=False)[0]
    for t, ax in enumerate(axes):
        ax.imshow(frames[t])
        ax.set_title(f"frame {t + 1}", fontsize=9)
        ax.set_axis_off()
    panels[0].suptitle("RGB (the crops the model sees)", fontsize=9, x=0.01, ha="left")
    spacer = panels[0].colorbar(ScalarMappable(), ax=list(axes), fraction=0.04, pad=0.01)
    spacer.ax.set_visible(False)                          # the same room as the CAM rows' bars: columns align
    for panel, (label, maps) in zip(panels[1:], rows, strict=True):
        scaled = maps / maps.max() if maps.max() > 0 else maps
        axes = panel.subplots(1, T, squeeze=False)[0]
        for t, ax in enumerate(axes):
            ax.imshow(frames[t])
            im = ax.imshow(scaled[t], cmap="jet", alpha=0.5, vmin=0, vmax=1)
            ax.set_axis_off()
        panel.suptitle(label, fontsize=9, x=0.01, ha="left")
        panel.colorbar(im, ax=list(axes), label="Grad-CAM / max", fraction=0.04, pad=0.01)
    if title:
        suptitle(fig, title, 10)
    return fig


def _row_label(state: dict, c: int, probs: np.ndarray, given: bool) -> str:
    return f"{model_label(state)} — {'class' if given else 'predicted'}: {state['classes'][c]} (p = {probs[c]:.2f})"


def plot_cam(checkpoint: str | Path, *, video=None, baseline=None, layer: str = DEFAULT_LAYER, target=None,
        data_root=None, index: int = 0, device: str = "cpu"):
    """Fig. 5 for a checkpoint (and a `baseline` checkpoint): Grad-CAM at `layer` for `target` (an index or a class
    name; default each model's predicted class) on `video`, or on validation video `index`."""
    device = pick_device(device)
    model, state = load(checkpoint, device)
    c = None if target is None else pick_class(target, state["classes"])
    find_module(model, layer, checkpoint)
    clip, caption = clip_for(state, video, data_root, index)
    runs = []
    if baseline is not None:
        base_model, base_state = load(baseline, device)
        find_module(base_model, layer, baseline)
        if base_state["classes"] != state["classes"]:
            raise ValueError(f"{baseline} and {checkpoint} were trained on different classes")
        base_clip = clip if _same_input(base_state, state) else clip_for(base_state, video, data_root, index)[0]
        runs.append((base_model, base_state, base_clip))
    runs.append((model, state, clip))
    rows = []
    for m, s, x in runs:
        maps, k, probs = grad_cam(m, x.to(device), layer, c)
        rows.append((_row_label(s, k, probs, c is not None), maps))
    return cam_figure(to_rgb(clip[0]), rows, f"Grad-CAM at {layer}\n{caption}")


def _same_input(a: dict, b: dict) -> bool:
    """Whether two checkpoints read a video into the same clip (frames, size, pre-scaling)."""
    keys = ("num_segments", "input_size", "dataset")
    return all(a["config"].get(k) == b["config"].get(k) for k in keys)
