"""The actor's own mouth interiors, kept at capture time as a small exemplar library.

Classic reenactment (Face2Face, *Bringing Portraits to Life*) gets real teeth, tongue and cavity
by transplanting the driver's own inner mouth. So video capture keeps, for frames with an open
mouth, a crop of the inner mouth normalised into a **canonical inner-lip frame**: column x runs
from the left inner corner (-1) to the right one (+1) along the eye line, row f from the upper
inner lip (0) to the lower inner lip (1) in that column. The built-in renderer paints an opening
in exactly these coordinates (``synthesis.mouth_edit``: x across the lens, f = depth / gap), so a
patch drops into any portrait's inner-lip contour at any opening without landmarks of its own.

Of all open frames, K (<= ``MAX_EXEMPLARS``) are chosen by farthest-point sampling in the
space of the mouth controls plus the teeth brightness (deterministic: the widest opening first,
ties to the earliest frame), so the set spans the shapes seen. Stored as a ``.npz`` file beside
the motion (``<stem>.mouths.npz``; MOTION_SPEC.md "mouth_exemplars"): uint8 patches and masks,
float32 controls, the actor's lip and skin colour on each frame (for colour matching) and the
opening's height per column (teeth keep their size when the portrait opens wider),
read back with ``np.load(allow_pickle=False)`` after ``npz_reader``'s size checks and checked
for names, dtypes, shapes and value ranges.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import numpy as np

from ..errors import EngineError
from ..sidecar_file import SidecarArrays

FORMAT = "talking_head.mouths"
VERSION = 1
FIELDS = ("patches", "masks", "controls", "lips", "gaps", "frames")  # the arrays of a file
PATCH_H, PATCH_W = 48, 96  # canonical patch: rows f (upper -> lower inner lip), columns x
MAX_EXEMPLARS = 24
#: the controls an exemplar is chosen by (and retrieved by), in this column order
FEATURES = ("mouth_open", "mouth_smile", "mouth_wide", "mouth_pucker")
MIN_OPEN = 0.15  # mouth_open below this shows too little interior to be worth keeping
MIN_GAP_PX = 4.0  # ... and so does an inner-lip gap of fewer pixels in the frame
MAX_CANDIDATES = 512  # open frames held during capture (every 2^k-th one past this)
# The file may hold up to this many exemplars (a file written by a later engine with a larger K
# still loads; anything beyond is refused as damaged).
MAX_FILE_EXEMPLARS = 256
_MAX_FILE_BYTES = MAX_FILE_EXEMPLARS * PATCH_H * PATCH_W * 4 + (1 << 20)

# MediaPipe inner-lip contours (corner 78 ... corner 308), as engine/render/builtin/fitting.py
LIP_IN_UP = (78, 191, 80, 81, 82, 13, 312, 311, 310, 415, 308)
LIP_IN_LO = (78, 95, 88, 178, 87, 14, 317, 402, 318, 324, 308)
LIP_OUT_UP = (61, 185, 40, 39, 37, 0, 267, 269, 270, 409, 291)
LIP_OUT_LO = (146, 91, 181, 84, 17, 314, 405, 321, 375)
EYE_R, EYE_L, CHEEK_L, CHEEK_R = 33, 263, 454, 234


class MouthExemplarError(EngineError):
    """A mouth exemplar file that breaks the contract; the message says what."""


@dataclass
class MouthExemplars(SidecarArrays):
    # the file (engine/sidecar_file.py): its arrays, version, name in messages, error, size cap
    FIELDS: ClassVar[tuple[str, ...]] = FIELDS
    VERSION: ClassVar[int] = VERSION
    WHAT: ClassVar[str] = "mouth exemplar file"
    ERROR: ClassVar[type[Exception]] = MouthExemplarError
    MAX_BYTES: ClassVar[int] = _MAX_FILE_BYTES

    patches: np.ndarray  # (K, PATCH_H, PATCH_W, 3) uint8 RGB, canonical inner-lip frame
    masks: np.ndarray  # (K, PATCH_H, PATCH_W) uint8: 255 where the actor's opening was measured
    controls: np.ndarray  # (K, len(FEATURES)) float32, the motion's controls on that frame
    lips: np.ndarray  # (K, 3, 3) float32: the actor's lips (Lab mean, std) and skin (median) on that frame
    gaps: np.ndarray  # (K, PATCH_W) float32: each column's inner-lip gap on that frame, face widths
    frames: np.ndarray  # (K,) int64: the motion frame each exemplar was taken from

    def __post_init__(self) -> None:
        self.validate()

    @property
    def count(self) -> int:
        return int(self.patches.shape[0])

    def validate(self) -> None:
        k = self.patches.shape[0] if self.patches.ndim == 4 else -1
        want = {"patches": (np.uint8, (k, PATCH_H, PATCH_W, 3)), "masks": (np.uint8, (k, PATCH_H, PATCH_W)),
                "controls": (np.float32, (k, len(FEATURES))), "lips": (np.float32, (k, 3, 3)),
                "gaps": (np.float32, (k, PATCH_W)), "frames": (np.int64, (k,))}
        for name, (dtype, shape) in want.items():
            arr = getattr(self, name)
            if not isinstance(arr, np.ndarray) or arr.dtype != dtype or arr.shape != shape:
                got = f"{arr.dtype} {arr.shape}" if isinstance(arr, np.ndarray) else type(arr).__name__
                raise MouthExemplarError(f"mouth exemplars: {name} must be {np.dtype(dtype)} of shape "
                                         f"{shape}, got {got}")
        if not 1 <= k <= MAX_FILE_EXEMPLARS:
            raise MouthExemplarError(f"mouth exemplars: {k} exemplars, expected 1 to {MAX_FILE_EXEMPLARS}")
        for name in ("controls", "lips", "gaps"):
            if not np.all(np.isfinite(getattr(self, name))):
                raise MouthExemplarError(f"mouth exemplars: {name} holds NaN or infinite values")
        if (np.any(np.abs(self.controls) > 10) or np.any(np.abs(self.lips) > 300) or np.any(self.frames < 0)
                or np.any(self.gaps < 0) or np.any(self.gaps > 2)):
            raise MouthExemplarError("mouth exemplars: controls, lip colours or frames out of range")

    # -- files --------------------------------------------------------------------------------

    def reference(self, file_name: str, sha256: str) -> dict:
        """The motion JSON's ``mouth_exemplars`` object."""
        return {"version": VERSION, "file": file_name, "sha256": sha256, "count": self.count,
                "patch": [PATCH_H, PATCH_W], "features": list(FEATURES)}



