"""Images → body observations, through MediaPipe Pose Landmarker (vendored model bundle).

One observation per person: the 33 BlazePose landmarks (x, y in pixels, z in the same pixel scale
as x, relative to the hips), their world coordinates (metres, origin between the hips, y down as
in MediaPipe), and per-landmark visibility and presence. The bundle is built from the networks in
the mediapipe 0.10.21 wheel by scripts/make_pose_bundle.py (engine/assets/NOTICE.md); its sha256
is checked before MediaPipe reads it, since a damaged or swapped model would fail deep in native
code or, worse, give plausible nonsense.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .body import JOINT_NAMES
from .landmarker import Landmarker, TrackerError, tasks_vision, vendored_model_bytes  # noqa: F401 - re-exported

MODEL_PATH = Path(__file__).with_name("assets") / "pose_landmarker_full.task"
MODEL_SHA256 = "0fee51d49cb075bb38910129ee8ff575b748660d8e633e0c08234548dcda2836"

# BlazePose's 33 landmarks, in model order (MediaPipe docs, "Pose landmark model"); the motion
# file's joint order (engine/body.py), which loads without MediaPipe.
LANDMARK_NAMES = JOINT_NAMES
LANDMARK = {name: i for i, name in enumerate(LANDMARK_NAMES)}
JOINT_COUNT = len(LANDMARK_NAMES)


@dataclass
class BodyObservation:
    landmarks: np.ndarray  # (33, 3) float32: x, y in pixels; z scaled like x
    world: np.ndarray  # (33, 3) float32 metres, hips-centred (MediaPipe axes: x, y down, z)
    visibility: np.ndarray  # (33,) float32 0..1: likely visible (not occluded) in the image
    presence: np.ndarray  # (33,) float32 0..1: likely inside the image

    @property
    def confidence(self) -> np.ndarray:
        """Per-joint confidence: visible and inside the frame."""
        return np.minimum(self.visibility, self.presence).astype(np.float32)

    @property
    def center(self) -> np.ndarray:
        return self.landmarks[[LANDMARK["left_shoulder"], LANDMARK["right_shoulder"],
                               LANDMARK["left_hip"], LANDMARK["right_hip"]], :2].mean(axis=0)

    def head_box(self, image_size: tuple[int, int], margin: float = 1.6) -> tuple[int, int, int, int] | None:
        """A square x0, y0, x1, y1 around the head in pixels (clipped to the image), from the face
        points of the pose (nose, eyes, ears, mouth) and sized by the shoulder width so that a
        face in profile still fits; None when the head is not in the picture."""
        w, h = image_size
        face = self.landmarks[:11, :2]
        if float(self.presence[:11].mean()) < 0.5:
            return None
        ls, rs = self.landmarks[LANDMARK["left_shoulder"], :2], self.landmarks[LANDMARK["right_shoulder"], :2]
        span = float(np.ptp(face, axis=0).max())
        shoulders = float(np.linalg.norm(ls - rs))
        side = max(span * 2.0, shoulders * 0.6) * margin
        cx, cy = face.mean(axis=0)
        x0, y0 = int(round(cx - side / 2)), int(round(cy - side / 2))
        x1, y1 = int(round(cx + side / 2)), int(round(cy + side / 2))
        x0, y0, x1, y1 = max(0, x0), max(0, y0), min(w, x1), min(h, y1)
        if x1 - x0 < 8 or y1 - y0 < 8:
            return None
        return x0, y0, x1, y1


def check_model(path: Path) -> bytes:
    """The bundle's bytes, after checking them against MODEL_SHA256 (the vendored model only)."""
    return vendored_model_bytes(path, MODEL_PATH, MODEL_SHA256, "pose", "scripts/make_pose_bundle.py")


class BodyTracker(Landmarker):
    """Wraps one MediaPipe PoseLandmarker. ``video=True`` uses VIDEO mode (temporal tracking;
    timestamps must increase), otherwise IMAGE mode. Use as a context manager."""

    what = "body"

    def __init__(self, video: bool = False, max_people: int = 1, min_detection_confidence: float = 0.5,
                 model_path: str | os.PathLike[str] | None = None):
        BaseOptions, vision = tasks_vision(self.what)
        data = check_model(Path(model_path) if model_path else MODEL_PATH)
        options = vision.PoseLandmarkerOptions(
            base_options=BaseOptions(model_asset_buffer=data),
            running_mode=vision.RunningMode.VIDEO if video else vision.RunningMode.IMAGE,
            num_poses=max_people,
            min_pose_detection_confidence=min_detection_confidence,
            min_pose_presence_confidence=0.5,
            min_tracking_confidence=0.5,
            output_segmentation_masks=False,
        )
        super().__init__(lambda: vision.PoseLandmarker.create_from_options(options), video)

    def detect(self, rgb: np.ndarray, timestamp_ms: int | None = None) -> list[BodyObservation]:
        """All people in an RGB uint8 image (H, W, 3). In VIDEO mode pass increasing timestamps;
        equal or decreasing ones are nudged forward by 1 ms, as MediaPipe requires."""
        result = self._run(rgb, timestamp_ms)
        h, w = rgb.shape[:2]
        bodies = []
        for i, lms in enumerate(result.pose_landmarks):
            pts = np.array([(p.x * w, p.y * h, p.z * w) for p in lms], dtype=np.float32)
            vis = np.array([p.visibility or 0.0 for p in lms], dtype=np.float32)
            pres = np.array([p.presence or 0.0 for p in lms], dtype=np.float32)
            wl = result.pose_world_landmarks[i] if i < len(result.pose_world_landmarks) else []
            world = np.array([(p.x, p.y, p.z) for p in wl], dtype=np.float32) if wl else \
                np.zeros((JOINT_COUNT, 3), np.float32)
            if pts.shape != (JOINT_COUNT, 3) or not (np.isfinite(pts).all() and np.isfinite(world).all()):
                continue  # a malformed result never reaches the motion
            bodies.append(BodyObservation(pts, world, np.clip(vis, 0, 1), np.clip(pres, 0, 1)))
        return bodies


def pick_main_body(bodies: list[BodyObservation], image_size: tuple[int, int],
                   previous: np.ndarray | None = None) -> BodyObservation | None:
    """The person to follow: nearest the previous one when tracking, else the most central."""
    if not bodies:
        return None
    if previous is not None:
        return min(bodies, key=lambda b: float(np.linalg.norm(b.center - previous)))
    centre = np.array(image_size, np.float32) / 2
    return min(bodies, key=lambda b: float(np.linalg.norm(b.center - centre)))
