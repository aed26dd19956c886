"""Capture on the shared driving clips (events from testdata/MANIFEST.md) and bad inputs."""

from __future__ import annotations

import math
import shutil
import subprocess
import sys
import wave
from pathlib import Path

import numpy as np
import pytest

from engine.capture import CaptureError, capture
from engine.errors import EngineError
from engine.motion import Motion

ROOT = Path(__file__).resolve().parents[2]
DRIVING = ROOT.parent / "shared" / "testdata" / "driving"
needs_clips = pytest.mark.skipif(not DRIVING.is_dir(), reason="../shared/testdata/driving not present")


@pytest.fixture(scope="module")
def d1() -> Motion:
    return capture(DRIVING / "d1_single_blink.mp4")


@needs_clips
def test_d1_blink_closes_eyes_4_to_13(d1: Motion) -> None:
    eyes = (d1.controls["eye_open_l"] + d1.controls["eye_open_r"]) / 2
    assert d1.frame_count == 16 and d1.tracked.all()
    # open before the blink; frame 2 (unsmoothed 0.98, 0.88 at 3) is left out: the zero-phase
    # filter spreads the onset over the frames before it (0.83 at 2), as the causal one spread it
    # over the frames after (0.57 at 4, unsmoothed 0.12)
    assert eyes[:2].min() > 0.85
    assert eyes[6:11].max() < 0.4  # closed in the middle of 4-13
    assert d1.controls["mouth_open"].max() < 0.15  # no mouth


@needs_clips
def test_d1_motion_metadata_and_roundtrip(d1: Motion, tmp_path: Path) -> None:
    assert d1.fps == pytest.approx(30, abs=0.5)
    assert len(d1.source["sha256"]) == 64 and d1.source["width"] == 512
    assert d1.blendshapes.shape == (16, 52) and "jawOpen" in d1.blendshape_names
    assert d1.filter["name"] == "one_euro"
    back = Motion.load(d1.save(tmp_path / "m.json"))
    np.testing.assert_allclose(back.controls["eye_open_l"], d1.controls["eye_open_l"], atol=1e-4)


@needs_clips
def test_cli_capture_plot_and_overwrite(tmp_path: Path) -> None:
    out, png = tmp_path / "m.json", tmp_path / "c.png"
    cmd = [sys.executable, "-m", "engine", "capture", str(DRIVING / "d1_single_blink.mp4"),
           "-o", str(out), "--frames", "0-7", "--plot", str(png)]
    r = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert Motion.load(out).frame_count == 8 and png.stat().st_size > 1000
    r = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 2 and "--overwrite" in r.stderr


@needs_clips
def test_non_ascii_path(tmp_path: Path) -> None:
    d = tmp_path / "порт_顔"
    d.mkdir()
    clip = d / "клип.mp4"
    shutil.copy(DRIVING / "d1_single_blink.mp4", clip)
    m = capture(clip, stop=4)
    assert m.frame_count == 4 and m.tracked.all()


def test_no_face_fails_clearly(tmp_path: Path) -> None:
    from engine.media.video import Mp4Writer

    p = tmp_path / "blank.mp4"
    with Mp4Writer(p, 25, (128, 128)) as w:
        for k in range(5):
            w.write(np.full((128, 128, 3), 40 * k, np.uint8))
    with pytest.raises(CaptureError, match="no face"):
        capture(p)


