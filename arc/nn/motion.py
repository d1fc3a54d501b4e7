"""MotionSqueeze (MSNet, Kwon et al., ECCV 2020): motion features from the correlation of neighbouring frames, added
to a ResNet's res3 output — the second host of ARC in the paper's Table 7 (docs/models.md, "Other hosts").

Pure PyTorch: the correlation needs no CUDA extension. It is computed either from all pairs of positions (one
`bmm`, then the 15×15 window picked out with `index_select`; fast, `(HW)²` per frame pair) or by a loop over the
225 displacements on a zero-padded map (memory ≈ the output); `method="auto"` takes the first when `(HW)²` is at
most four times the window's `225·HW`.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from arc.nn.ops import autocast_off

RADIUS = 7          # displacements -7..7: a 15×15 window
SIGMA = 5.0         # the Gaussian around the arg-max (kernel soft-argmax)
TEMPERATURE = 100.0
REDUCED = 64        # channels the features are reduced to before the correlation
METHODS = ("auto", "pairs", "shifts")


def l2_normalise(x: torch.Tensor) -> torch.Tensor:
    """Each position's channel vector divided by `sqrt(Σ x² + 1e-6)`; `[B, C, H, W]` → same."""
    return x / torch.sqrt((x * x).sum(dim=1, keepdim=True) + 1e-6)


def _window_index(H: int, W: int, radius: int, device) -> tuple[torch.Tensor, torch.Tensor]:
    """For each position p and displacement (dy, dx): the flat index `p·HW + q` of its partner q in an all-pairs
    map (clamped where q is outside) and whether q is inside; `[HW·P²]` each, displacement-major within p."""
    P = 2 * radius + 1
    y = torch.arange(H, device=device).view(H, 1, 1, 1)
    x = torch.arange(W, device=device).view(1, W, 1, 1)
    d = torch.arange(P, device=device) - radius
    ty, tx = y + d.view(1, 1, P, 1), x + d.view(1, 1, 1, P)             # [H, W, P, P]
    inside = (ty >= 0) & (ty < H) & (tx >= 0) & (tx < W)
    q = ty.clamp(0, H - 1) * W + tx.clamp(0, W - 1)
    p = (y * W + x).expand_as(q)
    return (p * (H * W) + q).flatten(), inside.flatten()


def correlation(f1: torch.Tensor, f2: torch.Tensor, radius: int = RADIUS, method: str = "auto") -> torch.Tensor:
    """`corr[b, dy·P + dx, y, x] = ⟨f1[b, :, y, x], f2[b, :, y + dy − r, x + dx − r]⟩`, zero where the partner is
    outside the map; `[B, C, H, W]` twice → `[B, P², H, W]`, `P = 2r + 1`."""
    if method not in METHODS:
        raise ValueError(f"correlation: method must be one of {', '.join(METHODS)}, got {method!r}")
    B, C, H, W = f1.shape
    P = 2 * radius + 1
    if method == "pairs" or (method == "auto" and H * W <= 4 * P * P):
        pairs = torch.bmm(f1.flatten(2).transpose(1, 2), f2.flatten(2))   # [B, HW, HW]: <f1(p), f2(q)>
        index, inside = _window_index(H, W, radius, f1.device)
        window = pairs.view(B, -1).index_select(1, index) * inside.to(pairs.dtype)
        return window.view(B, H, W, P * P).permute(0, 3, 1, 2)
    padded = F.pad(f2, (radius, radius, radius, radius))
    return torch.stack([(f1 * padded[:, :, dy:dy + H, dx:dx + W]).sum(dim=1)
                        for dy in range(P) for dx in range(P)], dim=1)


