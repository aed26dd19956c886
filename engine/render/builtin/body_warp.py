"""The portrait's shoulders and torso moved by the body curves, the background held still.

When the portrait shows the upper body (both shoulders confidently found by the pose landmarker,
and wide enough against the face to be a chest rather than a profile), the body controls
(engine/body.py: torso_lean, torso_turn, shoulder_raise_l / _r) move the torso with a smooth
forward displacement field, written in closed form from the portrait's own joints:

- shoulder raise: the region of that shoulder (from beside the neck outward, the arm included;
  fading over 1.5 shoulder widths below the joint) moves up by the control times the portrait's
  shoulder width (the control's unit: neutral shoulder widths);
- torso lean: a rotation about the hips (where the model places them; 1.6 shoulder widths below
  the shoulders when it does not), nothing below the pivot;
- torso turn: the chest as a vertical cylinder of the shoulders' half-width R turning about its
  axis: front points slide sideways by R sin θ (fading smoothly to the sides, see TURN_SPAN), the
  width compresses by cos θ.

Everything fades to zero above the neck (a smooth step from just under the chin to the shoulders'
height), so head-on-neck stays the face warp's alone. The field is inverted on a coarse grid by
fixed-point iteration (output y samples x with x + D(x) = y), upsampled, and the face-rendered frame
is sampled with it. The person mask (engine/segmentation.py, feathered) decides where the result is
used: at an output pixel, alpha = max(mask here, mask at the sampled point), so the person may move
over the background (a raised shoulder covers what was above it) and uncovered background is
filled by the nearby pixels it samples; wherever both are zero the frame is left exactly as it was.

A flat border band (a letterbox bar, a frame's mat: ``border_bands``, found at fit time on any
edge) is no part of the scene: the warp's box stops at it, so its pixels stay exactly as they
were, and the frame is sampled from inside the bands only, mirrored at their inner edges as at
the picture's own edges (a raised shoulder would otherwise lift a black bar at the bottom edge
into the shirt).

The body is found lazily, on the first frame whose body controls are not all zero, and kept for the
portrait: a motion without body curves costs nothing and gives the frames of before, bit for bit.
Per frame the output depends only on (portrait, controls), like the rest of the renderer.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from ...body import BODY_CONTROLS_BY_NAME, J

#: both shoulders at least this confident (min of visibility and presence) to count as shown
MIN_SHOULDER_CONFIDENCE = 0.5
#: the shoulder line must be this many mouth widths long (a profile's shoulders overlap)
MIN_SHOULDER_MOUTHS = 2.5
#: person-mask feathering (Gaussian sigma), in shoulder widths
FEATHER = 0.02
#: coarse grid cell of the displacement field, in shoulder widths
CELL = 1.0 / 24
#: the torso turn's reach to each side, in half shoulder widths
TURN_SPAN = 1.4
#: below this alpha a pixel is the frame's own (exactly)
ALPHA_EPS = 1.0 / 255
#: a border band's lines have (nearly) all pixels within this many levels of the edge line's
#: colour (codec noise on a black bar is 0-3)
BAND_TOL = 10.0
#: a band is 2 lines at least and under this share of the picture (more is a flat backdrop, which
#: the person mask already holds still)
BAND_MAX = 0.25
#: lines next to a band that the warp does not sample either (the bar's blurred edge)
BAND_EDGE = 2


@dataclass
class BodyFit:
    """The portrait's upper body, in portrait pixels."""

    left: np.ndarray  # (2,) the subject's left shoulder joint
    right: np.ndarray  # (2,) the subject's right shoulder joint
    width: float  # shoulder width
    neck_top: float  # y: no body motion above this (just under the chin)
    neck_full: float  # y: full body motion from here down
    pivot: np.ndarray  # (2,) the lean's centre of rotation (between the hips)
    mask: np.ndarray  # (H, W) float32 0..1: feathered person mask
    bands: tuple[int, int, int, int] = (0, 0, 0, 0)  # flat border lines: top, bottom, left, right


def border_bands(rgb: np.ndarray) -> tuple[int, int, int, int]:
    """(top, bottom, left, right): how many lines from each edge of ``rgb`` are one flat colour
    (a letterbox or pillarbox bar): lines whose pixels, but for 2 %, lie within BAND_TOL of the
    edge line's mean colour, 2 at least, fewer than BAND_MAX of the picture, and ending at a hard
    edge: the line past the next differs from that colour on half its pixels at least (a flat
    backdrop next to the person does not; 0 otherwise)."""
    img = rgb.astype(np.int16)
    cols = img.transpose(1, 0, 2)
    out = []
    for lines in (img, img[::-1], cols, cols[::-1]):
        limit = int(BAND_MAX * lines.shape[0])
        ref = lines[0].mean(axis=0)
        k = 0
        while k < limit and (np.abs(lines[k] - ref).max(axis=1) > BAND_TOL).mean() <= 0.02:
            k += 1
        # a bar ends at a hard edge: past its blurred edge line the picture is mostly unlike it
        # (a flat backdrop beside the person goes on along most of the line: no bar)
        after = lines[min(k + 1, lines.shape[0] - 1)]
        edge = (np.abs(after - ref).max(axis=1) > 2 * BAND_TOL).mean() >= 0.5
        out.append(k if 2 <= k < limit and edge else 0)
    return out[0], out[1], out[2], out[3]


