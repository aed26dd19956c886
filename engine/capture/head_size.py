"""Head size curve -> the same curve without the face tracker's swelling with an open jaw.

``head_scale`` is the neutral's head distance over each frame's, from MediaPipe's fitted pose.
That fit is not jaw-free: its whole mesh (cheeks, eye corners, the pose's distance) grows as
the jaw opens, while the pixels do not (d18: the eye band, registered frame to frame, widens
0.5 % per unit of ``mouth_open``, the fitted head's size 5.4 %). Left in, every syllable
swelled the rendered head, the face outline and collar moved, and a portrait that is a frame
with an open mouth was rendered 1-5 % too large at its own frame (self-reenactment on d18: the
"O" event lost 2.5 dB to the static frame in the mouth box).

A head does not move toward the camera in step with every syllable, so the swelling is what of
the size's *fast* changes follows the mouth's: the least-squares slope of the log size on
``mouth_open``, both high-passed (their one-second running mean taken out, which keeps real
slow moves toward or away from the camera out of the estimate). That slope varies with the
face (as captured from the shared clips: d18 0.041, tps 0.035, d3 0.024, lp_d6 0.010, lp_d10
0.002), so it is measured per capture, kept only when positive, at most ``MAX_SLOPE``, and only
when the mouth moved enough to measure it; the curve is then divided by exp(slope x mouth_open),
which is 1 at the neutral (mouth_open 0).
"""

from __future__ import annotations

import numpy as np

#: seconds of the running mean taken out of both curves before the slope is fitted
HIGH_PASS_S = 1.0
#: the mouth must move at least this much (std of its high-passed curve) for a slope to be read
MIN_MOUTH_MOTION = 0.03
#: no tracker swelling beyond this (log size per unit of mouth_open); shared clips: 0-0.05
MAX_SLOPE = 0.08


def _high_pass(x: np.ndarray, window: int) -> np.ndarray:
    pad = window // 2
    padded = np.pad(x, pad, mode="reflect") if x.size > pad else np.pad(x, pad, mode="edge")
    mean = np.convolve(padded, np.full(window, 1.0 / window), mode="valid")
    return x - mean[: x.size]


def jaw_swell_slope(head_scale: np.ndarray, mouth_open: np.ndarray, fps: float,
                    tracked: np.ndarray | None = None) -> float:
    """The tracker's swelling: log head size per unit of mouth_open (0 when not measurable)."""
    hs = np.asarray(head_scale, np.float64)
    mo = np.asarray(mouth_open, np.float64)
    if hs.size < 3 or hs.shape != mo.shape or not (np.isfinite(hs).all() and np.isfinite(mo).all()):
        return 0.0
    if (hs <= 0).any() or not np.isfinite(fps) or fps <= 0:
        return 0.0
    window = max(3, int(round(HIGH_PASS_S * fps)) | 1)
    a, b = _high_pass(mo, window), _high_pass(np.log(hs), window)
    if tracked is not None:  # frames without a face are interpolated: no evidence in them
        keep = np.asarray(tracked, bool)
        a, b = a[keep], b[keep]
    if a.size < 3 or float(a.std()) < MIN_MOUTH_MOTION:
        return 0.0
    slope = float((a * b).sum() / float((a * a).sum()))
    return float(np.clip(slope, 0.0, MAX_SLOPE))


def remove_jaw_swell(head_scale: np.ndarray, mouth_open: np.ndarray, slope: float) -> np.ndarray:
    """``head_scale`` with ``slope`` x mouth_open taken out of its log (float32)."""
    hs = np.asarray(head_scale, np.float64)
    mo = np.maximum(np.asarray(mouth_open, np.float64), 0.0)
    return (hs * np.exp(-float(slope) * mo)).astype(np.float32)


def jaw_free_head_scale(controls: dict[str, np.ndarray], fps: float,
                        tracked: np.ndarray | None = None) -> float:
    """Take the tracker's swelling out of ``controls["head_scale"]`` in place (capture of a
    file, a recorded live take); returns the slope removed (recorded as
    ``calibration.head_scale_jaw_swell``; 0: nothing measured, the curve is unchanged)."""
    if "head_scale" not in controls or "mouth_open" not in controls:
        return 0.0
    slope = jaw_swell_slope(controls["head_scale"], controls["mouth_open"], fps, tracked)
    if slope > 0:
        controls["head_scale"] = remove_jaw_swell(controls["head_scale"], controls["mouth_open"], slope)
    return round(slope, 5)
