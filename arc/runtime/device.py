"""Device, mixed precision, CPU threads and seeding — one set-up for every command (train, eval, predict, bench).

    with cpu_threads(4):
        rt = Runtime.create("auto", amp="auto")      # CUDA when present; bf16 on Ampere+, fp16 below, none on CPU
        with rt.autocast():
            logits = model(clips.to(rt.device))
"""

from __future__ import annotations

import os
import random
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass

import numpy as np
import torch

from arc.runtime import AMP_MODES


def pick_device(device: str | torch.device | None) -> torch.device:
    """`None`/"auto" → CUDA when available, else the CPU; otherwise the device named (checked to exist)."""
    if device in (None, "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError):
        raise ValueError(f"--device {device!r}: expected auto, cpu, cuda or cuda:N") from None
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"--device {device}: CUDA is not available on this machine (torch sees no GPU)")
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise ValueError(f"--device {device}: this machine has {torch.cuda.device_count()} CUDA device(s)")
    elif dev.type != "cpu":
        raise ValueError(f"--device {device!r}: expected auto, cpu, cuda or cuda:N")
    return dev


def pick_amp(amp: str, device: torch.device) -> tuple[str, str]:
    """The precision to run in (`none`, `bf16` or `fp16`) for `amp` in `AMP_MODES`, and why.

    `auto`: none on the CPU; on CUDA bf16 where the GPU computes it natively (compute capability 8.0+, Ampere
    and later), else fp16 with a gradient scaler — `is_bf16_supported()` without `including_emulation=False`
    says True on V100/T4, whose cuDNN has no bf16 convolutions."""
    if amp not in AMP_MODES:
        raise ValueError(f"--amp {amp!r}: expected one of {', '.join(AMP_MODES)}")
    if amp != "auto":
        return amp, "as asked"
    if device.type != "cuda":
        return "none", "auto: float32 on the CPU"
    if torch.cuda.is_bf16_supported(including_emulation=False):
        return "bf16", "auto: the GPU computes bf16 natively"
    return "fp16", "auto: no native bf16 on this GPU, fp16 with a gradient scaler"


def autocast(device: torch.device, amp: str):
    """The autocast context for `amp` in none/bf16/fp16."""
    if amp == "none":
        return nullcontext()
    return torch.autocast(device.type, dtype=torch.bfloat16 if amp == "bf16" else torch.float16)


@contextmanager
def cpu_threads(threads: int | None):
    """torch's intra-op CPU threads set to `threads` (None: unchanged) inside the block, restored after."""
    old = torch.get_num_threads()
    if threads is not None:
        if threads < 1:
            raise ValueError(f"--threads must be >= 1, got {threads}")
        torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(old)


def default_workers(local_processes: int = 1, busy: int = 1) -> int:
    """Worker processes per process when not given: the CPUs this process may use, shared among the
    `local_processes` of this machine, less the `busy` ones the process keeps busy itself (training: 1; `arc data
    check`, which only waits for its workers: 0); at least 1, at most 16 (decoding video is the bottleneck on a fast
    GPU, so more is better up to what the CPUs allow)."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:
        cpus = os.cpu_count() or 1
    return max(1, min(16, cpus // max(local_processes, 1) - busy))


def seed_everything(seed: int, deterministic: bool = False) -> None:
    """Seed Python, NumPy and torch; `deterministic` also asks torch for deterministic algorithms."""
    if not isinstance(seed, int) or not 0 <= seed < 2**32:
        raise ValueError(f"--seed must be an integer in [0, 2**32), got {seed!r}")
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    if deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True)


@dataclass(frozen=True)
class Runtime:
    """The device, precision and memory format a command computes with."""

    device: torch.device
    amp: str = "none"
    amp_reason: str = ""
    channels_last: bool = False

    @classmethod
    def create(cls, device=None, *, amp: str = "auto", channels_last: bool | None = None,
               deterministic: bool = False) -> Runtime:
        """Pick the device and precision; channels-last defaults to on for CUDA; cuDNN autotunes its kernels
        on CUDA unless `deterministic`."""
        dev = device if isinstance(device, torch.device) else pick_device(device)
        mode, reason = pick_amp(amp, dev)
        if dev.type == "cuda":
            torch.backends.cudnn.benchmark = not deterministic
        return cls(dev, mode, reason, dev.type == "cuda" if channels_last is None else channels_last)

    def autocast(self):
        return autocast(self.device, self.amp)

    def prepare(self, model: torch.nn.Module) -> torch.nn.Module:
        """`model` on this device, in channels-last when asked."""
        model.to(self.device)
        return model.to(memory_format=torch.channels_last) if self.channels_last else model

    def __str__(self) -> str:
        amp = f"amp {self.amp}" + (f" ({self.amp_reason})" if self.amp_reason else "")
        return f"{self.device}, {amp}" + (", channels-last" if self.channels_last else "")