def fit_body(rgb: np.ndarray) -> BodyFit | None:
    """The upper body of a portrait (RGB uint8), or None when it shows no shoulders."""
    import cv2

    from ...body_tracker import BodyTracker, pick_main_body
    from ...segmentation import PersonSegmenter

    h, w = rgb.shape[:2]
    with BodyTracker(video=False) as tracker:
        body = pick_main_body(tracker.detect(rgb), (w, h))
    if body is None:
        return None
    conf = body.confidence
    pts = body.landmarks[:, :2].astype(np.float64)
    left, right = pts[J["left_shoulder"]], pts[J["right_shoulder"]]
    width = float(np.linalg.norm(left - right))
    mouth = float(np.linalg.norm(pts[J["mouth_left"]] - pts[J["mouth_right"]]))
    if min(conf[J["left_shoulder"]], conf[J["right_shoulder"]]) < MIN_SHOULDER_CONFIDENCE or \
            width < MIN_SHOULDER_MOUTHS * max(mouth, 1.0):
        return None
    nose_y = float(pts[J["nose"], 1])
    mouth_y = float((pts[J["mouth_left"], 1] + pts[J["mouth_right"], 1]) / 2)
    chin = mouth_y + max(mouth_y - nose_y, 0.0)  # the chin sits about a nose-to-mouth below the mouth
    shoulder_y = float(min(left[1], right[1]))
    neck_top = chin + 0.05 * width
    neck_full = max(neck_top + 0.2 * width, shoulder_y - 0.05 * width)
    hips = pts[[J["left_hip"], J["right_hip"]]].mean(axis=0)
    mid = (left + right) / 2
    if float(body.presence[[J["left_hip"], J["right_hip"]]].min()) < 0.5 or hips[1] <= mid[1] + 0.5 * width:
        hips = mid + np.array([0.0, 1.6 * width])  # hips off the picture: a typical torso length
    with PersonSegmenter() as seg:
        person = seg.mask(rgb)
    # the model's confidence is soft everywhere: background near 0 becomes exactly 0, then feather
    person = np.clip((person - 0.1) / 0.8, 0.0, 1.0).astype(np.float32)
    sigma = max(FEATHER * width, 1.0)
    person = cv2.GaussianBlur(person, (0, 0), sigma)
    person[person < ALPHA_EPS] = 0.0
    return BodyFit(left, right, width, neck_top, neck_full, hips, person, border_bands(rgb))


def body_values(controls: Mapping[str, float]) -> dict[str, float] | None:
    """The body controls of a frame, clamped to their hard ranges; None when all are zero (absent,
    non-finite or 0), i.e. when the body does not move."""
    out = {}
    for name, spec in BODY_CONTROLS_BY_NAME.items():
        v = float(controls.get(name, 0.0))
        out[name] = min(max(v, spec.hard_min), spec.hard_max) if np.isfinite(v) else 0.0
    return out if any(abs(v) > 1e-6 for v in out.values()) else None


def _smoothstep(a: float, b: float, x: np.ndarray) -> np.ndarray:
    t = np.clip((x - a) / (b - a), 0.0, 1.0)
    return t * t * (3 - 2 * t)


