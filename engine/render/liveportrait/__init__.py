"""LivePortrait backend on onnxruntime: the quality renderer, with weights from the model store.

Modules follow the data path: crop (our tracker's landmarks -> face crop, paste-back),
providers (device -> onnxruntime execution providers, placement probe), networks (onnxruntime
sessions, batched I/O-bound warping), keypoints (pose bins, keypoint formula, stitching),
controls_to_motion (our 16 controls -> LivePortrait motion, dense-track offsets), paste_torch
(paste-back on the GPU), pipeline (the renderer).
"""

from ..base import register_renderer
from .pipeline import LivePortraitRenderer

register_renderer("liveportrait", LivePortraitRenderer)

__all__ = ["LivePortraitRenderer"]
