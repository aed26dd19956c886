"""Images → face observations, through MediaPipe Face Landmarker (vendored model bundle).

One observation per face: 478 landmarks (x, y in pixels, z in the same pixel scale as x),
52 ARKit-named blendshape scores and the 4×4 facial transformation matrix (head pose).
The model is read into memory and passed as a buffer, so paths with non-ASCII characters work.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .landmarker import Landmarker, TrackerError, tasks_vision

MODEL_PATH = Path(__file__).with_name("assets") / "face_landmarker.task"
MODEL_SHA256 = "64184e229b263107bc2b804c6625db1341ff2bb731874b0bcc2fe6544e0bc9ff"

__all__ = ["FaceObservation", "FaceTracker", "TrackerError", "pick_main_face", "portrait_face"]


@dataclass
class FaceObservation:
    landmarks: np.ndarray  # (478, 3) float32: x, y in pixels; z scaled like x
    blendshapes: np.ndarray  # (52,) float32 scores 0..1, order of `blendshape_names`
    blendshape_names: list[str]
    matrix: np.ndarray  # (4, 4) float32 facial transformation matrix

    @property
    def bbox(self) -> tuple[float, float, float, float]:
        """x0, y0, x1, y1 of the landmarks, in pixels."""
        xy = self.landmarks[:, :2]
        x0, y0 = xy.min(axis=0)
        x1, y1 = xy.max(axis=0)
        return float(x0), float(y0), float(x1), float(y1)

    @property
    def size(self) -> float:
        x0, y0, x1, y1 = self.bbox
        return float(np.hypot(x1 - x0, y1 - y0))

    @property
    def center(self) -> np.ndarray:
        x0, y0, x1, y1 = self.bbox
        return np.array([(x0 + x1) / 2, (y0 + y1) / 2], np.float32)


class FaceTracker(Landmarker):
    """Wraps one MediaPipe FaceLandmarker. ``video=True`` uses VIDEO mode (temporal tracking;
    timestamps must increase), otherwise IMAGE mode. Use as a context manager."""

    what = "face"

    def __init__(self, video: bool = False, max_faces: int = 4,
                 min_detection_confidence: float = 0.5, model_path: str | os.PathLike[str] | None = None):
        BaseOptions, vision = tasks_vision(self.what)
        path = Path(model_path) if model_path else MODEL_PATH
        if not path.is_file():
            raise TrackerError(f"face model not found: {path}")
        options = vision.FaceLandmarkerOptions(
            base_options=BaseOptions(model_asset_buffer=path.read_bytes()),
            running_mode=vision.RunningMode.VIDEO if video else vision.RunningMode.IMAGE,
            num_faces=max_faces,
            min_face_detection_confidence=min_detection_confidence,
            min_face_presence_confidence=0.5,
            min_tracking_confidence=0.5,
            output_face_blendshapes=True,
            output_facial_transformation_matrixes=True,
        )
        super().__init__(lambda: vision.FaceLandmarker.create_from_options(options), video)

    def detect(self, rgb: np.ndarray, timestamp_ms: int | None = None) -> list[FaceObservation]:
        """All faces in an RGB uint8 image (H, W, 3). In VIDEO mode pass increasing timestamps;
        equal or decreasing ones are nudged forward by 1 ms, as MediaPipe requires."""
        result = self._run(rgb, timestamp_ms)
        h, w = rgb.shape[:2]
        faces = []
        for i, lms in enumerate(result.face_landmarks):
            pts = np.array([(p.x * w, p.y * h, p.z * w) for p in lms], dtype=np.float32)
            cats = result.face_blendshapes[i] if result.face_blendshapes else []
            names = [c.category_name for c in cats]
            scores = np.array([c.score for c in cats], dtype=np.float32)
            mats = result.facial_transformation_matrixes
            matrix = np.asarray(mats[i], dtype=np.float32) if mats else np.eye(4, dtype=np.float32)
            faces.append(FaceObservation(pts, scores, names, matrix))
        return faces


def pick_main_face(faces: list[FaceObservation], image_size: tuple[int, int],
                   previous: np.ndarray | None = None) -> FaceObservation | None:
    """The face to follow: near the previous one when tracking, else the largest and most
    central (size weighted down by distance from the image centre)."""
    if not faces:
        return None
    w, h = image_size
    if previous is not None:
        return min(faces, key=lambda f: float(np.linalg.norm(f.center - previous)))
    centre = np.array([w / 2, h / 2], np.float32)
    diag = float(np.hypot(w, h))

    def score(f: FaceObservation) -> float:
        return f.size * (1.0 - 0.5 * float(np.linalg.norm(f.center - centre)) / diag)

    return max(faces, key=score)


def portrait_face(faces: list[FaceObservation], image_size: tuple[int, int],
                  index: int | None = None) -> FaceObservation | None:
    """The face of a portrait to animate. Faces are numbered from the left (0 = leftmost, by
    the centre of each face), which a user can count on the picture. ``index`` picks one;
    without it the main face (largest, most central) is used and, when there are several, a
    warning says which one and how to choose another."""
    if not faces:
        if index is not None:
            raise TrackerError(f"face {index} was asked for but no face was found in the portrait")
        return None
    ordered = sorted(faces, key=lambda f: float(f.center[0]))
    n = len(ordered)
    if index is not None:
        if not 0 <= index < n:
            raise TrackerError(f"face {index} was asked for but the portrait shows {n} face(s), "
                               f"numbered 0-{n - 1} from the left")
        return ordered[index]
    main = pick_main_face(faces, image_size)
    if n > 1 and main is not None:
        from .notices import warn

        k = next(i for i, f in enumerate(ordered) if f is main)
        warn(f"the portrait shows {n} faces; animating face {k} (faces are numbered 0-{n - 1} from "
             f"the left; this is the largest, most central one). Choose another with --face N, or "
             f"in Blender with the portrait's Face number")
    return main
