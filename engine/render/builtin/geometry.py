"""Controls -> target geometry: where the warp's control points go in one frame.

The smooth part of the warp moves ~200 landmarks plus a ring of hair points and neck points:
head rotation about a pivot behind the face with a mild perspective projection of the landmarks'
depth, translation in face widths, scale about the pivot, brows, smile/frown, wide and pucker.
Eyelids, gaze and the jaw opening are local edits with a cut (synthesis.py); their per-frame
amounts are computed here too (``LocalAmounts``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from ...controls import CONTROLS_BY_NAME, NEUTRAL
from .fitting import (
    CHEEK_L,
    CHEEK_R,
    CHEEKS,
    CONTROL_LANDMARKS,
    FACE_OVAL,
    L_BROW,
    LIP_IN_LO,
    LIP_IN_UP,
    LIP_OUT_LO,
    LIP_OUT_UP,
    R_BROW,
    PortraitFit,
)

# Expression magnitudes in face widths at control = 1, matched to capture's normalisations
# (expression.py) so that re-capturing a render gives back the driving curves.
BROW_RAISE = 0.09
GAZE_GAIN = (0.3, 0.2)  # iris shift in eye widths at gaze 1
SMILE_UP, SMILE_OUT = 0.09, 0.035
WIDE_OUT = 0.09
PUCKER_IN = 0.35
UPPER_LIP_RAISE = 0.0  # upper-lip rise, face widths at mouth_open = 1 (0: self-reenactment scores best)
MOUTH_NARROW = 0.04
CORNER_RISE = 0.25  # mouth corners rise this share of the gap an open mouth closes (synthesis.py)
JAW_OPEN = 0.3  # inner-lip gap at mouth_open = 1, face widths
FOCAL = 5.0  # perspective focal length in face widths (mild)
# Landmark depth used for rotation (a slightly flattened head folds less), and how much deeper a
# yaw turn sees it. MediaPipe reads back, from renders of six portraits and clip frames turned
# ±12° and nodded ±8° (benchmarks/eval_turn_readback.py), 0.73 of the yaw and 0.66 of the pitch
# put in. A deeper head (0.7, yaw 1.2x: 0.80 / 0.75 read back) was tried and not kept: once the
# turn is limited against the turning outline (_pose) it notched the far cheek at 19° turns and
# smeared tps's open mouth (mouth box +0.6 against +1.1 dB), for no gain in the face box.
DEPTH = 0.6
YAW_DEPTH = 1.0
# hair/head ring, relative to the head ellipse's (u, v) semi-axes: beside the face 0.7 face widths
# out from its centre (the ears and the hair by the cheeks; the cheeks are at 0.5), above and below
# as far as the crown's hair and the neck
RING_SCALE = (0.9, 1.08)
ANCHOR_SCALE = 1.75  # zero-motion anchors
FALLOFF = (1.05, 1.7)  # motion falls from 1 to 0 between these head-ellipse radii


def control_values(controls: Mapping[str, float]) -> dict[str, float]:
    """All 16 controls, missing ones neutral, each clamped to its hard range."""
    out = {}
    for name, spec in CONTROLS_BY_NAME.items():
        v = float(controls.get(name, NEUTRAL[name]))
        if not math.isfinite(v):
            v = NEUTRAL[name]
        out[name] = min(max(v, spec.hard_min), spec.hard_max)
    return out


def _ellipse(fit: PortraitFit, scale: float | tuple[float, float], n: int) -> np.ndarray:
    t = np.linspace(0, 2 * np.pi, n, endpoint=False)
    a, b = fit.head_axes
    su, sv = scale if isinstance(scale, tuple) else (scale, scale)
    c = fit.to_local(fit.head_centre)
    uv = np.stack([c[0] + su * a * np.cos(t), c[1] + sv * b * np.sin(t)], axis=1)
    return fit.to_image(uv)


@dataclass
class ControlPoints:
    """The smooth warp's control points: fixed source positions and per-kind weights."""
    src: np.ndarray  # (N, 2) image pixels
    n_landmarks: int
    n_ring: int
    n_neck: int
    n_anchor: int
    lm_uvz: np.ndarray  # (n_landmarks, 3): u, v relative to the pivot, z relative to the pivot
    ring_uvz: np.ndarray
    w_brow_l: np.ndarray
    w_brow_r: np.ndarray
    w_corner: np.ndarray  # 0 at the lip centre, 1 at the corners (lip points only)
    side: np.ndarray  # -1 / +1: which half of the mouth
    du_mouth: np.ndarray  # u distance from the mouth centre (pixels)
    w_lip: np.ndarray
    w_upper_lip: np.ndarray
    w_cheek: np.ndarray
    chin_index: int
    place_uvz: np.ndarray  # (6, 3) the points head_x / head_y are measured at (capture's PLACE)
    cheeks_uvz: np.ndarray  # (2, 3) the cheek points (face-local origin = their midpoint)
    room: tuple[np.ndarray, np.ndarray]  # per landmark: distance to the face outline, right / left


