"""The Open Job Description bundle run for real: `openjd check`, then `openjd run` of every step
(Capture -> Render in 3 chunks -> Encode) on a tiny .blend made here, with a `blender` launcher
over the bpy module (tests/blender/blender_launcher.py) that calls the extension's registered
`talking_head` command -- the template cannot tell it from Blender.

Asserts: the chunks' frames equal a single-process render bit for bit, the .mp4 holds every frame
(counted by the bundled ffmpeg) and the scene's sound, a second job cannot take the folder, a
retried chunk rewrites only its own frames. Prints the times of the 3-chunk Render step and of one
process rendering the same frames.

Needs .venv-farm (scripts/setup_farm.sh; scripts/test.sh makes it and sets TALKING_HEAD_CI=1,
which turns its absence into a failure instead of a skip).
"""

from __future__ import annotations

import importlib
import json
import math
import os
import shutil
import stat
import struct
import subprocess
import sys
import time
import wave
from pathlib import Path

import numpy as np
import pytest


def _compat():  # strip timing by Blender 5.3's names on every Blender (adapters/compat.py)
    return importlib.import_module("bl_ext.user_default.talking_head.adapters.compat")

ROOT = Path(__file__).resolve().parents[2]
SHARED = ROOT.parent / "shared"
PORTRAIT = SHARED / "testdata" / "portraits" / "photo_woman.jpg"
OPENJD = ROOT / ".venv-farm" / "bin" / "openjd"
LAUNCHER = Path(__file__).with_name("blender_launcher.py")
FIRST, LAST, FPS = 1, 6, 24  # 6 scene frames: 3 chunks of 2

if not OPENJD.is_file() and os.environ.get("TALKING_HEAD_CI"):
    raise RuntimeError("scripts/setup_farm.sh did not make .venv-farm (openjd-cli)")
pytestmark = [
    pytest.mark.skipif(not OPENJD.is_file(), reason="openjd-cli missing: run scripts/setup_farm.sh"),
    pytest.mark.skipif(not PORTRAIT.is_file(), reason="shared test media missing (../shared)"),
]


def mod(addon, name):
    return importlib.import_module(f"{addon}.{name}")


def _tone(path: Path, seconds: float) -> None:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(48000)
        n = int(48000 * seconds)
        w.writeframes(b"".join(struct.pack("<h", int(6000 * math.sin(i * 0.06))) for i in range(n)))


def make_shot(addon, folder: Path) -> Path:
    """A saved .blend: the portrait as an image strip on frames 1-6 (25 % resolution) with keyed
    controls (a stretch of the built-in sample performance: the mouth moves) and a sound strip."""
    import bpy

    bpy.ops.wm.read_homefile(use_empty=True)
    scene = bpy.context.scene
    scene.render.fps, scene.frame_start, scene.frame_end = FPS, FIRST, LAST
    coll = mod(addon, "adapters.compat").strip_collection(scene)
    por = coll.new_image("Portrait", str(PORTRAIT), channel=2, frame_start=FIRST)
    _compat().set_strip_timing(por, "duration", LAST - FIRST + 1)
    _tone(folder / "voice.wav", 1.0)
    coll.new_sound("Voice", str(folder / "voice.wav"), channel=1, frame_start=FIRST)
    item = mod(addon, "adapters.strips").item_for_strip(scene, por, create=True)
    item.scale = 25
    n = LAST - FIRST + 1
    sample = mod(addon, "engine.sample").sample_performance(2.0, 30).slice(30, 30 + n)
    mod(addon, "adapters.keyframes").write_controls(scene, item, np.arange(FIRST, LAST + 1),
                                                    sample.to_array())
    blend = folder / "shot.blend"
    bpy.ops.wm.save_as_mainfile(filepath=str(blend))
    # relative paths, as artists save them: the job's copy lives in another folder and must still
    # find the portrait and the sound
    bpy.ops.file.make_paths_relative()
    assert por.directory.startswith("//")
    bpy.ops.wm.save_mainfile()
    return blend


