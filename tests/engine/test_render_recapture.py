"""The built-in renderer's mouth opening read back by capture (issue 20).

Render ``mouth_open`` = c (every other control neutral) on closed-mouth portraits, run the face
tracker on each rendered frame and read it back the way capture does (raw measures calibrated
on the c = 0 render, as capture calibrates on the clip's most neutral frame). Over c 0.2-0.8 the
re-captured value must follow the curve: slope 0.8-1.25, rising at every step, and within 0.15
of c at 0.6. (Past ~0.8 the tracker reads at most ~0.24 face widths of a rendered gap whatever
its size, so the read-back flattens there: benchmarks/calib_mouth_open.py, docs/builtin_renderer.md.)
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from engine.capture.expression import controls_from_raw, raw_measures
from engine.controls import CONTROL_NAMES
from engine.face_tracker import FaceTracker, portrait_face
from engine.media.video import VideoReader, load_image
from engine.render.base import create_renderer

ROOT = Path(__file__).resolve().parents[2]
TESTDATA = ROOT.parent / "shared" / "testdata"
pytestmark = pytest.mark.skipif(not TESTDATA.is_dir(), reason="../shared/testdata not present")
LEVELS = (0.0, 0.2, 0.4, 0.6, 0.8)


def _portrait(which: str) -> np.ndarray:
    if which.endswith((".jpg", ".png")):
        return load_image(TESTDATA / "portraits" / which)
    with VideoReader(TESTDATA / "driving" / which) as reader:  # a clip's closed-mouth frame 0
        return next(f for _, _, f in reader.frames(0, 1))


@pytest.mark.parametrize("which", ["photo_woman.jpg", "cartoon_3d.jpg", "d18_mouth_open.mp4",
                                   "lp_d10_talk.mp4"])
def test_recaptured_mouth_open_follows_the_curve(which: str) -> None:
    img = _portrait(which)
    r = create_renderer("builtin", device="cpu")
    r.prepare(img)
    h, w = img.shape[:2]
    rows = []
    with FaceTracker(video=False) as tracker:
        for c in LEVELS:
            obs = portrait_face(tracker.detect(r.render_frame({"mouth_open": c})), (w, h), None)
            assert obs is not None, f"{which}: the tracker lost the render at mouth_open {c}"
            rows.append(raw_measures(obs))
    raw = np.array(rows)
    again = controls_from_raw(raw, raw[0])[:, CONTROL_NAMES.index("mouth_open")]
    cs = np.array(LEVELS)
    slope = float(np.polyfit(cs[1:], again[1:], 1)[0])
    assert 0.8 <= slope <= 1.25, f"{which}: re-captured / curve slope {slope:.2f} ({np.round(again, 2)})"
    assert np.all(np.diff(again[1:]) > 0), f"{which}: read-back not rising {np.round(again, 2)}"
    assert abs(again[3] - 0.6) <= 0.15, f"{which}: mouth_open 0.6 read back as {again[3]:.2f}"
