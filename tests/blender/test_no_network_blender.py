"""A whole Blender session with the installed extension reaches nothing off loopback: Blender starts,
enables the add-on (its bundled MediaPipe, OpenCV, onnxruntime), captures a driving strip into the
curves, renders the portrait and saves the file, all traced with strace down to every thread and
child. The extension's network features (model downloads, ComfyUI) are off until the user allows
them; MediaPipe 0.10.35+ would fail this with its usage logger's lookup of play.googleapis.com."""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SHARED = ROOT.parent / "shared" / "testdata"
CLIP = SHARED / "driving" / "tps_interview.mp4"
PORTRAIT = SHARED / "portraits" / "photo_woman.jpg"
LAUNCHER = Path(__file__).with_name("blender_launcher.py")

_spec = importlib.util.spec_from_file_location("connect_trace",
                                               ROOT / "tests" / "helpers" / "connect_trace.py")
trace = sys.modules.setdefault("connect_trace", importlib.util.module_from_spec(_spec))
_spec.loader.exec_module(trace)

SESSION = """
import bpy, importlib, sys
addon = "bl_ext.user_default.talking_head"
compat = importlib.import_module(addon + ".adapters.compat")
strips = importlib.import_module(addon + ".adapters.strips")
bpy.ops.wm.read_homefile(use_empty=True)
scene = bpy.context.scene
scene.render.fps, scene.render.fps_base = 25, 1.0
scene.frame_start, scene.frame_end = 1, 169
coll = compat.strip_collection(scene)
drv = coll.new_movie("Driving", {clip!r}, channel=1, frame_start=1)
por = coll.new_image("Portrait", {portrait!r}, channel=2, frame_start=1)
compat.set_strip_timing(por, "duration", 169)
bpy.ops.wm.save_as_mainfile(filepath={blend!r})
item = strips.item_for_strip(scene, por, create=True)
item.driving_strip = drv.name
item.scale = 25
assert bpy.ops.talking_head.capture(portrait=item.name) == {{"FINISHED"}}
scene.frame_start, scene.frame_end = 1, 12
assert bpy.ops.talking_head.render(portrait=item.name) == {{"FINISHED"}}
assert compat.get_strip(scene, item.result_strip) is not None
bpy.ops.wm.save_mainfile()
print("SESSION-DONE")
"""


@pytest.mark.skipif(not CLIP.is_file() or not PORTRAIT.is_file(), reason="../shared missing")
def test_blender_session_capture_render_save_reaches_nothing_off_loopback(addon, user_resources, tmp_path):
    code = SESSION.format(clip=str(CLIP), portrait=str(PORTRAIT), blend=str(tmp_path / "shot.blend"))
    env = dict(os.environ, BLENDER_USER_RESOURCES=str(user_resources), TALKING_HEAD_ADDON_MODULE=addon)
    cmd = [sys.executable, str(LAUNCHER), "-b", "--python-exit-code", "1", "--python-expr", code]
    proc, found = trace.run_traced(cmd, tmp_path / "blender.log", timeout=900, env=env)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    assert "SESSION-DONE" in proc.stdout
    assert (tmp_path / "talking_head").is_dir()  # the render landed beside the .blend
    assert trace.off_loopback(found) == []