def write_launcher(folder: Path) -> Path:
    """bin/blender: the launcher with this test's Python as its interpreter."""
    exe = folder / "bin" / "blender"
    exe.parent.mkdir()
    exe.write_text(f"#!{sys.executable}\n" + LAUNCHER.read_text())
    exe.chmod(exe.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return exe


def run(cmd: list, env: dict, timeout: int = 300) -> tuple[subprocess.CompletedProcess, float]:
    t0 = time.perf_counter()
    r = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, env=env, timeout=timeout)
    return r, time.perf_counter() - t0


@pytest.fixture(scope="module")
def farm_env(addon, user_resources, tmp_path_factory):
    folder = tmp_path_factory.mktemp("farm")
    env = dict(os.environ, BLENDER_USER_RESOURCES=str(user_resources), TALKING_HEAD_ADDON_MODULE=addon)
    return folder, write_launcher(folder), env


def openjd_run(bundle: Path, step: str, env: dict, params: Path | None = None):
    params = params or bundle / "job_params.json"
    # the launcher refuses to open a .blend that the template did not pass --disable-autoexec for
    env = dict(env, TALKING_HEAD_REQUIRE_NO_AUTOEXEC="1")
    return run([OPENJD, "run", bundle / "template.yaml", "-p", f"file://{params}", "--step", step,
                "--no-run-dependencies"], env)


def test_openjd_bundle_runs_capture_render_encode(addon, farm_env, capsys, audaspace):
    import bpy

    folder, blender, env = farm_env
    blend = make_shot(addon, folder)
    bundle, job = folder / "bundle", folder / "job"
    # the operator writes the bundle for the open, saved file
    assert bpy.ops.talking_head.export_farm_job(directory=str(bundle), portrait="Portrait",
                                                chunk_size=2, blender=str(blender),
                                                job_output=str(job)) == {"FINISHED"}
    params = json.loads((bundle / "job_params.json").read_text())
    assert params["Frames"] == f"{FIRST}-{LAST}" and params["ChunkSize"] == 2
    assert params["BlendFile"] == str(blend) and params["OutputDir"] == str(job)
    assets = (bundle / "asset_references.yaml").read_text()
    assert str(PORTRAIT) in assets and "voice.wav" in assets  # job attachments: what the job reads
    assert "parameterValues:" in (bundle / "parameter_values.yaml").read_text()

    r, _ = run([OPENJD, "check", bundle / "template.yaml"], env)
    assert r.returncode == 0 and "passes validation" in r.stdout, r.stdout + r.stderr

    # a worker without that Blender: the task fails at once, nothing is written
    missing = folder / "missing_blender.json"
    missing.write_text(json.dumps(dict(params, BlenderExecutable=str(folder / "no" / "blender"))))
    r, _ = openjd_run(bundle, "Capture", env, missing)
    assert r.returncode != 0 and "blender: not found" in r.stdout, r.stdout[-2000:]
    assert not job.exists()

    r, t_capture = openjd_run(bundle, "Capture", env)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    assert "kept the keys of 'Portrait'" in r.stdout  # keyed already: no capture needed
    assert (job / "talking_head_job.blend").is_file() and (job / ".talking_head_job").is_file()

    r, t_chunks = openjd_run(bundle, "Render", env)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    assert r.stdout.count("rendered 2 frames into") == 3
    for chunk in ("1-2", "3-4", "5-6"):  # three processes, one per inclusive chunk
        assert f"Frame(CHUNK[INT]) = {chunk}" in r.stdout
    frames = job / "frames"
    names = sorted(p.name for p in frames.glob("frame_*.png"))
    assert names == [f"frame_{i:06d}.png" for i in range(LAST - FIRST + 1)]  # scene 1 = frame 0

    # one process rendering the same frames: bit for bit the same files
    single = folder / "single"
    r, t_single = run([blender, "-b", job / "talking_head_job.blend", "-c", "talking_head", "render",
                       "--blend", job / "talking_head_job.blend", "--portrait", "Portrait",
                       "--frames", f"{FIRST}-{LAST}", "--device", "cpu", "-o", single], env)
    assert r.returncode == 0, r.stderr[-3000:]
    for name in names:
        assert (frames / name).read_bytes() == (single / name).read_bytes(), name

    r, t_encode = openjd_run(bundle, "Encode", env)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    movie = job / "talking_head.mp4"
    import imageio_ffmpeg

    n_frames, _secs = imageio_ffmpeg.count_frames_and_secs(str(movie))
    assert n_frames == LAST - FIRST + 1
    probe = subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-i", str(movie)],
                           capture_output=True, text=True)
    assert "Audio:" in probe.stderr and f"{FPS} fps" in probe.stderr, probe.stderr

    # the job folder holds the job's files and nothing else (no temporaries, no .blend1 backups)
    assert sorted(os.listdir(job)) == [".talking_head_job", "frames", "talking_head.mp4",
                                       "talking_head_job.blend"]
    assert sorted(os.listdir(frames)) == [".talking_head_render", *names]

    with capsys.disabled():
        print(f"\n[farm] openjd run, 6 frames at 25 %: Capture {t_capture:.1f} s, Render 3 chunks "
              f"{t_chunks:.1f} s, one process {t_single:.1f} s, Encode {t_encode:.1f} s")

    # a retried chunk rewrites its own frames only, bit-identically
    stamps = {p.name: p.stat().st_mtime_ns for p in frames.glob("frame_*.png")}
    before = {p.name: p.read_bytes() for p in frames.glob("frame_*.png")}
    r, _ = run([OPENJD, "run", bundle / "template.yaml", "-p", f"file://{bundle / 'job_params.json'}",
                "--step", "Render", "--no-run-dependencies", "--task-param", "Frame=3-4"], env)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    changed = {n for n, m in stamps.items() if (frames / n).stat().st_mtime_ns != m}
    assert changed == {"frame_000002.png", "frame_000003.png"}
    assert {p.name: p.read_bytes() for p in frames.glob("frame_*.png")} == before

    # a second job pointed at the same folder is refused before anything is written
    other = dict(params, JobId="another-job")
    other_params = folder / "other.json"
    other_params.write_text(json.dumps(other))
    r, _ = openjd_run(bundle, "Capture", env, other_params)
    assert r.returncode != 0 and "belongs to another job" in r.stdout + r.stderr
    assert {p.name: p.read_bytes() for p in frames.glob("frame_*.png")} == before
    assert (job / ".talking_head_job").read_text().strip() == params["JobId"]


