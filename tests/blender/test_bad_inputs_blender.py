"""Bad inputs through the installed add-on: operators report one line (never a traceback, never a
crash), user files stay byte-identical, damaged clips and second faces are reported, not hidden.
The engine-side matrix is tests/engine/test_bad_inputs.py; bad media are generated here too."""

from __future__ import annotations

import hashlib
import importlib
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest


def _compat():  # strip timing by Blender 5.3's names on every Blender (adapters/compat.py)
    return importlib.import_module("bl_ext.user_default.talking_head.adapters.compat")

ROOT = Path(__file__).resolve().parents[2]
SHARED = ROOT.parent / "shared"
PORTRAIT = SHARED / "testdata" / "portraits" / "photo_woman.jpg"
BLINK = SHARED / "testdata" / "driving" / "d1_single_blink.mp4"

pytestmark = pytest.mark.skipif(not BLINK.is_file() or not PORTRAIT.is_file(),
                                reason="shared test media missing (../shared)")


def mod(addon, name):
    return importlib.import_module(f"{addon}.{name}")


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def png_header_only(path: Path, w: int, h: int) -> Path:
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0))
                     + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b""))
    return path


def scene_with(addon, tmp_path: Path, portrait: Path, driving: Path):
    import bpy

    bpy.ops.wm.read_homefile(use_empty=True)
    scene = bpy.context.scene
    scene.render.fps, scene.render.fps_base = 30, 1.0
    scene.frame_start, scene.frame_end = 1, 16
    coll = mod(addon, "adapters.compat").strip_collection(scene)
    drv = coll.new_movie("Driving", str(driving), channel=1, frame_start=1)
    por = coll.new_image("Portrait", str(portrait), channel=2, frame_start=1)
    _compat().set_strip_timing(por, "duration", 16)
    bpy.ops.wm.save_as_mainfile(filepath=str(tmp_path / "shot.blend"))
    item = mod(addon, "adapters.strips").item_for_strip(scene, por, create=True)
    item.driving_strip = drv.name
    item.scale = 25
    return scene, item


def refused(excinfo: pytest.ExceptionInfo, needle: str) -> None:
    text = str(excinfo.value)
    assert needle in text and "Traceback" not in text, text


@pytest.mark.parametrize("case", ["nested", "nan", "missing", "binary"])
def test_import_motion_reports_bad_files(addon, tmp_path, case):
    import bpy

    scene_with(addon, tmp_path, PORTRAIT, BLINK)
    p = tmp_path / "m.json"
    if case == "nested":
        p.write_text("[" * 100_000 + "]" * 100_000)
    elif case == "nan":
        p.write_text('{"format": "talking_head.motion", "version": 1, "fps": 25, '
                     '"controls": {"head_yaw": [NaN]}}')
    elif case == "binary":
        p.write_bytes(b"\xff\xfe\x00\x01")
    before = digest(p) if p.exists() else None
    with pytest.raises(RuntimeError) as excinfo:
        bpy.ops.talking_head.import_motion(filepath=str(p), portrait="Portrait")
    refused(excinfo, {"nested": "nested too deeply", "nan": "m.json", "missing": "not found",
                      "binary": "not valid JSON"}[case])
    assert (digest(p) if p.exists() else None) == before


@pytest.mark.parametrize("case", ["huge_header", "truncated", "text"])
def test_render_refuses_bad_portraits_before_any_work(addon, tmp_path, case):
    import bpy

    p = tmp_path / "portrait.png"
    if case == "huge_header":
        png_header_only(p, 30000, 30000)
    elif case == "truncated":
        data = PORTRAIT.read_bytes()
        p = tmp_path / "portrait.jpg"
        p.write_bytes(data[:2000])
    else:
        p.write_text("not an image")
    scene, item = scene_with(addon, tmp_path, p, BLINK)
    before = digest(p)
    with pytest.raises(RuntimeError) as excinfo:
        bpy.ops.talking_head.render(portrait=item.name)
    refused(excinfo, "30000x30000" if case == "huge_header" else p.name)
    assert digest(p) == before
    assert not list(tmp_path.rglob("frame_*.png"))


