"""Look inside a trained model: the paper's interpretation figures (Section 4.4, appendix A) and training curves.
Every function returns a `matplotlib.figure.Figure` (Agg canvas, no pyplot state); `arc viz …` saves them.

| function | paper | module |
|---|---|---|
| `plot_attention(checkpoint, video=…, layers=…)` | Fig. 3: backward attention per step and channel | `attention` |
| `plot_states(checkpoint, video=…, layer=…)` | Fig. 6: the state `Z_i` per step, frame by frame | `states` |
| `plot_cam(checkpoint, baseline=…, video=…)` | Fig. 5: Grad-CAM, baseline vs ARC | `cam` |
| `plot_groups(checkpoint, baseline=…)` | Fig. 4: confusion within groups of similar classes | `confusion` |
| `plot_curves(run_dirs, names=…)` | — training curves from `metrics.jsonl` | `curves` |

Each module also holds the function that computes the arrays behind its figure (`attention_vectors`,
`state_maps`, `grad_cam`, `group_matrix`, `read_metrics`) and the one that draws given arrays (`*_figure`).
Docs: docs/viz.md.
"""

from arc._lazy import exports

_PUBLIC = {
    "plot_attention": "arc.viz.attention", "attention_vectors": "arc.viz.attention",
    "attention_figure": "arc.viz.attention",
    "plot_states": "arc.viz.states", "state_maps": "arc.viz.states", "states_figure": "arc.viz.states",
    "plot_cam": "arc.viz.cam", "grad_cam": "arc.viz.cam", "cam_figure": "arc.viz.cam",
    "plot_groups": "arc.viz.confusion", "group_matrix": "arc.viz.confusion", "groups_figure": "arc.viz.confusion",
    "confusion_figure": "arc.viz.confusion", "save_confusion_png": "arc.viz.confusion",
    "plot_curves": "arc.viz.curves", "read_metrics": "arc.viz.curves", "curves_figure": "arc.viz.curves",
    "save": "arc.viz.common", "VizError": "arc.viz.common",
}
__all__ = list(_PUBLIC)
__getattr__ = exports(__name__, _PUBLIC)