def soft_argmax_flow(corr: torch.Tensor, radius: int = RADIUS, sigma: float = SIGMA,
                     temperature: float = TEMPERATURE) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Kernel soft-argmax over the displacements of `corr [B, P², H, W]` → `u, v, confidence`, each `[B, 1, H, W]`.

    `confidence` = max over displacements; the correlation is multiplied by a Gaussian (σ) centred on the
    arg-max (no gradient through the arg-max), by `temperature`, soft-maxed over the `P²` displacements, and
    `u = Σ p·dx / r`, `v = Σ p·dy / r` with `dx, dy ∈ [−r, r]`: both in [−1, 1].
    """
    P = 2 * radius + 1
    confidence, best = corr.max(dim=1, keepdim=True)
    offsets = torch.arange(P, device=corr.device, dtype=corr.dtype)
    dy = offsets.repeat_interleave(P).view(1, P * P, 1, 1)
    dx = offsets.repeat(P).view(1, P * P, 1, 1)
    best_y, best_x = (best // P).to(corr.dtype), (best % P).to(corr.dtype)
    gauss = torch.exp(-((dx - best_x) ** 2 + (dy - best_y) ** 2) / (2 * sigma ** 2))
    prob = torch.softmax(temperature * gauss * corr, dim=1)
    u = (prob * (dx - radius)).sum(dim=1, keepdim=True) / radius
    v = (prob * (dy - radius)).sum(dim=1, keepdim=True) / radius
    return u, v, confidence


def _separable(cin: int, cout: int, k: int) -> nn.Sequential:
    """Depthwise k×k → BN → ReLU → 1×1 → BN → ReLU, no biases (MSNet's `flow_refinement.convK`, same indices)."""
    return nn.Sequential(
        nn.Conv2d(cin, cin, k, padding=k // 2, groups=cin, bias=False), nn.BatchNorm2d(cin), nn.ReLU(),
        nn.Conv2d(cin, cout, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(),
    )


class MotionSqueeze(nn.Module):
    """The MS module: `x + transform(motion(x))` on res3's output `[N·T, C, H, W]` (same shape out).

    `motion`: reduce (1×1 conv `C → 64`, BN, ReLU), correlate frame t with t+1 over a 15×15 window (L2-normalised
    features, ReLU), kernel soft-argmax → `[u, v, confidence]` per pair, the last pair repeated for frame T.
    `transform`: four depthwise-separable stages, k7 3→16, k3 16→32, k3 32→64, k3 64→C. Correlation and
    soft-argmax run in float32 under autocast. Parameters: 20,985 for C = 128 (R18), 70,905 for C = 512 (R50).
    """

    def __init__(self, channels: int, num_segments: int = 8, reduced: int = REDUCED, method: str = "auto"):
        super().__init__()
        if method not in METHODS:
            raise ValueError(f"MotionSqueeze: method must be one of {', '.join(METHODS)}, got {method!r}")
        self.channels, self.num_segments, self.reduced, self.method = channels, num_segments, reduced, method
        self.reduce = nn.Sequential(nn.Conv2d(channels, reduced, 1, bias=False), nn.BatchNorm2d(reduced),
                                    nn.ReLU(inplace=True))
        self.transform = nn.Sequential(_separable(3, 16, 7), _separable(16, 32, 3), _separable(32, 64, 3),
                                       _separable(64, channels, 3))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Convs Kaiming normal (fan_out, relu), BatchNorms weight 1 and bias 0 (as MSNet)."""
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def extra_repr(self) -> str:
        return f"channels={self.channels}, num_segments={self.num_segments}, reduced={self.reduced}, " \
               f"window={2 * RADIUS + 1}x{2 * RADIUS + 1}, method={self.method!r}"

    def motion(self, x: torch.Tensor) -> torch.Tensor:
        """`[N·T, C, H, W]` → `[N·T, 3, H, W]`: `u, v, confidence` of frame t → t+1 (float32); frame T repeats T−1's."""
        T = self.num_segments
        if x.dim() != 4 or x.shape[1] != self.channels or x.shape[0] % T:
            raise ValueError(f"MotionSqueeze expects [N*T, {self.channels}, H, W] with T={T}, got {list(x.shape)}")
        if T < 2:
            raise ValueError("MotionSqueeze needs clips of at least 2 frames (it correlates frame t with t+1)")
        f = self.reduce(x)
        NT, c, H, W = f.shape
        clips = f.view(NT // T, T, c, H, W)
        with autocast_off(x.device.type):
            f1 = l2_normalise(clips[:, :-1].reshape(-1, c, H, W).float())
            f2 = l2_normalise(clips[:, 1:].reshape(-1, c, H, W).float())
            corr = F.relu(correlation(f1, f2, RADIUS, self.method))
            u, v, confidence = soft_argmax_flow(corr)
        pairs = torch.cat([u, v, confidence], dim=1).view(NT // T, T - 1, 3, H, W)
        return torch.cat([pairs, pairs[:, -1:]], dim=1).view(NT, 3, H, W)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.transform(self.motion(x))
