"""Portrait -> fit: landmarks, a face-local frame, 3D points, the head region and the local
eye/mouth geometry the per-frame warp needs. Computed once per portrait (``prepare``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..base import RenderError
from .rest import CLOSED_GAP, OwnExpression, own_expression

# MediaPipe mesh indices (subject's right eye is on the image's left).
FACE_OVAL = (10, 338, 297, 332, 284, 251, 389, 356, 454, 323, 361, 288, 397, 365, 379, 378, 400, 377,
             152, 148, 176, 149, 150, 136, 172, 58, 132, 93, 234, 127, 162, 21, 54, 103, 67, 109)
# Eye contours from outer corner to inner corner (upper lid, lower lid); corners included.
R_EYE_UP = (33, 246, 161, 160, 159, 158, 157, 173, 133)
R_EYE_LO = (33, 7, 163, 144, 145, 153, 154, 155, 133)
L_EYE_UP = (263, 466, 388, 387, 386, 385, 384, 398, 362)
L_EYE_LO = (263, 249, 390, 373, 374, 380, 381, 382, 362)
R_BROW = (70, 63, 105, 66, 107, 46, 53, 52, 65, 55)
L_BROW = (300, 293, 334, 296, 336, 276, 283, 282, 295, 285)
R_BROW_LOW = (46, 53, 52, 65, 55)
L_BROW_LOW = (276, 283, 282, 295, 285)
LIP_OUT_UP = (61, 185, 40, 39, 37, 0, 267, 269, 270, 409, 291)
LIP_OUT_LO = (146, 91, 181, 84, 17, 314, 405, 321, 375)
LIP_IN_UP = (78, 191, 80, 81, 82, 13, 312, 311, 310, 415, 308)
LIP_IN_LO = (95, 88, 178, 87, 14, 317, 402, 318, 324)
NOSE = (1, 2, 4, 5, 6, 168, 197, 195, 98, 327, 129, 358, 48, 278)
CHEEKS = (50, 280, 205, 425, 187, 411, 116, 345, 123, 352, 147, 376, 207, 427)
FOREHEAD = (151, 9, 108, 337, 69, 299)
CHIN = (199, 175, 18, 200, 208, 428, 32, 262)
R_IRIS, L_IRIS = 468, 473
CHEEK_L, CHEEK_R = 454, 234
MOUTH_L, MOUTH_R = 291, 61

# The TPS control landmarks (the smooth part of the warp). Eyelid and jaw opening are local
# "cut" edits (synthesis.py), so the TPS never has to pull two nearby points apart.
CONTROL_LANDMARKS: tuple[int, ...] = tuple(dict.fromkeys(
    FACE_OVAL + R_EYE_UP + R_EYE_LO + L_EYE_UP + L_EYE_LO + R_BROW + L_BROW + LIP_OUT_UP
    + LIP_OUT_LO + LIP_IN_UP + LIP_IN_LO + NOSE + CHEEKS + FOREHEAD + CHIN))


@dataclass
class EyeFit:
    """One eye in face-local coordinates (u right, v down, pixels, origin = face centre)."""
    u: np.ndarray  # (k,) sample positions from one corner to the other, increasing
    v_up: np.ndarray  # (k,) upper lid margin
    v_lo: np.ndarray  # (k,) lower lid margin
    lid_height: float  # lid-skin zone above the margin that stretches when the eye closes
    iris_u: float
    iris_r: float  # iris radius along u
    width: float  # corner to corner
    box: tuple[float, float, float, float]  # u0, v0, u1, v1 of everything the eye edit touches


@dataclass
class MouthFit:
    u: np.ndarray  # (k,) from one corner to the other, increasing
    v_up: np.ndarray  # inner upper lip
    v_lo: np.ndarray  # inner lower lip
    half_width: float
    u_centre: float
    v_chin: float
    box: tuple[float, float, float, float]
    v_lo_out: np.ndarray | None = None  # outer lower lip on the same u samples (its bottom edge)
    v_up_out: np.ndarray | None = None  # outer upper lip on the same u samples (its top edge)


@dataclass
class PortraitFit:
    landmarks: np.ndarray  # (478, 3) pixels
    width: float  # face width W (cheek to cheek), pixels
    origin: np.ndarray  # (2,) face centre (cheek midpoint), pixels
    axis_u: np.ndarray  # (2,) unit, along the eye line towards the image's right
    axis_v: np.ndarray  # (2,) unit, face-down
    pivot: np.ndarray  # (3,) head rotation pivot in image pixels (x, y, z like the landmarks)
    eyes: dict[str, EyeFit]  # "l", "r" (subject's)
    mouth: MouthFit
    head_centre: np.ndarray  # (2,) centre of the head ellipse, pixels
    head_axes: tuple[float, float]  # semi-axes (along u, along v) of the head ellipse, pixels
    mouth_gap: float  # inner-lip gap of the portrait, in face widths
    own: OwnExpression = field(default_factory=OwnExpression)  # its own expression (rest.py)
    pose: Any = None  # its absolute head pose (pose.HeadPose), None when unknown

    def to_local(self, xy: np.ndarray) -> np.ndarray:
        d = np.asarray(xy, np.float64) - self.origin
        return np.stack([d @ self.axis_u, d @ self.axis_v], axis=-1)

    def to_image(self, uv: np.ndarray) -> np.ndarray:
        uv = np.asarray(uv, np.float64)
        return self.origin + uv[..., :1] * self.axis_u + uv[..., 1:2] * self.axis_v


def detect_face(rgb: np.ndarray, face: int | None = None) -> np.ndarray:
    """The landmarks (478, pixels) of the portrait's main face, or of face number ``face``
    (0 = leftmost; see face_tracker.portrait_face); RenderError if there is none."""
    return detect_observation(rgb, face)[0]


def detect_observation(rgb: np.ndarray, face: int | None = None
                       ) -> tuple[np.ndarray, dict[str, float], np.ndarray]:
    """(landmarks (478, pixels), blendshape scores by name, facial transformation matrix (4, 4))
    of the portrait's face (detect_face)."""
    from ...face_tracker import FaceTracker, portrait_face

    h, w = rgb.shape[:2]
    with FaceTracker(video=False) as tracker:
        faces = tracker.detect(rgb)
        if not faces and max(h, w) > 1024:  # very large images: try a downscaled copy
            import cv2

            s = 1024 / max(h, w)
            small = cv2.resize(rgb, (round(w * s), round(h * s)), interpolation=cv2.INTER_AREA)
            faces = tracker.detect(small)
            for f in faces:
                f.landmarks = f.landmarks / np.float32(s)
    chosen = portrait_face(faces, (w, h), face)
    if chosen is None:
        raise RenderError("no face found in the portrait; use an image with a clearly visible, "
                          "roughly frontal face (photo, painting, cartoon or anime)")
    scores = dict(zip(chosen.blendshape_names, (float(b) for b in chosen.blendshapes), strict=False))
    return chosen.landmarks.astype(np.float64), scores, np.asarray(chosen.matrix, np.float64)


