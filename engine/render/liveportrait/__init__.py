"""LivePortrait backend on onnxruntime: the quality renderer, with weights from the model store.

Modules follow the data path: crop (our tracker's landmarks -> face crop, paste-back),
networks (onnxruntime sessions), keypoints (pose bins, keypoint formula, stitching),
controls_to_motion (our 16 controls -> LivePortrait motion), pipeline (the renderer).
"""

from ..base import register_renderer
from .pipeline import LivePortraitRenderer

register_renderer("liveportrait", LivePortraitRenderer)

__all__ = ["LivePortraitRenderer"]
