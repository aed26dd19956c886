"""Dense LivePortrait track of a driving clip: the motion extractor M on every driving frame.

When LivePortrait's models are installed, capture also runs M on each frame's driving crop
(scale 2.2, shift -0.1, as LivePortrait crops driving videos) and stores, per output frame, in
``Motion.extras`` (MOTION_SPEC.md):

* ``liveportrait_exp`` (n, 63): exp_i - exp_ref, LivePortrait's relative expression;
* ``liveportrait_pose`` (n, 13): R_i R_refᵀ (9, row-major, row-vector convention), s_i / s_ref,
  t_i - t_ref (3): its relative head motion;
* ``liveportrait_base`` (n, 16): the 16 controls captured on the same frame for the aspects the
  track covers (neutral for the others), so the renderer applies the controls as offsets: an
  untouched curve adds nothing to the dense track, an edited one changes exactly its aspect.

``reference``: "neutral" (the capture's calibration frame, default: the controls are relative to
it too) or "first" (driving frame 0, LivePortrait's own default). ``region`` (LivePortrait's
"animation region"): "all", "expression" (no head motion), "pose" (head only), "lips" or "eyes"
(only those keypoints' expression; the other controls stay absolute).

Frames where the face was lost are interpolated like the controls; a variable-frame-rate clip is
resampled onto the same even time grid. The built-in renderer ignores these extras.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ..controls import CONTROL_NAMES, CONTROLS, NEUTRAL
from ..errors import EngineError

REGIONS = ("all", "expression", "pose", "lips", "eyes")
REFERENCES = ("neutral", "first")
EXTRA_EXP, EXTRA_POSE, EXTRA_BASE = "liveportrait_exp", "liveportrait_pose", "liveportrait_base"
MOTION_FILE = "motion_extractor.onnx"
_LIP_KP = (6, 12, 14, 17, 19, 20)
_EYE_KP = (11, 13, 15, 16, 18)
#: the controls whose aspect each region's dense track carries (these become offsets)
REGION_CONTROLS = {
    "all": set(CONTROL_NAMES),
    "expression": {c.name for c in CONTROLS if c.group != "Head"},
    "pose": {c.name for c in CONTROLS if c.group == "Head"},
    "lips": {c.name for c in CONTROLS if c.group == "Mouth"},
    "eyes": {"eye_open_l", "eye_open_r", "gaze_x", "gaze_y"},
}
# row layout of one frame's M output: pitch, yaw, roll (degrees), t (3), exp (63), scale
_ROW = 3 + 3 + 63 + 1


class DenseCaptureError(EngineError):
    pass


def find_motion_extractor(models_dir: str | os.PathLike[str] | None) -> Path | None:
    """The installed, verified motion extractor, or None."""
    from ..models.store import ModelStore

    store = ModelStore(models_dir)
    if store.status("liveportrait").get(MOTION_FILE) in ("ok", "trusted"):
        return store.path("liveportrait", MOTION_FILE)
    return None


def resolve(mode: str, models_dir: str | os.PathLike[str] | None,
            model_file: str | os.PathLike[str] | None = None) -> Path | None:
    """``mode`` "auto" (when installed) / "on" (error if not) / "off" -> the M file or None."""
    if mode == "off":
        return None
    path = Path(model_file) if model_file else find_motion_extractor(models_dir)
    if path is None and mode == "on":
        from ..models.store import ModelStore

        store = ModelStore(models_dir)
        raise DenseCaptureError(f"dense expression needs LivePortrait's {MOTION_FILE} in "
                                f"{store.set_dir('liveportrait')}; {store.how_to_get('liveportrait')}")
    return path


class DenseCapture:
    """Collects M's output frame by frame during capture (``add``), then ``extras()``."""

    def __init__(self, model_file: str | os.PathLike[str], *, region: str = "all",
                 reference: str = "neutral", device: str = "auto", threads: int | None = None):
        if region not in REGIONS:
            raise DenseCaptureError(f"unknown animation region {region!r}: use one of {', '.join(REGIONS)}")
        if reference not in REFERENCES:
            raise DenseCaptureError(f"unknown reference {reference!r}: use one of {', '.join(REFERENCES)}")
        from ..render.liveportrait.networks import LivePortraitNetworks

        self.nets = LivePortraitNetworks({"motion": Path(model_file)}, device, threads, roles=("motion",))
        self.region, self.reference = region, reference
        self.rows: list[np.ndarray | None] = []

    @property
    def provider(self) -> str:
        return self.nets.label

    def add(self, rgb: np.ndarray, landmarks: np.ndarray | None) -> None:
        """One decoded driving frame (None landmarks: no face, interpolated later)."""
        if landmarks is None:
            self.rows.append(None)
            return
        from ..render.liveportrait import crop as cropmod
        from ..render.liveportrait.keypoints import KeypointInfo
        from ..render.liveportrait.pipeline import to_input

        geom = cropmod.crop_geometry(landmarks, 512, cropmod.DRIVING_SCALE, cropmod.DRIVING_VY)
        info = KeypointInfo.from_outputs(self.nets.motion(to_input(cropmod.crop_image(rgb, geom, 256))))
        self.rows.append(np.concatenate([[info.pitch, info.yaw, info.roll], info.t, info.exp.ravel(),
                                         [info.scale]]))

    def extras(self, times_ms: np.ndarray, grid_ms: np.ndarray | None, reference_index: int,
               controls: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Per output frame arrays. ``times_ms``: timestamps of the decoded frames; ``grid_ms``:
        the even grid of a variable-frame-rate capture (None: output frame = decoded frame);
        ``reference_index``: the calibration frame among the output frames; ``controls``: the
        final captured controls (the base)."""
        n_in = len(self.rows)
        good = [k for k, r in enumerate(self.rows) if r is not None]
        if not good:
            raise DenseCaptureError("no face in any driving frame: nothing to capture densely")
        raw = np.full((n_in, _ROW), np.nan)
        for k in good:
            raw[k] = self.rows[k]
        g = np.asarray(good)
        for j in range(_ROW):
            raw[:, j] = np.interp(np.arange(n_in), g, raw[g, j])
        if grid_ms is not None:
            t = np.asarray(times_ms, np.float64)
            raw = np.stack([np.interp(grid_ms, t, raw[:, j]) for j in range(_ROW)], axis=1)
        n = raw.shape[0]
        ref = 0 if self.reference == "first" else int(np.clip(reference_index, 0, n - 1))
        return dense_extras(raw, ref, self.region, controls)


def dense_extras(raw: np.ndarray, ref: int, region: str, controls: dict[str, np.ndarray]
                 ) -> dict[str, np.ndarray]:
    """(n, 70) rows (pitch, yaw, roll, t, exp, scale) -> the extras, relative to row ``ref``."""
    from ..render.liveportrait.keypoints import rotation_matrix

    n = raw.shape[0]
    out: dict[str, np.ndarray] = {}
    if region != "pose":
        exp = (raw[:, 6:69] - raw[ref, 6:69]).reshape(n, 21, 3)
        keep = {"lips": _LIP_KP, "eyes": _EYE_KP}.get(region)
        if keep is not None:
            mask = np.zeros(21, bool)
            mask[list(keep)] = True
            exp[:, ~mask] = 0.0
        out[EXTRA_EXP] = exp.reshape(n, 63).astype(np.float32)
    if region in ("all", "pose"):
        r_ref = rotation_matrix(*raw[ref, :3])
        pose = np.zeros((n, 13))
        for i in range(n):
            pose[i, :9] = (rotation_matrix(*raw[i, :3]) @ r_ref.T).ravel()
        pose[:, 9] = raw[:, 69] / raw[ref, 69]
        pose[:, 10:13] = raw[:, 3:6] - raw[ref, 3:6]
        out[EXTRA_POSE] = pose.astype(np.float32)
    covered = REGION_CONTROLS[region]
    base = np.stack([np.asarray(controls[c], np.float64) if c in covered else np.full(n, NEUTRAL[c])
                     for c in CONTROL_NAMES], axis=1)
    out[EXTRA_BASE] = base.astype(np.float32)
    return out


def without_region(extras: dict[str, np.ndarray], region: str) -> dict[str, np.ndarray]:
    """The track with one region left out (its keypoints' expression zeroed, its controls' base
    neutral, so those controls act absolutely): e.g. the lips when the voice drives the mouth."""
    keep = dict(extras)
    kps = {"lips": _LIP_KP, "eyes": _EYE_KP}.get(region)
    if kps is not None and EXTRA_EXP in keep:
        exp = np.array(keep[EXTRA_EXP], np.float32).reshape(len(keep[EXTRA_EXP]), 21, 3)
        exp[:, list(kps)] = 0.0
        keep[EXTRA_EXP] = exp.reshape(len(exp), 63)
    if EXTRA_BASE in keep:
        base = np.array(keep[EXTRA_BASE], np.float32)
        for j, name in enumerate(CONTROL_NAMES):
            if name in REGION_CONTROLS[region]:
                base[:, j] = NEUTRAL[name]
        keep[EXTRA_BASE] = base
    return keep
