"""Loading weights into an ARC-TSM model: torchvision ImageNet weights, TSM checkpoints, the ARC authors'
checkpoints, arc checkpoints, state dicts — with the key mapping between the feed-forward naming and ARC's
(docs/models.md, "Weights")."""

from __future__ import annotations

import hashlib
import os
import pickle
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torchvision

from arc.nn.choices import ARU_NAMES, BACKBONES

# -- loading weights ----------------------------------------------------------------------------------------


class PretrainedError(ValueError):
    """A checkpoint that does not fit the model (names the source and the offending keys)."""


@dataclass
class LoadReport:
    source: str
    new: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        lines = [f"loaded {self.source}"]
        aru = [k for k in self.new if not k.startswith("motion.")]
        motion = [k for k in self.new if k.startswith("motion.")]
        if aru:
            lines.append(f"  new (ARU, zero-initialised): {len(aru)} tensors, e.g. {aru[0]}")
        if motion:
            lines.append(f"  new (the MotionSqueeze module, its own initialisation): {len(motion)} tensors")
        lines += [f"  skipped: {s}" for s in self.skipped]
        return "\n".join(lines)


def canonical_key(key: str) -> str:
    """A parameter name in the feed-forward (torchvision) naming.

    Strips DDP's `module.`, TSM's `base_model.` and its shift wrapper `.net.`, maps TSM's `new_fc` to `fc`,
    and an absorbed `convK.norm.*` back to the block's `bnK.*`. (The ARC authors' layer keys are rewritten
    before, by `from_authors_arc`.)
    """
    key = re.sub(r"^(module\.)+", "", key)
    key = re.sub(r"^base_model\.", "", key)
    key = re.sub(r"^new_fc\.", "fc.", key)
    key = key.replace(".net.", ".")
    return re.sub(r"\.conv(\d)\.norm\.", r".bn\1.", key)


# -- the ARC authors' layer (0HaNC/ARC-ActionRecog, archs/ARC.py) ----------------------------------------------
# Their ARC_layer holds one conv→BN(→ReLU) per part, `<layer>.layer.<i>.block.{0: conv, 1: BN}.*` (output channels
# [i·c, (i+1)·c)), and the ARU maps in `<layer>.channel_interacter`: `Weight_mat1 [Cin, Cin, 1, 1]` (We),
# `Weight_mat0 [Cin, (n-1)·c, 1, 1]` (Wf_1..Wf_{n-1} side by side), `Weight_mat_attend` (Wa_j, laid out the same).
# Their maps are applied with F.conv2d, i.e. `[to, from]` as `ARCConv2d`'s `(A ⋆ Y)[o] = Σ_k A[o, k] Y[k]`.

_AUTHORS_PART = re.compile(r"^(?:(?P<layer>.*)\.)?layer\.(?P<part>\d+)\.block\.(?P<op>[01])\.(?P<name>\w+)$")
_AUTHORS_ARU = re.compile(r"^(?:(?P<layer>.*)\.)?channel_interacter\.(?P<name>Weight_mat(?:0|1|_attend))$")
_AUTHORS_ARU_NAMES = {"Weight_mat1": "embed", "Weight_mat0": "fuse", "Weight_mat_attend": "attend"}