def sidecar_path(motion_path: str | os.PathLike[str]) -> Path:
    """``take.json`` -> ``take.mouths.npz``."""
    p = Path(motion_path)
    return p.with_name(p.stem + ".mouths.npz")


# -- the canonical inner-lip frame --------------------------------------------------------------

def _local_frame(xy: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(origin, axis_u, axis_v) of the face: eye line and cheek midpoint (as the renderer's fit)."""
    eye = xy[EYE_L] - xy[EYE_R]
    au = eye / (np.linalg.norm(eye) or 1.0)
    return (xy[CHEEK_L] + xy[CHEEK_R]) / 2, au, np.array([-au[1], au[0]])


def canonical_map(landmarks: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Image positions (map_x, map_y: (PATCH_H, PATCH_W) float32) of the canonical patch pixels
    for a face with these landmarks, and each column's inner-lip gap in pixels (PATCH_W,)."""
    xy = np.asarray(landmarks, np.float64)[:, :2]
    origin, au, av = _local_frame(xy)
    uv = (xy - origin) @ np.stack([au, av], axis=1)
    up, lo = uv[list(LIP_IN_UP)], uv[list(LIP_IN_LO)]
    u0, u1 = float(up[:, 0].min()), float(up[:, 0].max())
    half, uc = max((u1 - u0) / 2, 1e-6), (u0 + u1) / 2
    x = -1 + 2 * (np.arange(PATCH_W) + 0.5) / PATCH_W
    u = uc + x * half
    oa, ob = np.argsort(up[:, 0]), np.argsort(lo[:, 0])
    vu = np.interp(u, up[oa, 0], up[oa, 1])
    vl = np.maximum(np.interp(u, lo[ob, 0], lo[ob, 1]), vu)
    f = (np.arange(PATCH_H) + 0.5) / PATCH_H
    v = vu[None, :] + f[:, None] * (vl - vu)[None, :]
    uu = np.broadcast_to(u[None, :], v.shape)
    px = origin[0] + uu * au[0] + v * av[0]
    py = origin[1] + uu * au[1] + v * av[1]
    return px.astype(np.float32), py.astype(np.float32), (vl - vu).astype(np.float32)


SKIN_RING = 0.06  # face widths around the outer lips whose skin is the light reference


def lip_stats(rgb: np.ndarray, landmarks: np.ndarray) -> np.ndarray | None:
    """(3, 3) Lab statistics around the mouth: the lips' mean and std (between the outer and
    inner contours) and the median of the skin in a ring around the lips (the light falling on
    the mouth), or None when they cover too few pixels. Lab as OpenCV gives it for float RGB in
    0..1 (L 0..100)."""
    import cv2

    xy = np.asarray(landmarks, np.float64)[:, :2]
    outer = xy[list(LIP_OUT_UP) + list(LIP_OUT_LO)[::-1]]
    inner = xy[list(LIP_IN_UP) + list(LIP_IN_LO)[::-1]]
    ring = max(2, int(round(SKIN_RING * float(np.linalg.norm(xy[CHEEK_L] - xy[CHEEK_R])))))
    h, w = rgb.shape[:2]
    x0, y0 = np.floor(outer.min(axis=0)).astype(int) - ring - 2
    x1, y1 = np.ceil(outer.max(axis=0)).astype(int) + ring + 3
    x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, w), min(y1, h)
    if x1 - x0 < 3 or y1 - y0 < 3:
        return None
    lips = np.zeros((y1 - y0, x1 - x0), np.uint8)
    off = np.array([x0, y0])
    cv2.fillPoly(lips, [np.round(outer - off).astype(np.int32)], 1)
    skin = cv2.dilate(lips, np.ones((2 * ring + 1, 2 * ring + 1), np.uint8)) - lips
    cv2.fillPoly(lips, [np.round(inner - off).astype(np.int32)], 0)
    sel, around = lips.astype(bool), skin.astype(bool)
    if sel.sum() < 8 or around.sum() < 8:
        return None
    lab = to_lab(rgb[y0:y1, x0:x1]).reshape(-1, 3)
    lip, sk = lab[sel.reshape(-1)], lab[around.reshape(-1)]
    return np.stack([lip.mean(axis=0), np.maximum(lip.std(axis=0), 1.0),
                     np.median(sk, axis=0)]).astype(np.float32)


def to_lab(rgb: np.ndarray) -> np.ndarray:
    import cv2

    return cv2.cvtColor(np.ascontiguousarray(rgb, np.float32) * np.float32(1 / 255), cv2.COLOR_RGB2Lab)


def from_lab(lab: np.ndarray) -> np.ndarray:
    """Lab -> RGB float32 0..255 (not clipped)."""
    import cv2

    return cv2.cvtColor(np.ascontiguousarray(lab, np.float32), cv2.COLOR_Lab2RGB) * np.float32(255)


def crop_mouth(rgb: np.ndarray, landmarks: np.ndarray
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None:
    """(patch (PATCH_H, PATCH_W, 3) uint8, mask uint8, Lab stats (3, 3) (``lip_stats``), column
    gaps in face widths (PATCH_W,) float32) of one frame's inner
    mouth, or None when it is (nearly) closed. Columns too thin to measure (the corners) are
    filled from their neighbours (cv2.inpaint) and marked 0 in the mask."""
    import cv2

    mx, my, gap = canonical_map(landmarks)
    if float(gap.max()) < MIN_GAP_PX:
        return None
    stats = lip_stats(rgb, landmarks)
    if stats is None:
        return None
    patch = cv2.remap(rgb, mx, my, cv2.INTER_LINEAR,
                      borderMode=cv2.BORDER_REPLICATE)
    col = np.clip((gap - 0.75) / 1.5, 0, 1)  # under ~1 pixel of gap the column is lip, not mouth
    mask = np.broadcast_to((col * 255 + 0.5).astype(np.uint8)[None, :], (PATCH_H, PATCH_W)).copy()
    hole = (mask < 128).astype(np.uint8)
    if hole.all():
        return None
    if hole.any():
        patch = cv2.inpaint(patch, hole, 3, cv2.INPAINT_TELEA)
    xy = np.asarray(landmarks, np.float64)[:, :2]
    width = max(float(np.linalg.norm(xy[CHEEK_L] - xy[CHEEK_R])), 1.0)
    return patch, mask, stats, (gap / np.float32(width)).astype(np.float32)


def teeth_light(patch: np.ndarray, stats: np.ndarray) -> float:
    """How much brighter than the lips the top third of the opening is (Lab L units): the upper
    teeth showing or not; a selection feature (retrieval uses the controls only)."""
    lab = to_lab(patch[: PATCH_H // 3, PATCH_W // 4: 3 * PATCH_W // 4])
    return float(np.percentile(lab[..., 0], 80) - stats[0, 0])


def farthest_points(features: np.ndarray, k: int) -> np.ndarray:
    """Indices of ``k`` rows spanning ``features``: farthest-point sampling from the row with
    the largest first feature (the widest opening); ties go to the earliest row."""
    n = features.shape[0]
    k = min(k, n)
    chosen = [int(np.argmax(features[:, 0]))]
    dist = np.linalg.norm(features - features[chosen[0]], axis=1)
    while len(chosen) < k:
        nxt = int(np.argmax(dist))
        if dist[nxt] <= 0:
            break  # the rest repeat what is chosen
        chosen.append(nxt)
        dist = np.minimum(dist, np.linalg.norm(features - features[nxt], axis=1))
    return np.array(chosen, np.int64)


class MouthCollector:
    """Gathers candidate mouth crops during the capture pass (``add`` per tracked frame), then
    ``select``s the exemplars once the motion's controls are known. Holds at most
    ``MAX_CANDIDATES`` crops (~14 KB each): past that it keeps every 2nd, 4th, ... open frame,
    deterministically, so memory stays flat for any clip length."""

    def __init__(self, max_exemplars: int = MAX_EXEMPLARS):
        self.max_exemplars = int(max_exemplars)
        self._items: list[tuple[int, np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = []
        self._stride = 1

    def add(self, frame: int, rgb: np.ndarray, landmarks: np.ndarray) -> None:
        """``frame``: the video frame index (what ``select``'s ``frame_of`` maps to the motion)."""
        if frame % self._stride:
            return
        got = crop_mouth(rgb, landmarks)
        if got is None:
            return
        self._items.append((int(frame), *got))
        if len(self._items) > MAX_CANDIDATES:
            self._stride *= 2
            self._items = [it for it in self._items if it[0] % self._stride == 0]

    def select(self, controls: dict[str, np.ndarray], frame_of) -> MouthExemplars | None:  # noqa: ANN001
        """Exemplars spanning the candidates' mouth controls, or None when the actor never
        opened the mouth. ``frame_of(video_frame) -> motion frame`` (variable frame rate
        captures are resampled)."""
        n = int(next(iter(controls.values())).shape[0])
        rows, feats = [], []
        for item in self._items:
            k = int(frame_of(item[0]))
            if not 0 <= k < n:
                continue
            c = np.array([float(controls[name][k]) for name in FEATURES], np.float32)
            if c[0] < MIN_OPEN:
                continue
            rows.append((k, item))
            # teeth brightness in units of ~1/3 of the control range (40 L ~ one unit)
            feats.append(np.concatenate([c, [teeth_light(item[1], item[3]) / 40.0]]))
        if not rows:
            return None
        pick = farthest_points(np.array(feats, np.float64), self.max_exemplars)
        pick = pick[np.argsort([rows[i][0] for i in pick], kind="stable")]  # in frame order
        return MouthExemplars(
            patches=np.stack([rows[i][1][1] for i in pick]),
            masks=np.stack([rows[i][1][2] for i in pick]),
            controls=np.array([feats[i][:len(FEATURES)] for i in pick], np.float32),
            lips=np.stack([rows[i][1][3] for i in pick]).astype(np.float32),
            gaps=np.stack([rows[i][1][4] for i in pick]).astype(np.float32),
            frames=np.array([rows[i][0] for i in pick], np.int64),
        )
