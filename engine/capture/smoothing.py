"""One Euro filter (Casiez et al., CHI 2012) for jitter reduction of control curves.

Per sample: cutoff = min_cutoff + beta * |d(x)/dt| (speed smoothed at d_cutoff Hz); x is then
low-passed with that cutoff. Slow motion -> low cutoff (little jitter); fast motion -> high
cutoff (little lag). ``strength`` 0..1 maps to the parameters: 0 = off, 1 = strong.
"""

from __future__ import annotations

import math

import numpy as np

from ..errors import EngineError


def one_euro_params(strength: float) -> dict[str, float]:
    """Filter parameters for a user strength in [0, 1] (0 disables the filter)."""
    if not math.isfinite(float(strength)):
        raise EngineError(f"smoothing must be a number between 0 and 1, got {strength!r}")
    s = min(max(float(strength), 0.0), 1.0)
    # min_cutoff from 8 Hz (light) down to 0.8 Hz (strong), beta falls as strength rises.
    min_cutoff = 8.0 * (0.1 ** s)
    return {"name": "one_euro" if s > 0 else "none", "strength": s,
            "min_cutoff": round(min_cutoff, 4), "beta": round(0.5 * (1.0 - 0.8 * s), 4), "d_cutoff": 1.0}


def _alpha(cutoff: float, dt: float) -> float:
    tau = 1.0 / (2.0 * math.pi * cutoff)
    return 1.0 / (1.0 + tau / dt)


def one_euro(x: np.ndarray, fps: float, min_cutoff: float, beta: float, d_cutoff: float = 1.0) -> np.ndarray:
    """Filter a 1-D series sampled at ``fps``; returns float32 of the same length."""
    x = np.asarray(x, dtype=np.float64)
    out = np.empty_like(x)
    if x.size == 0:
        return out.astype(np.float32)
    dt = 1.0 / float(fps)
    out[0] = x[0]
    dx_prev = 0.0
    a_d = _alpha(d_cutoff, dt)
    for i in range(1, x.size):
        dx = (x[i] - out[i - 1]) / dt
        dx_hat = a_d * dx + (1 - a_d) * dx_prev
        dx_prev = dx_hat
        a = _alpha(min_cutoff + beta * abs(dx_hat), dt)
        out[i] = a * x[i] + (1 - a) * out[i - 1]
    return out.astype(np.float32)


def smooth_controls(controls: dict[str, np.ndarray], fps: float,
                    strength: float) -> tuple[dict[str, np.ndarray], dict]:
    """Apply the One Euro filter to every control; returns (filtered, filter description)."""
    p = one_euro_params(strength)
    if p["name"] == "none":
        return {k: np.asarray(v, np.float32) for k, v in controls.items()}, p
    # angles vary in degrees: scale beta so that it acts on comparable speeds
    out = {}
    for k, v in controls.items():
        angle = k in ("head_yaw", "head_pitch", "head_roll")
        beta = p["beta"] / (30.0 if angle else 1.0)
        out[k] = one_euro(v, fps, p["min_cutoff"], beta, p["d_cutoff"])
    return out, p