class BodyWarp:
    """The torso motion of one portrait (a BodyFit) applied to rendered frames."""

    def __init__(self, fit: BodyFit, image_size: tuple[int, int]):
        w, h = image_size
        self.fit = fit
        ys, xs = np.nonzero(fit.mask > 0)
        reach = fit.width  # how far a pixel can come from: the largest sensible motion
        top, bottom, left, right = fit.bands  # flat border bars: outside the box, never written
        x0 = max(int(xs.min() - reach), left) if xs.size else left
        x1 = min(int(xs.max() + reach) + 1, w - right) if xs.size else w - right
        y0 = max(int(fit.neck_top - 0.5 * fit.width), top)
        y1 = h - bottom
        # the part of the frame the warp samples: inside the bands, less the lines next to each
        # one (a codec blurs the bar's edge into them: mirrored, they would draw a dark line)
        m = BAND_EDGE
        self._source = (left + m if left else 0, top + m if top else 0,
                        w - right - m if right else w, h - bottom - m if bottom else h)
        self.box = (x0, y0, x1, y1)
        bw, bh = x1 - x0, y1 - y0
        cell = max(CELL * fit.width, 2.0)
        gx, gy = int(min(max(np.ceil(bw / cell), 4), 200)), int(min(max(np.ceil(bh / cell), 4), 200))
        # node i sits where cv2.resize puts small pixel i when upsampling to the box (as warp.py)
        nx = x0 + (np.arange(gx) + 0.5) * bw / gx - 0.5
        ny = y0 + (np.arange(gy) + 0.5) * bh / gy - 0.5
        self.grid = np.stack(np.meshgrid(nx, ny), axis=-1)  # (gy, gx, 2) float64
        px, py = np.meshgrid(np.arange(x0, x1, dtype=np.float32), np.arange(y0, y1, dtype=np.float32))
        self._ident = np.stack([px, py], axis=-1)
        self._mask_box = fit.mask[y0:y1, x0:x1]

    def displacement(self, p: np.ndarray, v: Mapping[str, float]) -> np.ndarray:
        """Forward displacement (..., 2) at portrait points ``p`` (..., 2) for body values ``v``."""
        f = self.fit
        x, y = p[..., 0], p[..., 1]
        d = np.zeros(p.shape, np.float64)
        mid = (f.left + f.right) / 2
        half = 0.5 * f.width
        for name, joint in (("shoulder_raise_l", f.left), ("shoulder_raise_r", f.right)):
            r = v[name]
            if r == 0.0:
                continue
            side = np.sign(joint[0] - mid[0]) or 1.0
            t = (x - mid[0]) * side / half  # 0 at the midline, 1 at this shoulder's joint
            below = 1.0 - _smoothstep(joint[1], joint[1] + 1.5 * f.width, y)
            d[..., 1] -= r * f.width * _smoothstep(0.25, 1.0, t) * below
        turn = np.radians(v["torso_turn"])
        if turn != 0.0:
            # A cylinder's front, sqrt(1 - u^2), has an infinite slope at its sides, which would
            # stretch a column of pixels there into streaks; cos^2 over TURN_SPAN half-widths has
            # the same bulge with a finite slope and takes the upper arms along. The compression
            # (slope cos θ - 1 at the middle) returns to 0 at the span's ends too, so nothing
            # beyond them moves (no pixels pulled in from past the picture's edge).
            u = np.clip((x - mid[0]) / half, -TURN_SPAN, TURN_SPAN)
            front = np.cos(0.5 * np.pi * u / TURN_SPAN) ** 2
            squeeze = TURN_SPAN / np.pi * np.sin(np.pi * u / TURN_SPAN)
            d[..., 0] += half * (np.sin(turn) * front + squeeze * (np.cos(turn) - 1.0))
        lean = np.radians(v["torso_lean"])
        if lean != 0.0:
            vx, vy = x - f.pivot[0], y - f.pivot[1]
            c, s = np.cos(lean), np.sin(lean)
            above = _smoothstep(f.pivot[1], f.pivot[1] - 0.3 * f.width, y)  # nothing below the hips
            d[..., 0] += (vx * c - vy * s - vx) * above
            d[..., 1] += (vx * s + vy * c - vy) * above
        return d * _smoothstep(f.neck_top, f.neck_full, y)[..., None]

    def backward_map(self, v: Mapping[str, float], iterations: int = 8) -> np.ndarray:
        """Absolute sampling map (bh, bw, 2) float32 over the box: output y samples x, x + D(x) = y."""
        import cv2

        x = self.grid.copy()
        for _ in range(iterations):
            x = self.grid - self.displacement(x, v)
        back = (x - self.grid).astype(np.float32)
        x0, y0, x1, y1 = self.box
        return cv2.resize(back, (x1 - x0, y1 - y0), interpolation=cv2.INTER_LINEAR) + self._ident

    def apply(self, frame: np.ndarray, controls: Mapping[str, float]) -> np.ndarray:
        """``frame`` (the face-rendered portrait) with the torso moved; ``frame`` itself when the
        body controls are all zero."""
        import cv2

        v = body_values(controls)
        if v is None:
            return frame
        mp = self.backward_map(v)
        x0, y0, x1, y1 = self.box
        # where the person is cut by the picture's edge a lean pulls in pixels from beyond it: a
        # mirror of what is inside reads as more of the same cloth, a replicated edge as streaks.
        # A flat border band is no part of the picture: sampled from inside it only, its inner
        # edge is the picture's edge (a black bar is never lifted into the shirt)
        left, top, right, bottom = self._source
        mx, my = mp[..., 0] - np.float32(left), mp[..., 1] - np.float32(top)
        warped = cv2.remap(frame[top:bottom, left:right], mx, my, cv2.INTER_LINEAR,
                           borderMode=cv2.BORDER_REFLECT_101)
        moved = cv2.remap(self.fit.mask[top:bottom, left:right], mx, my, cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_REPLICATE)
        alpha = np.maximum(self._mask_box, moved)
        out = frame.copy()
        region = out[y0:y1, x0:x1]
        blend = region.astype(np.float32) + (warped.astype(np.float32) - region) * alpha[..., None]
        use = alpha >= ALPHA_EPS  # elsewhere the frame's own pixels, exactly
        region[use] = np.clip(blend[use] + 0.5, 0, 255).astype(np.uint8)
        return out
