"""Body joints → an OpenPose / DWPose-style pose video (what Wan-Animate and pose ControlNets read).

The format (docs/body.md, "Pose video"), as drawn by DWPose's ``draw_bodypose`` and the copies
in controlnet_aux and Wan2.2's animate preprocessing:
- black background, RGB;
- 18 body keypoints in the OpenPose COCO-18 order (``OPENPOSE_NAMES``: nose, neck, then right
  before left shoulder/elbow/wrist, hip/knee/ankle, then eyes and ears); the neck, which
  BlazePose lacks, is the shoulders' midpoint;
- 17 limbs (``LIMBS``), each a filled ellipse of half-width ``stickwidth`` (4 px) along the limb,
  in its colour (``COLORS[i]``) scaled by 0.6; then every keypoint a filled circle of radius 4 in
  its own full colour (``COLORS[k]``), drawn over the limbs;
- a keypoint below the confidence threshold (DWPose: 0.3) is not drawn, nor any limb touching it;
- optionally (``hands=True``, DWPose's ``draw_handpose``) each hand's 21-point skeleton: edge ``i``
  of ``HAND_EDGES`` a 2 px line in HSV(i / 20, 1, 1), then the points as radius-4 dots in
  (0, 0, 255). BlazePose gives four of the 21 (wrist 0, thumb knuckle 2, index knuckle 5, pinky
  knuckle 17): those are drawn, with the two edges both of whose ends are known (0-5, 0-17);
- optionally (``face=True``, DWPose's ``draw_facepose``) face points as white radius-3 dots: the
  BlazePose face points that are iBUG-68 points (eye corners, nose tip, mouth corners).
Points at the frame's edge (x or y ≤ 0.01 of the frame, DWPose's ``eps``) are never drawn, as in
DWPose (its "not found" points sit at 0).
"""

from __future__ import annotations

import colorsys
import math
from collections.abc import Iterable, Iterator

import numpy as np

from .body import BodyTrack, J

OPENPOSE_NAMES = ("nose", "neck", "right_shoulder", "right_elbow", "right_wrist", "left_shoulder",
                  "left_elbow", "left_wrist", "right_hip", "right_knee", "right_ankle", "left_hip",
                  "left_knee", "left_ankle", "right_eye", "left_eye", "right_ear", "left_ear")
# OpenPose limb pairs (0-based keypoint indices); DWPose draws the first 17 of its 19 (the two
# ear-to-shoulder limbs are left out).
LIMBS = ((1, 2), (1, 5), (2, 3), (3, 4), (5, 6), (6, 7), (1, 8), (8, 9), (9, 10), (1, 11), (11, 12),
         (12, 13), (1, 0), (0, 14), (14, 16), (0, 15), (15, 17))
COLORS = ((255, 0, 0), (255, 85, 0), (255, 170, 0), (255, 255, 0), (170, 255, 0), (85, 255, 0),
          (0, 255, 0), (0, 255, 85), (0, 255, 170), (0, 255, 255), (0, 170, 255), (0, 85, 255),
          (0, 0, 255), (85, 0, 255), (170, 0, 255), (255, 0, 255), (255, 0, 170), (255, 0, 85))
STICKWIDTH = 4
POINT_RADIUS = 4
MIN_CONFIDENCE = 0.3
EPS = 0.01  # DWPose: a point at x or y <= eps (normalised) is "not found"
HAND_EDGES = ((0, 1), (1, 2), (2, 3), (3, 4), (0, 5), (5, 6), (6, 7), (7, 8), (0, 9), (9, 10), (10, 11),
              (11, 12), (0, 13), (13, 14), (14, 15), (15, 16), (0, 17), (17, 18), (18, 19), (19, 20))
HAND_EDGE_COLORS = tuple(tuple(int(round(c * 255)) for c in colorsys.hsv_to_rgb(i / 20, 1.0, 1.0))
                         for i in range(20))
HAND_POINT_COLOR = (0, 0, 255)
# OpenPose hand point -> BlazePose joint suffix (the pose model's hand points are knuckles)
HAND_POINTS = {0: "wrist", 2: "thumb", 5: "index", 17: "pinky"}
FACE_COLOR = (255, 255, 255)
FACE_RADIUS = 3
# iBUG-68 face point -> BlazePose joint ("right" = the subject's, at the image's left)
FACE_POINTS = {36: "right_eye_outer", 39: "right_eye_inner", 42: "left_eye_inner", 45: "left_eye_outer",
               30: "nose", 48: "mouth_right", 54: "mouth_left"}


