"""The tracker's head swelling with an open jaw is taken out of head_scale (capture/head_size.py)."""

from __future__ import annotations

import numpy as np

from engine.capture.head_size import MAX_SLOPE, jaw_free_head_scale, jaw_swell_slope

FPS = 30.0


def _speech(n: int = 300, seed: int = 0) -> np.ndarray:
    """mouth_open of syllables: 3-8 frame openings to 0.2-0.8, closed between them."""
    rng = np.random.default_rng(seed)
    mo, i = np.zeros(n), 5
    while i < n - 10:
        length = int(rng.integers(3, 9))
        mo[i:i + length] = rng.uniform(0.2, 0.8) * np.sin(np.linspace(0, np.pi, length))
        i += length + int(rng.integers(2, 12))
    return mo


def test_swelling_with_the_jaw_is_removed_and_slow_moves_are_kept() -> None:
    mo = _speech()
    drift = 1.0 + 0.06 * np.sin(np.arange(mo.size) / 60.0)  # the actor leans in and back (~13 s)
    noise = np.random.default_rng(1).normal(0, 0.002, mo.size)
    controls = {"mouth_open": mo.astype(np.float32),
                "head_scale": (drift * np.exp(0.045 * mo + noise)).astype(np.float32)}
    slope = jaw_free_head_scale(controls, FPS)
    assert 0.035 < slope < 0.055
    # the real move is kept: what is left follows the drift, not the mouth
    left = np.log(controls["head_scale"]) - np.log(drift)
    assert abs(np.corrcoef(left, mo)[0, 1]) < 0.2
    assert np.abs(left).max() < 0.012
    assert np.corrcoef(controls["head_scale"], drift)[0, 1] > 0.98


def test_a_real_move_in_step_with_a_slow_mouth_is_not_taken_for_swelling() -> None:
    """The mouth opens once, slowly, while the head comes nearer (both over ~4 s): that is no
    jaw-locked swelling (nothing fast moves together), so the size stays."""
    t = np.arange(300) / FPS
    slow = 0.5 * (1 - np.cos(2 * np.pi * t / 8.0))
    hs = (1.0 + 0.05 * slow).astype(np.float32)
    controls = {"mouth_open": (0.6 * slow).astype(np.float32), "head_scale": hs.copy()}
    slope = jaw_free_head_scale(controls, FPS)
    assert slope < 0.01
    assert np.abs(controls["head_scale"] / hs - 1).max() < 0.006


def test_nothing_to_measure_leaves_the_curve_alone() -> None:
    hs = (1.0 + 0.01 * np.sin(np.arange(120) / 7.0)).astype(np.float32)
    still = {"mouth_open": np.zeros(120, np.float32), "head_scale": hs.copy()}  # no mouth motion
    assert jaw_free_head_scale(still, FPS) == 0.0
    np.testing.assert_array_equal(still["head_scale"], hs)
    mo = _speech(120)
    shrink = {"mouth_open": mo.astype(np.float32), "head_scale": np.exp(-0.04 * mo).astype(np.float32)}
    assert jaw_free_head_scale(shrink, FPS) == 0.0  # a size that falls with the jaw: no swelling
    huge = {"mouth_open": mo.astype(np.float32), "head_scale": np.exp(0.5 * mo).astype(np.float32)}
    assert jaw_free_head_scale(huge, FPS) == MAX_SLOPE  # capped
    bad = np.r_[hs[:-1], np.nan].astype(np.float32)
    assert jaw_swell_slope(bad, mo, FPS) == 0.0
    assert jaw_swell_slope(hs[:2], mo[:2], FPS) == 0.0
    assert jaw_free_head_scale({"mouth_open": mo}, FPS) == 0.0  # no head_scale (a voice)
