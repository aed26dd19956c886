"""LivePortraitRenderer: our controls in, LivePortrait frames pasted into the full portrait out.

prepare(): track the portrait with our MediaPipe tracker, crop (scale 2.3, shift -0.125, 512 then
area-resized to 256), appearance features F and source motion M once, source keypoints, eye/lip
ratios. render_frame(): controls -> driving parameters -> driving keypoints -> eye and lip
retargeting offsets -> stitching -> warping + generator -> feathered paste-back. Stateless per
frame. ``timings`` holds the last frame's milliseconds per stage.

Options (``create_renderer("liveportrait", models_dir=..., ...)``):
  models_dir      model folder (default: store.default_models_dir())
  model_files     role -> .onnx path, bypassing the store (custom exports, tests)
  mouth_mode      "retarget" (lip MLP, default) or "slider" (AdvancedLivePortrait's "aaa")
  use_scale       False ignores head_scale (against "breathing")
  stitching       False skips the stitching MLP
  eye_asymmetry   True renders l/r eye differences (winks) through per-eye keypoints (unverified)
  pose_signs      overrides of controls_to_motion.POSE_SIGNS
  threads         onnxruntime intra-op threads
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from ...controls import CONTROL_NAMES
from ..base import Renderer, RenderError
from . import crop as cropmod
from .controls_to_motion import DrivingParams, controls_to_driving
from .keypoints import (
    KeypointInfo,
    apply_stitching,
    eye_input,
    lip_input,
    stitching_input,
    transform_keypoints,
)
from .networks import ROLES, LivePortraitNetworks

MODEL_SET = "liveportrait"
#: extras keys: dense expression change per frame (63,) and the controls captured on that frame (16,)
EXTRA_DENSE_EXP = "liveportrait_exp"
EXTRA_DENSE_BASE = "liveportrait_base"


def to_input(rgb256: np.ndarray) -> np.ndarray:
    """(256,256,3) uint8 RGB -> (1,3,256,256) float32 in 0..1."""
    return (np.asarray(rgb256, np.float32) / 255.0).transpose(2, 0, 1)[None].copy()


def to_image(out: np.ndarray) -> np.ndarray:
    """(1,3,H,W) 0..1 -> (H,W,3) uint8."""
    return np.clip(np.asarray(out)[0].transpose(1, 2, 0) * 255.0 + 0.5, 0, 255).astype(np.uint8)


def resolve_model_files(models_dir: Path | str | None) -> dict[str, Path]:
    from ...models.store import ModelStore

    store = ModelStore(models_dir)
    bad = store.missing(MODEL_SET)
    if bad:
        raise RenderError(f"LivePortrait model files missing or unverified in {store.set_dir(MODEL_SET)}: "
                          f"{', '.join(bad)}; {store.how_to_get(MODEL_SET)}")
    return store.paths(MODEL_SET)


class LivePortraitRenderer(Renderer):
    name = "liveportrait"
    label = "LivePortrait (neural)"
    needs_models = True

    def __init__(self, device: str = "auto", **options: Any):
        super().__init__(device, **options)
        files = options.get("model_files")
        if files is None:
            files = resolve_model_files(options.get("models_dir"))
        self.model_files = {r: Path(files[r]) for r in ROLES if r in files}
        self.nets: LivePortraitNetworks | None = None
        self.timings: dict[str, float] = {}
        self._src: dict[str, Any] | None = None

    # ------------------------------------------------------------------ setup
    def _networks(self) -> LivePortraitNetworks:
        if self.nets is None:
            self.nets = LivePortraitNetworks(self.model_files, self.device, self.options.get("threads"))
        return self.nets

    def prepare(self, portrait: np.ndarray, landmarks: np.ndarray | None = None) -> None:
        """Fit the portrait. ``landmarks`` (478, 2+) skips the tracker (already tracked)."""
        if portrait.dtype != np.uint8 or portrait.ndim != 3 or portrait.shape[2] != 3:
            raise RenderError("the portrait must be an RGB uint8 image")
        if landmarks is None:
            landmarks = track_landmarks(portrait, self.options.get("face"))
        nets = self._networks()
        geom = cropmod.crop_geometry(landmarks, 512, cropmod.SOURCE_SCALE, cropmod.SOURCE_VY)
        crop256 = cropmod.crop_image(portrait, geom, 256)
        inp = to_input(crop256)
        feature = nets.appearance(inp)
        info = KeypointInfo.from_outputs(nets.motion(inp))
        x_s = info.keypoints()
        eyes = cropmod.eye_ratios(landmarks)
        lip = cropmod.lip_ratio(landmarks)
        self._src = {
            "portrait": portrait, "landmarks": np.asarray(landmarks), "geom": geom, "feature": feature,
            "info": info, "x_s": x_s, "eye_ratios": eyes, "lip_ratio": lip,
            "mask": cropmod.feather_mask(512),
            # network outputs at the source's own ratios: retargeting adds only the change
            "eye_base": nets.eye(eye_input(x_s, eyes[0], eyes[1], (eyes[0] + eyes[1]) / 2)),
            "lip_base": nets.lip(lip_input(x_s, lip, lip)),
        }

    @property
    def source(self) -> dict[str, Any]:
        if self._src is None:
            raise RenderError("call prepare(portrait) before rendering")
        return self._src

    # ------------------------------------------------------------------ per frame
    def driving(self, controls: Mapping[str, float],
                extras: Mapping[str, np.ndarray] | None = None) -> DrivingParams:
        src = self.source
        dense = base = None
        if extras is not None and EXTRA_DENSE_EXP in extras:
            dense = np.asarray(extras[EXTRA_DENSE_EXP], np.float64).reshape(-1)
            if dense.size != 63 or not np.isfinite(dense).all():
                raise RenderError(f"the motion's {EXTRA_DENSE_EXP} must hold 63 finite numbers per "
                                  f"frame, got {dense.size}; capture the motion again")
            if EXTRA_DENSE_BASE in extras:
                b = np.asarray(extras[EXTRA_DENSE_BASE], np.float64).reshape(-1)
                if b.size != len(CONTROL_NAMES) or not np.isfinite(b).all():
                    raise RenderError(f"the motion's {EXTRA_DENSE_BASE} must hold {len(CONTROL_NAMES)} "
                                      "finite numbers per frame; capture the motion again")
                base = dict(zip(CONTROL_NAMES, b.tolist(), strict=True))
        o = self.options
        return controls_to_driving(
            src["info"], controls, src["eye_ratios"], src["lip_ratio"], dense_exp=dense,
            dense_base=base, mouth_mode=o.get("mouth_mode", "retarget"),
            use_scale=o.get("use_scale", True), eye_asymmetry=o.get("eye_asymmetry", False),
            pose_signs=o.get("pose_signs"))

    def driving_keypoints(self, controls: Mapping[str, float],
                          extras: Mapping[str, np.ndarray] | None = None) -> np.ndarray:
        """(21,3) final driving keypoints: formula, eye/lip retargeting, stitching."""
        src = self.source
        nets = self._networks()
        t0 = time.perf_counter()
        p = self.driving(controls, extras)
        info: KeypointInfo = src["info"]
        x_s = src["x_s"]
        x_d = transform_keypoints(info.kp, p.rotation, p.exp, p.scale, p.t)
        t1 = time.perf_counter()
        if p.eye_target is not None:
            el, er = src["eye_ratios"]
            x_d = x_d + (nets.eye(eye_input(x_s, el, er, p.eye_target)) - src["eye_base"]).reshape(21, 3)
        if p.lip_target is not None:
            x_d = x_d + (nets.lip(lip_input(x_s, src["lip_ratio"], p.lip_target))
                         - src["lip_base"]).reshape(21, 3)
        t2 = time.perf_counter()
        if self.options.get("stitching", True):
            x_d = apply_stitching(x_d, nets.stitching(stitching_input(x_s, x_d)))
        t3 = time.perf_counter()
        self.timings.update(keypoints=(t1 - t0) * 1e3, retarget=(t2 - t1) * 1e3, stitching=(t3 - t2) * 1e3)
        return x_d

    def render_crop(self, controls: Mapping[str, float],
                    extras: Mapping[str, np.ndarray] | None = None) -> np.ndarray:
        """The generator's 512² RGB uint8 crop for one frame."""
        x_d = self.driving_keypoints(controls, extras)
        t0 = time.perf_counter()
        out = self._networks().warp(self.source["feature"], x_d, self.source["x_s"])
        self.timings["warp_generate"] = (time.perf_counter() - t0) * 1e3
        return to_image(out)

    def render_frame(self, controls: Mapping[str, float],
                     extras: Mapping[str, np.ndarray] | None = None) -> np.ndarray:
        crop512 = self.render_crop(controls, extras)
        t0 = time.perf_counter()
        src = self.source
        frame = cropmod.paste_back(src["portrait"], crop512, src["geom"], src["mask"])
        self.timings["paste_back"] = (time.perf_counter() - t0) * 1e3
        return frame

    def close(self) -> None:
        if self.nets is not None:
            self.nets.close()
        self.nets = None
        self._src = None

    # ------------------------------------------------------------------ optional dense capture
    def capture_expression(self, frames: Iterable[tuple[np.ndarray, np.ndarray]]) -> np.ndarray:
        """Dense LivePortrait expression of a driving clip: (n, 63) exp_d,i - exp_d,0, from
        (rgb, landmarks) pairs (driving crop: scale 2.2, shift -0.1). Store it in
        ``Motion.extras[EXTRA_DENSE_EXP]`` with the captured controls in EXTRA_DENSE_BASE."""
        nets = self._networks()
        rows = []
        for rgb, lm in frames:
            geom = cropmod.crop_geometry(lm, 512, cropmod.DRIVING_SCALE, cropmod.DRIVING_VY)
            info = KeypointInfo.from_outputs(nets.motion(to_input(cropmod.crop_image(rgb, geom, 256))))
            rows.append(info.exp.reshape(-1))
        if not rows:
            return np.zeros((0, 63), np.float32)
        a = np.asarray(rows)
        return (a - a[0]).astype(np.float32)


def track_landmarks(portrait: np.ndarray, face_index: int | None = None) -> np.ndarray:
    from ...face_tracker import FaceTracker, portrait_face

    with FaceTracker(video=False) as tracker:
        faces = tracker.detect(portrait)
    face = portrait_face(faces, (portrait.shape[1], portrait.shape[0]), face_index)
    if face is None:
        raise RenderError("no face found in the portrait; use a clearer, more frontal portrait")
    return face.landmarks

