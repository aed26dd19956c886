"""The body part of a motion: per-frame BlazePose joints, their confidence, and the body controls.

A motion captured with ``--body`` carries a ``BodyTrack`` (MOTION_SPEC.md, "Body"): the 33 joints
in image coordinates normalised to the frame (so a pose video can be drawn at any size) and in
metres (MediaPipe's hips-centred world frame), a per-joint confidence, per-frame ``tracked``, and
four editable controls computed from the joints. The controls are what a user keys and edits; the
joints are what a rig bake or a pose video reads. Plain numpy, no MediaPipe: files load anywhere.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .controls import ControlSpec
from .errors import EngineError

# BlazePose's 33 landmarks in model order (MediaPipe's "Pose landmark model"); here, not in the
# tracker, so that loading a file never imports MediaPipe (body_tracker.LANDMARK_NAMES is this).
JOINT_NAMES = (
    "nose", "left_eye_inner", "left_eye", "left_eye_outer", "right_eye_inner", "right_eye",
    "right_eye_outer", "left_ear", "right_ear", "mouth_left", "mouth_right", "left_shoulder",
    "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_pinky",
    "right_pinky", "left_index", "right_index", "left_thumb", "right_thumb", "left_hip", "right_hip",
    "left_knee", "right_knee", "left_ankle", "right_ankle", "left_heel", "right_heel",
    "left_foot_index", "right_foot_index",
)
J = {name: i for i, name in enumerate(JOINT_NAMES)}
JOINT_COUNT = len(JOINT_NAMES)

BODY_CONTROLS: tuple[ControlSpec, ...] = (
    ControlSpec("torso_lean", "Body", "Torso Lean", "deg", 0.0, -20.0, 20.0, -90.0, 90.0,
                "Sideways lean of the spine (hips to shoulders) in degrees; + leans toward the "
                "viewer's right"),
    ControlSpec("torso_turn", "Body", "Torso Turn", "deg", 0.0, -40.0, 40.0, -90.0, 90.0,
                "Turn of the shoulder line about the vertical in degrees; + turns the chest toward "
                "the viewer's right (like head_yaw)"),
    ControlSpec("shoulder_raise_l", "Body", "Shoulder Raise L", "unit", 0.0, -0.3, 0.3, -1.0, 1.0,
                "Subject's left shoulder raised toward the eyes, in neutral shoulder widths; + up"),
    ControlSpec("shoulder_raise_r", "Body", "Shoulder Raise R", "unit", 0.0, -0.3, 0.3, -1.0, 1.0,
                "Subject's right shoulder raised toward the eyes, in neutral shoulder widths; + up"),
)
BODY_CONTROL_NAMES = tuple(c.name for c in BODY_CONTROLS)
BODY_CONTROLS_BY_NAME = {c.name: c for c in BODY_CONTROLS}


class BodyError(EngineError, ValueError):
    """Body data that breaks the motion contract."""


@dataclass
class BodyTrack:
    joints: np.ndarray  # (n, 33, 3): x / width, y / height, z / width (MediaPipe's depth scale)
    world: np.ndarray  # (n, 33, 3) metres, origin between the hips, x right, y down, z away
    confidence: np.ndarray  # (n, 33) 0..1: min(visibility, presence); 0 on lost frames
    tracked: np.ndarray  # (n,) False where no body was found and the joints were interpolated
    controls: dict[str, np.ndarray]  # BODY_CONTROL_NAMES -> (n,)
    calibration: dict[str, Any] = field(default_factory=dict)
    filter: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.joints = np.asarray(self.joints, np.float32)
        self.world = np.asarray(self.world, np.float32)
        self.confidence = np.asarray(self.confidence, np.float32)
        self.tracked = np.asarray(self.tracked, bool)
        self.controls = {k: np.asarray(v, np.float32) for k, v in self.controls.items()}
        self.validate()

    @property
    def frame_count(self) -> int:
        return int(self.joints.shape[0]) if self.joints.ndim == 3 else 0

    def validate(self, frames: int | None = None) -> None:
        n = self.frame_count if frames is None else frames
        for name, arr, shape in (("joints", self.joints, (n, JOINT_COUNT, 3)),
                                 ("world", self.world, (n, JOINT_COUNT, 3)),
                                 ("confidence", self.confidence, (n, JOINT_COUNT)),
                                 ("tracked", self.tracked, (n,))):
            if arr.shape != shape:
                raise BodyError(f"body {name} has shape {arr.shape}, expected {shape}")
            if arr.dtype != bool and not np.all(np.isfinite(arr)):
                raise BodyError(f"body {name} contains NaN or infinite values")
        if np.any((self.confidence < 0) | (self.confidence > 1)):
            raise BodyError("body confidence must lie in 0..1")
        missing = [k for k in BODY_CONTROL_NAMES if k not in self.controls]
        unknown = [k for k in self.controls if k not in BODY_CONTROLS_BY_NAME]
        if missing or unknown:
            raise BodyError(f"body controls: missing {missing or 'none'}, unknown {unknown or 'none'}")
        for k, v in self.controls.items():
            if v.shape != (n,) or not np.all(np.isfinite(v)):
                raise BodyError(f"body control {k!r} must hold {n} finite values")

    def slice(self, start: int, stop: int) -> BodyTrack:
        s = np.s_[start:stop]
        return BodyTrack(self.joints[s], self.world[s], self.confidence[s], self.tracked[s],
                         {k: v[s] for k, v in self.controls.items()}, dict(self.calibration),
                         dict(self.filter))

    # -- file ------------------------------------------------------------------------------------

    def to_dict(self, arrays_inline: bool = True) -> dict[str, Any]:
        doc: dict[str, Any] = {"joint_names": list(JOINT_NAMES), "calibration": self.calibration,
                               "filter": self.filter}
        if arrays_inline:
            # 4 decimals of a frame (0.05 px at 512) / of a metre (0.1 mm): far below tracker noise
            doc["joints"] = np.round(self.joints, 4).tolist()
            doc["world"] = np.round(self.world, 4).tolist()
            doc["confidence"] = np.round(self.confidence, 3).tolist()
            doc["tracked"] = [bool(x) for x in self.tracked]
            doc["controls"] = {k: [round(float(x), 5) for x in self.controls[k]] for k in BODY_CONTROL_NAMES}
        return doc

    def arrays(self) -> dict[str, np.ndarray]:
        """Sidecar arrays (``body/...`` keys)."""
        out = {"body/joints": self.joints, "body/world": self.world, "body/confidence": self.confidence,
               "body/tracked": self.tracked}
        out.update({f"body/controls/{k}": self.controls[k] for k in BODY_CONTROL_NAMES})
        return out

    @classmethod
    def from_dict(cls, doc: Any, arrays: dict[str, np.ndarray] | None = None) -> BodyTrack:
        if not isinstance(doc, dict):
            raise BodyError("'body' must be an object")
        names = doc.get("joint_names")
        if names is not None and list(names) != list(JOINT_NAMES):
            raise BodyError("body joint_names are not the 33 BlazePose joints this engine knows")
        try:
            if arrays is not None:
                get = arrays.get
                joints, world = get("body/joints"), get("body/world")
                conf, tracked = get("body/confidence"), get("body/tracked")
                controls = {k[len("body/controls/"):]: v for k, v in arrays.items()
                            if k.startswith("body/controls/")}
            else:
                joints, world = doc.get("joints"), doc.get("world")
                conf, tracked = doc.get("confidence"), doc.get("tracked")
                raw = doc.get("controls")
                if not isinstance(raw, dict):
                    raise BodyError("body 'controls' must be an object of arrays")
                controls = {k: np.asarray(v, np.float32) for k, v in raw.items()}
            if joints is None or world is None or conf is None or tracked is None:
                raise BodyError("body needs joints, world, confidence and tracked")
            return cls(np.asarray(joints, np.float32), np.asarray(world, np.float32),
                       np.asarray(conf, np.float32), np.asarray(tracked, bool), controls,
                       dict(doc.get("calibration") or {}), dict(doc.get("filter") or {}))
        except BodyError:
            raise
        except (TypeError, ValueError, KeyError) as exc:
            raise BodyError(f"malformed body data: {exc}") from exc


# -- controls from joints --------------------------------------------------------------------------

def raw_body_measures(joints: np.ndarray, world: np.ndarray, aspect: float) -> np.ndarray:
    """Per frame (n, 4): lean (deg), turn (deg), left and right shoulder height above the eyes'
    line along the image vertical (in shoulder widths, as measured that frame). ``aspect`` =
    width / height of the frame, so that normalised image x and y are in the same unit."""
    xy = joints[..., :2] * np.array([aspect, 1.0], np.float32)  # units of the frame height
    ls, rs = world[:, J["left_shoulder"]], world[:, J["right_shoulder"]]
    lh, rh = world[:, J["left_hip"]], world[:, J["right_hip"]]
    spine = (ls + rs) / 2 - (lh + rh) / 2
    # world y points down: the spine points to -y; + lean = shoulders toward +x (viewer's right)
    lean = np.degrees(np.arctan2(spine[:, 0], -spine[:, 1]))
    # subject's left shoulder minus right: +x when facing the camera; turning toward the viewer's
    # right takes the left shoulder away from the camera (+z)
    across = ls - rs
    turn = np.degrees(np.arctan2(across[:, 2], across[:, 0]))
    eyes_y = (xy[:, J["left_eye"], 1] + xy[:, J["right_eye"], 1]) / 2
    width = np.linalg.norm(xy[:, J["left_shoulder"]] - xy[:, J["right_shoulder"]], axis=1)
    width = np.maximum(width, 1e-4)
    # image y grows downward: a raised shoulder comes closer to the eyes' line
    drop_l = (xy[:, J["left_shoulder"], 1] - eyes_y) / width
    drop_r = (xy[:, J["right_shoulder"], 1] - eyes_y) / width
    return np.stack([lean, turn, drop_l, drop_r], axis=1)


def body_controls(joints: np.ndarray, world: np.ndarray, aspect: float,
                  neutral: int) -> dict[str, np.ndarray]:
    """The four body controls, each relative to the ``neutral`` frame (0 there), clipped to its
    hard range. Shoulder raise is measured in the neutral frame's shoulder widths so that leaning
    toward or away from the camera does not read as a shrug."""
    raw = raw_body_measures(joints, world, aspect)
    ref = raw[neutral]
    xy = joints[neutral, :, :2] * np.array([aspect, 1.0], np.float32)
    width_now = np.linalg.norm(joints[:, J["left_shoulder"], :2] * [aspect, 1]
                               - joints[:, J["right_shoulder"], :2] * [aspect, 1], axis=1)
    width_ref = max(float(np.linalg.norm(xy[J["left_shoulder"]] - xy[J["right_shoulder"]])), 1e-4)
    scale = np.maximum(width_now, 1e-4) / width_ref  # back from per-frame to neutral widths
    values = {
        "torso_lean": raw[:, 0] - ref[0],
        "torso_turn": _wrap_deg(raw[:, 1] - ref[1]),
        "shoulder_raise_l": ref[2] - raw[:, 2] * scale,
        "shoulder_raise_r": ref[3] - raw[:, 3] * scale,
    }
    out = {}
    for spec in BODY_CONTROLS:
        out[spec.name] = np.clip(values[spec.name], spec.hard_min, spec.hard_max).astype(np.float32)
    return out


def _wrap_deg(a: np.ndarray) -> np.ndarray:
    return (a + 180.0) % 360.0 - 180.0


def neutral_body_frame(confidence: np.ndarray, tracked: np.ndarray, preferred: int) -> int:
    """The face's neutral frame (so face and body curves share their zero), unless the body was
    lost there, or its shoulders are hidden there but clearly seen on another frame: then the
    tracked frame with the most confident shoulders."""
    shoulders = confidence[:, [J["left_shoulder"], J["right_shoulder"]]].min(axis=1)
    score = np.where(tracked, shoulders, -1.0)
    if 0 <= preferred < tracked.size and tracked[preferred] and \
            (shoulders[preferred] >= 0.5 or score.max() < 0.5):
        return int(preferred)
    return int(np.argmax(score))

