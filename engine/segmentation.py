"""Images → a person mask, through MediaPipe's selfie segmentation network (vendored model).

The model is MediaPipe's "selfie segmentation" (general, 256x256), Apache-2.0, copied unchanged out
of the mediapipe 0.10.21 wheel by scripts/make_segmenter_model.py (engine/assets/NOTICE.md); it
already carries the Tasks ImageSegmenter metadata. Its sha256 is checked before MediaPipe reads
it, and images go through the same checked path as the trackers' (engine/landmarker.py): type and
size checked before native code, MediaPipe's log lines kept off the terminal.

Used by the built-in renderer (render/builtin/body_warp.py) to hold the background still while
the torso moves: one mask per portrait, at fit time.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from .landmarker import Landmarker, TrackerError, tasks_vision, vendored_model_bytes

MODEL_PATH = Path(__file__).with_name("assets") / "selfie_segmenter.tflite"
MODEL_SHA256 = "9ee168ec7c8f2a16c56fe8e1cfbc514974cbbb7e434051b455635f1bd1462f5c"


class PersonSegmenter(Landmarker):
    """Wraps one MediaPipe ImageSegmenter (IMAGE mode) on the selfie model. Use as a context
    manager."""

    what = "person segmentation"
    image_call, video_call = "segment", "segment_for_video"

    def __init__(self, model_path: str | os.PathLike[str] | None = None):
        BaseOptions, vision = tasks_vision(self.what)
        data = vendored_model_bytes(Path(model_path) if model_path else MODEL_PATH, MODEL_PATH,
                                    MODEL_SHA256, "segmentation", "scripts/make_segmenter_model.py")
        options = vision.ImageSegmenterOptions(
            base_options=BaseOptions(model_asset_buffer=data),
            running_mode=vision.RunningMode.IMAGE,
            output_confidence_masks=True,
            output_category_mask=False,
        )
        super().__init__(lambda: vision.ImageSegmenter.create_from_options(options), video=False)

    def mask(self, rgb: np.ndarray) -> np.ndarray:
        """Person probability (H, W) float32 0..1 for an RGB uint8 image (H, W, 3)."""
        result = self._run(rgb, None)
        masks = result.confidence_masks or []
        if not masks:
            raise TrackerError("the segmentation model returned no mask")
        m = np.array(masks[0].numpy_view(), np.float32)  # a copy: MediaPipe owns the view's memory
        m = m.reshape(m.shape[0], m.shape[1])
        if m.shape != rgb.shape[:2] or not np.isfinite(m).all():
            raise TrackerError(f"the segmentation model returned a malformed mask {m.shape}")
        return np.clip(m, 0.0, 1.0)


def person_mask(rgb: np.ndarray) -> np.ndarray:
    """The person mask of one image (a segmenter made and closed for it)."""
    with PersonSegmenter() as seg:
        return seg.mask(rgb)
