"""The actor's expression creases (forehead lines of a brow raise, nasolabial folds of a smile),
kept at capture time so a renderer can add them to a warped portrait.

*Bringing Portraits to Life* (Averbuch-Elor et al. 2017) adds the driver's fine-scale
expression detail to the warped target: a 2D warp moves the brows and mouth corners but cannot
make the skin fold. Capture keeps, for frames with a notable ``brow_l/brow_r`` raise or
``mouth_smile``, the actor's **luma detail relative to the actor's neutral face** in canonical
face regions resampled by landmarks (as the mouth exemplars' canonical frame):

* ``forehead``: columns x from the outer end of the right brow (-1) to the left one (+1) along
  the eye line, rows f from the top of the face mesh (0) to 0.9 of the way down to the brows'
  upper contour (1) in that column (the brow edge itself stays out);
* ``cheek_r`` / ``cheek_l`` (the subject's right / left nasolabial region): rows f from just above
  the nose wing (0) to below the mouth corner (1), columns x from a line through the nose wing
  and the mouth corner (0, 0.03 face widths toward the middle) to 0.17 face widths out (1).

Detail is band-passed relative contrast: luma over its own low-pass (Gaussian, 4 patch pixels)
minus 1, lightly smoothed (0.8 px) to drop sensor noise. A region's stored detail is the frame's
band minus the per-pixel median of the actor's most neutral frames, so what stays is what the
expression added (the folds), not the actor's pores or moles. Of all candidate frames, K per
region (<= ``MAX_PER_REGION``) are chosen by farthest-point sampling of the region's control
(the strongest first), each averaged with its neighbouring candidate frames (less noise).

Stored as ``<stem>.creases.npz`` beside the motion (MOTION_SPEC.md "crease_details"), float16
detail, float32 controls, int64 frames; read back with ``np.load(allow_pickle=False)`` after
``npz_reader``'s size checks and checked for names, dtypes, shapes and value ranges.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import numpy as np

from ..errors import EngineError
from ..sidecar_file import SidecarArrays

FORMAT = "talking_head.creases"
VERSION = 1
#: canonical patch (rows, columns) per region
SHAPES = {"forehead": (48, 128), "cheek_r": (64, 32), "cheek_l": (64, 32)}
REGIONS = tuple(SHAPES)
MAX_PER_REGION = 12
MIN_BROW = 0.25  # mean brow raise below this adds too little to keep
MIN_SMILE = 0.25
NEUTRAL_FRAMES = 16  # the median of this many most-neutral frames is the actor's own skin detail
MAX_CANDIDATES = 1024  # frames held during capture (every 2^k-th one past this)
MAX_FILE_PER_REGION = 64
_MAX_FILE_BYTES = MAX_FILE_PER_REGION * (48 * 128 + 2 * 64 * 32) * 2 + (1 << 20)
#: patch pixels (~0.025 / 0.04 face widths): what is coarser is shading, not a crease (a smile's
#: fold is a broader shadow-and-bulge than a forehead line)
LOWPASS = {"forehead": 4.0, "cheek_r": 5.0, "cheek_l": 5.0}
DENOISE = 0.8
MAX_DETAIL = 1.0  # |relative contrast| above this is damage

# MediaPipe landmarks (as engine/render/builtin/fitting.py)
FOREHEAD_TOP = (103, 67, 109, 10, 338, 297, 332)
BROW_TOP = (70, 63, 105, 66, 107, 336, 296, 334, 293, 300)
NOSE_WING = {"cheek_r": 129, "cheek_l": 358}
MOUTH_CORNER = {"cheek_r": 61, "cheek_l": 291}
EYE_R, EYE_L, CHEEK_L, CHEEK_R = 33, 263, 454, 234


_ARRAYS = ("forehead", "forehead_controls", "forehead_frames", "cheeks", "cheek_controls", "cheek_frames",
           "contrast")


class CreaseError(EngineError):
    """A crease file that breaks the contract; the message says what."""


@dataclass
class Creases(SidecarArrays):
    # the file (engine/sidecar_file.py): its arrays, version, name in messages, error, size cap
    FIELDS: ClassVar[tuple[str, ...]] = _ARRAYS
    VERSION: ClassVar[int] = VERSION
    WHAT: ClassVar[str] = "crease file"
    ERROR: ClassVar[type[Exception]] = CreaseError
    MAX_BYTES: ClassVar[int] = _MAX_FILE_BYTES

    forehead: np.ndarray  # (K1, 48, 128) float16 relative detail (frame band - neutral band)
    forehead_controls: np.ndarray  # (K1,) float32 mean brow raise (brow_l + brow_r) / 2
    forehead_frames: np.ndarray  # (K1,) int64
    cheeks: np.ndarray  # (K2, 2, 64, 32) float16: [:, 0] the subject's right, [:, 1] left
    cheek_controls: np.ndarray  # (K2,) float32 mouth_smile
    cheek_frames: np.ndarray  # (K2,) int64
    contrast: np.ndarray  # (3,) float32 the actor's own detail contrast per region (neutral)

    def __post_init__(self) -> None:
        self.validate()

    @property
    def count(self) -> int:
        return int(self.forehead.shape[0] + self.cheeks.shape[0])

    def validate(self) -> None:
        def count(arr: object, ndim: int) -> int:
            return arr.shape[0] if isinstance(arr, np.ndarray) and arr.ndim == ndim else -1

        k1, k2 = count(self.forehead, 3), count(self.cheeks, 4)
        want = {"forehead": (np.float16, (k1, *SHAPES["forehead"])), "forehead_controls": (np.float32, (k1,)),
                "forehead_frames": (np.int64, (k1,)), "cheeks": (np.float16, (k2, 2, *SHAPES["cheek_r"])),
                "cheek_controls": (np.float32, (k2,)), "cheek_frames": (np.int64, (k2,)),
                "contrast": (np.float32, (3,))}
        for name, (dtype, shape) in want.items():
            arr = getattr(self, name)
            if not isinstance(arr, np.ndarray) or arr.dtype != dtype or arr.shape != shape:
                got = f"{arr.dtype} {arr.shape}" if isinstance(arr, np.ndarray) else type(arr).__name__
                raise CreaseError(f"creases: {name} must be {np.dtype(dtype)} of shape {shape}, got {got}")
        if not (0 <= k1 <= MAX_FILE_PER_REGION and 0 <= k2 <= MAX_FILE_PER_REGION) or k1 + k2 == 0:
            raise CreaseError(f"creases: {k1} forehead and {k2} cheek details, expected 0 to "
                              f"{MAX_FILE_PER_REGION} each and at least one")
        for name in ("forehead", "cheeks", "forehead_controls", "cheek_controls", "contrast"):
            if not np.all(np.isfinite(getattr(self, name))):
                raise CreaseError(f"creases: {name} holds NaN or infinite values")
        if (np.any(np.abs(self.forehead) > MAX_DETAIL) or np.any(np.abs(self.cheeks) > MAX_DETAIL)
                or np.any(self.forehead_controls <= 0) or np.any(self.forehead_controls > 3)
                or np.any(self.cheek_controls <= 0) or np.any(self.cheek_controls > 3)
                or np.any(self.contrast <= 0) or np.any(self.contrast > 1)
                or np.any(self.forehead_frames < 0) or np.any(self.cheek_frames < 0)):
            raise CreaseError("creases: detail, controls, contrast or frames out of range")

    # -- files --------------------------------------------------------------------------------

    def reference(self, file_name: str, sha256: str) -> dict:
        """The motion JSON's ``crease_details`` object."""
        return {"version": VERSION, "file": file_name, "sha256": sha256,
                "count": [int(self.forehead.shape[0]), int(self.cheeks.shape[0])]}