def build_control_points(fit: PortraitFit) -> ControlPoints:
    from ...capture.expression import PLACE  # (as pose.py: the capture package is imported late)

    W = fit.width
    idx = list(CONTROL_LANDMARKS)
    lm = fit.landmarks[idx]
    uv = fit.to_local(lm[:, :2])
    pivot_uv = fit.to_local(fit.pivot[:2])
    lm_uvz = np.column_stack([uv - pivot_uv, DEPTH * (lm[:, 2] - fit.pivot[2])])

    ring = _ellipse(fit, RING_SCALE, 20)
    ring_uv = fit.to_local(ring) - pivot_uv
    # Hair/head outline points sit as far behind the pivot as the cheek points are in front of
    # it: the head's outline is the silhouette of its widest part, behind the face, so a turn
    # slides the face across it and barely moves it. (At the cheeks' depth the outline followed
    # the face, and the hair beside it smeared: self-reenactment face box +1.89 against +2.16 dB,
    # mean of 22 portrait frames, benchmarks/bench_render_open_mouth.py.)
    cheeks_uvz = lm_uvz[[idx.index(CHEEK_L), idx.index(CHEEK_R)]]
    ring_uvz = np.column_stack([ring_uv, np.full(len(ring), -float(cheeks_uvz[:, 2].mean()))])
    chin_uv = fit.to_local(fit.landmarks[152, :2])
    neck_uv = np.array([[chin_uv[0] + k * 0.3 * W, chin_uv[1] + 0.55 * W] for k in (-1, 0, 1)])
    neck = fit.to_image(neck_uv)
    anchors = _ellipse(fit, ANCHOR_SCALE, 24)
    src = np.vstack([lm[:, :2], ring, neck, anchors])

    def member(group: tuple[int, ...]) -> np.ndarray:
        return np.array([i in group for i in idx], np.float64)

    lips = member(LIP_OUT_UP + LIP_OUT_LO + LIP_IN_UP + LIP_IN_LO)
    du = uv[:, 0] - fit.mouth.u_centre
    corner = np.clip((du / max(fit.mouth.half_width, 1e-6)) ** 2, 0, 1) * lips
    return ControlPoints(
        src=src, n_landmarks=len(idx), n_ring=len(ring), n_neck=len(neck), n_anchor=len(anchors),
        lm_uvz=lm_uvz, ring_uvz=ring_uvz, w_brow_l=member(L_BROW), w_brow_r=member(R_BROW),
        w_corner=corner, side=np.sign(du), du_mouth=du, w_lip=lips,
        w_upper_lip=member(LIP_OUT_UP + LIP_IN_UP) * (1 - corner), w_cheek=member(CHEEKS),
        chin_index=idx.index(152), place_uvz=lm_uvz[[idx.index(j) for j in PLACE]],
        cheeks_uvz=cheeks_uvz,
        room=_room_to_outline(fit, uv),
    )


