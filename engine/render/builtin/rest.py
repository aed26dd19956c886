"""Portrait -> its own expression, in control units, and the rest pose the curves move it from.

A portrait is not always neutral: a frame of a talking video has its mouth open, a laughing
photo smiles. Capture calibrates every curve against the driving clip's most neutral frame
(lips together, no smile), so a control value describes a face *state*: ``mouth_open`` 0 = lips
together, ``mouth_smile`` 0 = no smile. The renderer therefore measures the portrait's own state
once (``OwnExpression``, the same measures and normalisations as capture, against a canonical
neutral: jawOpen 0, lip gap 0, no smile) and moves the face *from* it *to* what the curves say.

``rest`` chooses what the curves are relative to:

* ``"neutral"`` (default): controls are absolute face states, as captured. An open-mouthed
  portrait at ``mouth_open`` 0 closes its lips; a smiling one at ``mouth_smile`` 0 stops
  smiling; at the portrait's own values it is reproduced unchanged (self-reenactment).
* ``"portrait"``: the portrait's own expression is the rest pose, the curves are offsets from it
  (``mouth_open`` 0 keeps its mouth as it is, 0.3 opens it further by 0.3).

Head pose and the eyes are always relative to the portrait (its pose is the rest pose; eye_open 1
= its eyes as drawn, 0 = closed): a warp cannot turn a three-quarter painting frontal, and
MediaPipe's blink score is not an absolute measure across faces (a neutral narrow-eyed face reads
0.3 where a wide-eyed one reads 0.0).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

RESTS = ("neutral", "portrait")
#: below this inner-lip gap (face widths) the portrait's lips count as together: a drawn or
#: sealed lip line reads 0.002-0.01, a parted one 0.04 and more
CLOSED_GAP = 0.02
#: capture's normalisations (capture/expression.py): jawOpen over 0.9, lip gap over 0.35 face
#: widths, smile minus frown over 0.8
JAW_SPAN, GAP_SPAN, SMILE_SPAN = 0.9, 0.35, 0.8
#: stretch: capture's span; the width term as the phone path (capture.raw_from_blendshapes)
#: reads it from the scores (a quarter of the spread, less a quarter of the pucker)
STRETCH_SPAN, WIDTH_GAIN = 0.6, 0.25


@dataclass(frozen=True)
class OwnExpression:
    """The portrait's own expression in control units (what capture would report for it against
    a closed, unsmiling neutral). ``measured_from``: "blendshapes" or "landmarks" (geometry only,
    when the landmarks were given by hand)."""
    mouth_open: float = 0.0
    mouth_smile: float = 0.0
    gap: float = 0.0  # inner-lip gap, face widths (0 when the lips count as together)
    measured_from: str = "landmarks"
    mouth_wide: float = 0.0  # its stretch/width (a smile widens the mouth: capture reads it here too)


def own_expression(landmarks: np.ndarray, blendshapes: Mapping[str, float] | None = None) -> OwnExpression:
    """Measure the portrait's expression from its landmarks (478, pixels) and, when known, its
    MediaPipe blendshape scores (name -> 0..1)."""
    p = np.asarray(landmarks, np.float64)[:, :2]
    width = float(np.linalg.norm(p[454] - p[234])) or 1.0
    gap = float(np.linalg.norm(p[13] - p[14])) / width
    if gap < CLOSED_GAP:
        gap = 0.0
    if blendshapes:
        jaw = float(blendshapes.get("jawOpen", 0.0))

        def pair(name: str) -> float:
            left, right = blendshapes.get(f"{name}Left", 0.0), blendshapes.get(f"{name}Right", 0.0)
            return 0.5 * (float(left) + float(right))

        smile, frown = pair("mouthSmile"), pair("mouthFrown")
        # capture's mouth_open: half jaw score, half lip gap. With the lips together only the jaw
        # half counts, as capture counts it (d18 frame 30, jaw dropped behind sealed lips: 0.23
        # measured, 0.23 captured; it was 0 here, so every opening of the curves dropped that
        # jaw a second time); nothing of it is closed (no gap), it only starts the opening later
        # (geometry.mouth_gap), and a jaw score under 0.18 (a neutral face's 0.01-0.1) stays
        # below the opening's dead zone, so closed-mouth portraits render as before
        opening = 0.5 * jaw / JAW_SPAN + 0.5 * gap / GAP_SPAN
        # wide as capture reads it (a smile widens the mouth, and capture counts that width as
        # mouth_wide too): else a smiling portrait rendered at its own smile and wide still
        # widened (d18 140: the corners 0.018 face widths out, 28 dB instead of identity in the
        # mouth box). Its own pucker is not measured: the score reads 0.8-0.99 on the stylised
        # portraits' small closed mouths as on a real pucker (d18 30), and capture only trusts
        # it against the actor's neutral
        pucker = float(blendshapes.get("mouthPucker", 0.0))
        stretch = pair("mouthStretch")
        spread = 0.5 * (stretch + smile)
        wide = 0.5 * max(stretch / STRETCH_SPAN + 2 * WIDTH_GAIN * (spread - pucker), 0.0)
        return OwnExpression(float(np.clip(opening, 0.0, 1.5)),
                             float(np.clip((smile - frown) / SMILE_SPAN, -1, 1)), gap, "blendshapes",
                             float(np.clip(wide, 0.0, 1.0)))
    # geometry alone: the jaw term reads the same opening as the gap (they agree within ~0.05 on
    # the shared clips' open frames)
    return OwnExpression(float(np.clip(gap / GAP_SPAN, 0.0, 1.5)), 0.0, gap, "landmarks")


def check_rest(rest: str | None) -> str:
    rest = (rest or "neutral").lower()
    if rest not in RESTS:
        from ..base import RenderError

        raise RenderError(f"unknown rest pose {rest!r}: use {' or '.join(RESTS)}")
    return rest


def absolute_controls(c: Mapping[str, float], own: OwnExpression, rest: str) -> dict[str, float]:
    """Controls as absolute face states: unchanged with ``rest="neutral"``; with ``"portrait"``
    the curves are offsets, so the portrait's own mouth opening and smile are added."""
    out = dict(c)
    if rest == "portrait":
        out["mouth_open"] = c["mouth_open"] + own.mouth_open
        out["mouth_smile"] = c["mouth_smile"] + own.mouth_smile
        out["mouth_wide"] = c.get("mouth_wide", 0.0) + own.mouth_wide
    return out
