"""One face observation -> raw measures -> the 16 controls, calibrated against a neutral frame.

Raw measures combine MediaPipe blendshapes with landmark geometry so that eyes and mouth stay
measurable on non-photo faces (paintings, cartoons) where blendshapes are weak. Geometry is
normalised by the face width (cheek to cheek), so it does not depend on image size.
"""

from __future__ import annotations

import math

import numpy as np

from ..controls import CONTROL_NAMES, CONTROLS_BY_NAME
from ..face_tracker import FaceObservation

# MediaPipe mesh indices. Subject's left eye is on the image's right.
L_EYE = (386, 374, 362, 263)  # upper lid, lower lid, inner corner, outer corner
R_EYE = (159, 145, 133, 33)
L_IRIS, R_IRIS = 473, 468
LIP_UP, LIP_LO = 13, 14
MOUTH_L, MOUTH_R = 291, 61
CHEEK_L, CHEEK_R = 454, 234
BROW_L, BROW_R = 334, 105
NOSE = 1
#: Where head_x / head_y are measured (the "place"): the mean of the cheek points and the four
#: eye corners. The cheek points alone sit on the face outline, which the tracker lets slide as
#: the jaw moves (d18's "O": their midpoint moved 0.02 face widths sideways while the eyes held
#: still, and a renderer moved the whole head with it); the eye corners are rigid. Motion files
#: before 2026-12-04 measured the cheek midpoint (``cx``, ``cy``), MOTION_SPEC.md.
PLACE = (CHEEK_L, CHEEK_R, L_EYE[2], L_EYE[3], R_EYE[2], R_EYE[3])

RAW_NAMES = ("yaw", "pitch", "roll", "cx", "cy", "width", "eye_l", "eye_r", "blink_l", "blink_r",
             "iris_x", "iris_y", "brow_l", "brow_r", "lip_gap", "jaw", "mouth_w", "smile", "frown",
             "pucker", "stretch", "distance", "place_x", "place_y")


def _bs(obs: FaceObservation, name: str) -> float:
    try:
        return float(obs.blendshapes[obs.blendshape_names.index(name)])
    except (ValueError, IndexError):
        return 0.0


def matrix_angles(m: np.ndarray) -> tuple[float, float, float]:
    """(yaw, pitch, roll) in degrees from MediaPipe's facial transformation matrix, in the
    contract's signs: + yaw toward the viewer's right, + pitch chin up, + roll clockwise on screen.
    Checked against landmark geometry on real clips (tests/engine/test_capture.py): with + pitch
    the chin comes nearer the camera than the forehead and the nose tip rises in the face."""
    r = np.asarray(m, np.float64)[:3, :3]
    r = r / np.linalg.norm(r, axis=0, keepdims=True)
    yaw = math.degrees(math.atan2(r[0, 2], r[2, 2]))
    pitch = math.degrees(math.asin(max(-1.0, min(1.0, r[1, 2]))))
    roll = math.degrees(math.atan2(r[1, 0], r[0, 0]))
    return yaw, pitch, roll


def raw_measures(obs: FaceObservation) -> np.ndarray:
    """The raw per-frame measures (RAW_NAMES order) of one observation."""
    p = obs.landmarks[:, :2].astype(np.float64)
    width = float(np.linalg.norm(p[CHEEK_L] - p[CHEEK_R])) or 1.0
    yaw, pitch, _ = matrix_angles(obs.matrix)
    d = p[L_EYE[3]] - p[R_EYE[3]]
    roll = math.degrees(math.atan2(d[1], d[0]))  # image y is down: + = clockwise on screen

    def eye(ix: tuple[int, int, int, int]) -> float:
        return float(np.linalg.norm(p[ix[0]] - p[ix[1]]) / (np.linalg.norm(p[ix[2]] - p[ix[3]]) or 1.0))

    def iris(ix: tuple[int, int, int, int], c: int) -> tuple[float, float]:
        mid = (p[ix[2]] + p[ix[3]]) / 2
        ew = np.linalg.norm(p[ix[2]] - p[ix[3]]) or 1.0
        return float((p[c, 0] - mid[0]) / ew), float((mid[1] - p[c, 1]) / ew)

    ilx, ily = iris(L_EYE, L_IRIS)
    irx, iry = iris(R_EYE, R_IRIS)
    eye_mid_l = (p[L_EYE[2]] + p[L_EYE[3]]) / 2
    eye_mid_r = (p[R_EYE[2]] + p[R_EYE[3]]) / 2
    centre = (p[CHEEK_L] + p[CHEEK_R]) / 2
    place = p[list(PLACE)].mean(axis=0)
    return np.array([
        yaw, pitch, roll, centre[0], centre[1], width,
        eye(L_EYE), eye(R_EYE), _bs(obs, "eyeBlinkLeft"), _bs(obs, "eyeBlinkRight"),
        (ilx + irx) / 2, (ily + iry) / 2,
        float(np.linalg.norm(p[BROW_L] - eye_mid_l) / width),
        float(np.linalg.norm(p[BROW_R] - eye_mid_r) / width),
        float(np.linalg.norm(p[LIP_UP] - p[LIP_LO]) / width), _bs(obs, "jawOpen"),
        float(np.linalg.norm(p[MOUTH_L] - p[MOUTH_R]) / width),
        (_bs(obs, "mouthSmileLeft") + _bs(obs, "mouthSmileRight")) / 2,
        (_bs(obs, "mouthFrownLeft") + _bs(obs, "mouthFrownRight")) / 2,
        _bs(obs, "mouthPucker"),
        (_bs(obs, "mouthStretchLeft") + _bs(obs, "mouthStretchRight")) / 2,
        abs(float(np.asarray(obs.matrix)[2, 3])) or 1.0,
        place[0], place[1],
    ], dtype=np.float64)


