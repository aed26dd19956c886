"""A built-in performance: a few seconds of blinks, nods, glances and talking, made from smooth
curves so the demo and tests have motion without a driving clip."""

from __future__ import annotations

import numpy as np

from .controls import NEUTRAL
from .motion import Motion


def _bump(t: np.ndarray, centre: float, width: float) -> np.ndarray:
    """A smooth 0→1→0 bump (raised cosine) of total width `width` seconds."""
    x = np.clip((t - centre) / (width / 2), -1.0, 1.0)
    return (0.5 + 0.5 * np.cos(np.pi * x)).astype(np.float32)


def sample_performance(seconds: float = 4.0, fps: float = 25.0) -> Motion:
    n = max(int(round(seconds * fps)), 1)
    t = np.arange(n, dtype=np.float32) / fps
    c = {k: np.full(n, v, np.float32) for k, v in NEUTRAL.items()}
    # head: a slow turn and nod, a little tilt
    c["head_yaw"] = 12.0 * np.sin(2 * np.pi * t / 4.0)
    c["head_pitch"] = 6.0 * np.sin(2 * np.pi * t / 2.7 + 0.6)
    c["head_roll"] = 4.0 * np.sin(2 * np.pi * t / 3.3)
    c["head_x"] = 0.03 * np.sin(2 * np.pi * t / 5.0)
    c["head_y"] = 0.02 * np.sin(2 * np.pi * t / 3.1)
    c["head_scale"] = 1.0 + 0.02 * np.sin(2 * np.pi * t / 4.5)
    # eyes: blinks at fixed times (0.25 s each), a glance right then up
    blink = np.zeros(n, np.float32)
    for centre in (0.8, 2.4, 3.6):
        blink = np.maximum(blink, _bump(t, centre, 0.25))
    c["eye_open_l"] = c["eye_open_r"] = 1.0 - blink
    c["gaze_x"] = 0.6 * _bump(t, 1.6, 1.0)
    c["gaze_y"] = 0.4 * _bump(t, 3.0, 0.8)
    # brows lift while talking
    c["brow_l"] = c["brow_r"] = 0.6 * _bump(t, 1.2, 1.2)
    # talking: syllables ~4 Hz in two phrases, a smile at the end, an "ooo" and an "eee"
    phrase = np.clip(_bump(t, 1.4, 2.2) + _bump(t, 3.0, 1.2), 0, 1)
    syll = 0.5 + 0.5 * np.sin(2 * np.pi * 4.0 * t - np.pi / 2)
    c["mouth_open"] = (0.7 * phrase * syll).astype(np.float32)
    c["mouth_smile"] = 0.7 * _bump(t, 3.7, 1.0)
    c["mouth_pucker"] = 0.8 * _bump(t, 0.9, 0.4)
    c["mouth_wide"] = 0.7 * _bump(t, 2.2, 0.4)
    return Motion(fps=fps, controls=c, source={"path": "built-in sample performance"},
                  calibration={"method": "synthetic"})
