"""LivePortrait's implicit-keypoint algebra: head pose from bins, the keypoint formula, relative
driving and the stitching/retargeting updates. Plain numpy on one frame (no batch axis).

Conventions (LivePortrait's): keypoints are 21 rows of (x, y, z) in the crop's normalized
coordinates (x right, y down, about -1..1); rotations act on row vectors (points @ R).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

NUM_KP = 21
NUM_BINS = 66
LIP_KP = (6, 12, 14, 17, 19, 20)
EYE_KP = (11, 13, 15, 16, 18)


def softmax(logits: np.ndarray) -> np.ndarray:
    z = np.asarray(logits, np.float64)
    z = z - z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


def pose_from_bins(logits: np.ndarray) -> np.ndarray:
    """66 logits (or (..., 66)) -> degrees: sum(softmax_i * i) * 3 - 97.5."""
    p = softmax(logits)
    return (p * np.arange(NUM_BINS)).sum(axis=-1) * 3.0 - 97.5


def rotation_matrix(pitch: float, yaw: float, roll: float) -> np.ndarray:
    """Degrees -> the 3x3 matrix R applied to row vectors: R = (Rz @ Ry @ Rx)^T."""
    x, y, z = np.radians([pitch, yaw, roll])
    cx, sx, cy, sy, cz, sz = np.cos(x), np.sin(x), np.cos(y), np.sin(y), np.cos(z), np.sin(z)
    rx = np.array([[1, 0, 0], [0, cx, -sx], [0, sx, cx]])
    ry = np.array([[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]])
    rz = np.array([[cz, -sz, 0], [sz, cz, 0], [0, 0, 1]])
    return (rz @ ry @ rx).T


@dataclass
class KeypointInfo:
    """Decoded motion-extractor output for one image."""

    pitch: float  # degrees
    yaw: float
    roll: float
    t: np.ndarray  # (3,)
    exp: np.ndarray  # (21, 3)
    scale: float
    kp: np.ndarray  # (21, 3) canonical keypoints

    @classmethod
    def from_outputs(cls, outputs: list[np.ndarray]) -> KeypointInfo:
        """The motion extractor's seven outputs, by position: pitch, yaw, roll (66 logits each),
        t (3), exp (63), scale (1), kp (63)."""
        pitch, yaw, roll, t, exp, scale, kp = (np.asarray(o, np.float64) for o in outputs)
        return cls(float(pose_from_bins(pitch.reshape(-1))), float(pose_from_bins(yaw.reshape(-1))),
                   float(pose_from_bins(roll.reshape(-1))), t.reshape(3),
                   exp.reshape(NUM_KP, 3), float(scale.reshape(-1)[0]), kp.reshape(NUM_KP, 3))

    @property
    def rotation(self) -> np.ndarray:
        return rotation_matrix(self.pitch, self.yaw, self.roll)

    def keypoints(self) -> np.ndarray:
        return transform_keypoints(self.kp, self.rotation, self.exp, self.scale, self.t)


def transform_keypoints(kp_c: np.ndarray, rot: np.ndarray, exp: np.ndarray, scale: float,
                        t: np.ndarray) -> np.ndarray:
    """x = scale * (kp_c @ R + exp) + t, with only t's x and y added (t_z dropped)."""
    x = scale * (np.asarray(kp_c).reshape(NUM_KP, 3) @ rot + np.asarray(exp).reshape(NUM_KP, 3))
    x[:, :2] += np.asarray(t).reshape(-1)[:2]
    return x


def relative_motion(src: KeypointInfo, drv: KeypointInfo, drv0: KeypointInfo,
                    use_scale: bool = True) -> tuple[np.ndarray, np.ndarray, float, np.ndarray]:
    """Source motion moved by the driving frame's change since the driving's first frame:
    (R, exp, scale, t) with R = (R_d R_d0^T) R_s, exp = exp_s + (exp_d - exp_d0),
    scale = scale_s * scale_d / scale_d0 (or scale_s), t = t_s + (t_d - t_d0)."""
    rot = drv.rotation @ drv0.rotation.T @ src.rotation
    exp = src.exp + (drv.exp - drv0.exp)
    scale = src.scale * (drv.scale / drv0.scale if use_scale else 1.0)
    t = src.t + (drv.t - drv0.t)
    return rot, exp, scale, t


def apply_stitching(kp_driving: np.ndarray, delta: np.ndarray) -> np.ndarray:
    """Stitching MLP output (65: 63 keypoint deltas + tx, ty) applied to the driving keypoints."""
    d = np.asarray(delta, np.float64).reshape(-1)
    out = np.asarray(kp_driving, np.float64).reshape(NUM_KP, 3) + d[:NUM_KP * 3].reshape(NUM_KP, 3)
    out[:, :2] += d[NUM_KP * 3:NUM_KP * 3 + 2]
    return out


def stitching_input(kp_source: np.ndarray, kp_driving: np.ndarray) -> np.ndarray:
    return np.concatenate([np.ravel(kp_source), np.ravel(kp_driving)])[None].astype(np.float32)


def eye_input(kp_source: np.ndarray, eye_left: float, eye_right: float, target: float) -> np.ndarray:
    return np.concatenate([np.ravel(kp_source), [eye_left, eye_right, target]])[None].astype(np.float32)


def lip_input(kp_source: np.ndarray, lip_source: float, target: float) -> np.ndarray:
    return np.concatenate([np.ravel(kp_source), [lip_source, target]])[None].astype(np.float32)
