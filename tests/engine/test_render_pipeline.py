"""render_motion / CLI: frame naming, chunked renders equal a whole render bit for bit,
overwrite and unwritable-folder safety, cancel semantics, previews. Uses the in-repo sample
portrait and sample performance (no shared media needed)."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

from engine.errors import EngineError
from engine.frames import parse_frames
from engine.media.video import VideoReader, load_image
from engine.motion import Motion
from engine.pipeline import frame_path, render_motion
from engine.progress import Cancelled, Progress
from engine.sample import sample_performance

ROOT = Path(__file__).resolve().parents[2]
PORTRAIT = ROOT / "engine" / "assets" / "sample_portrait.jpg"
DRIVING = ROOT.parent / "shared" / "testdata" / "driving"


@pytest.fixture(scope="module")
def portrait() -> np.ndarray:
    return load_image(PORTRAIT)


@pytest.fixture(scope="module")
def motion() -> Motion:
    return sample_performance(4.0, 25.0)  # 100 frames: blinks, turns, talking


def test_frame_path_names_by_motion_index(tmp_path: Path) -> None:
    assert frame_path(tmp_path, 0) == tmp_path / "frame_000000.png"
    assert frame_path(tmp_path, 1234) == tmp_path / "frame_001234.png"
    # the CLI's --frames are inclusive (engine.frames; tests/engine/test_frames.py)
    assert parse_frames("10-20").resolve(0, 99) == list(range(10, 21))
    assert parse_frames("90-").resolve(0, 99) == list(range(90, 100))
    with pytest.raises(EngineError, match="outside"):
        parse_frames("90-120").resolve(0, 99)


def test_four_chunks_equal_one_whole_render_bit_for_bit(tmp_path: Path, portrait: np.ndarray,
                                                          motion: Motion) -> None:
    whole, chunks = tmp_path / "whole", tmp_path / "chunks"
    render_motion("builtin", portrait, motion, whole, device="cpu")
    for start in (75, 0, 50, 25):  # out of order, as a farm would
        render_motion("builtin", portrait, motion, chunks, frames=range(start, start + 25), device="cpu")
    names = sorted(p.name for p in whole.iterdir())
    assert names == [f"frame_{i:06d}.png" for i in range(100)]
    assert sorted(p.name for p in chunks.iterdir()) == names
    differ = [n for n in names if not np.array_equal(load_image(whole / n), load_image(chunks / n))]
    assert differ == []
    # the performance really moves: frames are not all the same image
    assert not np.array_equal(load_image(whole / names[0]), load_image(whole / names[40]))


def test_existing_frames_are_never_overwritten(tmp_path: Path, portrait: np.ndarray, motion: Motion) -> None:
    out = tmp_path / "frames"
    out.mkdir()
    sentinel = frame_path(out, 3)
    sentinel.write_bytes(b"precious")
    with pytest.raises(EngineError, match="frame_000003.png") as exc:
        render_motion("builtin", portrait, motion, out, frames=range(0, 5), device="cpu")
    assert "overwrite" in str(exc.value)
    assert sentinel.read_bytes() == b"precious"
    assert sorted(p.name for p in out.iterdir()) == ["frame_000003.png"]  # nothing else written
    # a range that does not touch the existing file renders fine, then overwrite replaces it
    render_motion("builtin", portrait, motion, out, frames=range(5, 7), device="cpu")
    render_motion("builtin", portrait, motion, out, frames=range(0, 5), device="cpu", overwrite=True)
    assert load_image(sentinel).shape == portrait.shape


def test_existing_mp4_is_refused(tmp_path: Path, portrait: np.ndarray, motion: Motion) -> None:
    out = tmp_path / "clip.mp4"
    out.write_bytes(b"keep me")
    with pytest.raises(EngineError, match="clip.mp4"):
        render_motion("builtin", portrait, motion, out, frames=range(0, 2), device="cpu")
    assert out.read_bytes() == b"keep me"


def test_unwritable_output_is_a_clear_error(tmp_path: Path, portrait: np.ndarray, motion: Motion) -> None:
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    with pytest.raises(EngineError, match="cannot create output folder"):
        render_motion("builtin", portrait, motion, blocker / "frames", frames=range(0, 1), device="cpu")
    with pytest.raises(EngineError, match="is a file"):
        render_motion("builtin", portrait, motion, blocker, frames=range(0, 1), device="cpu")
    if os.geteuid() != 0:  # root ignores permission bits
        ro = tmp_path / "ro"
        ro.mkdir()
        ro.chmod(0o500)
        try:
            with pytest.raises(EngineError, match="cannot write"):
                render_motion("builtin", portrait, motion, ro, frames=range(0, 1), device="cpu")
        finally:
            ro.chmod(0o700)
    else:  # root ignores permission bits, but procfs refuses new files to anyone
        with pytest.raises(EngineError, match="cannot write to /proc"):
            render_motion("builtin", portrait, motion, Path("/proc"), frames=range(0, 1), device="cpu")


def test_unknown_renderer_or_device_creates_nothing(tmp_path: Path, portrait: np.ndarray,
                                                    motion: Motion) -> None:
    from engine.render.base import RenderError

    with pytest.raises(RenderError, match="unknown renderer"):
        render_motion("nope", portrait, motion, tmp_path / "a", frames=range(0, 1))
    with pytest.raises(RenderError, match="unknown device"):
        render_motion("builtin", portrait, motion, tmp_path / "b", frames=range(0, 1), device="tpu")
    assert list(tmp_path.iterdir()) == []


def _cancel_after(n: int) -> Progress:
    progress = Progress()

    def callback(done: int, total: int, message: str) -> None:
        if done >= n:
            progress.cancel()

    progress.callback = callback
    return progress


def test_cancel_removes_partial_mp4(tmp_path: Path, portrait: np.ndarray, motion: Motion) -> None:
    out = tmp_path / "clip.mp4"
    with pytest.raises(Cancelled):
        render_motion("builtin", portrait, motion, out, device="cpu", progress=_cancel_after(5))
    assert list(tmp_path.iterdir()) == []  # neither the .mp4 nor its .part


def test_cancel_keeps_finished_pngs_complete(tmp_path: Path, portrait: np.ndarray, motion: Motion) -> None:
    out = tmp_path / "frames"
    with pytest.raises(Cancelled):
        render_motion("builtin", portrait, motion, out, frames=range(10, 30), device="cpu",
                      progress=_cancel_after(4))
    names = sorted(p.name for p in out.iterdir())
    assert names == [f"frame_{i:06d}.png" for i in range(10, 14)]  # no .part files left
    for n in names:
        assert load_image(out / n).shape == portrait.shape


def test_precancelled_job_writes_nothing(tmp_path: Path, portrait: np.ndarray, motion: Motion) -> None:
    progress = Progress(cancel_event=threading.Event())
    progress.cancel()
    with pytest.raises(Cancelled):
        render_motion("builtin", portrait, motion, tmp_path / "x.mp4", device="cpu", progress=progress)
    assert not (tmp_path / "x.mp4").exists()


def test_mp4_output_has_every_frame(tmp_path: Path, portrait: np.ndarray, motion: Motion) -> None:
    out = render_motion("builtin", PORTRAIT, motion, tmp_path / "clip.mp4", frames=range(0, 12), device="cpu")
    with VideoReader(out) as reader:
        frames = [f for _, _, f in reader.frames()]
        assert reader.info.fps == pytest.approx(25.0, abs=0.01)
    h, w = portrait.shape[:2]
    assert len(frames) == 12 and frames[0].shape[:2] == ((h + 1) // 2 * 2, (w + 1) // 2 * 2)


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "engine", *args], cwd=ROOT, capture_output=True, text=True)


def test_cli_render_frames_preview_and_overwrite(tmp_path: Path, motion: Motion) -> None:
    mfile = motion.save(tmp_path / "m.json")
    out, sheet = tmp_path / "out", tmp_path / "sheet.png"
    r = _cli("render", str(PORTRAIT), str(mfile), "-o", str(out), "--frames", "20-25", "--device", "cpu",
             "--preview", str(sheet))
    assert r.returncode == 0, r.stderr
    assert sorted(p.name for p in out.iterdir()) == [f"frame_{i:06d}.png" for i in range(20, 26)]
    assert "render [" in r.stderr  # the progress bar
    assert load_image(sheet).shape[1] == 4 * 256
    # another process (a farm node) renders the same frames bit for bit
    here = render_motion("builtin", PORTRAIT, Motion.load(mfile), tmp_path / "here", frames=range(20, 26),
                         device="cpu")
    for i in range(20, 26):
        assert np.array_equal(load_image(frame_path(out, i)), load_image(frame_path(here, i)))
    r = _cli("render", str(PORTRAIT), str(mfile), "-o", str(out), "--frames", "20..21")
    assert r.returncode == 2 and "frame_000020.png" in r.stderr and "--overwrite" in r.stderr
    r = _cli("render", str(PORTRAIT), str(mfile), "-o", str(out), "--frames", "20-300")
    assert r.returncode == 2 and "outside" in r.stderr
    r = _cli("render", str(PORTRAIT), str(mfile), "-o", str(out), "--frames", "30-40,35-50")
    assert r.returncode == 2 and "overlap" in r.stderr
    # a list renders the union of its parts
    r = _cli("render", str(PORTRAIT), str(mfile), "-o", str(tmp_path / "list"), "--frames", "0-1,5",
             "--device", "cpu")
    assert r.returncode == 0, r.stderr
    assert sorted(p.name for p in (tmp_path / "list").iterdir()) == [
        f"frame_{i:06d}.png" for i in (0, 1, 5)]


@pytest.mark.skipif(not DRIVING.is_dir(), reason="../shared/testdata/driving not present")
def test_cli_animate_capture_then_render(tmp_path: Path) -> None:
    out, gif = tmp_path / "a.mp4", tmp_path / "a.gif"
    r = _cli("animate", str(PORTRAIT), str(DRIVING / "d1_single_blink.mp4"), "-o", str(out),
             "--save-motion", str(tmp_path / "m.json"), "--preview", str(gif))
    assert r.returncode == 0, r.stderr
    with VideoReader(out) as reader:
        assert sum(1 for _ in reader.frames()) == 16
    assert Motion.load(tmp_path / "m.json").frame_count == 16
    assert gif.read_bytes()[:6] in (b"GIF89a", b"GIF87a")
