"""The live preview's pixel hand-off: the fast byte -> float conversion gives exactly the values
of the plain float arithmetic (flip, / 255, alpha 1), on a real portrait and on odd inputs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from engine.capture.live.preview import to_blender_rgba
from engine.media.images import load_image

SHARED = Path(__file__).resolve().parents[2].parent / "shared"
PORTRAIT = SHARED / "testdata" / "portraits" / "photo_woman.jpg"


def reference(rgb: np.ndarray) -> np.ndarray:
    """Blender's layout spelled out: bottom row first, value / 255 in float32, opaque."""
    out = np.ones(rgb.shape[:2] + (4,), np.float32)
    out[:, :, :3] = (rgb[::-1].astype(np.float64) / 255.0).astype(np.float32)
    return out


def images() -> list[np.ndarray]:
    rng = np.random.default_rng(7)
    every = np.arange(256, dtype=np.uint8).repeat(3).reshape(16, 16, 3)  # every byte value
    odd = rng.integers(0, 256, (37, 53, 3), dtype=np.uint8)
    found = [every, odd, odd[:, ::2]]  # the last one is not contiguous
    if PORTRAIT.is_file():
        found.append(load_image(PORTRAIT))
    return found


@pytest.mark.parametrize("k", range(4))
def test_blender_pixels_equal_the_float_arithmetic(k):
    found = images()
    if k >= len(found):
        pytest.skip("shared portrait not present")
    rgb = found[k]
    out = to_blender_rgba(rgb)
    assert out.dtype == np.float32 and out.shape == rgb.shape[:2] + (4,)
    assert np.array_equal(out, reference(rgb))
    assert out[0, 0, 0] == np.float32(rgb[-1, 0, 0] / 255.0)  # bottom row first
    assert np.all(out[:, :, 3] == 1.0)


def test_one_blas_thread_renders_the_same_frames_and_is_restored():
    """The preview runs numpy's OpenBLAS on one thread (blas_threads.py); its frames must be the
    built-in renderer's frames, bit for bit, and the thread count comes back afterwards."""
    import math

    from engine import blas_threads
    from engine.render.base import create_renderer

    if blas_threads.get() is None:
        pytest.skip("numpy here is not built on an OpenBLAS that blas_threads finds")
    if not PORTRAIT.is_file():
        pytest.skip("shared portrait not present")
    renderer = create_renderer("builtin", device="cpu")
    renderer.prepare(load_image(PORTRAIT))
    controls = [{"head_yaw": 0.4 * math.sin(i), "mouth_open": 0.5 + 0.5 * math.sin(2 * i),
                 "eye_open_l": 0.5 + 0.5 * math.cos(i), "gaze_x": 0.4 * math.sin(3 * i)} for i in range(6)]
    before = blas_threads.limit(2)
    try:
        two = [renderer.render_frame(c) for c in controls]
        assert blas_threads.limit(1) == 2 and blas_threads.get() == 1
        one = [renderer.render_frame(c) for c in controls]
    finally:
        blas_threads.limit(before)
    assert blas_threads.get() == before
    assert all(np.array_equal(a, b) for a, b in zip(two, one, strict=True))
    assert any(not np.array_equal(two[0], f) for f in two[1:])  # the controls did move the face


def test_a_sample_arriving_as_the_worker_starts_waiting_wakes_it():
    """The preview worker waits for the next sample; one that arrives right between its check and
    its wait must wake it at once, not after the whole timeout (a late hand-off)."""
    import threading
    import time

    from engine.capture.live.samples import Sample, SampleBuffer

    buf = SampleBuffer()
    check = buf.newest
    calls = []

    def newest_then_arrival():  # the first check finds nothing, and a sample arrives just then
        found = check()
        if not calls:
            calls.append(1)
            adder = threading.Thread(target=buf.add, args=(Sample(1.0, None, np.zeros(52, np.float32)),))
            adder.start()
            adder.join(0.2)  # (blocks until the waiter waits, when the check holds the condition)
        return found

    buf.newest = newest_then_arrival
    t0 = time.monotonic()
    sample = buf.wait_newest(2.0)
    assert sample is not None and sample.t == 1.0
    assert time.monotonic() - t0 < 1.0