def _room_to_outline(fit: PortraitFit, uv: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For points (n, 2) in face-local uv: 0.8 x the horizontal distance to the face outline on
    the right and on the left, at each point's height (0 outside the outline)."""
    oval = fit.to_local(fit.landmarks[list(FACE_OVAL), :2])
    a, b = oval, np.roll(oval, -1, axis=0)
    v = uv[:, 1:2]
    lo, hi = np.minimum(a[:, 1], b[:, 1]), np.maximum(a[:, 1], b[:, 1])
    crosses = (v >= lo) & (v <= hi) & (hi > lo)
    t = (v - a[:, 1]) / np.where(hi > lo, b[:, 1] - a[:, 1], 1.0)
    u_cross = a[:, 0] + t * (b[:, 0] - a[:, 0])
    right = np.where(crosses, u_cross, -np.inf).max(axis=1)
    left = np.where(crosses, u_cross, np.inf).min(axis=1)
    u = uv[:, 0]
    ok = np.isfinite(right) & np.isfinite(left)
    return (0.8 * np.where(ok, np.maximum(right - u, 0), 0.0),
            0.8 * np.where(ok, np.maximum(u - left, 0), 0.0))


def _rotation(yaw: float, pitch: float, roll: float) -> np.ndarray:
    """Rotation in face-local (u right, v down, z away from the camera) coordinates.
    + yaw turns the face toward the viewer's right, + pitch lifts the chin, + roll is clockwise."""
    y, p, r = (math.radians(a) for a in (yaw, pitch, roll))
    ry = np.array([[math.cos(y), 0, -math.sin(y)], [0, 1, 0], [math.sin(y), 0, math.cos(y)]])
    rp = np.array([[1, 0, 0], [0, math.cos(p), math.sin(p)], [0, -math.sin(p), math.cos(p)]])
    rr = np.array([[math.cos(r), -math.sin(r), 0], [math.sin(r), math.cos(r), 0], [0, 0, 1]])
    return rr @ ry @ rp


def _turned(uvz: np.ndarray, f: float, pitch: np.ndarray, yaw: np.ndarray) -> np.ndarray:
    """Pivot-relative points pitched, then turned with YAW_DEPTH times their depth, in the image
    plane (mild perspective, focal length ``f`` pixels)."""
    pts = uvz.copy()
    pts[:, :2] *= ((f + pts[:, 2]) / f)[:, None]  # unproject the portrait's own perspective
    q = pts @ pitch.T
    q[:, 2] *= YAW_DEPTH
    q = q @ yaw.T
    q[:, 2] /= YAW_DEPTH
    return q[:, :2] * (f / np.maximum(f + q[:, 2], 0.2 * f))[:, None]


def _pose(fit: PortraitFit, uvz: np.ndarray, c: Mapping[str, float], place_uvz: np.ndarray,
          cheeks_uvz: np.ndarray, room: tuple[np.ndarray, np.ndarray] | None = None) -> np.ndarray:
    """Pivot-relative (u, v, z) points -> image pixels under the frame's head pose.

    Yaw and pitch rotate the points in 3D about the pivot (mild perspective); ``room`` = how far
    each point may travel left/right before it reaches the face outline: the turn's sideways
    shift is softly limited to it, so features slide towards the silhouette instead of folding
    over it. Then roll and scale about the place, translation."""
    W = fit.width
    f = FOCAL * W
    pitch, yaw = _rotation(0.0, c["head_pitch"], 0.0), _rotation(c["head_yaw"], 0.0, 0.0)
    uv = _turned(uvz, f, pitch, yaw)
    # Capture measures head_x/head_y at the place (the mean of ``place_uvz``): rotation alone
    # keeps that point where it was, translation moves it, roll and scale are about it.
    anchor = _turned(place_uvz, f, pitch, yaw).mean(axis=0)
    pivot = fit.to_local(fit.pivot[:2])
    place = place_uvz[:, :2].mean(axis=0) + pivot  # face-local
    src = uvz[:, :2] + pivot  # relative to the face-local origin
    # ``room`` is measured to the face outline, so the turn's shift is limited relative to where
    # the outline (the cheek midpoint, the face-local origin) turns to; then the whole head
    # shifts so that the place stays where it was (limited relative to the place instead, the
    # far cheek's points stayed behind the eyes' parallax and the outline tore at 18° turns)
    outline = _turned(cheeks_uvz, f, pitch, yaw).mean(axis=0)
    delta = uv - outline - src
    if room is not None:
        right, left = room
        lim = np.where(delta[:, 0] > 0, right, left)
        lim = np.maximum(lim, 1e-3)
        delta[:, 0] = lim * np.tanh(delta[:, 0] / lim)
    uv = src + delta + (outline - anchor + place)
    r = math.radians(c["head_roll"])
    rr = np.array([[math.cos(r), -math.sin(r)], [math.sin(r), math.cos(r)]])
    uv = place + ((uv - place) @ rr.T) * c["head_scale"]
    xy = fit.to_image(uv)
    return xy + np.array([c["head_x"] * W, -c["head_y"] * W])


def target_points(fit: PortraitFit, cp: ControlPoints, controls: Mapping[str, float]) -> np.ndarray:
    """(N, 2) target image positions of the control points for one frame's controls."""
    c = control_values(controls)
    W = fit.width
    d = np.zeros((cp.n_landmarks, 2))
    for side, w_brow in (("l", cp.w_brow_l), ("r", cp.w_brow_r)):
        b = c[f"brow_{side}"] * BROW_RAISE * W
        if b < 0:  # lowering: at most part of the brow-to-lid skin, so the warp never folds
            b = -min(-b, 0.8 * fit.eyes[side].lid_height)
        d[:, 1] -= b * w_brow
    # Smile and the opening's narrowing move the mouth from the portrait's own state (rest.py).
    own = fit.own
    s = c["mouth_smile"] - own.mouth_smile
    smiling = max(c["mouth_smile"], 0.0) - max(own.mouth_smile, 0.0)  # a frown does not widen
    # Width from the portrait's own: a smiling portrait un-smiling narrows back (it kept its
    # smile's width: d18 140 at smile 0 was 0.12 face widths wider than the real mouth)
    spread = SMILE_OUT * smiling + WIDE_OUT * (c["mouth_wide"] - own.mouth_wide)
    d[:, 0] += cp.side * cp.w_corner * W * spread
    d[:, 1] -= cp.w_corner * W * SMILE_UP * s + cp.w_cheek * 0.015 * W * smiling
    d[:, 0] -= cp.du_mouth * cp.w_lip * PUCKER_IN * c["mouth_pucker"]
    # An open mouth's corners are pulled down by the jaw; closing, they rise back (measured:
    # ~0.25 of the gap), so the lips meet on a flat line, not a frown.
    d[:, 1] -= cp.w_corner * CORNER_RISE * fit.own.gap * W * closing(fit, c)
    o = min(c["mouth_open"], 1.2) - min(own.mouth_open, 1.2)
    d[:, 0] -= cp.side * cp.w_corner * W * MOUTH_NARROW * o  # an opening mouth gets rounder
    lm_uvz = cp.lm_uvz.copy()
    lm_uvz[:, :2] += d
    lm_dst = _pose(fit, lm_uvz, c, cp.place_uvz, cp.cheeks_uvz, cp.room)
    ring_dst = _pose(fit, cp.ring_uvz, c, cp.place_uvz, cp.cheeks_uvz)
    chin_src = cp.src[cp.chin_index]
    chin_dst = lm_dst[cp.chin_index]
    neck_src = cp.src[cp.n_landmarks + cp.n_ring:cp.n_landmarks + cp.n_ring + cp.n_neck]
    neck_dst = neck_src + 0.35 * (chin_dst - chin_src)
    anchors = cp.src[-cp.n_anchor:]
    return np.vstack([lm_dst, ring_dst, neck_dst, anchors])


def _opening(mouth_open: float, pucker: float = 0.0) -> float:
    # Puckered lips stay nearly closed even when the jaw drops a little.
    return min(max(mouth_open - 0.1, 0.0) / 0.9 * (1.0 - 0.85 * pucker), 1.5)


def closing(fit: PortraitFit, c: Mapping[str, float]) -> float:
    """How much (0..1) of an open-mouthed portrait's own opening these controls close."""
    own = fit.own.gap * fit.width
    if own <= 0:
        return 0.0
    return min(max(1.0 - mouth_gap(fit, c["mouth_open"], c["mouth_pucker"]) / own, 0.0), 1.0)


def mouth_gap(fit: PortraitFit, mouth_open: float, pucker: float = 0.0) -> float:
    """Inner-lip gap (pixels, at the mouth centre) for an absolute ``mouth_open``, moving from the
    portrait's own state: its own gap at its own opening, 0 (lips together) at 0, and beyond its
    own opening the gap grows as on a closed-mouth portrait (JAW_OPEN face widths at 1)."""
    W = fit.width

    def gap_of(o: float, pk: float = 0.0) -> float:  # the closed-mouth portrait's curve
        return JAW_OPEN * _opening(o, pk) * W

    own_gap, own_open = fit.own.gap * W, fit.own.mouth_open
    if own_gap <= 0:
        # lips together: a jaw already dropped behind them (own_open > 0, rest.py) is not dropped
        # again, the lips part only as the curve passes it
        return max(gap_of(mouth_open, pucker) - gap_of(own_open), 0.0)
    if mouth_open >= own_open:
        return own_gap + gap_of(mouth_open, pucker) - gap_of(own_open)
    # Closing: the same curve scaled to end at the portrait's own gap (at small own openings,
    # where that curve is still flat, the gap shrinks in proportion to the control).
    ref = gap_of(own_open)
    ratio = gap_of(mouth_open, pucker) / ref if ref > 0.01 * W else mouth_open / max(own_open, 1e-6)
    return own_gap * min(max(ratio, 0.0), 1.0)


@dataclass
class LocalAmounts:
    eye_open: dict[str, float]  # "l", "r"
    gaze: tuple[float, float]  # pixels along u (right) and v (down) the iris moves
    jaw: float  # pixels the lower lip moves down at the mouth centre (negative closes)
    lift: float  # pixels the upper lip rises at the mouth centre
    smile: float = 0.0  # mouth_smile, clamped to 0..1 (a smile shows more of the upper teeth)
    pucker: float = 0.0  # mouth_pucker, clamped to 0..1 (shading cue of lips pushed forward)


def local_amounts(fit: PortraitFit, controls: Mapping[str, float]) -> LocalAmounts:
    c = control_values(controls)
    ew = 0.5 * (fit.eyes["l"].width + fit.eyes["r"].width)
    # Capture reads gaze 1 as an iris offset of 0.15 (x) / 0.10 (y) eye widths; the tapered shift
    # moves the tracker's iris estimate less than the pixels, hence the gains.
    gaze = (c["gaze_x"] * GAZE_GAIN[0] * ew, -c["gaze_y"] * GAZE_GAIN[1] * ew)
    target_gap = mouth_gap(fit, c["mouth_open"], c["mouth_pucker"])
    lift = UPPER_LIP_RAISE * _opening(c["mouth_open"], c["mouth_pucker"]) * fit.width
    if fit.own.gap <= 0:  # lips together with the jaw dropped (rest.py): lifts from there
        lift = max(lift - UPPER_LIP_RAISE * _opening(fit.own.mouth_open) * fit.width, 0.0)
    jaw = target_gap - lift - fit.own.gap * fit.width
    return LocalAmounts({"l": min(c["eye_open_l"], 1.6), "r": min(c["eye_open_r"], 1.6)}, gaze, jaw,
                        lift, min(max(c["mouth_smile"], 0.0), 1.0), min(max(c["mouth_pucker"], 0.0), 1.0))