def raw_from_blendshapes(names: list[str] | tuple[str, ...], scores: np.ndarray, yaw: float, pitch: float,
                         roll: float, gaze: tuple[float, float] | None = None) -> np.ndarray:
    """The raw measures (RAW_NAMES order) of a face seen only as ARKit blendshapes and a head pose
    in degrees (a phone app's stream: no landmarks), so that phone and video captures go through
    the same ``controls_from_raw``. The blendshape entries are read exactly as ``raw_measures``
    reads them; each geometric measure is replaced by the blendshapes that move it, scaled so that
    a full score moves its control as far as the geometry would (eye control = 1 - blink, lip gap
    0.35 face widths at jawOpen 0.9, brows 0.06 face widths). Head position and distance are not
    sent by the apps: they stay at the neutral values (head_x = head_y = 0, head_scale = 1).
    ``gaze``: (x, y) in -1..1 when the source measures the eyes' angles; else from eyeLook*."""
    obs = FaceObservation(np.zeros((0, 3), np.float32), np.asarray(scores, np.float32), list(names),
                          np.eye(4, dtype=np.float32))

    def b(name: str) -> float:
        return _bs(obs, name)

    if gaze is None:
        # subject's left eye looking out = the subject looks to their left = the viewer's right
        gx = (b("eyeLookOutLeft") - b("eyeLookInLeft") + b("eyeLookInRight") - b("eyeLookOutRight")) / 2
        gy = (b("eyeLookUpLeft") + b("eyeLookUpRight") - b("eyeLookDownLeft") - b("eyeLookDownRight")) / 2
    else:
        gx, gy = gaze
    def eye(side: str) -> float:
        # controls_from_raw gates the blink score by this ratio g (0.5 g + 0.5 (1 - blink) g):
        # g = 2 (1 - blink) / (2 - blink) makes the eye's control exactly 1 - blink, as the
        # phone means it; eyeWide opens it past 1 as wide lids do in video
        blink = min(max(b(f"eyeBlink{side}"), 0.0), 1.0)
        return 0.3 * (2 * (1 - blink) / (2 - blink) + 0.5 * b(f"eyeWide{side}"))

    eye_l, eye_r = eye("Left"), eye("Right")
    brow_l = 0.2 + 0.06 * ((b("browOuterUpLeft") + b("browInnerUp")) / 2 - b("browDownLeft"))
    brow_r = 0.2 + 0.06 * ((b("browOuterUpRight") + b("browInnerUp")) / 2 - b("browDownRight"))
    # lips apart by 0.35 face widths at jawOpen 0.9, where controls_from_raw's jaw term is full
    lip_gap = 0.35 * max(b("jawOpen") - b("mouthClose"), 0.0) / 0.9
    spread = (b("mouthStretchLeft") + b("mouthStretchRight") + b("mouthSmileLeft") + b("mouthSmileRight")) / 4
    mouth_w = 0.4 * (1.0 + 0.25 * spread - 0.25 * b("mouthPucker"))
    return np.array([
        yaw, pitch, roll, 0.0, 0.0, 1.0,
        eye_l, eye_r, b("eyeBlinkLeft"), b("eyeBlinkRight"),
        0.15 * gx, 0.1 * gy, brow_l, brow_r, lip_gap, b("jawOpen"), mouth_w,
        (b("mouthSmileLeft") + b("mouthSmileRight")) / 2,
        (b("mouthFrownLeft") + b("mouthFrownRight")) / 2,
        b("mouthPucker"),
        (b("mouthStretchLeft") + b("mouthStretchRight")) / 2,
        1.0, 0.0, 0.0,
    ], dtype=np.float64)


