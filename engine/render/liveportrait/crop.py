"""Face crop from our MediaPipe landmarks (no InsightFace), eye/lip ratios, feathered paste-back.

The crop follows LivePortrait's recipe: a square aligned with the face (x along the eyes'
perpendicular to the eyes->mouth axis), side = scale x the largest extent of the face points in
that frame, centre moved by vy_ratio x side along the face's down axis (negative = up), warped to
``dsize`` pixels. LivePortrait measures the extent on its 203-point layout (brows, eyes, nose,
mouth, contour); we use the MediaPipe points that cover the same region (no forehead, whose
mesh points would make the crop looser than the networks were trained on).

Why not FasterLivePortrait's MediaPipe rule (all 478 points, iris centres, inner lip 14): the
official cropper (LivePortrait src/utils/cropper.py, crop_source_image) measures the extent on
InsightFace's 106 points -- jaw contour, brows, eyes, nose, mouth, no forehead -- which is what
``CROP_POINTS`` covers; the 478-point mesh reaches the hairline, so that rule's boxes are larger
(13-19 % on the shared portraits, tests/engine/test_liveportrait_reference.py). It is kept as
``rule="mesh"`` and the scale is a setting (``crop_scale``) for faces that need more room.

The border outside the image is black, as in LivePortrait (cv2.warpAffine's constant border).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

# MediaPipe Face Mesh indices (478-point layout).
_BROWS = (70, 63, 105, 66, 107, 336, 296, 334, 293, 300)
_EYES = (33, 133, 159, 145, 362, 263, 386, 374)
_NOSE = (1, 4, 98, 327, 168)
_LIPS = (61, 291, 0, 17, 13, 14)
_CONTOUR = (234, 93, 132, 58, 172, 136, 150, 149, 176, 148, 152, 377, 400, 378, 379, 365, 397,
            288, 361, 323, 454)
CROP_POINTS = _BROWS + _EYES + _NOSE + _LIPS + _CONTOUR
# subject's right eye: outer 33, inner 133, upper lid 159, lower lid 145; left eye: 263/362/386/374
RIGHT_EYE = (33, 133, 159, 145)
LEFT_EYE = (263, 362, 386, 374)
MOUTH = (61, 291, 13, 14)  # corners, inner upper lip, inner lower lip

SOURCE_SCALE, SOURCE_VY = 2.3, -0.125
DRIVING_SCALE, DRIVING_VY = 2.2, -0.1
CROP_RULES = ("face", "mesh")
# FasterLivePortrait's MediaPipe rule: iris centres and the inner lower lip give the face axis
_IRIS = (468, 473)
_LIP_CENTRE = 14


@dataclass
class CropGeometry:
    matrix: np.ndarray  # (2,3): image pixel -> crop pixel
    dsize: int
    center: np.ndarray  # (2,) crop centre in image pixels
    size: float  # crop side in image pixels
    angle: float  # radians, the face's in-plane rotation

    @property
    def inverse(self) -> np.ndarray:
        return cv2.invertAffineTransform(self.matrix)

    def to_crop(self, pts: np.ndarray) -> np.ndarray:
        p = np.asarray(pts, np.float64)[..., :2]
        return p @ self.matrix[:, :2].T + self.matrix[:, 2]

    def to_image(self, pts: np.ndarray) -> np.ndarray:
        inv = self.inverse
        p = np.asarray(pts, np.float64)[..., :2]
        return p @ inv[:, :2].T + inv[:, 2]


def crop_geometry(landmarks: np.ndarray, dsize: int = 512, scale: float = SOURCE_SCALE,
                  vy_ratio: float = SOURCE_VY, rule: str = "face") -> CropGeometry:
    """Square face crop from (478, 2+) landmarks in pixels. ``rule``: "face" (the region of
    LivePortrait's 106-point crop, default) or "mesh" (FasterLivePortrait: every mesh point)."""
    lm = np.asarray(landmarks, np.float64)[:, :2]
    if rule == "mesh":
        pts = lm
        eyes = lm[list(_IRIS)].mean(0)
        mouth = lm[_LIP_CENTRE]
    elif rule == "face":
        pts = lm[list(CROP_POINTS)]
        eyes = (lm[list(RIGHT_EYE[:2])].mean(0) + lm[list(LEFT_EYE[:2])].mean(0)) / 2
        mouth = lm[list(MOUTH[:2])].mean(0)
    else:
        raise ValueError(f"crop rule must be one of {CROP_RULES}, not {rule!r}")
    uy = mouth - eyes
    n = float(np.linalg.norm(uy))
    uy = uy / n if n > 1e-6 else np.array([0.0, 1.0])
    ux = np.array([uy[1], -uy[0]])  # face's right-hand image direction
    c0 = pts.mean(0)
    rot = np.stack([ux, uy])
    rp = (pts - c0) @ rot.T
    lo, hi = rp.min(0), rp.max(0)
    side = float((hi - lo).max()) * scale
    c1 = (lo + hi) / 2
    center = c0 + ux * c1[0] + uy * c1[1] + uy * (vy_ratio * side)
    s = dsize / side
    m = np.zeros((2, 3))
    m[:, :2] = s * rot
    m[:, 2] = dsize / 2.0 - s * (rot @ center)
    angle = float(np.arctan2(ux[1], ux[0]))
    return CropGeometry(m, dsize, center, side, angle)


def crop_image(image: np.ndarray, geom: CropGeometry, out_size: int | None = None) -> np.ndarray:
    """Warp the crop (dsize²) and, if out_size is smaller, area-resize it (LivePortrait: 512->256)."""
    # black outside the image, like LivePortrait (replicated edges would feed the networks
    # smeared hair/clothes where the crop leaves the picture)
    crop = cv2.warpAffine(image, geom.matrix, (geom.dsize, geom.dsize), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_CONSTANT, borderValue=(0, 0, 0))
    if out_size and out_size != geom.dsize:
        crop = cv2.resize(crop, (out_size, out_size), interpolation=cv2.INTER_AREA)
    return crop


def _dist(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.linalg.norm(np.asarray(a)[:2] - np.asarray(b)[:2]))


def eye_ratios(landmarks: np.ndarray) -> tuple[float, float]:
    """(image-left eye = subject's RIGHT, image-right eye = subject's left): lid-to-lid over
    corner-to-corner distance, in the order LivePortrait's eye MLP takes them.

    LivePortrait's calc_eye_close_ratio puts its "left eye" (203-point indices 0..23) first; its
    crop code (parse_pt2_from_pt_x, use_lip=False) turns left->right eye into the face's down axis
    by a 90 degree turn, which is upright only when that "left" eye has the smaller x, i.e. is
    the image-left eye, the subject's right (same naming as its 68- and 106-point layouts)."""
    lm = np.asarray(landmarks)

    def ratio(idx: tuple[int, int, int, int]) -> float:
        o, i, up, lo = (lm[k] for k in idx)
        return _dist(up, lo) / max(_dist(o, i), 1e-6)

    return ratio(RIGHT_EYE), ratio(LEFT_EYE)


def lip_ratio(landmarks: np.ndarray) -> float:
    """Inner-lip gap over mouth width."""
    lm = np.asarray(landmarks)
    a, b, up, lo = (lm[k] for k in MOUTH)
    return _dist(up, lo) / max(_dist(a, b), 1e-6)


def feather_mask(dsize: int, border: float = 0.12) -> np.ndarray:
    """(dsize, dsize) float32: 1 inside, raised-cosine ramp to 0 over `border` of each edge."""
    n = max(int(round(border * dsize)), 1)
    ramp = np.ones(dsize, np.float64)
    edge = 0.5 - 0.5 * np.cos(np.pi * (np.arange(n) + 0.5) / n)
    ramp[:n] = edge
    ramp[-n:] = edge[::-1]
    return np.outer(ramp, ramp).astype(np.float32)


def paste_back(portrait: np.ndarray, crop: np.ndarray, geom: CropGeometry,
               mask: np.ndarray | None = None) -> np.ndarray:
    """Blend a (dsize², RGB) crop back into the full-resolution portrait through the inverse
    crop transform and a feathered mask. Only the crop's bounding box is warped."""
    h, w = portrait.shape[:2]
    d = geom.dsize
    if crop.shape[:2] != (d, d):
        crop = cv2.resize(crop, (d, d), interpolation=cv2.INTER_LINEAR)
    mask = feather_mask(d) if mask is None else mask
    corners = geom.to_image(np.array([[0, 0], [d, 0], [d, d], [0, d]], np.float64))
    x0, y0 = np.floor(corners.min(0)).astype(int)
    x1, y1 = np.ceil(corners.max(0)).astype(int)
    x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, w), min(y1, h)
    out = portrait.copy()
    if x1 <= x0 or y1 <= y0:
        return out
    inv = geom.inverse.copy()
    inv[:, 2] -= (x0, y0)  # into ROI coordinates
    roi = (x1 - x0, y1 - y0)
    warped = cv2.warpAffine(crop, inv, roi, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
    alpha = cv2.warpAffine(mask, inv, roi, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
    a = alpha[..., None]
    region = out[y0:y1, x0:x1].astype(np.float32)
    blended = warped.astype(np.float32) * a + region * (1.0 - a)
    out[y0:y1, x0:x1] = np.clip(blended + 0.5, 0, 255).astype(np.uint8)
    return out