def sidecar_path(motion_path: str | os.PathLike[str]) -> Path:
    """``take.json`` -> ``take.creases.npz``."""
    p = Path(motion_path)
    return p.with_name(p.stem + ".creases.npz")


# -- the canonical regions ----------------------------------------------------------------------

@dataclass(frozen=True)
class FaceFrame:
    """A face's local frame: u along the eye line, v perpendicular (down the face), pixels."""
    origin: np.ndarray
    au: np.ndarray
    av: np.ndarray
    width: float
    uv: np.ndarray  # (478, 2) the landmarks in (u, v)

    def to_image(self, u: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return (self.origin[0] + u * self.au[0] + v * self.av[0],
                self.origin[1] + u * self.au[1] + v * self.av[1])

    def to_local(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        dx, dy = x - self.origin[0], y - self.origin[1]
        return dx * self.au[0] + dy * self.au[1], dx * self.av[0] + dy * self.av[1]


def face_frame(landmarks: np.ndarray) -> FaceFrame:
    xy = np.asarray(landmarks, np.float64)[:, :2]
    eye = xy[EYE_L] - xy[EYE_R]
    au = eye / (np.linalg.norm(eye) or 1.0)
    av = np.array([-au[1], au[0]])
    origin = (xy[CHEEK_L] + xy[CHEEK_R]) / 2
    uv = (xy - origin) @ np.stack([au, av], axis=1)
    return FaceFrame(origin, au, av, max(float(np.linalg.norm(xy[CHEEK_L] - xy[CHEEK_R])), 1.0), uv)


def _contour(uv: np.ndarray, idx: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    pts = uv[list(idx)]
    order = np.argsort(pts[:, 0])
    return pts[order, 0], pts[order, 1]


def _forehead(ff: FaceFrame):  # noqa: ANN202 - (u0, u1, top contour, brow contour)
    tu, tv = _contour(ff.uv, FOREHEAD_TOP)
    bu, bv = _contour(ff.uv, BROW_TOP)
    return float(bu[0]), float(bu[-1]), (tu, tv), (bu, bv)


def _cheek(ff: FaceFrame, region: str):  # noqa: ANN202 - (side, v_top, v_bottom, inner line)
    side = -1.0 if region == "cheek_r" else 1.0  # the subject's right is the image's left
    if ff.uv[EYE_L, 0] < ff.uv[EYE_R, 0]:
        side = -side
    a, b = ff.uv[NOSE_WING[region]], ff.uv[MOUTH_CORNER[region]]
    w = ff.width
    v0, v1 = a[1] - 0.02 * w, b[1] + 0.08 * w
    slope = (b[0] - a[0]) / (b[1] - a[1]) if abs(b[1] - a[1]) > 1e-6 else 0.0
    return side, v0, v1, (a, slope)


CHEEK_IN, CHEEK_OUT = -0.03, 0.17  # face widths from the nose-wing/mouth-corner line, outward


def canonical_map(landmarks: np.ndarray, region: str, scale: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Image positions (map_x, map_y: (rows*scale, cols*scale) float32) of the canonical patch
    pixels of ``region`` for a face with these landmarks."""
    ff = face_frame(landmarks)
    rows, cols = SHAPES[region][0] * scale, SHAPES[region][1] * scale
    x = (np.arange(cols) + 0.5) / cols
    f = (np.arange(rows) + 0.5) / rows
    if region == "forehead":
        u0, u1, (tu, tv), (bu, bv) = _forehead(ff)
        u = u0 + x * (u1 - u0)
        top, brow = np.interp(u, tu, tv), np.interp(u, bu, bv)
        v = top[None, :] + 0.9 * f[:, None] * (brow - top)[None, :]
        u = np.broadcast_to(u[None, :], v.shape)
    else:
        side, v0, v1, (a, slope) = _cheek(ff, region)
        v = np.broadcast_to((v0 + f * (v1 - v0))[:, None], (rows, cols))
        inner = a[0] + (v - a[1]) * slope
        u = inner + side * ff.width * (CHEEK_IN + x[None, :] * (CHEEK_OUT - CHEEK_IN))
    px, py = ff.to_image(u, v)
    return px.astype(np.float32), py.astype(np.float32)


def canonical_coords(landmarks: np.ndarray, region: str, xs: np.ndarray, ys: np.ndarray
                     ) -> tuple[np.ndarray, np.ndarray]:
    """The inverse of ``canonical_map``: for image pixels (xs, ys) the canonical (column, row)
    in patch pixels (float32; outside the patch where the pixel is outside the region)."""
    ff = face_frame(landmarks)
    rows, cols = SHAPES[region]
    u, v = ff.to_local(np.asarray(xs, np.float64), np.asarray(ys, np.float64))
    if region == "forehead":
        u0, u1, (tu, tv), (bu, bv) = _forehead(ff)
        top, brow = np.interp(u, tu, tv), np.interp(u, bu, bv)
        x = (u - u0) / max(u1 - u0, 1e-6)
        f = (v - top) / np.where(np.abs(brow - top) > 1e-6, 0.9 * (brow - top), 1e-6)
    else:
        side, v0, v1, (a, slope) = _cheek(ff, region)
        f = (v - v0) / max(v1 - v0, 1e-6)
        inner = a[0] + (v - a[1]) * slope
        x = (side * (u - inner) / ff.width - CHEEK_IN) / (CHEEK_OUT - CHEEK_IN)
    return (x * cols - 0.5).astype(np.float32), (f * rows - 0.5).astype(np.float32)


CORNER_CLEAR = (0.035, 0.075)  # face widths around the mouth corner: no detail .. full detail


def corner_mask(ff: FaceFrame, region: str) -> np.ndarray:
    """(rows, cols) float32 weight of a cheek patch that is 0 on and next to the mouth corner
    (a smiling actor's lips, teeth and corner shadow move there: lip, not crease), 1 from
    ``CORNER_CLEAR[1]`` face widths away; the lips inward of the corner count as nearer."""
    rows, cols = SHAPES[region]
    side, v0, v1, _ = _cheek(ff, region)
    height = (v1 - v0) / ff.width
    x = (np.arange(cols) + 0.5) / cols
    f = (np.arange(rows) + 0.5) / rows
    xc = -CHEEK_IN / (CHEEK_OUT - CHEEK_IN)
    fc = (ff.uv[MOUTH_CORNER[region], 1] - v0) / max(v1 - v0, 1e-6)
    dx = (x[None, :] - xc) * (CHEEK_OUT - CHEEK_IN)
    dx = np.where(dx > 0, dx, 0.4 * dx)
    dist = np.hypot(dx, (f[:, None] - fc) * height)
    t = np.clip((dist - CORNER_CLEAR[0]) / (CORNER_CLEAR[1] - CORNER_CLEAR[0]), 0, 1)
    return (t * t * (3 - 2 * t)).astype(np.float32)


def luma(rgb: np.ndarray) -> np.ndarray:
    rgb = np.asarray(rgb, np.float32)
    return rgb[..., 0] * np.float32(0.299) + rgb[..., 1] * np.float32(0.587) + rgb[..., 2] * np.float32(0.114)


def band(y: np.ndarray, region: str) -> np.ndarray:
    """Relative band-pass detail of a region's luma patch: y / lowpass(y) - 1, lightly smoothed."""
    import cv2

    y = np.ascontiguousarray(y, np.float32)
    low = cv2.GaussianBlur(y, (0, 0), LOWPASS[region], borderType=cv2.BORDER_REFLECT)
    rel = y / np.maximum(low, np.float32(4.0)) - np.float32(1.0)
    return cv2.GaussianBlur(rel, (0, 0), DENOISE, borderType=cv2.BORDER_REFLECT)


def contrast(detail: np.ndarray) -> float:
    """Robust spread of a detail patch (1.4826 MAD), the patch's own detail contrast."""
    d = detail[4:-4, 4:-4] if min(detail.shape) > 16 else detail
    return float(1.4826 * np.median(np.abs(d - np.median(d))))


def region_luma(rgb: np.ndarray, landmarks: np.ndarray, region: str) -> np.ndarray:
    """The region's luma in its canonical patch, sampled at twice the patch's resolution and
    area-averaged down (less aliasing of fine skin texture)."""
    import cv2

    mx, my = canonical_map(landmarks, region, scale=2)
    y2 = cv2.remap(luma(rgb), mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    rows, cols = SHAPES[region]
    return cv2.resize(y2, (cols, rows), interpolation=cv2.INTER_AREA)


NOISE_KEEP, NOISE_DROP = 1.5, 3.0  # neutral frame-to-frame spread, in units of the region's contrast
LIMIT = 4.0  # a crease darkens by at most a few times the skin's own detail contrast


def reliability(neutral_bands: np.ndarray, spread: float) -> np.ndarray:
    """Per pixel 1 where the actor's detail holds still across the neutral frames (skin), 0
    where it changes with nothing expressed (hair strands, an edge the landmarks jitter over):
    detail there is not a crease."""
    noise = neutral_bands.std(axis=0)
    t = np.clip((NOISE_DROP * spread - noise) / ((NOISE_DROP - NOISE_KEEP) * max(spread, 1e-6)), 0, 1)
    return (t * t * (3 - 2 * t)).astype(np.float32)


def limit(detail: np.ndarray, spread: float | None) -> np.ndarray:
    """Soft limit of a detail to ``LIMIT`` times the region's contrast (tanh): a line keeps its
    shape, an outlier (a strand of hair) cannot dominate; ``spread`` None: unchanged."""
    if spread is None:
        return detail.astype(np.float32)
    cap = LIMIT * max(spread, 1e-4)
    return (cap * np.tanh(detail / cap)).astype(np.float32)


def farthest_1d(values: np.ndarray, k: int) -> np.ndarray:
    """Indices of up to ``k`` values spanning ``values``: farthest-point sampling from the
    largest; ties go to the earliest."""
    if values.size == 0:
        return np.zeros(0, np.int64)
    chosen = [int(np.argmax(values))]
    dist = np.abs(values - values[chosen[0]])
    while len(chosen) < min(k, values.size):
        nxt = int(np.argmax(dist))
        if dist[nxt] <= 1e-4:
            break
        chosen.append(nxt)
        dist = np.minimum(dist, np.abs(values - values[nxt]))
    return np.array(chosen, np.int64)


class CreaseCollector:
    """Gathers the canonical region lumas of every tracked frame during the capture pass (``add``),
    then ``select``s the crease details once the motion's controls are known. Holds at most
    ``MAX_CANDIDATES`` frames (~20 KB each): past that it keeps every 2nd, 4th, ... frame."""

    def __init__(self, max_per_region: int = MAX_PER_REGION):
        self.max_per_region = int(max_per_region)
        self._items: list[tuple[int, dict[str, np.ndarray], dict[str, np.ndarray]]] = []
        self._stride = 1

    def add(self, frame: int, rgb: np.ndarray, landmarks: np.ndarray) -> None:
        if frame % self._stride:
            return
        ff = face_frame(landmarks)
        if ff.width < 24:  # a face this small has no resolvable creases
            return
        lumas = {r: region_luma(rgb, landmarks, r).astype(np.float16) for r in REGIONS}
        self._items.append((int(frame), lumas, {r: corner_mask(ff, r) for r in ("cheek_r", "cheek_l")}))
        if len(self._items) > MAX_CANDIDATES:
            self._stride *= 2
            self._items = [it for it in self._items if it[0] % self._stride == 0]

    def select(self, controls: dict[str, np.ndarray], frame_of) -> Creases | None:  # noqa: ANN001
        """The crease details, or None when the actor neither raised the brows nor smiled.
        ``frame_of(video_frame) -> motion frame``."""
        n = int(next(iter(controls.values())).shape[0])
        items = [(int(frame_of(f)), lumas, masks) for f, lumas, masks in self._items]
        items = [it for it in items if 0 <= it[0] < n]
        if not items:
            return None
        frames = np.array([it[0] for it in items])
        brow = (controls["brow_l"][frames] + controls["brow_r"][frames]) / 2
        smile = controls["mouth_smile"][frames]
        opened = np.clip(controls["mouth_open"][frames], 0, None)
        bands = {r: np.stack([band(it[1][r].astype(np.float32), r) for it in items]) for r in REGIONS}
        out, contrasts = {}, []
        for key, value, calm, regions, low in (
                ("forehead", brow, np.abs(brow), ("forehead",), MIN_BROW),
                ("cheeks", smile, np.abs(smile) + 0.3 * opened, ("cheek_r", "cheek_l"), MIN_SMILE)):
            neutral = np.argsort(calm, kind="stable")[:NEUTRAL_FRAMES]
            base = {r: np.median(bands[r][neutral], axis=0) for r in regions}
            spread = {r: float(np.median([contrast(bands[r][i]) for i in neutral])) for r in regions}
            contrasts += [spread[r] for r in regions]
            # forehead detail that changes across the neutral frames is hair or the brow edge, and
            # outliers there are hair too; a smile's fold is deep and its edge moves with small
            # mouth motions: both kept on the cheeks (each cost 0.2 dB on d18, docs "Creases")
            hairy = key == "forehead"
            trust = {r: reliability(bands[r][neutral], spread[r]) if hairy else 1.0 for r in regions}
            cap = {r: spread[r] if hairy else None for r in regions}
            active = np.flatnonzero((value >= low) & (calm[neutral].max() < low))
            pick = active[farthest_1d(value[active], self.max_per_region)]
            pick = pick[np.argsort(frames[pick], kind="stable")]
            details = []
            for i in pick:
                # the exemplar and its neighbouring candidate frames that show the expression as well
                near = active[(np.abs(frames[active] - frames[i]) <= 2 * self._stride)
                              & (np.abs(value[active] - value[i]) < 0.15)]
                details.append(np.stack([limit(bands[r][near].mean(axis=0) - base[r], cap[r]) * trust[r]
                                         * (items[i][2][r] if r in items[i][2] else 1.0) for r in regions]))
            shape = (0, len(regions), *SHAPES[regions[0]])
            d = np.stack(details) if details else np.zeros(shape, np.float32)
            d = np.clip(d, -MAX_DETAIL, MAX_DETAIL).astype(np.float16)
            out[key] = (d[:, 0] if key == "forehead" else d, value[pick].astype(np.float32),
                        frames[pick].astype(np.int64))
        if out["forehead"][0].shape[0] + out["cheeks"][0].shape[0] == 0:
            return None
        return Creases(forehead=out["forehead"][0], forehead_controls=out["forehead"][1],
                       forehead_frames=out["forehead"][2], cheeks=out["cheeks"][0],
                       cheek_controls=out["cheeks"][1], cheek_frames=out["cheeks"][2],
                       contrast=np.clip(np.array(contrasts, np.float32), 1e-4, 1.0))
