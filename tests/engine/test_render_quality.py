"""Built-in renderer quality on the shared media (testdata/MANIFEST.md events).

* control fidelity: drive every shared portrait (photo, two paintings, 3D cartoon, anime) with
  real captured curves, re-capture the rendered video, and require Pearson >= 0.8 between the
  driving and the re-captured mouth_open / eye_open_l / eye_open_r;
* self-reenactment: portrait = frame 0 of a driving clip, controls captured from that clip
  (calibrated on frame 0); over the MANIFEST event frames the rendered frames must be closer to
  the real frames than the static frame 0 is, in PSNR and in SSIM, inside the face box;
* stability: constant controls give identical frames through the whole pipeline.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from engine.capture import capture
from engine.media.video import VideoReader, load_image
from engine.motion import Motion
from engine.pipeline import render_motion
from engine.render.base import create_renderer

ROOT = Path(__file__).resolve().parents[2]
TESTDATA = ROOT.parent / "shared" / "testdata"
DRIVING, PORTRAITS = TESTDATA / "driving", TESTDATA / "portraits"
pytestmark = pytest.mark.skipif(not DRIVING.is_dir() or not PORTRAITS.is_dir(),
                                reason="../shared/testdata not present")

# MANIFEST events (end exclusive): blinks, mouth openings; d3 also turns its head throughout.
EVENTS = {
    "d1_single_blink.mp4": [(4, 14)],
    "d18_mouth_open.mp4": [(19, 41), (64, 98), (119, 156)],
    "d3_expressive_turns.mp4": [(48, 53), (57, 63), (103, 136), (138, 161), (216, 256), (300, 354)],
    "tps_interview.mp4": [(20, 25), (58, 64), (86, 90), (91, 99), (107, 109), (149, 157)],
}


@pytest.fixture(scope="module")
def driving_motion() -> Motion:
    """Real curves with mouth openings and blinks: d18 60-100 (mouth 64-96, blink 94-97),
    d3 44-66 (blinks 48-52, 57-62), tps 84-100 (mouth 86-89, blink 91-98)."""
    parts = [capture(DRIVING / "d18_mouth_open.mp4", start=60, stop=100),
             capture(DRIVING / "d3_expressive_turns.mp4", start=44, stop=66),
             capture(DRIVING / "tps_interview.mp4", start=84, stop=100)]
    return Motion.from_array(np.concatenate([m.to_array() for m in parts]), fps=25.0)


@pytest.mark.parametrize("portrait", ["photo_woman.jpg", "mona_lisa.jpg", "pearl_earring.jpg",
                                      "cartoon_3d.jpg", "anime.png"])
def test_recaptured_render_follows_the_driving_curves(portrait: str, driving_motion: Motion,
                                                       tmp_path: Path) -> None:
    video = render_motion("builtin", PORTRAITS / portrait, driving_motion, tmp_path / "r.mp4", device="cpu")
    again = capture(video, smoothing=0.0)
    assert again.frame_count == driving_motion.frame_count and again.tracked.all()
    for name in ("mouth_open", "eye_open_l", "eye_open_r"):
        drive = driving_motion.controls[name]
        assert drive.std() > 0.1  # the driving curve really moves
        r = float(np.corrcoef(drive, again.controls[name])[0, 1])
        assert r >= 0.8, f"{portrait}: {name} Pearson {r:.2f}"


def _ssim(a: np.ndarray, b: np.ndarray) -> float:
    import cv2

    a = cv2.cvtColor(a, cv2.COLOR_RGB2GRAY).astype(np.float64)
    b = cv2.cvtColor(b, cv2.COLOR_RGB2GRAY).astype(np.float64)
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2

    def g(x: np.ndarray) -> np.ndarray:
        return cv2.GaussianBlur(x, (11, 11), 1.5)

    ma, mb = g(a), g(b)
    va, vb, cab = g(a * a) - ma * ma, g(b * b) - mb * mb, g(a * b) - ma * mb
    return float((((2 * ma * mb + c1) * (2 * cab + c2)) / ((ma * ma + mb * mb + c1) * (va + vb + c2))).mean())


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(((a.astype(np.float64) - b) ** 2).mean())
    return 10 * np.log10(255.0 ** 2 / max(mse, 1e-9))


@pytest.mark.parametrize("clip", ["d1_single_blink.mp4", "d18_mouth_open.mp4", "d3_expressive_turns.mp4",
                                  "tps_interview.mp4"])
def test_self_reenactment_beats_the_static_frame(clip: str) -> None:
    events = EVENTS[clip]
    stop = max(b for _, b in events)
    motion = capture(DRIVING / clip, stop=stop, calibration_frame=0)
    wanted = {i for a, b in events for i in range(a, b)}
    with VideoReader(DRIVING / clip) as reader:
        frames = {i: f for i, _, f in reader.frames(0, stop) if i in wanted or i == 0}
    first = frames[0]
    r = create_renderer("builtin", device="cpu")
    r.prepare(first)
    lm = r.fit.landmarks[:, :2]
    (x0, y0), (x1, y1) = lm.min(0), lm.max(0)
    pad = 0.1 * (x1 - x0)
    h, w = first.shape[:2]
    box = np.s_[int(max(y0 - pad, 0)):int(min(y1 + pad, h)), int(max(x0 - pad, 0)):int(min(x1 + pad, w))]
    scores = []
    for i in sorted(wanted):
        real = frames[i][box]
        out = r.render_frame(motion.frame(i))[box]
        scores.append((_psnr(out, real), _psnr(first[box], real), _ssim(out, real), _ssim(first[box], real)))
    psnr_r, psnr_s, ssim_r, ssim_s = np.array(scores).mean(axis=0)
    assert psnr_r > psnr_s, f"{clip}: PSNR render {psnr_r:.2f} dB <= static {psnr_s:.2f} dB"
    assert ssim_r > ssim_s, f"{clip}: SSIM render {ssim_r:.4f} <= static {ssim_s:.4f}"


def test_constant_controls_give_identical_frames(tmp_path: Path) -> None:
    c = {"head_yaw": -8.0, "head_pitch": 4.0, "mouth_open": 0.45, "eye_open_l": 0.6, "eye_open_r": 0.6,
         "mouth_smile": 0.4, "gaze_x": 0.3, "brow_l": 0.5}
    motion = Motion.neutral(8)
    for k, v in c.items():
        motion.controls[k][:] = v
    out = render_motion("builtin", PORTRAITS / "anime.png", motion, tmp_path / "f", device="cpu")
    frames = [load_image(p) for p in sorted(out.iterdir())]
    assert len(frames) == 8
    assert all(np.array_equal(f, frames[0]) for f in frames[1:])
    assert not np.array_equal(frames[0], load_image(PORTRAITS / "anime.png"))
