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
