"""Images → face observations, through MediaPipe Face Landmarker (vendored model bundle).

One observation per face: 478 landmarks (x, y in pixels, z in the same pixel scale as x),
52 ARKit-named blendshape scores and the 4×4 facial transformation matrix (head pose).
The model is read into memory and passed as a buffer, so paths with non-ASCII characters work.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import native_logs
from .errors import EngineError

MODEL_PATH = Path(__file__).with_name("assets") / "face_landmarker.task"
MODEL_SHA256 = "64184e229b263107bc2b804c6625db1341ff2bb731874b0bcc2fe6544e0bc9ff"


class TrackerError(EngineError):
    """The tracker could not be created or run (missing model, missing mediapipe)."""


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


class FaceTracker:
    """Wraps one MediaPipe FaceLandmarker. ``video=True`` uses VIDEO mode (temporal tracking;
    timestamps must increase), otherwise IMAGE mode. Use as a context manager."""

    def __init__(self, video: bool = False, max_faces: int = 4,
                 min_detection_confidence: float = 0.5, model_path: str | os.PathLike[str] | None = None):
        try:
            from mediapipe.tasks.python import BaseOptions, vision
        except ImportError as exc:  # pragma: no cover - depends on the install
            raise TrackerError("mediapipe is not installed; the face tracker needs it "
                               "(pip install mediapipe==0.10.33)") from exc
        path = Path(model_path) if model_path else MODEL_PATH
        if not path.is_file():
            raise TrackerError(f"face model not found: {path}")
        self._video = video
        self._last_ts = -1
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
        with native_logs.quiet():
            self._landmarker = vision.FaceLandmarker.create_from_options(options)
        # MediaPipe's graph threads log while the first frames run: keep those calls quiet too.
        self._quiet_calls = 3

    def __enter__(self) -> FaceTracker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._landmarker is not None:
            with native_logs.quiet():
                self._landmarker.close()
            self._landmarker = None

    def detect(self, rgb: np.ndarray, timestamp_ms: int | None = None) -> list[FaceObservation]:
        """All faces in an RGB uint8 image (H, W, 3). In VIDEO mode pass increasing timestamps;
        equal or decreasing ones are nudged forward by 1 ms, as MediaPipe requires."""
        import mediapipe as mp

        if self._landmarker is None:
            raise TrackerError("tracker is closed")
        if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3:
            raise ValueError("detect() wants an RGB uint8 image of shape (H, W, 3)")
        from .limits import MAX_IMAGE_PIXELS, MAX_IMAGE_SIDE

        h, w = rgb.shape[:2]
        if h * w > MAX_IMAGE_PIXELS or max(h, w) > MAX_IMAGE_SIDE or min(h, w) < 1:
            # the last guard before native code: never hand MediaPipe an image it may crash on
            raise TrackerError(f"image of {w}x{h} pixels is outside what the face tracker accepts "
                               f"(1 to {MAX_IMAGE_SIDE} pixels a side, {MAX_IMAGE_PIXELS // 1_000_000} "
                               "megapixels); scale it down")
        image = mp.Image(image_format=mp.ImageFormat.SRGB, data=np.ascontiguousarray(rgb))
        quiet = native_logs.quiet() if self._quiet_calls > 0 else contextlib.nullcontext()
        self._quiet_calls -= 1
        with quiet:
            if self._video:
                ts = int(timestamp_ms if timestamp_ms is not None else self._last_ts + 33)
                ts = max(ts, self._last_ts + 1)
                self._last_ts = ts
                result = self._landmarker.detect_for_video(image, ts)
            else:
                result = self._landmarker.detect(image)
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
