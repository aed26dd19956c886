"""One Euro filter: off at strength 0, reduces jitter more as strength rises, follows steps."""

from __future__ import annotations

import numpy as np

from engine.capture.smoothing import one_euro_params, smooth_controls


def test_strength_zero_is_identity_and_jitter_falls_with_strength() -> None:
    rng = np.random.default_rng(0)
    noisy = (np.sin(np.arange(300) / 20) + rng.normal(0, 0.1, 300)).astype(np.float32)
    out0, p0 = smooth_controls({"mouth_open": noisy}, 30, 0.0)
    assert p0["name"] == "none"
    np.testing.assert_array_equal(out0["mouth_open"], noisy)
    jitter = []
    for s in (0.2, 0.5, 1.0):
        out, _ = smooth_controls({"mouth_open": noisy}, 30, s)
        jitter.append(float(np.abs(np.diff(out["mouth_open"], 2)).mean()))
    assert jitter[0] > jitter[1] > jitter[2]
    assert jitter[0] < float(np.abs(np.diff(noisy, 2)).mean())


def test_step_is_followed_and_params_monotone() -> None:
    step = np.r_[np.zeros(30), np.ones(60)].astype(np.float32)
    out, _ = smooth_controls({"eye_open_l": step}, 30, 0.5)
    assert out["eye_open_l"][-1] > 0.98 and out["eye_open_l"][29] == 0
    assert one_euro_params(0.2)["min_cutoff"] > one_euro_params(0.8)["min_cutoff"]


def _lag(smoothed: np.ndarray, raw: np.ndarray, max_lag: int = 6) -> int:
    """Shift (frames, > 0 = smoothed trails) where the cross-correlation peaks."""
    a, b = raw - raw.mean(), smoothed - smoothed.mean()
    n = a.size
    scores = [float(np.dot(a[max(0, -s):n - max(0, s)], b[max(0, s):n - max(0, -s)]))
              for s in range(-max_lag, max_lag + 1)]
    return int(np.argmax(scores)) - max_lag


def test_zero_phase_pulse_is_symmetric_and_on_time() -> None:
    """A 3-frame pulse (a short blink or jaw drop): the causal filter's peak lands late, the
    zero-phase one's on the pulse, and a symmetric input gives a symmetric output."""
    pulse = np.zeros(101, np.float32)
    pulse[49:52] = 1.0
    causal, p_causal = smooth_controls({"mouth_open": pulse}, 30, 0.5)
    zero, p_zero = smooth_controls({"mouth_open": pulse}, 30, 0.5, zero_phase=True)
    assert int(np.argmax(causal["mouth_open"])) > 50  # the lag this fixes (lands at 51)
    assert int(np.argmax(zero["mouth_open"])) == 50
    np.testing.assert_allclose(zero["mouth_open"], zero["mouth_open"][::-1], atol=1e-6)
    assert p_zero["zero_phase"] is True and "zero_phase" not in p_causal  # old files: causal
    assert {k: v for k, v in p_zero.items() if k != "zero_phase"} == p_causal  # same parameters


def test_zero_phase_step_crosses_half_at_the_step() -> None:
    """A step 0 -> 1 between frames 29 and 30: the zero-phase output is antisymmetric about it
    (x[i] + x[n-1-i] = 1) and crosses 0.5 there; the causal one crosses frames later."""
    step = np.r_[np.zeros(30), np.ones(30)].astype(np.float32)
    # a head control: the expression controls' faster beta crosses half within the step's frame
    zero, _ = smooth_controls({"head_y": step}, 30, 0.5, zero_phase=True)
    causal, _ = smooth_controls({"head_y": step}, 30, 0.5)
    z, c = zero["head_y"], causal["head_y"]
    np.testing.assert_allclose(z + z[::-1], 1.0, atol=1e-6)
    assert z[29] < 0.5 < z[30]
    assert c[30] < 0.5  # causal: still below half one frame after the step


def test_zero_phase_keeps_the_jitter_reduction_without_lag() -> None:
    rng = np.random.default_rng(1)
    clean = np.sin(np.arange(600) / 15)
    noisy = (clean + rng.normal(0, 0.05, 600)).astype(np.float32)
    jitter = {}
    for zp in (False, True):
        out, _ = smooth_controls({"brow_l": noisy}, 30, 0.5, zero_phase=zp)
        y = out["brow_l"].astype(np.float64)
        jitter[zp] = float(np.median(np.abs(np.diff(y, 2))))
        assert _lag(y, clean) == (0 if zp else 1)
    raw = float(np.median(np.abs(np.diff(noisy, 2))))
    assert jitter[True] < 0.5 * raw
    assert 0.7 < jitter[True] / jitter[False] < 1.3, jitter  # same level as the causal filter


def test_short_blinks_and_syllables_keep_their_extremes_and_still_jitter_is_still_cut() -> None:
    """The eyes and the mouth cross their range in a few frames: a 3-frame jaw drop to 0.6 and a
    3-frame blink to 0.05 keep most of their extreme (with the head's beta the zero-phase filter
    left 0.41 and 0.31), the head's controls are filtered as before, and a still but noisy
    expression control keeps its jitter reduction."""
    pulse = np.zeros(101, np.float32)
    pulse[49:52] = 0.6
    blink = np.ones(101, np.float32)
    blink[49:52] = 0.05
    rng = np.random.default_rng(3)
    still = (0.2 + rng.normal(0, 0.015, 300)).astype(np.float32)
    out, p = smooth_controls({"mouth_open": pulse, "eye_open_l": blink, "mouth_wide": still,
                              "head_x": pulse}, 30, 0.5, zero_phase=True)
    assert out["mouth_open"].max() > 0.5
    assert out["eye_open_l"].min() < 0.15
    assert out["head_x"].max() < 0.45  # the head keeps its (slower) filter
    assert p["beta_expression"] > p["beta"]
    jitter = np.median(np.abs(np.diff(out["mouth_wide"].astype(np.float64), 2)))
    assert jitter < 0.3 * np.median(np.abs(np.diff(still.astype(np.float64), 2)))