def test_job_steps_refuse_bad_input(addon, farm_env, audaspace):
    import bpy

    folder, blender, env = farm_env
    empty = folder / "empty.blend"
    bpy.ops.wm.read_homefile(use_empty=True)
    bpy.ops.wm.save_as_mainfile(filepath=str(empty))
    cap = ["-c", "talking_head", "capture", "--keep-keys", "--job-id", "j1"]
    r, _ = run([blender, "-b", empty, *cap, "--blend", empty, "--job-dir", folder / "j_empty"], env)
    assert r.returncode == 2 and "pass --portrait NAME (portraits in this file: none)" in r.stderr
    assert not (folder / "j_empty").exists()  # nothing claimed or written

    two = folder / "two.blend"
    make_shot(addon, folder / "two_dir") if (folder / "two_dir").mkdir() is None else None
    bpy.ops.wm.open_mainfile(filepath=str(folder / "two_dir" / "shot.blend"))
    scene = bpy.context.scene
    coll = mod(addon, "adapters.compat").strip_collection(scene)
    second = coll.new_image("Second", str(PORTRAIT), channel=3, frame_start=FIRST)
    mod(addon, "adapters.strips").item_for_strip(scene, second, create=True)
    bpy.ops.wm.save_as_mainfile(filepath=str(two))
    r, _ = run([blender, "-b", two, *cap, "--blend", two, "--job-dir", folder / "j_two"], env)
    assert r.returncode == 2 and "pass --portrait NAME" in r.stderr and "Portrait, Second" in r.stderr
    assert not (folder / "j_two").exists()
    # a portrait without keys and without a driving clip: nothing to capture, nothing claimed
    r, _ = run([blender, "-b", two, *cap, "--blend", two, "--portrait", "Second",
                "--job-dir", folder / "j_two"], env)
    assert r.returncode == 2 and "pick the driving movie or sound strip first" in r.stderr
    assert not (folder / "j_two").exists()

    # render/encode into a folder no Capture step claimed
    r, _ = run([blender, "-b", two, "-c", "talking_head", "render", "--blend", two, "--portrait",
                "Portrait", "--frames", "1-2", "--job-dir", folder / "nojob", "--job-id", "j1"], env)
    assert r.returncode == 2 and "not a farm job folder" in r.stderr
    # the launcher refuses what it does not emulate, and unknown commands, like Blender
    r, _ = run([blender, "-b", two, "--render-anim"], env)
    assert r.returncode != 0 and "unsupported argument" in r.stderr
    r, _ = run([blender, "-b", two, "-c", "nope"], env)
    assert r.returncode == 1 and "Unrecognized command" in r.stderr
    r, _ = run([blender, "-b", two, "--python-exit-code", "3", "--python-expr", "import bpy; 1/0"], env)
    assert r.returncode == 3
    shutil.rmtree(folder / "two_dir", ignore_errors=True)


