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
- a keypoint below the confidence threshold (DWPose: 0.3) is not drawn, nor any limb touching it.
"""

from __future__ import annotations

import math

import numpy as np

from .body import J

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
               min_confidence: float = MIN_CONFIDENCE) -> np.ndarray:
    """One frame of the pose video: normalised joints (33, 3) of a frame drawn at ``size`` (w, h)."""
    w, h = size
    canvas = np.zeros((h, w, 3), np.uint8)
    pts, conf = openpose_keypoints(joints, confidence)
    return draw_pose(canvas, pts * np.array([w, h], np.float32), conf, min_confidence)
