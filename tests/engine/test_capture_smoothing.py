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