def from_authors_arc(state: dict) -> dict:
    """`state` with every ARC layer in the authors' naming rewritten to `ARCConv2d`'s; other keys unchanged.

    Per-part convs and BNs are concatenated along the output channels (`weight`, `bias`, `norm.*`; the parts'
    equal `num_batches_tracked` once); `Weight_mat1 [Cin, Cin, 1, 1]` → `embed [Cin, Cin]`; `Weight_mat0` and
    `Weight_mat_attend` `[Cin, (n-1)·c, 1, 1]` → `fuse` / `attend` `[n-1, Cin, c]` (column block j is map j).
    Raises `PretrainedError` for what `ARCConv2d` cannot hold (unequal parts, 3-D variants).
    """
    out, parts, maps = {}, {}, {}
    for key, value in state.items():
        if m := _AUTHORS_PART.match(key):
            parts.setdefault(m["layer"] or "", {}).setdefault((m["op"], m["name"]), {})[int(m["part"])] = value
        elif m := _AUTHORS_ARU.match(key):
            maps.setdefault(m["layer"] or "", {})[m["name"]] = value
        else:
            out[key] = value
    counts = {}
    for layer, tensors in parts.items():
        prefix = f"{layer}." if layer else ""
        n = counts[layer] = 1 + max(i for by_part in tensors.values() for i in by_part)
        for (op, name), by_part in tensors.items():
            where = f"the authors' ARC layer {prefix}layer.*.block.{op}.{name}"
            if sorted(by_part) != list(range(n)):
                raise PretrainedError(f"{where}: parts {sorted(by_part)}, expected 0..{n - 1}")
            values = [by_part[i] for i in range(n)]
            target = prefix + ("" if op == "0" else "norm.") + name
            if name == "num_batches_tracked":
                out[target] = values[0]
                continue
            sizes = sorted({v.shape[0] for v in values})
            if len(sizes) > 1:
                raise PretrainedError(f"{where}: parts of {sizes} channels; ARCConv2d needs n equal parts")
            if op == "0" and name == "weight" and values[0].dim() != 4:
                raise PretrainedError(f"{where}: a {values[0].dim() - 2}-D conv; only their 2-D layer ('S') maps")
            out[target] = torch.cat(values, dim=0)
    for layer, mats in maps.items():
        prefix = f"{layer}." if layer else ""
        if layer not in counts:
            raise PretrainedError(f"{prefix}channel_interacter: ARU maps without the layer's per-part convs")
        n = counts[layer]
        for name, value in mats.items():
            where = f"{prefix}channel_interacter.{name} {tuple(value.shape)}"
            if value.dim() != 4 or value.shape[-2:] != (1, 1):
                raise PretrainedError(f"{where}: expected a 2-D 1x1 map [Cin, C, 1, 1]")
            matrix = value[:, :, 0, 0]
            if name != "Weight_mat1":
                cin, columns = matrix.shape
                if n < 2 or columns % (n - 1):
                    raise PretrainedError(f"{where}: {columns} columns do not split into n-1 = {n - 1} maps")
                matrix = matrix.reshape(cin, n - 1, columns // (n - 1)).transpose(0, 1)
            out[prefix + _AUTHORS_ARU_NAMES[name]] = matrix.contiguous()
    return out


# -- MSNet (arunos728/MotionSqueeze, resnet_TSM.py) -------------------------------------------------------------
# Its MS module is `chnl_reduction` (= our `motion.reduce`, same indices) and `flow_refinement.conv1..4` (= our
# `motion.transform.0..3`); its classifier is a Conv1d (`fc1` or TSN's `new_fc`, weight [classes, D, 1]); its root
# holds a BatchNorm `bn2` that its forward never calls.

_MSNET_BLOCKS = re.compile(r"(^|\.)flow_refinement\.conv(\d)\.")


def from_msnet(state: dict) -> tuple[dict, list[str]]:
    """`state` with MSNet's names rewritten to `build_model(..., motion="ms")`'s, and the notes of what was
    dropped; a state dict without MSNet's MS module is returned unchanged."""
    if not any("chnl_reduction." in k or "flow_refinement." in k for k in state):
        return state, []
    out, notes = {}, []
    for key, value in state.items():
        bare = re.sub(r"^(module\.)?(base_model\.)?", "", key)
        if bare.startswith("bn2."):
            notes.append(f"{key}: MSNet's unused root BatchNorm, dropped")
            continue
        key = key.replace("chnl_reduction.", "motion.reduce.")
        key = _MSNET_BLOCKS.sub(lambda m: f"{m[1]}motion.transform.{int(m[2]) - 1}.", key)
        key = re.sub(r"(^|\.)fc1\.", r"\1fc.", key)
        if re.search(r"(^|\.)(new_)?fc\.weight$", key) and value.dim() == 3 and value.shape[-1] == 1:
            value = value[..., 0]  # Conv1d(D, classes, 1) -> Linear(D, classes)
        out[key] = value
    return out, notes


def imagenet_weights(backbone: str):
    """torchvision's ImageNet weights entry (`IMAGENET1K_V1`) for `backbone`: its `url`, `get_state_dict`."""
    return getattr(torchvision.models, BACKBONES[backbone][1]).IMAGENET1K_V1


_HASH_IN_NAME = re.compile(r"-([a-f0-9]{8,})\.")   # torch.hub's convention: resnet18-f37072fd.pth


def imagenet_state_dict(backbone: str, download: bool = True) -> dict:
    """torchvision's ImageNet weights for `backbone`, from the torch hub cache (`$TORCH_HOME/hub/checkpoints`).

    The file is checked against the SHA-256 prefix its name carries (torchvision's `resnet18-f37072fd.pth`: the first
    8 hex digits of its SHA-256) and read with `weights_only=True`. When it is not cached and `download` allows,
    it is fetched there with the same check (`torch.hub.download_url_to_file`); `PretrainedError` saying where to
    put it otherwise."""
    weights = imagenet_weights(backbone)
    name = os.path.basename(weights.url)
    path = Path(torch.hub.get_dir()) / "checkpoints" / name
    prefix = _HASH_IN_NAME.search(name)[1]
    fetch = (f"Fetch {weights.url} (on a machine with network access) and put it at {path} (or set TORCH_HOME), "
             f"or pass --pretrained PATH")
    if not path.is_file():
        if not download:
            raise PretrainedError(f"ImageNet weights for {backbone} are not cached at {path}. {fetch}.")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            torch.hub.download_url_to_file(weights.url, str(path), hash_prefix=prefix, progress=False)
        except Exception as e:  # no network, a proxy, a wrong hash, …
            first = str(e).strip().splitlines()[0] if str(e).strip() else ""
            raise PretrainedError(f"ImageNet weights for {backbone} are not cached at {path} and could not be "
                                  f"downloaded ({type(e).__name__}: {first}). {fetch}.") from None
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    if not digest.hexdigest().startswith(prefix):
        raise PretrainedError(f"ImageNet weights for {backbone} at {path} are not torchvision's: their SHA-256 starts "
                              f"with {digest.hexdigest()[:len(prefix)]}, the file name says {prefix} (a damaged or "
                              f"replaced file). Delete it, then fetch {weights.url} again.")
    return read_torch_file(path)


ZIP_MAGIC, PICKLE_PROTO = b"PK\x03\x04", 0x80   # how torch.save's files start: a zip, or a pickle (the legacy format)


def load_plain(path, map_location="cpu"):
    """`torch.load(path, weights_only=True)`: tensors and plain values only, no code run. torch's warning about a
    pickle protocol other than 2 is not shown: the file is refused or read all the same, and the caller's one line
    says which."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Detected pickle protocol")
        return torch.load(path, map_location=map_location, weights_only=True)


def refused_global(error: Exception) -> str | None:
    """The Python object (`posix.system`, `collections.OrderedDict`, …) that made `torch.load(weights_only=True)`
    refuse a file, read from its `UnpicklingError`; None when the pickle was refused for another reason."""
    found = re.search(r"GLOBAL (\S+)", str(error))
    return None if found is None else found[1]


def not_a_torch_file(path) -> str | None:
    """None when `path` starts as a file `torch.save` wrote does; else what it is instead ("empty", "a text file",
    "a file that starts with b'…'"), for messages."""
    with open(path, "rb") as f:
        head = f.read(8)
    if not head:
        return "empty (0 bytes)"
    if head.startswith(ZIP_MAGIC) or head[0] == PICKLE_PROTO:
        return None
    try:
        text = all(c.isprintable() or c in "\t\r\n" for c in head.decode("utf-8"))
    except UnicodeDecodeError:
        text = False
    return "a text file" if text else f"a file that starts with {head!r}"


def read_torch_file(path) -> dict:
    """What `torch.save` wrote at `path`, loaded without running code (`weights_only`); `PretrainedError` with
    one line that says what is wrong (no such file, not a torch file, an object that needs trusting) otherwise."""
    source = f"pretrained weights {path}"
    if not Path(path).is_file():
        raise PretrainedError(f"{source}: no such file")
    try:
        kind = not_a_torch_file(path)
    except OSError as e:
        raise PretrainedError(f"{source}: cannot be read ({e.strerror or e})") from None
    if kind is not None:
        raise PretrainedError(f"{source}: not a torch file: it is {kind}, not a file torch.save wrote")
    try:
        state = load_plain(path)
    except pickle.UnpicklingError as e:
        found = refused_global(e)
        if found is None:
            raise PretrainedError(f"{source}: not a torch file (expected what torch.save writes)") from None
        raise PretrainedError(
            f"{source}: a torch file that holds a {found} object, which loading without running code refuses; "
            "if you trust the file, load it with torch.load(path, weights_only=False) and pass its state dict"
        ) from None
    except Exception as e:   # a damaged zip, a truncated pickle, an I/O error: torch's words, first sentence
        reason = str(e).split(". ")[0].strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise PretrainedError(f"{source}: not a torch file, or a damaged one ({reason[:120]})") from None
    if not isinstance(state, dict):
        raise PretrainedError(f"{source}: holds a {type(state).__name__}, not a state dict or a checkpoint dict")
    return state


def _read_source(pretrained, backbone: str, download: bool) -> tuple[str, dict]:
    """(what to call it in messages, its state dict) for "imagenet", a path (a state dict, an arc training
    checkpoint, a TSM / MMAction2 checkpoint) or a state dict."""
    if isinstance(pretrained, str) and pretrained == "imagenet":
        return f"ImageNet weights ({backbone})", imagenet_state_dict(backbone, download)
    if isinstance(pretrained, (str, os.PathLike)):
        state = read_torch_file(pretrained)
        if isinstance(state.get("model"), dict):
            state = state["model"]  # an arc training checkpoint
        elif isinstance(state.get("state_dict"), dict):
            state = state["state_dict"]  # a TSM / MMAction2 checkpoint
        return str(pretrained), state
    if isinstance(pretrained, dict):
        return "state dict", pretrained
    raise PretrainedError(f"pretrained must be 'imagenet', a path or a state dict, got {type(pretrained).__name__}")


def load_pretrained(model: torch.nn.Module, pretrained, download: bool = True) -> LoadReport:
    """Load `pretrained` ("imagenet", a path, or a state dict) into `model` (a `build_model` model, whose `config`
    names its backbone), mapping names (the ARC authors' layers by `from_authors_arc`, MSNet's module by
    `from_msnet`, then every key by `canonical_key`).

    The classifier is loaded when its shape matches and skipped with a message otherwise. Only ARU
    parameters (`embed`, `fuse`, `attend`) and an MS module (`motion.*`) may be missing from the source: they
    keep their init (ARU: zero), so an ARC model loaded from a TSM model computes exactly what that model
    computes. Anything else that does not fit — an unknown key, a missing one, a shape mismatch, two keys for
    one parameter — raises `PretrainedError`.
    """
    backbone = model.config["backbone"]
    source, state = _read_source(pretrained, backbone, download)
    state, dropped = from_msnet(from_authors_arc(state))
    target = model.state_dict()
    by_canonical = {canonical_key(k): k for k in target}
    report, loaded, unexpected, mismatched, sources = LoadReport(source, skipped=dropped), {}, [], [], {}
    for key, value in state.items():
        name = by_canonical.get(canonical_key(key))
        if name in sources:
            raise PretrainedError(f"{source}: {sources[name]} and {key} both map to {name}")
        if name is None:
            unexpected.append(key)
        elif name.startswith("fc.") and value.shape != target[name].shape:
            report.skipped.append(f"{name}: classifier {tuple(value.shape)} != {tuple(target[name].shape)}")
        elif value.shape != target[name].shape:
            mismatched.append(f"{key} {tuple(value.shape)} -> {name} {tuple(target[name].shape)}")
        else:
            loaded[name] = value
        if name is not None:
            sources[name] = key
    missing = [k for k in target if k not in loaded and not k.startswith("fc.")]
    report.new = [k for k in missing if k.rsplit(".", 1)[-1] in ARU_NAMES or k.startswith("motion.")]
    missing = [k for k in missing if k not in report.new and not k.endswith("num_batches_tracked")]
    problems = []
    if unexpected:
        hint = " (a MotionSqueeze module: build the model with motion='ms')" \
            if any("motion." in k for k in unexpected) and model.motion is None else ""
        problems.append(f"{len(unexpected)} unexpected key(s), e.g. {unexpected[:3]}{hint}")
    if mismatched:
        problems.append(f"{len(mismatched)} shape mismatch(es), e.g. {mismatched[:3]}")
    if missing:
        problems.append(f"{len(missing)} missing key(s), e.g. {missing[:3]}")
    if problems:
        raise PretrainedError(
            f"{source} does not fit {backbone} (n={model.config['n']}, stages={model.config['stages']}): "
            + "; ".join(problems)
        )
    model.load_state_dict(loaded, strict=False)
    return report
