"""Capture: a performance (a driving video's face, or a voice) -> one Motion of expression controls.

Every source ends in the same data model (engine/motion.py), so keyframes, rigs and every
renderer consume captures alike. ``video`` tracks a face with MediaPipe; ``expression`` turns
landmarks into controls; ``smoothing`` is the shared One Euro filter. ``audio`` listens to a
voice: ``voice_features`` (10 ms acoustics: level, voicing, formants) -> ``voice_activity`` ->
``mouth_shapes``, plus ``idle_life`` (blinks, head motion, brow accents). ``live`` records a
take from a phone app's UDP stream, a webcam or a network stream (docs/live.md); import it as
``engine.capture.live`` (not re-exported here: file capture does not need its threads).
"""

from .audio import AudioCaptureError, capture_audio
from .video import CaptureError, capture, capture_mouths, uniform_grid

__all__ = ["AudioCaptureError", "CaptureError", "capture", "capture_audio", "capture_mouths", "uniform_grid"]
