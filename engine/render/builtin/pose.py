"""The portrait's absolute head pose and what the head-pose curves are relative to.

Captured head-pose curves are relative to the driving clip's neutral frame; since motion files
carry that neutral's absolute pose (``calibration.head_pose``, MOTION_SPEC.md), the renderer can
place the head absolutely: target = neutral's pose + curve, and the warp moves the portrait by
target − the portrait's own pose (measured at fit time, the same way capture measures it: yaw and
pitch from MediaPipe's facial transformation matrix, roll from the eye line).

``head_pose`` modes:

* ``"relative"``: the curves are applied to the portrait's own pose (a curve at 0 keeps the
  portrait's pose), as before motions carried their neutral's pose.
* ``"absolute"``: the portrait turns to the actor's absolute pose (a portrait frame of the
  driving clip reproduces the clip; a three-quarter portrait would be swung to the actor's front),
  and, when its image has the clip's aspect, its head goes to the actor's place.
* ``"auto"`` (default): absolute while the portrait's pose is near the actor's neutral (within
  ``NEAR`` degrees on every axis), fading to relative by ``FAR`` degrees: a portrait that faces the
  camera as the actor's neutral did follows the actor's absolute pose, a turned portrait keeps its
  own turn. The head's place in the frame follows the actor's absolutely only when the portrait
  is framed like the actor's clip (same image aspect, face within ``PLACE_NEAR`` face widths of
  the same place and ``SIZE_NEAR`` of the same size, fading out by twice that): a frame of the
  driving clip, or a still from the same camera set-up. The head's size stays relative (see
  ``pose_offset``).

The offset is a constant per (portrait, motion), so frames stay a pure function of (portrait,
motion, frame). A motion without a neutral pose (older files, voice captures, Blender curves)
renders relative in every mode.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

POSE_MODES = ("auto", "absolute", "relative")
#: auto mode: absolute pose up to this difference (degrees, largest of yaw/pitch/roll) between the
#: portrait and the actor's neutral, relative from FAR on. MediaPipe's single-image pose varies by
#: a few degrees across faces of the same orientation; a three-quarter view is 25-45 degrees.
NEAR, FAR = 8.0, 20.0
#: auto mode, place and size: absolute within PLACE_NEAR face widths and SIZE_NEAR (relative size),
#: fading to relative at twice these
PLACE_NEAR, SIZE_NEAR = 0.25, 0.12
ASPECT_TOLERANCE = 0.02


@dataclass(frozen=True)
class HeadPose:
    """An absolute head pose: angles in degrees (capture's signs), and where the face is in its
    image: cheek midpoint (x over the image width, y over its height), face width over the image
    width; ``aspect`` = image width / height; ``place_x``, ``place_y``: where head_x / head_y are
    measured (capture.expression.PLACE; None in motion files before 2026-12-04, whose curves were
    measured at the cheek midpoint)."""
    yaw: float
    pitch: float
    roll: float
    x: float | None = None
    y: float | None = None
    width: float | None = None
    aspect: float | None = None
    place_x: float | None = None
    place_y: float | None = None


def portrait_pose(landmarks: np.ndarray, matrix: np.ndarray | None, image_size: tuple[int, int]
                  ) -> HeadPose | None:
    """The portrait's absolute pose from its landmarks (478, pixels) and MediaPipe's facial
    transformation matrix; None without a matrix (landmarks given by hand)."""
    if matrix is None:
        return None
    from ...capture.expression import CHEEK_L, CHEEK_R, PLACE, matrix_angles

    m = np.asarray(matrix, np.float64)
    if m.shape != (4, 4) or not np.isfinite(m).all() or np.allclose(m, np.eye(4)):
        return None
    yaw, pitch, _ = matrix_angles(m)
    p = np.asarray(landmarks, np.float64)[:, :2]
    d = p[263] - p[33]  # as capture's raw roll: the outer eye corners
    roll = math.degrees(math.atan2(d[1], d[0]))
    w, h = image_size
    centre = (p[CHEEK_L] + p[CHEEK_R]) / 2
    place = p[list(PLACE)].mean(axis=0)
    width = float(np.linalg.norm(p[CHEEK_L] - p[CHEEK_R]))
    return HeadPose(yaw, pitch, roll, float(centre[0] / w), float(centre[1] / h), width / w, w / h,
                    float(place[0] / w), float(place[1] / h))


def check_mode(mode: str | None) -> str:
    mode = (mode or "auto").lower()
    if mode not in POSE_MODES:
        from ..base import RenderError

        raise RenderError(f"unknown head pose mode {mode!r}: use {', '.join(POSE_MODES)}")
    return mode


def _fade(d: float, near: float, far: float) -> float:
    """1 up to ``near``, 0 from ``far`` on, smooth in between."""
    t = min(max((d - near) / (far - near), 0.0), 1.0)
    return 1.0 - t * t * (3 - 2 * t)


def neutral_pose(head_pose: Mapping[str, float] | None, source: Mapping | None = None) -> HeadPose | None:
    """A motion's ``calibration.head_pose`` (and its source's frame size) as a HeadPose."""
    if not head_pose:
        return None
    aspect = None
    if source and source.get("width") and source.get("height"):
        aspect = float(source["width"]) / float(source["height"])
    return HeadPose(float(head_pose["yaw"]), float(head_pose["pitch"]), float(head_pose["roll"]),
                    head_pose.get("x"), head_pose.get("y"), head_pose.get("width"), aspect,
                    head_pose.get("place_x"), head_pose.get("place_y"))


@dataclass(frozen=True)
class PoseOffset:
    """What is added to the head-pose curves (degrees, face widths) and multiplied into
    head_scale; ``weight`` (angles) and ``place`` (position and size) say how absolute (0..1)."""
    yaw: float = 0.0
    pitch: float = 0.0
    roll: float = 0.0
    x: float = 0.0
    y: float = 0.0
    scale: float = 1.0
    weight: float = 0.0
    place: float = 0.0

    def apply(self, c: dict[str, float]) -> dict[str, float]:
        if self.weight == 0 and self.place == 0:
            return c
        out = dict(c)
        out["head_yaw"] = c["head_yaw"] + self.yaw
        out["head_pitch"] = c["head_pitch"] + self.pitch
        out["head_roll"] = c["head_roll"] + self.roll
        out["head_x"] = c["head_x"] + self.x
        out["head_y"] = c["head_y"] + self.y
        out["head_scale"] = c["head_scale"] * self.scale
        return out


def pose_offset(portrait: HeadPose | None, neutral: HeadPose | None, mode: str) -> PoseOffset:
    """The constant offset that turns relative head-pose curves into the mode's pose."""
    if mode == "relative" or portrait is None or neutral is None:
        return PoseOffset()
    dyaw, dpitch = neutral.yaw - portrait.yaw, neutral.pitch - portrait.pitch
    droll = (neutral.roll - portrait.roll + 180.0) % 360.0 - 180.0
    weight = 1.0 if mode == "absolute" else _fade(max(abs(dyaw), abs(dpitch), abs(droll)), NEAR, FAR)
    place, dx, dy = 0.0, 0.0, 0.0
    known = None not in (portrait.x, portrait.y, portrait.width, portrait.aspect,
                         neutral.x, neutral.y, neutral.width, neutral.aspect)
    if known and portrait.width > 0 and neutral.width > 0:
        # in the portrait's face widths (head_x right, head_y up, as the curves), at the point
        # the curves were measured at: the place, or in older files the cheek midpoint
        (nx, ny), (px, py) = (neutral.x, neutral.y), (portrait.x, portrait.y)
        if None not in (neutral.place_x, neutral.place_y, portrait.place_x, portrait.place_y):
            (nx, ny), (px, py) = (neutral.place_x, neutral.place_y), (portrait.place_x, portrait.place_y)
        dx = (nx - px) / portrait.width
        dy = -(ny - py) / (portrait.aspect * portrait.width)
        size = neutral.width / portrait.width
        # a place in another frame shape means nothing: only a portrait framed like the clip
        if abs(neutral.aspect / portrait.aspect - 1) <= ASPECT_TOLERANCE:
            place = 1.0 if mode == "absolute" else weight * _fade(
                math.hypot(dx, dy), PLACE_NEAR, 2 * PLACE_NEAR) * _fade(abs(math.log(size)), SIZE_NEAR,
                                                                        2 * SIZE_NEAR)
        # the size stays relative: measured, taking the neutral's size (face width, or
        # capture's own head distance) costs 0.1-2.6 dB on 9 of 12 self-reenactment frames (an
        # open jaw widens the tracked face and brings MediaPipe's fitted head nearer)
    return PoseOffset(weight * dyaw, weight * dpitch, weight * droll, place * dx, place * dy, 1.0,
                      weight, place)