def neutrality(raw: np.ndarray) -> np.ndarray:
    """Score (lower = more neutral) of raw rows (n, len(RAW_NAMES)), for automatic calibration."""
    i = {n: k for k, n in enumerate(RAW_NAMES)}
    r = np.atleast_2d(raw)
    return (np.abs(r[:, i["yaw"]]) / 10 + np.abs(r[:, i["pitch"]]) / 10 + np.abs(r[:, i["roll"]]) / 10
            + (r[:, i["blink_l"]] + r[:, i["blink_r"]]) * 2 + r[:, i["jaw"]] * 3 + r[:, i["lip_gap"]] * 5
            + r[:, i["smile"]] + r[:, i["pucker"]] + r[:, i["frown"]])


def controls_from_raw(raw: np.ndarray, neutral: np.ndarray) -> np.ndarray:
    """Controls (n, 16) in CONTROL_NAMES order from raw rows and the neutral row."""
    i = {n: k for k, n in enumerate(RAW_NAMES)}
    r = np.atleast_2d(raw)
    n0 = neutral
    w0 = n0[i["width"]] or 1.0
    out = np.zeros((r.shape[0], len(CONTROL_NAMES)), np.float64)
    c = {name: k for k, name in enumerate(CONTROL_NAMES)}
    out[:, c["head_yaw"]] = r[:, i["yaw"]] - n0[i["yaw"]]
    out[:, c["head_pitch"]] = r[:, i["pitch"]] - n0[i["pitch"]]
    out[:, c["head_roll"]] = r[:, i["roll"]] - n0[i["roll"]]
    out[:, c["head_x"]] = (r[:, i["place_x"]] - n0[i["place_x"]]) / w0
    out[:, c["head_y"]] = -(r[:, i["place_y"]] - n0[i["place_y"]]) / w0
    # Apparent size from the head's distance in the fitted pose (MediaPipe's matrix translation):
    # unlike the face's width in the image it does not shrink when the head turns (d3: width
    # correlates -0.82 with |yaw|, distance 0.13), so turning is not mistaken for moving away.
    out[:, c["head_scale"]] = n0[i["distance"]] / r[:, i["distance"]]
    for side in ("l", "r"):
        geo = r[:, i[f"eye_{side}"]] / max(n0[i[f"eye_{side}"]], 1e-6)
        b0 = n0[i[f"blink_{side}"]]
        bs = (1.0 - r[:, i[f"blink_{side}"]]) / max(1.0 - b0, 0.05)
        # Half lid geometry (which alone can exceed 1: wide eyes), half the blink score gated by
        # geometry (which alone saturates and misfires on downward gaze): 1 at neutral, 0 closed.
        out[:, c[f"eye_open_{side}"]] = np.clip(0.5 * geo + 0.5 * np.minimum(bs, 1.0) * np.minimum(geo, 1.0),
                                                0, 3)
        out[:, c[f"brow_{side}"]] = (r[:, i[f"brow_{side}"]] - n0[i[f"brow_{side}"]]) / 0.06
    out[:, c["gaze_x"]] = (r[:, i["iris_x"]] - n0[i["iris_x"]]) / 0.15
    out[:, c["gaze_y"]] = (r[:, i["iris_y"]] - n0[i["iris_y"]]) / 0.1
    jaw = (r[:, i["jaw"]] - n0[i["jaw"]]) / max(0.9 - n0[i["jaw"]], 0.1)
    gap = (r[:, i["lip_gap"]] - n0[i["lip_gap"]]) / 0.35
    out[:, c["mouth_open"]] = np.maximum(0.5 * jaw + 0.5 * gap, 0)
    smile = (r[:, i["smile"]] - n0[i["smile"]]) - (r[:, i["frown"]] - n0[i["frown"]])
    out[:, c["mouth_smile"]] = smile / 0.8
    out[:, c["mouth_wide"]] = np.maximum((r[:, i["stretch"]] - n0[i["stretch"]]) / 0.6
                                         + (r[:, i["mouth_w"]] / max(n0[i["mouth_w"]], 1e-6) - 1) * 2, 0) / 2
    out[:, c["mouth_pucker"]] = (r[:, i["pucker"]] - n0[i["pucker"]]) / 0.8
    for k, name in enumerate(CONTROL_NAMES):
        spec = CONTROLS_BY_NAME[name]
        out[:, k] = np.clip(out[:, k], spec.hard_min, spec.hard_max)
    return out.astype(np.float32)
