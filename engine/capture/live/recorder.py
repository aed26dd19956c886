"""Time-stamped samples -> one Motion at a chosen frame rate.

Samples arrive unevenly (network jitter, tracking that drops frames); the take is keyed by time:
frame k is the performance at t0 + k / fps, interpolated from the samples around it, so nothing
is shifted, dropped or doubled when the source is slow. Frames with no sample within
``MAX_GAP_S`` are flagged untracked (interpolated across), as lost faces are in video capture.
Calibration and the mapping to controls are video capture's own (expression.py).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ...controls import CONTROL_NAMES
from ...motion import Motion
from ..expression import RAW_NAMES, controls_from_raw, neutrality, raw_from_blendshapes
from ..head_size import jaw_free_head_scale
from ..smoothing import smooth_controls
from .packets import ARKIT_NAMES
from .samples import LiveError, Sample

MAX_GAP_S = 0.25


def frame_times(t0: float, t1: float, fps: float) -> np.ndarray:
    """The even time grid of a take from t0 to t1 (both included when on the grid)."""
    n = int(np.floor((t1 - t0) * fps + 1e-6)) + 1
    return t0 + np.arange(n) / fps


def record(samples: list[Sample], fps: float, names: list[str], *, smoothing: float = 0.0,
           source: dict[str, Any] | None = None, t0: float | None = None, t1: float | None = None,
           neutral: np.ndarray | None = None) -> Motion:
    """The Motion of ``samples`` (in arrival order) on an even grid at ``fps``.

    The grid runs from ``t0`` to ``t1`` (default: the first and last sample): Blender's Record
    anchors frame 0 at the moment the take starts on the timeline, not at the first packet.
    ``neutral``: a raw row to calibrate against (the phone apps' rest pose, so punch-ins of one
    take share one calibration); default the take's most neutral frame, as video capture."""
    if not samples:
        raise LiveError("nothing was recorded (no samples arrived)")
    samples = sorted(samples, key=lambda s: s.t)
    t = np.array([s.t for s in samples])
    seen = np.array([s.raw is not None for s in samples])
    if not seen.any():
        raise LiveError(f"no face was seen in the {len(samples)} samples recorded; face the camera")
    start = float(t[0]) if t0 is None else float(t0)
    stop = float(t[-1]) if t1 is None else float(t1)
    if stop < start:
        raise LiveError("the take ends before it starts (no time was recorded)")
    grid = frame_times(start, stop, fps)
    good = np.flatnonzero(seen)
    raw_good = np.stack([samples[i].raw for i in good])
    raw = np.stack([np.interp(grid, t[good], raw_good[:, j]) for j in range(len(RAW_NAMES))], axis=1)
    blend_src = np.stack([s.blendshapes for s in samples]).astype(np.float64)
    blends = np.stack([np.interp(grid, t, blend_src[:, j]) for j in range(blend_src.shape[1])], axis=1)
    # a frame is tracked when a sample with a face lies within MAX_GAP_S of it
    pos = np.clip(np.searchsorted(t[good], grid), 0, good.size - 1)
    prev = np.clip(pos - 1, 0, good.size - 1)
    gap = np.minimum(np.abs(t[good][pos] - grid), np.abs(t[good][prev] - grid))
    tracked = gap <= MAX_GAP_S
    if neutral is None:
        scores = neutrality(raw)
        scores[~tracked] = np.inf
        cal = int(np.argmin(scores))
        ctl = controls_from_raw(raw, raw[cal])
        calibration = {"frame": cal, "method": "auto_most_neutral"}
    else:
        ctl = controls_from_raw(raw, np.asarray(neutral, np.float64))
        calibration = {"method": "rest_pose"}
    controls = {name: ctl[:, k].astype(np.float32) for k, name in enumerate(CONTROL_NAMES)}
    # the take is over when it is recorded: every sample is known, so the filter is zero-phase
    # as a video file's (the preview, LiveControls, has no filter and never looks ahead)
    controls, filt = smooth_controls(controls, fps, smoothing, zero_phase=True)
    # a camera's tracker swells the head with an open jaw as a file's does (capture/head_size.py)
    calibration["head_scale_jaw_swell"] = jaw_free_head_scale(controls, fps, tracked)
    src = {"kind": "live", "samples": len(samples), "seconds": round(float(t[-1] - t[0]), 6)}
    src.update(source or {})
    return Motion(fps=fps, controls=controls, confidence=tracked.astype(np.float32), tracked=tracked,
                  blendshapes=blends.astype(np.float32), blendshape_names=list(names), source=src,
                  calibration=calibration, filter=filt)


def rest_pose(names: list[str]) -> np.ndarray | None:
    """The raw row of the phone apps' rest pose (every score 0, head straight), or None for a
    camera (whose neutral is the actor's own face)."""
    if list(names) != list(ARKIT_NAMES):
        return None
    return raw_from_blendshapes(ARKIT_NAMES, np.zeros(52), 0.0, 0.0, 0.0)


class LiveControls:
    """Controls of one sample at a time, for a preview (no take, no smoothing). The neutral is
    the phone apps' rest pose (all scores 0, head straight) for ARKit sources, and for a camera
    the first face seen until ``calibrate`` is called with a sample of the actor at rest."""

    def __init__(self, names: list[str]):
        self._neutral = rest_pose(names)

    @property
    def neutral(self) -> np.ndarray | None:
        return self._neutral

    def calibrate(self, sample: Sample) -> None:
        if sample.raw is not None:
            self._neutral = sample.raw

    def controls(self, sample: Sample) -> dict[str, float] | None:
        """The 16 controls of ``sample``, or None when it holds no face."""
        if sample.raw is None:
            return None
        if self._neutral is None:
            self._neutral = sample.raw
        row = controls_from_raw(sample.raw, self._neutral)[0]
        return {name: float(row[k]) for k, name in enumerate(CONTROL_NAMES)}
