"""One MediaPipe Tasks landmarker (face, pose, person mask) behind the checks every call needs.

Both trackers (face_tracker.FaceTracker, body_tracker.BodyTracker) wrap a native graph the same
way: it is created, its first frames run and it is closed with MediaPipe's own log lines kept off
the terminal (native_logs); an image reaches it only after its type and size were checked (native
code must never see input we have not checked); in VIDEO mode timestamps are nudged to increase,
as MediaPipe requires. What differs - the options and how a result is read - stays in each tracker.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from . import native_logs
from .errors import EngineError


class TrackerError(EngineError):
    """The tracker could not be created or run (missing model, missing mediapipe)."""


def tasks_vision(what: str) -> tuple[Any, Any]:
    """MediaPipe's ``BaseOptions`` and ``vision`` module, or one sentence naming what needs them."""
    try:
        from mediapipe.tasks.python import BaseOptions, vision
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise TrackerError(f"mediapipe is not installed; the {what} tracker needs it "
                           "(pip install mediapipe==0.10.33)") from exc
    return BaseOptions, vision


def vendored_model_bytes(path: Path, vendored: Path, sha256: str, what: str, rebuild: str) -> bytes:
    """A model file's bytes; for the vendored one (``vendored``) only after checking its sha256: a
    damaged or swapped model would fail deep in native code or give plausible nonsense.
    ``rebuild`` names how to get it back (the script that builds it)."""
    if not path.is_file():
        raise TrackerError(f"{what} model not found: {path}")
    data = path.read_bytes()
    if path.resolve() == vendored.resolve() and hashlib.sha256(data).hexdigest() != sha256:
        raise TrackerError(f"{what} model {path.name} is damaged or not the one this engine ships "
                           f"(sha256 mismatch); reinstall the extension or rebuild it with {rebuild}")
    return data


class Landmarker:
    """A created MediaPipe landmarker: ``create()`` builds it (quietly); ``_run`` checks an image and
    runs it. ``video=True`` uses VIDEO mode (temporal tracking; timestamps must increase). Use as a
    context manager."""

    what = "landmark"  # "face" / "body": named in messages
    # the task's calls in IMAGE and VIDEO mode (an ImageSegmenter names them segment*)
    image_call, video_call = "detect", "detect_for_video"
    QUIET_CALLS = 3  # MediaPipe's graph threads log while the first frames run

    def __init__(self, create: Callable[[], Any], video: bool):
        self._video = video
        self._last_ts = -1
        with native_logs.quiet():
            self._landmarker = create()
        self._quiet_calls = self.QUIET_CALLS

    def __enter__(self):  # noqa: ANN204 - returns the subclass
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._landmarker is not None:
            with native_logs.quiet():
                self._landmarker.close()
            self._landmarker = None

    def _run(self, rgb: np.ndarray, timestamp_ms: int | None) -> Any:
        """The landmarker's result for an RGB uint8 image (H, W, 3). In VIDEO mode pass increasing
        timestamps; equal or decreasing ones are nudged forward by 1 ms."""
        import mediapipe as mp

        if self._landmarker is None:
            raise TrackerError("tracker is closed")
        if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3:
            raise ValueError("detect() wants an RGB uint8 image of shape (H, W, 3)")
        from .limits import MAX_IMAGE_PIXELS, MAX_IMAGE_SIDE

        h, w = rgb.shape[:2]
        if h * w > MAX_IMAGE_PIXELS or max(h, w) > MAX_IMAGE_SIDE or min(h, w) < 1:
            # the last guard before native code: never hand MediaPipe an image it may crash on
            raise TrackerError(f"image of {w}x{h} pixels is outside what the {self.what} tracker accepts "
                               f"(1 to {MAX_IMAGE_SIDE} pixels a side, {MAX_IMAGE_PIXELS // 1_000_000} "
                               "megapixels); scale it down")
        image = mp.Image(image_format=mp.ImageFormat.SRGB, data=np.ascontiguousarray(rgb))
        quiet = native_logs.quiet() if self._quiet_calls > 0 else contextlib.nullcontext()
        self._quiet_calls -= 1
        with quiet:
            if not self._video:
                return getattr(self._landmarker, self.image_call)(image)
            ts = int(timestamp_ms if timestamp_ms is not None else self._last_ts + 33)
            ts = max(ts, self._last_ts + 1)
            self._last_ts = ts
            return getattr(self._landmarker, self.video_call)(image, ts)
