"""The built-in renderer: portrait + controls -> frames by warping, with no downloaded weights.

Modules follow the data path: fitting (portrait -> landmarks, face frame, 3D points, head
region), geometry (controls -> control-point targets and local amounts), warp (thin-plate spline
on a working grid -> dense backward map -> sampling), synthesis (eyelids, gaze, mouth interior),
paste (head region, feathered falloff, paste-back).

Per frame the output depends only on the portrait and that frame's controls (no state between
frames), so any frame range renders on its own, bit for bit.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from ..base import Renderer, RenderError, register_renderer
from .fitting import PortraitFit, detect_face, fit_portrait, lip_colour
from .geometry import FALLOFF, build_control_points, control_values, local_amounts, target_points
from .paste import composite, falloff, region_box, uv_box_corners
from .synthesis import eye_edit, mouth_edit
from .warp import Sampler, SmoothWarp, resolve_device

#: working-grid cell of the smooth warp, in face widths
GRID_CELL = 1.0 / 24


class BuiltinRenderer(Renderer):
    """Warp-based renderer (no model files).

    ``device``: "auto" (torch grid_sample on CUDA when PyTorch sees a GPU, else OpenCV on the
    CPU), "cpu" (OpenCV) or "cuda" (RenderError when there is no CUDA GPU). Options:
    ``sampler="torch"`` samples with torch grid_sample on the CPU too; ``landmarks=(478, 3)``
    pixels skips face detection (e.g. landmarks fixed by hand)."""

    name = "builtin"
    label = "Built-in (fast warp, no download)"
    needs_models = False

    def __init__(self, device: str = "auto", **options: Any):
        super().__init__(device=device, **options)
        self.backend = resolve_device(device, options.get("sampler"))
        self.fit: PortraitFit | None = None

    def prepare(self, portrait: np.ndarray) -> None:
        rgb = np.ascontiguousarray(portrait)
        if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3:
            raise RenderError("the portrait must be an RGB uint8 image of shape (H, W, 3)")
        lm = self.options.get("landmarks")
        lm = detect_face(rgb, self.options.get("face")) if lm is None else np.asarray(lm, np.float64)
        fit = fit_portrait(lm)
        self.fit = fit
        self.portrait = rgb
        h, w = rgb.shape[:2]
        self.cp = build_control_points(fit)
        self.local_boxes = {"mouth": fit.mouth.box, "l": fit.eyes["l"].box, "r": fit.eyes["r"].box}
        self.box = region_box(fit, (w, h), list(self.local_boxes.values()))
        corners = np.vstack([uv_box_corners(fit, b) for b in self.local_boxes.values()])
        self._corners = corners
        self.warp = SmoothWarp(self.cp.src, self.box, GRID_CELL * fit.width, falloff=falloff(fit),
                               scale=fit.width, extra_points=corners)
        x0, y0, x1, y1 = self.box
        gx, gy = np.meshgrid(np.arange(x0, x1, dtype=np.float32), np.arange(y0, y1, dtype=np.float32))
        self._ident = np.stack([gx, gy], axis=-1)
        # Pixels outside the dilated head region (falloff radius) are always the portrait's own.
        (a, b), c = fit.head_axes, fit.head_centre.astype(np.float32)
        dx, dy = gx - c[0], gy - c[1]
        u = (dx * np.float32(fit.axis_u[0]) + dy * np.float32(fit.axis_u[1])) / np.float32(a)
        v = (dx * np.float32(fit.axis_v[0]) + dy * np.float32(fit.axis_v[1])) / np.float32(b)
        self._moving = (u * u + v * v < np.float32(FALLOFF[1] ** 2)).astype(np.uint8)
        self._axes = np.stack([fit.axis_u, fit.axis_v]).astype(np.float32)  # rows: u, v
        self._origin = fit.origin.astype(np.float32)
        self.sampler = Sampler(rgb, self.backend)
        self._lip_rgb = lip_colour(rgb, fit)

    # -- per frame ------------------------------------------------------------------------------

    def _subbox(self, corners_fwd: np.ndarray, margin: float) -> tuple[slice, slice] | None:
        x0, y0, x1, y1 = self.box
        lo = np.floor(corners_fwd.min(axis=0) - margin).astype(int)
        hi = np.ceil(corners_fwd.max(axis=0) + margin).astype(int) + 1
        sx0, sy0 = max(lo[0], x0) - x0, max(lo[1], y0) - y0
        sx1, sy1 = min(hi[0], x1) - x0, min(hi[1], y1) - y0
        if sx1 <= sx0 or sy1 <= sy0:
            return None
        return slice(sy0, sy1), slice(sx0, sx1)

    def _uv(self, xy: np.ndarray) -> np.ndarray:
        (au, av), (bu, bv) = self._axes
        x = xy[..., 0] - self._origin[0]
        y = xy[..., 1] - self._origin[1]
        return np.stack([x * au + y * av, x * bu + y * bv], axis=-1)

    def _xy_delta(self, duv: np.ndarray) -> np.ndarray:
        (au, av), (bu, bv) = self._axes
        du, dv = duv[..., 0], duv[..., 1]
        return np.stack([du * au + dv * bu, du * av + dv * bv], axis=-1)

    def render_frame(self, controls: Mapping[str, float],
                     extras: Mapping[str, np.ndarray] | None = None) -> np.ndarray:
        if self.fit is None:
            raise RenderError("prepare() the renderer with a portrait first")
        fit = self.fit
        c = control_values(controls)
        dst = target_points(fit, self.cp, c)
        fwd = self.warp.forward_grid(dst)
        mp = self.warp.dense_map(self.warp.backward_grid(fwd), self._ident)
        amounts = local_amounts(fit, c)
        corners_fwd = self._corners + self.warp.forward_extra(dst)
        margin = 0.03 * fit.width + 2

        cavity = None
        sub = self._subbox(corners_fwd[0:4], margin)
        if sub is not None and (abs(amounts.jaw) >= 0.05 or amounts.lift >= 0.05):
            uv = self._uv(mp[sub])
            uv2, rgb, alpha = mouth_edit(fit.mouth, uv, amounts.jaw, amounts.lift, fit.width, self._lip_rgb)
            mp[sub] += self._xy_delta((uv2 - uv).astype(np.float32))
            if rgb is not None:
                cavity = (sub, rgb, alpha)
        lids = []
        for k, side in enumerate(("l", "r")):
            sub = self._subbox(corners_fwd[4 * (k + 1):4 * (k + 2)], margin)
            if sub is None:
                continue
            openness = amounts.eye_open[side]
            if abs(openness - 1) < 1e-4 and not any(amounts.gaze):
                continue
            uv = self._uv(mp[sub])
            base, lid, alpha, shade = eye_edit(fit.eyes[side], uv, openness, amounts.gaze)
            if lid is not None:
                lids.append((sub, mp[sub] + self._xy_delta((lid - uv).astype(np.float32)), alpha, shade))
            mp[sub] += self._xy_delta((base - uv).astype(np.float32))

        warped = self.sampler.sample(mp)
        for sub, lid_map, alpha, shade in lids:
            layer = self.sampler.sample(lid_map).astype(np.float32) * shade[..., None]
            region = warped[sub].astype(np.float32)
            a = alpha[..., None]
            warped[sub] = np.clip(layer * a + region * (1 - a) + 0.5, 0, 255).astype(np.uint8)
        if cavity is not None:
            sub, rgb, alpha = cavity
            region = warped[sub].astype(np.float32)
            a = alpha[..., None]
            warped[sub] = np.clip(rgb * a + region * (1 - a) + 0.5, 0, 255).astype(np.uint8)
        return composite(self.portrait, self.box, warped, self._moving)

    def close(self) -> None:
        self.sampler = None
        self.fit = None


register_renderer("builtin", BuiltinRenderer)

__all__ = ["BuiltinRenderer"]