def test_corrupt_empty_and_audio_only(tmp_path: Path) -> None:
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"garbage" * 100)
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    wav = tmp_path / "tone.wav"
    with wave.open(str(wav), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes((np.sin(np.arange(8000) / 5) * 8000).astype(np.int16).tobytes())
    for p in (bad, empty, wav):
        with pytest.raises(EngineError):
            capture(p)


def test_audio_only_mp4_and_zero_frame_video(tmp_path: Path) -> None:
    from engine.media.video import ffmpeg_exe

    exe = ffmpeg_exe()
    if exe is None:
        pytest.skip("no ffmpeg")
    audio = tmp_path / "voice.mp4"
    zero = tmp_path / "zero.mp4"
    subprocess.run([exe, "-y", "-loglevel", "error", "-f", "lavfi", "-i", "sine=frequency=440:duration=1",
                    "-c:a", "aac", str(audio)], check=True)
    subprocess.run([exe, "-y", "-loglevel", "error", "-f", "lavfi", "-i", "color=c=gray:s=64x64:d=1",
                    "-frames:v", "0", "-c:v", "libx264", str(zero)], check=True)
    for p in (audio, zero):
        with pytest.raises(EngineError, match=p.name):
            capture(p)


@pytest.fixture(scope="module")
def clips() -> dict[str, Motion]:
    if not DRIVING.is_dir():
        pytest.skip("../shared/testdata/driving not present")
    names = ("d0_smile_blink", "d18_mouth_open", "d3_expressive_turns", "tps_interview")
    return {n: capture(DRIVING / f"{n}.mp4") for n in names}


def test_d18_mouth_rises_in_three_windows(clips: dict[str, Motion]) -> None:
    mo = clips["d18_mouth_open"].controls["mouth_open"]
    # the third rest window ends at 113: the jaw starts to drop there (unsmoothed mouth_open 0.11
    # at 113, 0.17 at 114); it reached 115 only while the causal filter lagged (0.04, 0.09)
    rest = np.concatenate([mo[0:15], mo[45:60], mo[102:113], mo[162:216]])
    assert rest.max() < 0.1
    for a, b in ((19, 40), (64, 96), (119, 155)):
        assert mo[a:b].max() > max(0.18, 2 * rest.max()), (a, b)
    assert mo[64:96].max() > 0.6 and mo[119:155].max() > 0.6  # the very wide openings


def test_d0_mouth_low_and_smile_positive(clips: dict[str, Motion]) -> None:
    c = clips["d0_smile_blink"].controls
    assert c["mouth_open"].max() < 0.35
    assert c["mouth_smile"].max() > 0.3 and np.median(c["mouth_smile"]) > 0.0


def test_d3_yaw_spans_both_signs(clips: dict[str, Motion]) -> None:
    yaw = clips["d3_expressive_turns"].controls["head_yaw"]
    # MANIFEST: yaw -13.6 .. +17.3 with the documented convention
    assert yaw.min() < -8 and yaw.max() > 12


def test_tps_roll_spans_about_10_degrees(clips: dict[str, Motion]) -> None:
    roll = clips["tps_interview"].controls["head_roll"]
    assert -16 < roll.min() < -7 and 7 < roll.max() < 14


BLINKS = {"d0_smile_blink": [(65, 68)], "d18_mouth_open": [(94, 97)],
          "d3_expressive_turns": [(48, 52), (57, 62), (103, 135), (138, 160), (216, 255)],
          "tps_interview": [(20, 24), (58, 63), (91, 98), (149, 156)]}


@needs_clips
@pytest.mark.parametrize("name", sorted(BLINKS))
def test_blinks_of_the_manifest(clips: dict[str, Motion], name: str) -> None:
    """Every MANIFEST blink closes the eyes; away from blinks (3 frames margin) they stay open."""
    eyes = (clips[name].controls["eye_open_l"] + clips[name].controls["eye_open_r"]) / 2
    near = np.zeros(eyes.size, bool)
    for a, b in BLINKS[name]:
        assert eyes[a:b + 1].min() < 0.35, (a, b)
        near[max(a - 3, 0):b + 4] = True
    assert np.median(eyes[~near]) > 0.85 and np.percentile(eyes[~near], 5) > 0.4


@needs_clips
def test_head_scale_ignores_turns(clips: dict[str, Motion]) -> None:
    """d3 turns its head by ~30 degrees at about the same distance: turning must not read as
    moving away (the face's width in the image shrinks ~9 % there)."""
    c = clips["d3_expressive_turns"].controls
    assert 0.95 < c["head_scale"].min() and c["head_scale"].max() < 1.05
    assert abs(np.corrcoef(c["head_scale"], np.abs(c["head_yaw"]))[0, 1]) < 0.4


@needs_clips
def test_head_scale_does_not_swell_with_the_jaw(clips: dict[str, Motion]) -> None:
    """d18 opens wide without moving: its eye band, registered to the neutral frame's, is 0.4 %
    larger on the wide-open frames (mouth_open > 0.6) than on the closed ones
    (benchmarks/eval_head_scale.py --image), MediaPipe's fitted head 4.1 % (its mesh swells with
    the jaw). Capture takes that out (capture/head_size.py): 0.8 % is left."""
    m = clips["d18_mouth_open"]
    hs, mo = m.controls["head_scale"], m.controls["mouth_open"]
    ratio = float(np.median(hs[mo > 0.6]) / np.median(hs[mo < 0.05]))
    assert abs(ratio - 1) < 0.015, ratio
    assert 0.02 < m.calibration["head_scale_jaw_swell"] < 0.06


@needs_clips
def test_head_place_does_not_follow_the_jaw(clips: dict[str, Motion]) -> None:
    """d18 holds its head still through its "O" (frames 70-92): the eye corners, tracked frame
    by frame, move 0.008 face widths against its closed frames (0-15, 100-115), the cheek
    midpoint that head_x / head_y were measured at before 2026-12-04 0.025 (the face outline
    slides with the jaw, and a renderer moved the whole head with it). At the place (the cheek
    points and eye corners, expression.PLACE) it is 0.009."""
    c = clips["d18_mouth_open"].controls
    o, closed = slice(70, 93), np.r_[0:16, 100:116]
    dx, dy = (float(np.median(c[k][o]) - np.median(c[k][closed])) for k in ("head_x", "head_y"))
    assert math.hypot(dx, dy) < 0.013, (dx, dy)


@needs_clips
def test_rotated_phone_video(tmp_path: Path) -> None:
    """Rotation metadata is applied: the face is found and upright (eyes above the mouth)."""
    from engine.face_tracker import FaceTracker
    from engine.media.video import VideoReader, ffmpeg_exe

    exe = ffmpeg_exe()
    if exe is None:
        pytest.skip("no ffmpeg")
    rot = tmp_path / "rot.mp4"
    sideways = tmp_path / "sideways.mp4"  # pixels turned 90° clockwise, as a phone stores them
    subprocess.run([exe, "-y", "-loglevel", "error", "-i", str(DRIVING / "d1_single_blink.mp4"),
                    "-vf", "transpose=1", "-c:v", "libx264", str(sideways)], check=True)
    subprocess.run([exe, "-y", "-loglevel", "error", "-display_rotation", "90", "-i",
                    str(sideways), "-c", "copy", str(rot)], check=True)
    m = capture(rot, stop=4)
    assert m.source["rotation"] in (90, 270) and m.tracked.all()
    with VideoReader(rot) as r, FaceTracker() as t:
        _, _, rgb = next(r.frames(0, 1))
        face = t.detect(rgb)[0]
    lm = face.landmarks
    assert lm[159, 1] < lm[13, 1]  # eye above the lip
    assert abs(lm[263, 1] - lm[33, 1]) < 0.3 * abs(lm[263, 0] - lm[33, 0])  # eye line horizontal


@needs_clips
def test_variable_frame_rate_is_resampled_in_time(tmp_path: Path) -> None:
    """A VFR clip (d1's first 4 frames held 100 ms each, then 30 fps) is resampled onto an even
    time grid: more frames than decoded, and the blink lands at its time, not its frame index."""
    from engine.media.video import VideoReader, ffmpeg_exe

    exe = ffmpeg_exe()
    if exe is None:
        pytest.skip("no ffmpeg")
    subprocess.run([exe, "-y", "-loglevel", "error", "-i", str(DRIVING / "d1_single_blink.mp4"),
                    str(tmp_path / "f%03d.png")], check=True)
    frames = sorted(tmp_path.glob("f*.png"))
    lines = [f"file '{p.name}'\nduration {0.1 if i < 4 else 1 / 30:.6f}" for i, p in enumerate(frames)]
    (tmp_path / "list.txt").write_text("\n".join(lines) + f"\nfile '{frames[-1].name}'\n")
    vfr = tmp_path / "vfr.mp4"
    subprocess.run([exe, "-y", "-loglevel", "error", "-f", "concat", "-i", str(tmp_path / "list.txt"),
                    "-fps_mode", "vfr", "-c:v", "libx264", "-pix_fmt", "yuv420p", str(vfr)], check=True)
    with VideoReader(vfr) as r:
        times = np.array([t for _, t, _ in r.frames()])
    m = capture(vfr, smoothing=0.0)
    assert m.source["variable_frame_rate"] is True and m.source["decoded_frames"] == len(frames)
    grid_t = times[0] + 1000.0 / m.fps * np.arange(m.frame_count)
    assert m.frame_count > len(frames) and abs(grid_t[-1] - times[-1]) < 1000.0 / m.fps
    eyes = (m.controls["eye_open_l"] + m.controls["eye_open_r"]) / 2
    held = grid_t <= times[3]  # the open-eyed frames shown for 100 ms each
    closed = (grid_t > times[6]) & (grid_t < times[11])  # well inside the blink (frames 4-13)
    assert eyes[held].min() > 0.7 and eyes[closed].max() < 0.4


@needs_clips
def test_head_angle_signs_match_face_geometry() -> None:
    """The contract's signs, checked against the landmarks themselves on d3 frames 230-320 (head
    down in a long squeeze, then up while talking): + pitch = chin up = chin nearer the camera than
    the forehead (MediaPipe z: smaller is nearer); + yaw = nose tip toward the viewer's right;
    + roll = eye line turned clockwise on screen."""
    from engine.face_tracker import FaceTracker
    from engine.media.video import VideoReader

    clip = DRIVING / "d3_expressive_turns.mp4"
    m = capture(clip, start=230, stop=320, smoothing=0.0)
    depth, nose_x, eye_angle = [], [], []
    with VideoReader(clip) as reader, FaceTracker(video=True) as tracker:
        for _, ts, rgb in reader.frames(230, 320):
            lm = tracker.detect(rgb, int(round(ts)))[0].landmarks
            depth.append(lm[152, 2] - lm[10, 2])  # chin minus forehead
            nose_x.append((lm[1, 0] - (lm[234, 0] + lm[454, 0]) / 2) / abs(lm[454, 0] - lm[234, 0]))
            eye_angle.append(np.degrees(np.arctan2(lm[263, 1] - lm[33, 1], lm[263, 0] - lm[33, 0])))
    c = m.controls
    assert np.ptp(c["head_pitch"]) > 8 and np.corrcoef(c["head_pitch"], depth)[0, 1] < -0.8
    assert np.corrcoef(c["head_yaw"], nose_x)[0, 1] > 0.8
    assert np.corrcoef(c["head_roll"], eye_angle)[0, 1] > 0.8


@needs_clips
def test_several_faces_follow_the_main_one(tmp_path: Path) -> None:
    """Two people in frame: d1 (blinks at 4-13) large and central-left, d0 (eyes open in its first
    frames) small on the right. Capture follows d1 on every frame."""
    from engine.media.video import Mp4Writer, VideoReader

    with VideoReader(DRIVING / "d1_single_blink.mp4") as a, VideoReader(DRIVING / "d0_smile_blink.mp4") as b:
        big = [f for _, _, f in a.frames()]
        small = [f[::2, ::2] for _, _, f in b.frames(0, len(big))]
    path = tmp_path / "two people.mp4"
    w = Mp4Writer(path, 30, (800, 512))
    for f, g in zip(big, small, strict=True):
        canvas = np.full((512, 800, 3), 90, np.uint8)
        canvas[:, :512] = f
        canvas[128:384, 536:792] = g
        w.write(canvas)
    w.close()
    m = capture(path, smoothing=0.0)
    assert m.tracked.all()
    eyes = (m.controls["eye_open_l"] + m.controls["eye_open_r"]) / 2
    assert eyes[6:12].max() < 0.4 and eyes[:3].min() > 0.7 and eyes[-1] > 0.7
    assert abs(m.controls["head_x"]).max() < 0.1  # no jump to the other face


def _subframe_lag(smoothed: np.ndarray, raw: np.ndarray, max_lag: int = 6) -> float:
    """Shift (frames, > 0 = smoothed trails raw) of the cross-correlation peak, refined by a
    parabola through the three best shifts."""
    a, b = raw - raw.mean(), smoothed - smoothed.mean()
    n = a.size
    s = [float(np.dot(a[max(0, -k):n - max(0, k)], b[max(0, k):n - max(0, -k)]))
         for k in range(-max_lag, max_lag + 1)]
    i = int(np.clip(np.argmax(s), 1, len(s) - 2))
    den = s[i - 1] - 2 * s[i] + s[i + 1]
    return i - max_lag + (0.5 * (s[i - 1] - s[i + 1]) / den if den else 0.0)


def _blend(m: Motion, *names: str) -> np.ndarray:
    """Mean of raw (never filtered) MediaPipe scores: the MANIFEST's event definitions."""
    return np.mean([m.blendshapes[:, m.blendshape_names.index(n)] for n in names], axis=0).astype(np.float64)


@needs_clips
@pytest.mark.parametrize("name", sorted(BLINKS))
def test_smoothed_curves_do_not_trail_the_face(clips: dict[str, Motion], name: str) -> None:
    """A file's curves are smoothed zero-phase: eye_open follows the raw blink scores (and
    mouth_open jawOpen) without lag. The causal One Euro filter trailed them by 0.62 (d0),
    0.87 (d18, d3), 0.78 (tps) frames on eye_open and 0.94 / 0.77 on d18 / tps mouth_open."""
    m = clips[name]
    assert m.filter.get("zero_phase") is True
    eyes = (m.controls["eye_open_l"] + m.controls["eye_open_r"]).astype(np.float64) / 2
    blink = _blend(m, "eyeBlinkLeft", "eyeBlinkRight")
    assert abs(_subframe_lag(eyes, -blink)) < 0.3
    if name in ("d18_mouth_open", "tps_interview"):  # the clips with mouth events in range
        assert abs(_subframe_lag(m.controls["mouth_open"].astype(np.float64), _blend(m, "jawOpen"))) < 0.3
    for a, b in BLINKS[name]:
        if b - a <= 6:  # short blinks: the minimum is a moment (long squeezes have flat bottoms)
            lo, hi = max(a - 3, 0), b + 4
            assert abs(int(np.argmin(eyes[lo:hi])) - int(np.argmax(blink[lo:hi]))) <= 1, (a, b)