def test_capture_step_keys_a_copy_and_leaves_the_artists_file(addon, farm_env):
    """A portrait without keys: the Capture step captures the driving strip into the job's copy."""
    import hashlib

    import bpy

    driving = SHARED / "testdata" / "driving" / "d1_single_blink.mp4"
    if not driving.is_file():
        pytest.skip("shared driving clip missing (../shared)")
    folder, blender, env = farm_env
    bpy.ops.wm.read_homefile(use_empty=True)
    scene = bpy.context.scene
    scene.render.fps, scene.frame_start, scene.frame_end = 30, 1, 4
    coll = mod(addon, "adapters.compat").strip_collection(scene)
    coll.new_movie("Driving", str(driving), channel=1, frame_start=1)
    por = coll.new_image("Portrait", str(PORTRAIT), channel=2, frame_start=1)
    _compat().set_strip_timing(por, "duration", 4)
    item = mod(addon, "adapters.strips").item_for_strip(scene, por, create=True)
    item.driving_strip = "Driving"
    blend = folder / "unkeyed.blend"
    bpy.ops.wm.save_as_mainfile(filepath=str(blend))
    digest = hashlib.sha256(blend.read_bytes()).hexdigest()

    job = folder / "unkeyed_job"
    r, _ = run([blender, "-b", blend, "-c", "talking_head", "capture", "--blend", blend, "--keep-keys",
                "--job-dir", job, "--job-id", "cap1"], env)
    assert r.returncode == 0, r.stderr[-3000:]
    assert "captured 16 frames" in r.stdout  # every frame the 16-frame driving strip shows
    assert hashlib.sha256(blend.read_bytes()).hexdigest() == digest  # the artist's file is untouched
    bpy.ops.wm.open_mainfile(filepath=str(job / "talking_head_job.blend"))
    scene = bpy.context.scene
    item = mod(addon, "adapters.strips").find_item(scene, "Portrait")
    fc = mod(addon, "adapters.keyframes").control_fcurves(scene, item)["eye_open_l"]
    assert [k.co.x for k in fc.keyframe_points] == [float(f) for f in range(1, 17)]

    # the operator refuses what the farm could not do, before writing anything
    for kw, message in [({"frames": "1-50"}, "outside the portrait"),
                        ({"chunk_size": 5}, "chunk size 5 is larger than the frame range 1-4"),
                        ({"frames": "1-2,3-4"}, "one contiguous range"),
                        ({"portrait": "Nobody"}, "no portrait named 'Nobody'")]:
        kw = {"portrait": "Portrait", **kw}
        with pytest.raises(RuntimeError, match=message):
            bpy.ops.talking_head.export_farm_job(directory=str(folder / "bad_bundle"), **kw)
    assert not (folder / "bad_bundle").exists()
