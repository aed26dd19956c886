"""Capture: a performance (driving video today; voice next) -> one Motion of expression controls.

Every source ends in the same data model (engine/motion.py), so keyframes, rigs and every
renderer consume captures alike. ``video`` tracks a face with MediaPipe; ``expression`` turns
landmarks into controls; ``smoothing`` is the shared One Euro filter.
"""

from .video import CaptureError, capture, uniform_grid

__all__ = ["CaptureError", "capture", "uniform_grid"]
