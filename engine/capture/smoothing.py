"""One Euro filter (Casiez et al., CHI 2012) for jitter reduction of control curves.

Per sample: cutoff = min_cutoff + beta * |d(x)/dt| (speed smoothed at d_cutoff Hz); x is then
low-passed with that cutoff. Slow motion -> low cutoff (little jitter); fast motion -> high
cutoff (little lag). ``strength`` 0..1 maps to the parameters: 0 = off, 1 = strong.

The filter is causal, so its output trails the input (a blink's minimum lands a frame or two
late at 0.5). When the whole series is known (a video file, a finished take) ``zero_phase``
runs it forward and backward and averages the two: the backward pass trails by as much as the
forward one leads, so the lags cancel while the jitter reduction stays at the same level.
A live stream, whose future is unknown, must use the causal filter.
"""

from __future__ import annotations

import math

import numpy as np

from ..errors import EngineError

#: the eyes and the mouth cross their whole range within a few frames (a blink, a syllable: 5-15
#: control units per second), far faster than the head moves. With the head's beta their cutoff
#: hardly rose, so the filter cut those events' extremes (zero-phase at 0.5: mouth peaks 0.08,
#: blink minima 0.14 too shallow, median over the shared clips' events). Their beta is this many
#: times the head's: such speeds open the cutoff to 15-40 Hz (nearly unfiltered), while on still
#: stretches (speed well under 1 per second after the 1 Hz derivative filter) the cutoff stays
#: near min_cutoff (the still jitter share 0.27-0.44 -> 0.32-0.45)
EXPRESSION_BETA = 8.0
EXPRESSION = ("eye_open_l", "eye_open_r", "mouth_open", "mouth_smile", "mouth_wide", "mouth_pucker")


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
    return _one_euro64(np.asarray(x, dtype=np.float64), fps, min_cutoff, beta, d_cutoff).astype(np.float32)


def one_euro_zero_phase(x: np.ndarray, fps: float, min_cutoff: float, beta: float,
                        d_cutoff: float = 1.0) -> np.ndarray:
    """The mean of the One Euro filter run forward and run backward over the whole series: the
    two passes' lags are equal and opposite, so the result has none (a symmetric input gives a
    symmetric output). Offline only: every sample depends on the future too. float32 out."""
    x = np.asarray(x, dtype=np.float64)
    forward = _one_euro64(x, fps, min_cutoff, beta, d_cutoff)
    backward = _one_euro64(x[::-1], fps, min_cutoff, beta, d_cutoff)[::-1]
    return (0.5 * (forward + backward)).astype(np.float32)


def _one_euro64(x: np.ndarray, fps: float, min_cutoff: float, beta: float, d_cutoff: float) -> np.ndarray:
    out = np.empty_like(x)
    if x.size == 0:
        return out
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
    return out


def smooth_series(x: np.ndarray, fps: float, p: dict, beta: float | None = None) -> np.ndarray:
    """One series filtered as the description ``p`` (from ``one_euro_params``, plus
    ``zero_phase``) says; ``beta`` overrides p's (angles scale it)."""
    run = one_euro_zero_phase if p.get("zero_phase") else one_euro
    return run(x, fps, p["min_cutoff"], p["beta"] if beta is None else beta, p["d_cutoff"])


def smooth_controls(controls: dict[str, np.ndarray], fps: float, strength: float,
                    zero_phase: bool = False) -> tuple[dict[str, np.ndarray], dict]:
    """Apply the One Euro filter to every control; returns (filtered, filter description).
    ``zero_phase``: the offline forward-backward form (recorded as ``"zero_phase": true``)."""
    p = one_euro_params(strength)
    if p["name"] == "none":
        return {k: np.asarray(v, np.float32) for k, v in controls.items()}, p
    if zero_phase:
        p["zero_phase"] = True
    p["beta_expression"] = round(p["beta"] * EXPRESSION_BETA, 4)
    out = {}
    for k, v in controls.items():
        # angles vary in degrees: scale beta so that it acts on comparable speeds
        angle = k in ("head_yaw", "head_pitch", "head_roll")
        beta = p["beta_expression"] if k in EXPRESSION else p["beta"] / (30.0 if angle else 1.0)
        out[k] = smooth_series(v, fps, p, beta)
    return out, p
