"""`blender -c talking_head ...` (cli_command.main in the installed add-on) given bad input by the
commands that landed after test_bad_inputs_blender.py: ``bake`` (3D characters), voice capture,
farm steps. Each case: exit 2, one ``talking_head: error:`` line (no traceback, no "unexpected ...
bug" hint), the .blend and every other user file byte-identical. Media are generated here."""

from __future__ import annotations

import hashlib
import importlib
import wave
from pathlib import Path

import numpy as np
import pytest


def _compat():  # strip timing by Blender 5.3's names on every Blender (adapters/compat.py)
    return importlib.import_module("bl_ext.user_default.talking_head.adapters.compat")


def snapshot(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture
def shot(addon, tmp_path):
    """A .blend with a face mesh carrying the ARKit shape keys, a 10-frame motion, a 1 s voice,
    a text file named .blend and a folder named .blend."""
    import bpy

    rig = importlib.import_module(f"{addon}.engine.rig")
    bpy.ops.wm.read_homefile(use_empty=True)
    mesh = bpy.data.meshes.new("Face")
    mesh.from_pydata([(0, 0, 0), (1, 0, 0), (0, 0, 1)], [], [(0, 1, 2)])
    obj = bpy.data.objects.new("Face", mesh)
    bpy.context.scene.collection.objects.link(obj)
    obj.shape_key_add(name="Basis")
    for name in rig.ARKIT_NAMES:
        obj.shape_key_add(name=name, from_mix=False)
    bpy.ops.wm.save_as_mainfile(filepath=str(tmp_path / "shot.blend"))
    with wave.open(str(tmp_path / "voice.wav"), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16000)
        w.writeframes((np.sin(np.arange(16000) * 0.1) * 8000).astype("<i2").tobytes())
    importlib.import_module(f"{addon}.engine.sample").sample_performance(0.4, 25.0).save(tmp_path / "m.json")
    (tmp_path / "fake.blend").write_text("not a blend")
    (tmp_path / "folder.blend").mkdir()
    return tmp_path


def run(addon, capsys, *args: object) -> tuple[int, str]:
    main = importlib.import_module(f"{addon}.cli_command").main
    capsys.readouterr()
    rc = main([str(a) for a in args])
    return rc, capsys.readouterr().err


def refused(result: tuple[int, str], needle: str) -> None:
    rc, err = result
    assert rc == 2, err
    assert "Traceback" not in err and "unexpected" not in err, err
    lines = [line for line in err.splitlines() if line.strip()]
    assert "talking_head: error:" in lines[0], err
    assert needle in err, err


@pytest.mark.parametrize(("blend", "needle"), [
    ("m.json", "cannot open"),  # was: unexpected RuntimeError (bug hint)
    ("fake.blend", "cannot open"),  # idem
    ("folder.blend", "is a folder"),  # was: ".blend file not found"
    ("none.blend", "not found"),
])
@pytest.mark.parametrize("command", ["bake", "encode"])
def test_bad_blend_files(addon, shot, capsys, blend, needle, command):
    before = snapshot(shot)
    extra = ["--object", "Face", "--motion", shot / "m.json"] if command == "bake" else ["-o", shot / "o.mp4"]
    refused(run(addon, capsys, command, "--blend", shot / blend, *extra), needle)
    assert snapshot(shot) == before


@pytest.mark.parametrize(("extra", "needle"), [
    (["--start", "99999999999"], "past Blender's frame limits"),  # was: keys at frame 10^11, saved
    (["--start", "x"], "not a frame number"),
    (["--frames", "1-99999999999"], "past Blender's last frame"),
    (["--frames", "soon"], "bad frame range"),
    (["--motion", "voice.wav"], "is not valid JSON"),
])
def test_bake_bad_options_leave_the_blend_as_it_was(addon, shot, capsys, extra, needle):
    before = snapshot(shot)
    args = ["bake", "--blend", shot / "shot.blend", "--object", "Face", "--motion", shot / "m.json"]
    refused(run(addon, capsys, *args, *[shot / e if e == "voice.wav" else e for e in extra]), needle)
    assert snapshot(shot) == before


def test_bake_a_motion_captured_from_a_voice(addon, shot, capsys):
    """The voice's motion (mouth only, idle life) drives the mouth keys."""
    rc, err = run(addon, capsys, "capture", shot / "voice.wav", "-o", shot / "voice.json")
    assert rc == 0, err
    rc, err = run(addon, capsys, "bake", "--blend", shot / "shot.blend", "--object", "Face",
                  "--motion", shot / "voice.json")
    assert rc == 0, err


@pytest.mark.parametrize(("extra", "needle"), [
    (["voice.wav", "--smoothing", "0.2"], "--smoothing applies to capture from a face"),  # was ignored
    (["voice.wav", "--fps", "0.5"], "between 1 and 1000"),
    (["voice.wav", "--fps", "nan"], "finite number"),
    (["m.json", "--fps", "30"], "--fps applies to voice capture only"),  # was ignored
])
def test_file_mode_capture_options(addon, shot, capsys, extra, needle):
    before = snapshot(shot)
    args = [shot / extra[0], *extra[1:]]
    refused(run(addon, capsys, "capture", *args, "-o", shot / "out.json"), needle)
    assert snapshot(shot) == before


SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "testdata"
PORTRAIT, BLINK = SHARED / "portraits" / "photo_woman.jpg", SHARED / "driving" / "d1_single_blink.mp4"


@pytest.fixture
def portrait_shot(addon, tmp_path, monkeypatch):
    """The working directory, with shot.blend (a portrait strip of 16 frames and its driving
    movie, from the shared media), a user file and an empty frames folder."""
    import bpy

    if not BLINK.is_file() or not PORTRAIT.is_file():
        pytest.skip("shared test media missing (../shared)")
    bpy.ops.wm.read_homefile(use_empty=True)
    scene = bpy.context.scene
    scene.render.fps, scene.render.fps_base = 30, 1.0
    scene.frame_start, scene.frame_end = 1, 16
    coll = importlib.import_module(f"{addon}.adapters.compat").strip_collection(scene)
    drv = coll.new_movie("Driving", str(BLINK), channel=1, frame_start=1)
    por = coll.new_image("Portrait", str(PORTRAIT), channel=2, frame_start=1)
    _compat().set_strip_timing(por, "duration", 16)
    item = importlib.import_module(f"{addon}.adapters.strips").item_for_strip(scene, por, create=True)
    item.driving_strip = drv.name
    item.scale = 25
    bpy.ops.wm.save_as_mainfile(filepath=str(tmp_path / "shot.blend"))
    (tmp_path / "afile").write_text("mine")
    (tmp_path / "frames").mkdir()
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.mark.parametrize(("args", "needle"), [
    (["render", "--frames", "1-2", "-o", "afile"], "afile is a file; give a folder"),  # "File exists: ..."
    (["render", "--frames", "1-2", "-o", "/proc/out"], "/proc/out"),
    (["render", "--frames", "100-200", "-o", "out"], "frames 100-200 are outside the portrait"),
    (["capture", "--job-dir", "job"], "--job-dir needs --job-id"),
    (["capture", "--job-dir", "afile", "--job-id", "j1"], "is a file"),
    (["capture", "--job-dir", "job", "--job-id", "../x"], "bad job id"),
    (["render", "--job-dir", "job", "--job-id", "j1", "--frames", "1-2"], "is not a farm job folder"),
    (["encode", "-i", "frames", "-o", "o.mp4"], "16 of 16 frames are missing"),
    (["capture", "--portrait", "Nope"], "no portrait 'Nope'"),
])
def test_blend_and_farm_steps_refused_with_files_untouched(addon, portrait_shot, capsys, args, needle):
    before = snapshot(portrait_shot)
    refused(run(addon, capsys, args[0], "--blend", portrait_shot / "shot.blend", *args[1:]), needle)
    assert snapshot(portrait_shot) == before


def test_gpu_runtime_operator_checks_the_wheel_folder_first(addon, tmp_path):
    """A wrong wheel folder is reported at once (pip used to run first and fail in the job)."""
    import bpy

    root = Path(importlib.import_module(f"{addon}.operators.models").gpu_runtime_root())
    existed = root.exists()
    with pytest.raises(RuntimeError, match="is not a folder of wheels"):
        bpy.ops.talking_head.gpu_runtime_install(flavor="cuda", find_links=str(tmp_path / "nowhere"))
    assert root.exists() == existed
