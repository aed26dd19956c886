"""The driver's expression creases added to the warped portrait (forehead lines with a brow
raise, nasolabial folds with a smile), from the crease details capture kept
(engine/capture/creases.py), as *Bringing Portraits to Life* adds the driver's fine detail.

Per frame and region the detail is a kernel regression over the kept exemplars of *detail per
unit of control* times the frame's control (so it is exactly zero at brow raise 0 / no smile,
grows smoothly with the control and never jumps: a pure function of the frame's controls). The
smile counts only past the portrait's own smile (a smiling portrait already shows its folds);
the brows are relative to the portrait anyway; and where the portrait's own detail already has
the crease's sign (a fold it shows at rest, or painted) only the excess is added. The canonical
patch is laid into the portrait's region by its landmarks (once per portrait: every portrait
pixel's canonical coordinates), faded at the region's edges, scaled by the portrait's own
detail contrast over the actor's (a smooth painting or a cartoon gets faint creases, a photo
the actor's), then carried by the frame's backward map like the skin it sits on and applied as
a luma ratio: pixel *= 1 + detail.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ...capture.creases import (
    REGIONS,
    SHAPES,
    Creases,
    band,
    canonical_coords,
    canonical_map,
    contrast,
    region_luma,
)

KERNEL = 0.15  # control units: the exemplars near the frame's control are averaged
MAX_GAIN, MIN_GAIN = 1.0, 0.2  # portrait / actor detail contrast, clamped: never more than the actor
EDGE = 0.15  # of the patch: the detail fades in over this much at each edge
STRENGTH = 1.0
#: landmarks whose warped positions bound a region in the frame (with a margin)
_BOUND = {"forehead": (103, 67, 109, 10, 338, 297, 332, 70, 63, 105, 66, 107, 336, 296, 334, 293, 300),
          "cheek_r": (129, 61, 205, 50, 57, 186), "cheek_l": (358, 291, 425, 280, 287, 410)}


@dataclass
class _Region:
    name: str
    box: tuple[int, int, int, int]  # portrait pixels x0, y0, x1, y1 holding the region
    col: np.ndarray  # (h, w) float32 canonical column of each box pixel
    row: np.ndarray
    window: np.ndarray  # (h, w) float32 edge fade
    gain: float
    bound: np.ndarray  # control-point rows whose targets bound the region in the frame
    reach: np.ndarray  # pixels the region reaches past those points: left, top, right, bottom


class CreaseLayer:
    """One portrait's crease layer for one set of crease details."""

    def __init__(self, creases: Creases, portrait: np.ndarray, landmarks: np.ndarray,
                 control_landmarks: tuple[int, ...], width: float, regions: tuple[str, ...] = REGIONS,
                 strength: float = STRENGTH):
        self.creases = creases
        self.width = float(width)
        self.strength = float(strength)
        h, w = portrait.shape[:2]
        idx = {lm: k for k, lm in enumerate(control_landmarks)}
        # detail per unit of control, float32, once (the per-frame sum is then one small product)
        per_unit = {"forehead": (creases.forehead, creases.forehead_controls),
                    "cheek_r": (creases.cheeks[:, 0], creases.cheek_controls),
                    "cheek_l": (creases.cheeks[:, 1], creases.cheek_controls)}
        self._unit = {name: (d.astype(np.float32) / at[:, None, None], at.astype(np.float64))
                      for name, (d, at) in per_unit.items() if name in regions}
        self.regions: dict[str, _Region] = {}
        self._own: dict[str, np.ndarray] = {}
        for k, name in enumerate(REGIONS):
            if name not in regions:
                continue
            mx, my = canonical_map(landmarks, name)
            x0, y0 = int(max(np.floor(mx.min()) - 2, 0)), int(max(np.floor(my.min()) - 2, 0))
            x1, y1 = int(min(np.ceil(mx.max()) + 3, w)), int(min(np.ceil(my.max()) + 3, h))
            if x1 - x0 < 4 or y1 - y0 < 4:
                continue
            gx, gy = np.meshgrid(np.arange(x0, x1, dtype=np.float64), np.arange(y0, y1, dtype=np.float64))
            col, row = canonical_coords(landmarks, name, gx, gy)
            rows, cols = SHAPES[name]
            fx, fy = (col + 0.5) / cols, (row + 0.5) / rows
            window = (_ramp(fx) * _ramp(1 - fx) * _ramp(fy) * _ramp(1 - fy)).astype(np.float32)
            own_band = band(region_luma(portrait, landmarks, name), name)
            own = contrast(own_band)
            self._own[name] = own_band
            actor = float(creases.contrast[k])
            gain = float(np.clip(own / max(actor, 1e-4), MIN_GAIN, MAX_GAIN))
            bound = np.array([idx[i] for i in _BOUND[name] if i in idx], np.int64)
            # how far the region reaches past its bounding landmarks (in the portrait), per side
            pts = np.asarray(landmarks, np.float64)[[i for i in _BOUND[name] if i in idx], :2]
            reach = np.maximum([pts[:, 0].min() - x0, pts[:, 1].min() - y0, x1 - pts[:, 0].max(),
                                y1 - pts[:, 1].max()], 0.0)
            self.regions[name] = _Region(name, (x0, y0, x1, y1), col, row, window, gain, bound, reach)

    def detail(self, name: str, controls: dict[str, float], own_smile: float) -> np.ndarray | None:
        """The region's canonical detail patch for these (absolute) controls, or None (nothing)."""
        if name == "forehead":
            value = 0.5 * (controls["brow_l"] + controls["brow_r"])
        else:
            value = controls["mouth_smile"] - max(own_smile, 0.0)
        unit, at = self._unit[name]
        if value <= 1e-3 or at.size == 0:
            return None
        value = min(value, 1.3 * float(at.max()))
        d = (value - at) / KERNEL
        w = np.exp(-0.5 * d * d)
        w *= value / w.sum()
        # summed in a fixed order (not BLAS, whose thread split could change the last bit)
        out = np.zeros(SHAPES[name], np.float32)
        for wk, uk in zip(w.astype(np.float32), unit, strict=True):
            if wk > 1e-6:
                out += wk * uk
        # only what the portrait does not show already: where its own detail has the crease's
        # sign (a fold it has, at rest or painted) the crease adds just the excess
        own = self._own[name] * np.float32(self.regions[name].gain)
        same = out * own > 0
        out = np.where(same, np.sign(out) * np.maximum(np.abs(out) - np.abs(own), 0), out).astype(np.float32)
        if name == "forehead":  # each brow lifts its own half of the forehead
            bl, br = max(controls["brow_l"], 0.0), max(controls["brow_r"], 0.0)
            cols = SHAPES[name][1]
            x = (np.arange(cols, dtype=np.float32) + 0.5) / cols  # 0: subject's right end
            side = (br + (bl - br) * x) / max(0.5 * (bl + br), 1e-6)
            out *= np.clip(side, 0.0, 1.5)[None, :].astype(np.float32)
        return out

    def apply(self, warped: np.ndarray, mp: np.ndarray, box: tuple[int, int, int, int],
              dst: np.ndarray, controls: dict[str, float], own_smile: float) -> None:
        """Add the creases to ``warped`` (the frame's head box, uint8, in place); ``mp`` its
        backward map (portrait pixels), ``dst`` the control points' targets this frame."""
        import cv2

        bx0, by0, bx1, by1 = box
        margin = 0.03 * self.width + 2
        for name, reg in self.regions.items():
            patch = self.detail(name, controls, own_smile)
            if patch is None:
                continue
            layer = cv2.remap(np.ascontiguousarray(patch), reg.col, reg.row, cv2.INTER_LINEAR,
                              borderMode=cv2.BORDER_CONSTANT, borderValue=0)
            layer *= reg.window * np.float32(reg.gain * self.strength)
            if not len(reg.bound):
                continue
            pts, (rl, rt, rr, rb) = dst[reg.bound], reg.reach * 1.25  # the warp may stretch it a little
            ox0 = int(max(np.floor(pts[:, 0].min() - margin - rl), bx0))
            ox1 = int(min(np.ceil(pts[:, 0].max() + margin + rr), bx1))
            oy0 = int(max(np.floor(pts[:, 1].min() - margin - rt), by0))
            oy1 = int(min(np.ceil(pts[:, 1].max() + margin + rb), by1))
            if ox1 <= ox0 or oy1 <= oy0:
                continue
            sub = (slice(oy0 - by0, oy1 - by0), slice(ox0 - bx0, ox1 - bx0))
            m = mp[sub]
            x0, y0 = reg.box[:2]
            ratio = cv2.remap(layer, m[..., 0] - np.float32(x0), m[..., 1] - np.float32(y0), cv2.INTER_LINEAR,
                              borderMode=cv2.BORDER_CONSTANT, borderValue=0)
            rows = np.flatnonzero(np.abs(ratio).max(axis=1) > 1 / 1024)
            if not rows.size:
                continue
            r0, r1 = rows[0], rows[-1] + 1
            out = warped[sub][r0:r1]
            ratio = ratio[r0:r1] + np.float32(1.0)
            np.copyto(out, cv2.multiply(out, cv2.cvtColor(ratio, cv2.COLOR_GRAY2RGB), dtype=cv2.CV_8U))


def crease_regions(option: object) -> tuple[str, ...]:
    """The renderer option ``creases`` -> the regions it adds (RenderError on anything else)."""
    from ..base import RenderError

    choice = option
    if isinstance(option, bool) or option is None:
        choice = "all" if option else "off"
    table = {"all": REGIONS, "cheeks": ("cheek_r", "cheek_l"), "forehead": ("forehead",), "off": ()}
    if choice not in table:
        raise RenderError(f"creases must be one of {', '.join(table)} (or True / False), got {option!r}")
    return table[choice]


def _ramp(t: np.ndarray) -> np.ndarray:
    """0 outside, smoothstep over the first EDGE of the patch, 1 inside."""
    s = np.clip(t / EDGE, 0.0, 1.0)
    return s * s * (3 - 2 * s)