def test_damaged_driving_clip_is_reported_and_missing_frames_untracked(addon, tmp_path):
    import cv2

    video_io = mod(addon, "engine.media.video")
    portrait = cv2.resize(video_io.load_image(PORTRAIT), (256, 256))
    clip = tmp_path / "clip.mp4"
    rng = np.random.default_rng(0)
    with video_io.Mp4Writer(clip, 30, (256, 256)) as w:
        for k in range(16):
            f = np.roll(portrait, k % 5, axis=1).astype(np.int16) + rng.integers(-12, 12, portrait.shape)
            w.write(f.clip(0, 255).astype(np.uint8))
    data = clip.read_bytes()
    damaged = tmp_path / "damaged.mp4"
    damaged.write_bytes(data[: int(len(data) * 0.6)])  # an unfinished copy
    scene, item = scene_with(addon, tmp_path, PORTRAIT, damaged)
    flows = mod(addon, "adapters.flows")
    message = flows.run_sync(flows.prepare_capture(scene, item), echo=False)
    assert message.startswith("warning:") and "could not be decoded" in message, message
    assert "captured 16 frames" in message


def test_two_faces_reported_and_face_property_picks(addon, tmp_path):
    import cv2

    video_io = mod(addon, "engine.media.video")
    face = cv2.resize(video_io.load_image(PORTRAIT), (256, 300))
    two = np.full((300, 600, 3), 200, np.uint8)
    two[:, 10:266] = face
    two[:, 320:576] = face
    p = tmp_path / "two.png"
    cv2.imwrite(str(p), cv2.cvtColor(two, cv2.COLOR_RGB2BGR))
    scene, item = scene_with(addon, tmp_path, p, BLINK)
    flows = mod(addon, "adapters.flows")
    frame_1 = mod(addon, "engine.frames").parse_frames("1")
    message = flows.run_sync(flows.prepare_render(scene, item, frame_1), echo=False)
    assert "warning: the portrait shows 2 faces" in message and "Face number" in message, message
    item.face = 0
    message = flows.run_sync(flows.prepare_render(scene, item, frame_1), echo=False)
    assert "warning" not in message, message
    item.face = 5
    with pytest.raises(Exception, match="shows 2 face"):
        flows.run_sync(flows.prepare_render(scene, item, frame_1), echo=False)


def test_blender_cli_refuses_nan_and_existing_outputs(addon, tmp_path, capsys):
    main = mod(addon, "cli_command").main
    out = tmp_path / "m.json"
    out.write_text("mine")
    assert main(["capture", str(BLINK), "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert "already exists" in err and "Traceback" not in err
    assert main(["capture", str(BLINK), "-o", str(tmp_path / "n.json"), "--smoothing", "nan"]) == 2
    err = capsys.readouterr().err
    assert "--smoothing" in err and "Traceback" not in err
    assert out.read_text() == "mine" and not (tmp_path / "n.json").exists()


def test_remove_ours_knows_temporaries_and_spares_user_files(addon, tmp_path):
    flows = mod(addon, "adapters.flows")
    ours, mixed = tmp_path / "r001", tmp_path / "r002"
    for d in (ours, mixed):
        d.mkdir()
        (d / flows.MARKER).write_text("x")
        (d / "frame_000000.png").write_bytes(b"png")
        (d / ".frame_000001.png.ab12cd.tmp.png").write_bytes(b"")  # left by a killed render
    (mixed / "frame_000002.png.part").write_bytes(b"the user's")  # not ours: the folder stays
    assert flows.remove_ours(ours) and not ours.exists()
    assert not flows.remove_ours(mixed) and (mixed / "frame_000002.png.part").read_bytes() == b"the user's"


def test_render_folders_are_claimed_and_farm_chunks_share_them(addon, tmp_path):
    """Issue 19: a render folder is one job's at a time. The Blender render path (farm chunks
    with --job-dir pass their job id) shares a claim with its own job and is refused by another;
    the previous result folder is not deleted while a job writes there."""
    scene, item = scene_with(addon, tmp_path, PORTRAIT, BLINK)
    flows = mod(addon, "adapters.flows")
    claim = mod(addon, "engine.output_claim")
    frames = mod(addon, "engine.frames").parse_frames
    out = tmp_path / "job" / "frames"
    held = claim.claim(out, "job-1")  # another chunk of job-1, still writing
    try:
        for job in ("job-2", None):
            with pytest.raises(mod(addon, "engine.errors").EngineError) as excinfo:
                flows.run_sync(flows.prepare_render(scene, item, frames("1-4"), str(out), job=job))
            refused(excinfo, "another job is writing into")
        assert not list(out.glob("frame_*.png"))
        assert "rendered 4 frames" in flows.run_sync(
            flows.prepare_render(scene, item, frames("5-8"), str(out), job="job-1"))
        (out / flows.MARKER).write_text("x")
        assert not flows.remove_ours(out) and out.is_dir()  # job-1 still writes there
    finally:
        held.release()
    assert not [p for p in out.iterdir() if p.name.startswith(claim.CLAIM)]
    assert flows.remove_ours(out) and not out.exists()  # ours, and nobody writes there now
