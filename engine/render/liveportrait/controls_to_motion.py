"""Our 16 expression controls -> LivePortrait driving parameters for one frame.

Head pose, position and scale move the source's own motion (rotation composed onto the source's,
translation and scale offsets), so all-neutral controls reproduce the source keypoints exactly.
Brows, gaze, smile, "eee" and "ooo" add keypoint offsets to the expression term through the
published AdvancedLivePortrait slider coefficients. Eye opening and jaw opening are turned into
target ratios for the eye and lip retargeting MLPs.

Sign conventions that could not be checked without the motion extractor and generator weights
are collected in ``POSE_SIGNS`` (see docs/liveportrait.md): LivePortrait's pose bins follow the
Hopenet convention its training borrowed (pitch + = chin up, yaw + = face toward the viewer's
left, roll + = clockwise on screen); ours are head_pitch + = chin up, head_yaw + = toward the
viewer's right, head_roll + = clockwise. Gaze signs follow from the slider coefficients (keypoint
x right, y down): pupil_x + moves the iris keypoints right, pupil_y + moves them up.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from ...controls import CONTROL_NAMES, NEUTRAL
from .keypoints import NUM_KP, KeypointInfo, rotation_matrix

X, Y, Z = 0, 1, 2

#: LivePortrait degrees per degree of our head_pitch / head_yaw / head_roll.
POSE_SIGNS = {"pitch": 1.0, "yaw": -1.0, "roll": 1.0}
#: one face width (our head_x/head_y unit) in keypoint units: the source crop spans 2.3 face sizes
#: over the normalized range -1..1.
FACE_WIDTH_KP = 2.0 / 2.3
#: lip retargeting target ratio at mouth_open = 1 (the official UI offers 0 .. 0.8).
LIP_RATIO_OPEN = 0.6
LIP_RATIO_MAX = 0.9
#: the eye MLP's target range (official UI 0 .. 0.8).
EYE_RATIO_MAX = 0.8
#: LivePortrait keypoints of each eye, from the blink coefficients (11/13 move together, 15/16 too).
#: Which one is the subject's left is NOT verified; used only with eye_asymmetry=True.
EYE_KP = {"l": (15, 16), "r": (11, 13)}

# (keypoint, axis, coefficient) per slider unit, from AdvancedLivePortrait (reference table).
SMILE = ((20, Y, -0.01), (14, Y, -0.02), (17, Y, 0.0065), (17, Z, 0.003), (13, Y, -0.00275),
         (16, Y, -0.00275), (3, Y, -0.0035), (7, Y, -0.0035))
AAA = ((19, Y, 0.001), (19, Z, 0.0001), (17, Y, -0.0001))
EEE = ((20, Z, -0.001), (20, Y, -0.001), (14, Y, -0.001))
WOO = ((14, Y, 0.001), (3, Y, -0.0005), (7, Y, -0.0005), (17, Z, -0.0005))
PUPIL_X_POS = ((11, X, 0.0007), (15, X, 0.001))
PUPIL_X_NEG = ((11, X, 0.001), (15, X, 0.0007))
PUPIL_Y = ((11, Y, -0.001), (15, Y, -0.001))
BLINK = ((11, Y, -0.001), (13, Y, 0.0003), (15, Y, -0.001), (16, Y, 0.0003), (1, Y, -0.00025),
         (2, Y, 0.00025))
EYEBROW_POS = ((1, Y, 0.001), (2, Y, -0.001))
# lowered brows are a separate branch (LivePortrait gradio_pipeline update_delta_new_eyebrow,
# AdvancedLivePortrait calc_fe): brows move inward in x and slightly in y, not the raise mirrored
EYEBROW_NEG = ((1, X, -0.001), (2, X, 0.001), (1, Y, 0.0003), (2, Y, -0.0003))


@dataclass
class Sliders:
    """AdvancedLivePortrait slider values (their units and ranges)."""

    smile: float = 0.0  # -0.3 .. 1.3
    aaa: float = 0.0  # -30 .. 120
    eee: float = 0.0  # -20 .. 15
    woo: float = 0.0  # -20 .. 15
    pupil_x: float = 0.0  # -15 .. 15
    pupil_y: float = 0.0  # -15 .. 15
    blink: float = 0.0  # -20 .. 5
    eyebrow: float = 0.0  # -10 .. 15


def _add(exp: np.ndarray, table: tuple, value: float, only: tuple[int, ...] | None = None) -> None:
    for k, axis, coef in table:
        if only is None or k in only:
            exp[k, axis] += value * coef


def slider_deltas(s: Sliders) -> tuple[np.ndarray, float]:
    """(21,3) expression offsets and the pitch offset (degrees) the sliders imply."""
    exp = np.zeros((NUM_KP, 3))
    _add(exp, SMILE, s.smile)
    _add(exp, AAA, s.aaa)
    _add(exp, EEE, s.eee)
    _add(exp, WOO, s.woo)
    _add(exp, PUPIL_X_POS if s.pupil_x > 0 else PUPIL_X_NEG, s.pupil_x)
    _add(exp, PUPIL_Y, s.pupil_y)
    _add(exp, BLINK, s.blink - s.pupil_y / 2.0)
    _add(exp, EYEBROW_POS if s.eyebrow > 0 else EYEBROW_NEG, s.eyebrow)
    return exp, -0.05 * s.aaa


def sliders_from_controls(c: Mapping[str, float], mouth_mode: str = "retarget") -> Sliders:
    smile = float(c["mouth_smile"])
    brow = (float(c["brow_l"]) + float(c["brow_r"])) / 2.0
    return Sliders(
        smile=smile if smile >= 0 else 0.3 * smile,
        aaa=100.0 * float(c["mouth_open"]) if mouth_mode == "slider" else 0.0,
        eee=15.0 * float(c["mouth_wide"]),
        woo=15.0 * float(c["mouth_pucker"]),
        pupil_x=15.0 * float(c["gaze_x"]),
        pupil_y=15.0 * float(c["gaze_y"]),
        eyebrow=15.0 * brow if brow > 0 else 10.0 * brow,
    )


@dataclass
class DrivingParams:
    rotation: np.ndarray  # (3,3), row-vector convention
    exp: np.ndarray  # (21,3)
    scale: float
    t: np.ndarray  # (3,)
    eye_target: float | None  # eye MLP target ratio; None = leave the eyes to the expression
    lip_target: float | None


def full_controls(controls: Mapping[str, float]) -> dict[str, float]:
    """All 16 controls, neutral where missing."""
    out = dict(NEUTRAL)
    out.update({k: float(v) for k, v in controls.items() if k in NEUTRAL})
    return out


def controls_to_driving(source: KeypointInfo, controls: Mapping[str, float],
                        eye_ratios: tuple[float, float], lip_ratio: float, *,
                        dense_exp: np.ndarray | None = None,
                        dense_base: Mapping[str, float] | None = None,
                        dense_pose: np.ndarray | None = None,
                        mouth_mode: str = "retarget", use_scale: bool = True,
                        eye_asymmetry: bool = False,
                        pose_signs: Mapping[str, float] | None = None) -> DrivingParams:
    """One frame's driving parameters.

    dense_exp: optional (63,) LivePortrait expression change captured from the driving clip with
    the motion extractor (exp_d,i - exp_d,0). It becomes the base expression; the semantic
    controls then only add their difference from ``dense_base`` (the controls captured on the
    same frame), i.e. the artist's curve edits offset the dense capture. Controls whose aspect
    the dense track does not cover have a neutral base there, so they stay absolute.

    dense_pose: optional (13,) head motion captured the same way: the relative rotation
    R_d,i R_d,refᵀ (9, row-major, row-vector convention), the scale ratio s_d,i / s_d,ref and the
    translation change t_d,i - t_d,ref (3). With it the head controls become offsets too (their
    difference from ``dense_base``), composed on top: R = ΔR(controls) · R_rel · R_s.
    """
    c = full_controls(controls)
    signs = dict(POSE_SIGNS, **(pose_signs or {}))
    # expression controls: absolute, or offsets from the captured base when a dense base exists
    e = dict(c)
    exp = source.exp.copy()
    if dense_exp is not None:
        exp = exp + np.asarray(dense_exp, np.float64).reshape(NUM_KP, 3)
    if dense_base is not None and (dense_exp is not None or dense_pose is not None):
        base = full_controls(dense_base)
        e = {k: NEUTRAL[k] + c[k] - base[k] for k in CONTROL_NAMES}

    d_exp, d_pitch = slider_deltas(sliders_from_controls(e, mouth_mode))
    exp = exp + d_exp
    eye_mean = (e["eye_open_l"] + e["eye_open_r"]) / 2.0
    if eye_asymmetry:
        for side in ("l", "r"):
            # blink slider -20 ~ closed, 0 ~ neutral: 20 units per unit of eye-opening ratio
            _add(exp, BLINK, 20.0 * (e[f"eye_open_{side}"] - eye_mean), only=EYE_KP[side])

    # head: absolute controls, or offsets from the captured base when the dense pose drives it
    h = e if dense_pose is not None else c
    rel_rot, ratio, d_t = np.eye(3), 1.0, np.zeros(3)
    if dense_pose is not None:
        pose = np.asarray(dense_pose, np.float64).reshape(-1)
        rel_rot, ratio, d_t = pose[:9].reshape(3, 3), float(pose[9]), pose[10:13]
    d_rot = rotation_matrix(signs["pitch"] * h["head_pitch"] + d_pitch, signs["yaw"] * h["head_yaw"],
                            signs["roll"] * h["head_roll"])
    # relative: R_new = (R_d R_d0^T) R_s; the controls' rotation composes on top of the captured one
    rot = d_rot @ rel_rot @ source.rotation
    scale = source.scale * (ratio * h["head_scale"] if use_scale else 1.0)
    t = source.t + d_t
    t[0] += FACE_WIDTH_KP * h["head_x"]
    t[1] -= FACE_WIDTH_KP * h["head_y"]  # keypoint y points down, head_y + is up

    src_eye = (eye_ratios[0] + eye_ratios[1]) / 2.0
    eye_target = float(np.clip(src_eye * eye_mean, 0.0, EYE_RATIO_MAX))
    lip_target = None
    if mouth_mode == "retarget":
        m = e["mouth_open"]
        lip_target = float(np.clip(lip_ratio + m * (LIP_RATIO_OPEN - lip_ratio), 0.0, LIP_RATIO_MAX))
    return DrivingParams(rot, exp, float(scale), t, eye_target, lip_target)