def _curve(uv: np.ndarray, idx_a: tuple[int, ...], idx_b: tuple[int, ...], k: int = 24
           ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Two contours sharing their end points, resampled on a common u axis."""
    a, b = uv[list(idx_a)], uv[list(idx_b)]
    u0, u1 = float(a[:, 0].min()), float(a[:, 0].max())
    u = np.linspace(u0, u1, k)
    oa, ob = np.argsort(a[:, 0]), np.argsort(b[:, 0])
    return u, np.interp(u, a[oa, 0], a[oa, 1]), np.interp(u, b[ob, 0], b[ob, 1])


def fit_portrait(landmarks: np.ndarray) -> PortraitFit:
    """Everything the renderer needs about the portrait, from its landmarks."""
    lm = np.asarray(landmarks, np.float64)
    xy = lm[:, :2]
    width = float(np.linalg.norm(xy[CHEEK_L] - xy[CHEEK_R]))
    if not np.isfinite(width) or width < 8:
        raise RenderError("the face in the portrait is too small to animate (under 8 pixels wide); "
                          "use a larger image or crop closer to the face")
    eye_line = xy[263] - xy[33]
    axis_u = eye_line / (np.linalg.norm(eye_line) or 1.0)
    axis_v = np.array([-axis_u[1], axis_u[0]])
    origin = (xy[CHEEK_L] + xy[CHEEK_R]) / 2
    fit_uv = (xy - origin) @ np.stack([axis_u, axis_v], axis=1)

    eyes = {}
    for side, up, lo, iris, brow in (("r", R_EYE_UP, R_EYE_LO, R_IRIS, R_BROW_LOW),
                                     ("l", L_EYE_UP, L_EYE_LO, L_IRIS, L_BROW_LOW)):
        u, v_up, v_lo = _curve(fit_uv, up, lo)
        v_lo = np.maximum(v_lo, v_up)
        ew = float(u[-1] - u[0])
        brow_v = float(np.median(fit_uv[list(brow), 1]))
        lid_h = float(np.clip(float(v_up.min()) - brow_v, 0.08 * ew, 0.9 * ew)) * 0.8
        pad = 0.08 * ew
        box = (u[0] - pad, float(v_up.min()) - lid_h - pad, u[-1] + pad, float(v_lo.max()) + pad)
        ring = fit_uv[iris + 1:iris + 5, 0] if lm.shape[0] >= iris + 5 else fit_uv[iris:iris + 1, 0]
        iris_r = float(np.clip(np.abs(ring - fit_uv[iris, 0]).max(), 0.08 * ew, 0.3 * ew))
        eyes[side] = EyeFit(u, v_up, v_lo, lid_h, float(fit_uv[iris, 0]), iris_r, ew, box)

    # the lower inner contour ends at the inner corners too (78, 308): the opening closes there
    u, m_up, m_lo = _curve(fit_uv, LIP_IN_UP, (LIP_IN_UP[0],) + LIP_IN_LO + (LIP_IN_UP[-1],))
    m_lo = np.maximum(m_lo, m_up)
    half = float(u[-1] - u[0]) / 2
    v_chin = float(fit_uv[152, 1])
    uc = float(u[0] + u[-1]) / 2
    gap = float(np.linalg.norm(xy[13] - xy[14])) / width
    # an open mouth's closing lifts the chin, fading into the neck further down (synthesis._close)
    below = 0.55 if gap > CLOSED_GAP else 0.45
    mbox = (uc - 0.64 * width, float(m_up.min()) - 0.22 * width, uc + 0.64 * width, v_chin + below * width)
    lo_out = fit_uv[list(LIP_OUT_LO) + [61, 291]]
    order = np.argsort(lo_out[:, 0])
    m_lo_out = np.maximum(np.interp(u, lo_out[order, 0], lo_out[order, 1]), m_lo)
    up_out = fit_uv[list(LIP_OUT_UP)]
    order = np.argsort(up_out[:, 0])
    m_up_out = np.minimum(np.interp(u, up_out[order, 0], up_out[order, 1]), m_up)
    mouth = MouthFit(u, m_up, m_lo, half, float(u[0] + u[-1]) / 2, v_chin, mbox, m_lo_out, m_up_out)

    top = float(fit_uv[10, 1]) - 0.45 * width
    bottom = v_chin + 0.25 * width
    head_c_uv = np.array([0.0, (top + bottom) / 2])
    head_centre = origin + head_c_uv[1] * axis_v
    head_axes = (0.78 * width, (bottom - top) / 2)

    z = lm[:, 2]
    pivot_uv = np.array([0.0, float((fit_uv[1, 1] + fit_uv[168, 1]) / 2)])
    pivot_xy = origin + pivot_uv[1] * axis_v
    pivot = np.array([pivot_xy[0], pivot_xy[1], float((z[CHEEK_L] + z[CHEEK_R]) / 2) + 0.15 * width])
    return PortraitFit(lm, width, origin, axis_u, axis_v, pivot, eyes, mouth, head_centre,
                       head_axes, gap, own_expression(lm))


def lip_colour(rgb: np.ndarray, fit: PortraitFit) -> np.ndarray:
    """Mean RGB of the lips (between the outer and inner lip contours), float32: the mouth
    interior is painted in shades of it, so it suits photos, paintings and drawings alike."""
    import cv2

    xy = fit.landmarks[:, :2]
    mask = np.zeros(rgb.shape[:2], np.uint8)
    outer = np.round(xy[list(LIP_OUT_UP) + list(LIP_OUT_LO)[::-1]]).astype(np.int32)
    inner = np.round(xy[list(LIP_IN_UP) + list(LIP_IN_LO)[::-1]]).astype(np.int32)
    cv2.fillPoly(mask, [outer], 1)
    cv2.fillPoly(mask, [inner], 0)
    if mask.sum() < 4:
        return np.array([150.0, 80.0, 80.0], np.float32)
    return rgb[mask.astype(bool)].reshape(-1, 3).astype(np.float32).mean(axis=0)