def openpose_keypoints(joints: np.ndarray, confidence: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """BlazePose's 33 joints of one frame ((33, ≥2), any unit) → the 18 OpenPose keypoints (18, 2)
    and their confidence (18,); the neck's is the weaker shoulder's."""
    pts = np.zeros((18, 2), np.float32)
    conf = np.zeros(18, np.float32)
    for k, name in enumerate(OPENPOSE_NAMES):
        if name == "neck":
            ls, rs = J["left_shoulder"], J["right_shoulder"]
            pts[k] = (joints[ls, :2] + joints[rs, :2]) / 2
            conf[k] = min(confidence[ls], confidence[rs])
        else:
            pts[k] = joints[J[name], :2]
            conf[k] = confidence[J[name]]
    return pts, conf


def hand_keypoints(joints: np.ndarray, confidence: np.ndarray, side: str) -> tuple[np.ndarray, np.ndarray]:
    """One hand ("left"/"right", the subject's) as OpenPose's 21 points (21, 2) and confidences
    (21,): the four BlazePose has (HAND_POINTS), the others at confidence 0."""
    pts = np.zeros((21, 2), np.float32)
    conf = np.zeros(21, np.float32)
    for k, joint in HAND_POINTS.items():
        j = J[f"{side}_{joint}"]
        pts[k], conf[k] = joints[j, :2], confidence[j]
    return pts, conf


def face_keypoints(joints: np.ndarray, confidence: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The iBUG-68 face points BlazePose has (68, 2), the others at confidence 0."""
    pts = np.zeros((68, 2), np.float32)
    conf = np.zeros(68, np.float32)
    for k, joint in FACE_POINTS.items():
        pts[k], conf[k] = joints[J[joint], :2], confidence[J[joint]]
    return pts, conf


def _found(points: np.ndarray, confidence: np.ndarray, size: tuple[int, int],
           min_confidence: float) -> np.ndarray:
    w, h = size
    return (confidence >= min_confidence) & (points[:, 0] > EPS * w) & (points[:, 1] > EPS * h)


def draw_hand(canvas: np.ndarray, points: np.ndarray, confidence: np.ndarray,
              min_confidence: float = MIN_CONFIDENCE) -> np.ndarray:
    """One hand (21 points in pixels) the way DWPose's draw_handpose draws it, in place."""
    import cv2

    shown = _found(points, confidence, (canvas.shape[1], canvas.shape[0]), min_confidence)
    for i, (a, b) in enumerate(HAND_EDGES):
        if shown[a] and shown[b]:
            cv2.line(canvas, (int(points[a, 0]), int(points[a, 1])), (int(points[b, 0]), int(points[b, 1])),
                     HAND_EDGE_COLORS[i], thickness=2)
    for k in np.flatnonzero(shown):
        cv2.circle(canvas, (int(points[k, 0]), int(points[k, 1])), POINT_RADIUS, HAND_POINT_COLOR,
                   thickness=-1)
    return canvas


def draw_face(canvas: np.ndarray, points: np.ndarray, confidence: np.ndarray,
              min_confidence: float = MIN_CONFIDENCE) -> np.ndarray:
    """Face points (68 in pixels) as DWPose's draw_facepose draws them, in place."""
    import cv2

    shown = _found(points, confidence, (canvas.shape[1], canvas.shape[0]), min_confidence)
    for k in np.flatnonzero(shown):
        cv2.circle(canvas, (int(points[k, 0]), int(points[k, 1])), FACE_RADIUS, FACE_COLOR, thickness=-1)
    return canvas


def draw_pose(canvas: np.ndarray, points: np.ndarray, confidence: np.ndarray,
              min_confidence: float = MIN_CONFIDENCE) -> np.ndarray:
    """Draw one body (18 keypoints in pixels) onto an RGB uint8 canvas, in place; returns it."""
    import cv2

    shown = confidence >= min_confidence
    for i, (a, b) in enumerate(LIMBS):
        if not (shown[a] and shown[b]):
            continue
        (xa, ya), (xb, yb) = points[a], points[b]
        length = math.hypot(xa - xb, ya - yb)
        angle = math.degrees(math.atan2(ya - yb, xa - xb))
        poly = cv2.ellipse2Poly((int((xa + xb) / 2), int((ya + yb) / 2)),  # truncated, as DWPose does
                                (int(length / 2), STICKWIDTH), int(angle), 0, 360, 1)
        cv2.fillConvexPoly(canvas, poly, [int(c * 0.6) for c in COLORS[i]])
    for k in range(18):
        if shown[k]:
            x, y = points[k]
            cv2.circle(canvas, (int(x), int(y)), POINT_RADIUS, COLORS[k], thickness=-1)
    return canvas


def pose_frame(joints: np.ndarray, confidence: np.ndarray, size: tuple[int, int],
               min_confidence: float = MIN_CONFIDENCE, hands: bool = False, face: bool = False) -> np.ndarray:
    """One frame of the pose video: normalised joints (33, 3) of a frame drawn at ``size`` (w, h):
    the body, then (DWPose's order) the hands and the face points when asked for."""
    w, h = size
    scale = np.array([w, h], np.float32)
    canvas = np.zeros((h, w, 3), np.uint8)
    pts, conf = openpose_keypoints(joints, confidence)
    draw_pose(canvas, pts * scale, conf, min_confidence)
    if hands:
        for side in ("left", "right"):
            hp, hc = hand_keypoints(joints, confidence, side)
            draw_hand(canvas, hp * scale, hc, min_confidence)
    if face:
        fp, fc = face_keypoints(joints, confidence)
        draw_face(canvas, fp * scale, fc, min_confidence)
    return canvas


def pose_frames(body: BodyTrack, indices: Iterable[int], size: tuple[int, int], hands: bool = True,
                face: bool = False) -> Iterator[np.ndarray]:
    """The pose video's frames (an iterator) for motion frames ``indices`` of a BodyTrack."""
    for i in indices:
        yield pose_frame(body.joints[i], body.confidence[i], size, hands=hands, face=face)
