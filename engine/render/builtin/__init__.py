"""The built-in renderer: portrait + controls -> frames by warping, with no downloaded weights.

Modules follow the data path: fitting (portrait -> landmarks, face frame, 3D points, head
region), appearance (portrait -> lid-skin textures, lash band, mouth colours, own teeth),
geometry (controls -> control-point targets and local amounts), warp (thin-plate spline on a
working grid -> dense backward map -> sampling), synthesis (eyelids, gaze, mouth interior),
paste (head region, feathered falloff, paste-back).

Per frame the output depends only on the portrait and that frame's controls (no state between
frames), so any frame range renders on its own, bit for bit.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from ..base import Renderer, RenderError, register_renderer
from .appearance import lid_room, lid_skin, mouth_look, skin_grain, true_lower_lid
from .body_warp import BodyWarp, body_values, fit_body
from .creases import CreaseLayer, crease_regions
from .exemplars import EXTRA as MOUTH_EXTRA
from .exemplars import MouthBank, load_mouth_source
from .fitting import CONTROL_LANDMARKS, PortraitFit, detect_observation, fit_portrait
from .geometry import FALLOFF, build_control_points, control_values, local_amounts, target_points
from .paste import composite, falloff, region_box, uv_box_corners
from .pose import HeadPose, PoseOffset, check_mode, neutral_pose, portrait_pose, pose_offset
from .rest import absolute_controls, check_rest, own_expression
from .synthesis import actor_over, eye_edit, mouth_edit, pucker_shade
from .warp import Sampler, SmoothWarp, resolve_device

#: working-grid cell of the smooth warp, in face widths
GRID_CELL = 1.0 / 24
#: the mouth edit runs at (about) this face width in pixels; larger faces are edited on a
#: downscaled map and the (continuous) result is upsampled: close-ups stay fast
MOUTH_WORK_WIDTH = 260.0
#: which of the actor's creases are added when the motion has them: none by default, as the
#: figures did not clear the bar (PSNR up on 5 of 6 clips for the cheeks, but the detail energy
#: closer to the real frames on 2 only; no clip shows forehead lines; docs/builtin_renderer.md
#: "Creases"); "cheeks" or "all" turn them on
CREASES_DEFAULT = "off"


class BuiltinRenderer(Renderer):
    """Warp-based renderer (no model files).

    ``device``: "auto" (torch grid_sample on CUDA when PyTorch sees a GPU, else OpenCV on the
    CPU), "cpu" (OpenCV) or "cuda" (RenderError when there is no CUDA GPU). Options:
    ``sampler="torch"`` samples with torch grid_sample on the CPU too; ``landmarks=(478, 3)``
    pixels skips face detection (e.g. landmarks fixed by hand); ``rest="neutral"`` (default:
    control values are absolute face states, mouth_open 0 = lips together on every portrait) or
    ``"portrait"`` (the portrait's own expression is the rest pose, the curves offsets from it);
    see rest.py; ``head_pose="auto"`` (default), ``"absolute"`` or ``"relative"``: whether the
    head takes the actor's absolute pose (the motion's neutral pose + the curves, see pose.py and
    ``use_motion``) or the curves are applied to the portrait's own pose; ``matrix=(4, 4)``
    MediaPipe's facial transformation matrix with hand-given landmarks (else the pose is
    relative). The body curves (torso_lean/turn, shoulder_raise_l/r) move the shoulders and
    torso when the portrait shows them (body_warp.py); ``body=False`` turns that off.
    ``mouth_source``: whose real mouth interiors fill an opening (exemplars.py): a motion file
    or MouthExemplars (e.g. a video capture for a voice capture), or "none" (the procedural
    interior); default: the rendered motion's own (``bind_motion``). ``creases``: add the
    actor's expression creases kept by capture (creases.py; the motion's own, ``bind_motion``):
    "cheeks" (the smile's folds), "all" / True (and the forehead lines of a brow raise) or
    "off" / False (default: CREASES_DEFAULT, off)."""

    name = "builtin"
    label = "Built-in (fast warp, no download)"
    needs_models = False

    def __init__(self, device: str = "auto", **options: Any):
        super().__init__(device=device, **options)
        self.backend = resolve_device(device, options.get("sampler"))
        self.fit: PortraitFit | None = None
        self.rest = check_rest(options.get("rest"))
        self.head_pose = check_mode(options.get("head_pose"))
        self.neutral: HeadPose | None = None  # the motion's neutral pose (use_motion)
        self.pose_offset = PoseOffset()
        source = options.get("mouth_source")
        self._mouth_source = None if source is None else load_mouth_source(source)
        self._fixed_mouths = source is not None
        self._bank: MouthBank | None = None
        self._crease_regions = crease_regions(options.get("creases", CREASES_DEFAULT))
        self._creases: CreaseLayer | None = None

    def use_motion(self, motion) -> None:  # noqa: ANN001 - Motion
        """Take the motion's neutral absolute head pose (``calibration.head_pose``), which the
        head-pose modes place the head by (pose.py); call before ``prepare``."""
        self.neutral = neutral_pose(motion.calibration.get("head_pose"), motion.source)
        if self.fit is not None:
            self.pose_offset = pose_offset(self.fit.pose, self.neutral, self.head_pose)

    def prepare(self, portrait: np.ndarray) -> None:
        rgb = np.ascontiguousarray(portrait)
        if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3:
            raise RenderError("the portrait must be an RGB uint8 image of shape (H, W, 3)")
        lm = self.options.get("landmarks")
        scores = self.options.get("blendshapes")
        matrix = self.options.get("matrix")
        if lm is None:
            lm, scores, matrix = detect_observation(rgb, self.options.get("face"))
        lm = np.asarray(lm, np.float64)
        fit = fit_portrait(lm)
        fit.own = own_expression(lm, scores)
        fit.pose = portrait_pose(lm, matrix, (rgb.shape[1], rgb.shape[0]))
        self.pose_offset = pose_offset(fit.pose, self.neutral, self.head_pose)
        fit.eyes = {side: lid_room(rgb, fit, true_lower_lid(rgb, fit, eye)) for side, eye in fit.eyes.items()}
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
        self._look = mouth_look(rgb, fit)
        self._skin = {side: lid_skin(rgb, fit, eye) for side, eye in fit.eyes.items()}
        self._grain = {side: skin_grain(rgb, fit, eye) for side, eye in fit.eyes.items()}
        self._mouth_k = max(1, int(round(fit.width / MOUTH_WORK_WIDTH)))
        self._body: BodyWarp | None | bool = False  # False: not looked for yet (body_warp.py)
        self._bank = None if self._mouth_source is None else MouthBank(self._mouth_source, rgb, lm)

    def bind_motion(self, motion) -> dict[str, np.ndarray]:  # noqa: ANN001 - engine.motion.Motion
        """Before rendering frames of ``motion`` (the pipeline calls it): takes its mouth
        exemplars (unless a ``mouth_source`` was given) and returns per-frame extras computed
        from the whole motion's curves (the exemplar schedule), so every frame, and any chunk,
        depends on (portrait, motion, frame) only."""
        if self.fit is None:
            raise RenderError("prepare() the renderer with a portrait first")
        if not self._fixed_mouths:
            mouths = getattr(motion, "mouths", None)
            self._bank = None if mouths is None else MouthBank(mouths, self.portrait, self.fit.landmarks)
        found = getattr(motion, "creases", None)
        self._creases = None if found is None or not self._crease_regions else CreaseLayer(
            found, self.portrait, self.fit.landmarks, CONTROL_LANDMARKS, self.fit.width, self._crease_regions)
        if self._bank is None:
            return {}
        return {MOUTH_EXTRA: self._bank.schedule(motion.controls)}

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
        import cv2

        if self.fit is None:
            raise RenderError("prepare() the renderer with a portrait first")
        fit = self.fit
        c = self.pose_offset.apply(absolute_controls(control_values(controls), fit.own, self.rest))
        dst = target_points(fit, self.cp, c)
        fwd = self.warp.forward_grid(dst)
        mp = self.warp.dense_map(self.warp.backward_grid(fwd), self._ident)
        amounts = local_amounts(fit, c)
        corners_fwd = self._corners + self.warp.forward_extra(dst)
        margin = 0.03 * fit.width + 2

        cavity = None
        sub = self._subbox(corners_fwd[0:4], margin)
        mouth_sub = sub
        over = actor_over(c["mouth_smile"], fit.own.mouth_smile) if (
            self._bank is not None and self._look.stretchable) else 0.0
        if sub is not None and (abs(amounts.jaw) >= 0.05 or amounts.lift >= 0.05 or over > 0):
            exemplar = None
            if self._bank is not None and (over > 0 or not self._look.stretchable):
                exemplar = self._bank.interior(self._bank.weights(controls, extras))
            cavity = self._mouth(mp, sub, amounts.jaw, amounts.lift, amounts.smile, exemplar, over)
        lids = []
        for k, side in enumerate(("l", "r")):
            sub = self._subbox(corners_fwd[4 * (k + 1):4 * (k + 2)], margin)
            if sub is None:
                continue
            openness = amounts.eye_open[side]
            if abs(openness - 1) < 1e-4 and not any(amounts.gaze):
                continue
            uv = self._uv(mp[sub])
            base, lid = eye_edit(fit.eyes[side], self._skin[side], uv, openness, amounts.gaze)
            if lid is not None:
                lid_map = mp[sub] + self._xy_delta(lid.lid - uv)
                # the grain is taken at each pixel's own (unstretched) place: stretched, it streaks
                lids.append((side, sub, lid_map, lid, self._skin[side], mp[sub].copy()))
            mp[sub] += self._xy_delta(base - uv)

        warped = self.sampler.sample(mp)
        if self._creases is not None:  # before the lids and the mouth paint over their parts
            self._creases.apply(warped, mp, self.box, dst, c, fit.own.mouth_smile)
        for side, sub, lid_map, lid, skin, at in lids:
            layer = self.sampler.sample(lid_map).astype(np.float32)
            if skin.fill is not None and max(lid.fill_ramp) > 0:  # what a closed eye shows around it
                corner, fill = self._closed_fill(warped[sub], mp[sub], skin, lid.fill_ramp)
                layer += (fill - layer) * corner[..., None]
            tex = cv2.remap(skin.texture, lid.tex_x, lid.tex_y, cv2.INTER_LINEAR,
                            borderMode=cv2.BORDER_REPLICATE)
            # Eye white never shows outside the closing opening (drawn eyes can be larger than
            # the tracked contour): in the lid layer it becomes lid skin, below it the skin under
            # the eye, as much as the lid closes.
            if lid.aperture is not None and skin.white is not None:  # closing over drawn eye white
                to_tex = np.maximum(lid.tex_w, self._white(skin, lid_map) * lid.tex_ramp)
                below = self._white(skin, mp[sub]) * (lid.tex_ramp * (1 - lid.aperture) * (1 - lid.alpha))
                region = warped[sub]
                np.copyto(region, np.clip(region + (skin.under - region) * below[..., None] + 0.5, 0, 255
                                          ).astype(np.uint8))
            else:
                to_tex = lid.tex_w
            grain = self._grain[side]
            if grain is not None:  # the portrait's own skin grain on the smooth lid texture
                tex += grain.at(at)
            layer += (tex - layer) * to_tex[..., None]
            layer *= lid.shade[..., None]
            if lid.lash is not None and skin.lash_tone is not None:
                layer += (skin.lash_tone - layer) * lid.lash[..., None]
            alpha = lid.alpha
            if skin.hair is not None:  # hair hanging over the eye stays on top of the closing lid
                alpha = alpha * (1 - self._mask(skin.hair, skin.hair_xy, at))
            _blend(warped[sub], layer, alpha)
        if mouth_sub is not None and amounts.pucker > 0.01:
            self._pucker(warped, mp, mouth_sub, amounts.pucker)
        if cavity is not None:
            sub, rgb, alpha = cavity
            _blend(warped[sub], rgb, alpha, premultiplied=True)
        return self._body_motion(composite(self.portrait, self.box, warped, self._moving), controls)

    def _body_motion(self, frame: np.ndarray, controls: Mapping[str, float]) -> np.ndarray:
        """The torso moved by the body curves (body_warp.py) when the portrait shows shoulders; the
        body is looked for on the first frame that moves it (option ``body=False``: never)."""
        if self.options.get("body", True) is False or body_values(controls) is None:
            return frame
        if self._body is False:
            fit = fit_body(self.portrait)
            self._body = None if fit is None else BodyWarp(fit, (frame.shape[1], frame.shape[0]))
        return frame if self._body is None else self._body.apply(frame, controls)

    def _pucker(self, warped: np.ndarray, mp: np.ndarray, sub: tuple[slice, slice], pucker: float) -> None:
        """Pucker shading over the mouth box: computed at the mouth's working scale (it is
        smooth), upsampled and applied only over the cells it changes."""
        import cv2

        k = self._mouth_k
        region = mp[sub]
        shade = pucker_shade(self.fit.mouth, self._uv(region[::k, ::k]), pucker, self.fit.width)
        rows = np.nonzero((np.abs(shade - 1) > 1 / 512).any(axis=1))[0]
        cols = np.nonzero((np.abs(shade - 1) > 1 / 512).any(axis=0))[0]
        if not len(rows):
            return
        r0, r1, c0, c1 = rows[0], rows[-1] + 1, cols[0], cols[-1] + 1
        shade = shade[r0:r1, c0:c1]
        ys, xs = sub
        y0, x0 = ys.start + r0 * k, xs.start + c0 * k
        y1, x1 = min(ys.start + r1 * k, ys.stop), min(xs.start + c1 * k, xs.stop)
        if k > 1:
            shade = cv2.resize(shade, ((c1 - c0) * k, (r1 - r0) * k), interpolation=cv2.INTER_LINEAR)
        out = warped[y0:y1, x0:x1]
        shade = np.ascontiguousarray(shade[:out.shape[0], :out.shape[1]])
        np.copyto(out, cv2.multiply(out, cv2.cvtColor(shade, cv2.COLOR_GRAY2RGB), dtype=cv2.CV_8U))

    @staticmethod
    def _closed_fill(region: np.ndarray, xy: np.ndarray, skin, ramp: tuple[float, float]  # noqa: ANN001
                     ) -> tuple[np.ndarray, np.ndarray]:
        """``region`` (uint8, the pixels sampled at portrait positions ``xy``) moved toward
        LidSkin.fill there, by its corner and lower-outline masks times ``ramp``
        (synthesis.LidLayer.fill_ramp), in place. Returns the corner mask's weight over the
        region and the fill there: the lid layer takes it too (at the corners the lid barely
        moves, so the layer's own samples lie at the same places)."""
        import cv2

        x0, y0 = skin.fill_xy
        mx, my = xy[..., 0] - np.float32(x0), xy[..., 1] - np.float32(y0)
        got = cv2.remap(skin.fill, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
        corner = got[..., 3].astype(np.float32) * np.float32(ramp[0] / 255)
        w = corner
        if skin.fill_lower is not None and ramp[1] > 0:
            lower = cv2.remap(skin.fill_lower, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT,
                              borderValue=0)
            w = corner + lower.astype(np.float32) * np.float32(ramp[1] / 255)
        fill = np.ascontiguousarray(got[..., :3])
        np.copyto(region, cv2.blendLinear(fill, region, w, np.float32(1) - w))
        return corner, fill

    @staticmethod
    def _white(skin, xy: np.ndarray) -> np.ndarray:  # noqa: ANN001 - LidSkin
        """How much the portrait pixels that ``xy`` samples look like eye white (0..1)."""
        return BuiltinRenderer._mask(skin.white, skin.white_xy, xy)

    @staticmethod
    def _mask(mask: np.ndarray, at: tuple[int, int], xy: np.ndarray) -> np.ndarray:
        """A uint8 portrait mask whose [0, 0] lies at image position ``at``, sampled at ``xy`` (0..1)."""
        import cv2

        x0, y0 = at
        m = cv2.remap(mask, xy[..., 0] - np.float32(x0), xy[..., 1] - np.float32(y0), cv2.INTER_LINEAR,
                      borderMode=cv2.BORDER_CONSTANT, borderValue=0)
        return m.astype(np.float32) * np.float32(1 / 255)

    def _mouth(self, mp: np.ndarray, sub: tuple[slice, slice], jaw: float, lift: float, smile: float,
               exemplar=None,  # noqa: ANN001 - exemplars.MouthBank.interior(...)
               over: float = 0.0) -> tuple[tuple[slice, slice], np.ndarray, np.ndarray] | None:
        """Jaw/lip motion into ``mp[sub]`` (in place); returns the painted interior (its box
        inside the frame, RGB float32, alpha) or None. Large faces are edited at the working
        scale (the map it changes is continuous across the lip lines, so upsampling is safe)."""
        import cv2

        k = self._mouth_k
        ys, xs = sub
        # A whole number of working cells (the few dropped edge pixels are far from the mouth,
        # where the jaw motion has faded to zero), so small cell i covers pixels k*i..k*i+k-1.
        h = (ys.stop - ys.start) // k * k
        w = (xs.stop - xs.start) // k * k
        if h < 2 * k or w < 2 * k:
            return None
        region = mp[ys.start:ys.start + h, xs.start:xs.start + w]
        small = region if k == 1 else cv2.resize(region, (w // k, h // k), interpolation=cv2.INTER_AREA)
        uv = self._uv(small)
        uv2, rgb, alpha = mouth_edit(self.fit.mouth, self._look, uv, jaw, lift, self.fit.width,
                                     smile, pixel=k, exemplar=exemplar, over=over)
        delta = self._xy_delta((uv2 - uv).astype(np.float32))
        if k > 1:
            delta = cv2.resize(delta, (w, h), interpolation=cv2.INTER_LINEAR)
        region += delta
        if rgb is None:
            return None
        # Only the painted cells (plus one for the upsampling's reach) go back to full size.
        rows, cols = np.nonzero(alpha.any(axis=1))[0], np.nonzero(alpha.any(axis=0))[0]
        r0, r1 = max(rows[0] - 1, 0), min(rows[-1] + 2, h // k)
        c0, c1 = max(cols[0] - 1, 0), min(cols[-1] + 2, w // k)
        rgb, alpha = rgb[r0:r1, c0:c1], alpha[r0:r1, c0:c1]
        if k > 1:
            size = ((c1 - c0) * k, (r1 - r0) * k)
            rgb = cv2.resize(rgb, size, interpolation=cv2.INTER_LINEAR)
            alpha = cv2.resize(alpha, size, interpolation=cv2.INTER_LINEAR)
        box = (slice(ys.start + r0 * k, ys.start + r1 * k), slice(xs.start + c0 * k, xs.start + c1 * k))
        return box, rgb, alpha

    def close(self) -> None:
        self.sampler = None
        self.fit = None


def _blend(region: np.ndarray, layer: np.ndarray, alpha: np.ndarray, premultiplied: bool = False) -> None:
    """region (uint8, in place) <- layer (float32 RGB) over it with ``alpha``."""
    a = alpha[..., None]
    out = (layer if premultiplied else layer * a) + region.astype(np.float32) * (1 - a)
    np.copyto(region, np.clip(out + 0.5, 0, 255).astype(np.uint8))


register_renderer("builtin", BuiltinRenderer)

__all__ = ["BuiltinRenderer"]
