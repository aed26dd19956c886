"""The ComfyUI renderer on the installed extension, end to end against a real ComfyUI server:
preferences hold the server (URL + token), the portrait picks a template, Render puts the
frames back as the usual result strip, re-render replaces it, Check Server reports, the token
never lands in the .blend. Shared portrait at 25 %, 16 frames, core-node workflow (no models)."""

from __future__ import annotations

import importlib
from pathlib import Path

import numpy as np
import pytest


def _compat():  # strip timing by Blender 5.3's names on every Blender (adapters/compat.py)
    return importlib.import_module("bl_ext.user_default.talking_head.adapters.compat")

ROOT = Path(__file__).resolve().parents[2]
SHARED = ROOT.parent / "shared"
BLINK = SHARED / "testdata" / "driving" / "d1_single_blink.mp4"
PORTRAIT = SHARED / "testdata" / "portraits" / "photo_woman.jpg"
TOKEN = "tok-3f9a-never-in-blend"

pytestmark = pytest.mark.skipif(not BLINK.is_file() or not PORTRAIT.is_file(),
                                reason="shared test media missing (../shared)")


def mod(addon, name):
    return importlib.import_module(f"{addon}.{name}")


def png(path):
    import cv2

    img = cv2.imread(str(path), cv2.IMREAD_COLOR)
    assert img is not None, path
    return img.astype(np.float32)


@pytest.fixture
def setup(addon, comfyui, tmp_path):
    import bpy

    bpy.ops.wm.read_homefile(use_empty=True)
    scene = bpy.context.scene
    scene.render.fps, scene.render.fps_base = 30, 1.0
    scene.frame_start, scene.frame_end = 1, 16
    compat = mod(addon, "adapters.compat")
    coll = compat.strip_collection(scene)
    drv = coll.new_movie("Driving", str(BLINK), channel=1, frame_start=1)
    por = coll.new_image("Portrait", str(PORTRAIT), channel=2, frame_start=1)
    _compat().set_strip_timing(por, "duration", 16)
    bpy.ops.wm.save_as_mainfile(filepath=str(tmp_path / "shot.blend"))
    item = mod(addon, "adapters.strips").item_for_strip(scene, por, create=True)
    item.driving_strip = drv.name
    item.scale = 25
    prefs = mod(addon, "prefs").get_prefs()
    prefs.comfy_servers.clear()
    server = prefs.comfy_servers.add()
    server.name, server.url, server.token = "test box", comfyui.url, TOKEN
    sample = mod(addon, "engine.sample").sample_performance(2.0, 30).slice(30, 46)
    mod(addon, "adapters.keyframes").write_controls(scene, item, np.arange(1, 17), sample.to_array())
    yield scene, item
    prefs.comfy_servers.clear()


def test_render_through_comfyui_places_the_result_strip(addon, setup, tmp_path):
    import bpy
    import cv2

    scene, item = setup
    compat = mod(addon, "adapters.compat")
    # the built-in renderer's frames: what the guide video (rendered from the curves) shows
    assert bpy.ops.talking_head.render(portrait=item.name) == {"FINISHED"}
    builtin_dir = Path(bpy.path.abspath(item.result_dir))
    guide = {p.name: png(p) for p in builtin_dir.glob("frame_*.png")}

    item.renderer = "comfyui"
    item.comfy_workflow = "core_roundtrip"
    item.comfy_server = "test box"
    assert bpy.ops.talking_head.render(portrait=item.name) == {"FINISHED"}
    strip = compat.get_strip(scene, item.result_strip)
    portrait = compat.get_strip(scene, item.portrait_strip)
    assert strip.type == "IMAGE" and len(strip.elements) == 16
    assert _compat().strip_handles(strip) == (1, 17)
    assert strip.channel == portrait.channel + 1 and strip.elements[0].orig_width == 128
    first = Path(bpy.path.abspath(item.result_dir))
    assert first != builtin_dir and not builtin_dir.exists()  # the previous result was replaced
    still = cv2.resize(cv2.imread(str(PORTRAIT)), (128, 128), interpolation=cv2.INTER_AREA).astype(np.float32)
    errs = []
    for name, g in sorted(guide.items()):
        got = png(first / name)
        errs.append(float(np.abs(got - (0.75 * g + 0.25 * still)).mean()))
    assert max(errs) < 8.0, errs  # the workflow's blend of the guide, through two h264 encodes

    # re-render: a new folder replaces ours, one result strip
    assert bpy.ops.talking_head.render(portrait=item.name) == {"FINISHED"}
    assert not first.exists() and len(mod(addon, "adapters.strips").result_strips(scene, item)) == 1

    # the token lives in the preferences only: never in the saved .blend
    bpy.ops.wm.save_mainfile()
    assert TOKEN.encode() not in Path(bpy.data.filepath).read_bytes()
    assert "test box" == item.comfy_server  # the .blend names the server, not its secret


def test_driving_clip_drive_and_check_server(addon, setup, comfyui):
    import bpy

    scene, item = setup
    item.renderer = "comfyui"
    item.comfy_workflow = "core_roundtrip"
    item.comfy_drive = "driving"
    options, kwargs = mod(addon, "adapters.comfyui").render_setup(scene, item, np.arange(1, 17))
    assert options["server"] == comfyui.url and options["token"] == TOKEN
    assert kwargs["driving"].endswith("d1_single_blink.mp4")
    assert len(kwargs["driving_indices"]) == 16 and kwargs["driving_indices"][0] == 0
    assert bpy.ops.talking_head.render(portrait=item.name) == {"FINISHED"}
    assert len(list(Path(bpy.path.abspath(item.result_dir)).glob("frame_*.png"))) == 16

    assert bpy.ops.talking_head.comfy_check(server="test box") == {"FINISHED"}
    lines = mod(addon, "adapters.comfyui").check_server("test box")
    assert "core_roundtrip: ready" in lines
    assert "hellomeme: needs pack ComfyUI_HelloMeme" in lines


def test_unreachable_server_is_reported_not_raised(addon, setup, tmp_path):
    import bpy

    scene, item = setup
    prefs = mod(addon, "prefs").get_prefs()
    prefs.comfy_servers[0].url = "http://127.0.0.1:9"  # nothing listens there
    item.renderer = "comfyui"
    before = item.result_strip
    # background mode turns the operator's ERROR report into RuntimeError: one sentence, no traceback
    with pytest.raises(RuntimeError, match=r"cannot reach the ComfyUI server at http://127.0.0.1:9 .*start"):
        bpy.ops.talking_head.render(portrait=item.name)
    assert item.result_strip == before
    prefs.comfy_servers[0].url = "http://192.0.2.7:8188"  # not this machine, online access off
    if not getattr(bpy.app, "online_access", False):
        with pytest.raises(RuntimeError, match="Allow Online Access"):
            bpy.ops.talking_head.render(portrait=item.name)
    with pytest.raises(RuntimeError, match="Allow Online Access|cannot reach"):
        bpy.ops.talking_head.comfy_check(server="test box")
    # https: the server's CA File (preferences: an absolute path) reaches the client; a bad one
    # is one sentence
    prefs.comfy_servers[0].url = "https://127.0.0.1:9"
    prefs.comfy_servers[0].ca_file = str(tmp_path / "no_such_ca.pem")
    options, _ = mod(addon, "adapters.comfyui").render_setup(scene, item, np.arange(1, 17))
    assert options["ca_file"] == str(tmp_path / "no_such_ca.pem")
    with pytest.raises(RuntimeError, match="cannot use no_such_ca.pem as the ComfyUI server's CA"):
        bpy.ops.talking_head.comfy_check(server="test box")


def test_esc_cancels_the_job_on_the_server(addon, setup, comfyui, tmp_path):
    """The modal operator's path (a Job thread, cancel = Esc): the server stops our prompt, the
    scene and the previous result stay as they were."""
    import json

    import bpy

    scene, item = setup
    flows, jobs = mod(addon, "adapters.flows"), mod(addon, "adapters.jobs")
    assert bpy.ops.talking_head.render(portrait=item.name) == {"FINISHED"}  # a previous result
    old_strip, old_dir = item.result_strip, Path(bpy.path.abspath(item.result_dir))
    model = comfyui.add_slow_upscale_model()

    def node(cls, title=None, **inputs):
        return {"class_type": cls, "inputs": inputs, **({"_meta": {"title": title}} if title else {})}

    graph = {
        "1": node("LoadImage", "th:portrait", image="x.png"),
        "2": node("LoadVideo", "th:video", file="x.mp4"),
        "3": node("GetVideoComponents", video=["2", 0]),
        "4": node("UpscaleModelLoader", model_name=model),
        "5": node("ImageUpscaleWithModel", upscale_model=["4", 0], image=["3", 0]),
        "6": node("CreateVideo", images=["5", 0], fps=["3", 2]),
        "7": node("SaveVideo", "th:output", video=["6", 0], filename_prefix="talking_head/slow",
                  format="auto", codec="auto"),
    }
    wf = tmp_path / "slow.json"
    wf.write_text(json.dumps(graph))
    item.renderer, item.comfy_workflow, item.comfy_workflow_path = "comfyui", "CUSTOM", str(wf)
    task = flows.prepare_render(scene, item)
    inner = task.work
    seen = []

    def work(progress):
        cb = progress.callback

        def on(done, total, msg):
            cb(done, total, msg)
            seen.append(msg)
            if " step " in msg:
                progress.cancel()  # what Esc does in the modal operator
        progress.callback = on
        return inner(progress)

    job = jobs.Job(task.label, work, key=scene.name).start()
    assert job.join(120)
    job.forget()
    assert job.cancelled, (job.error, seen[-5:])
    with pytest.raises(importlib.import_module(f"{addon}.engine.progress").Cancelled):
        flows.complete(task, job)
    client = mod(addon, "adapters.comfyui").client_for("test box")
    import time

    deadline = time.monotonic() + 30
    while client.queue().get("queue_running") and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not client.queue().get("queue_running"), "the job kept running on the server"
    assert item.result_strip == old_strip and len(list(old_dir.glob("frame_*.png"))) == 16
    assert sorted(p.name for p in old_dir.parent.iterdir()) == [old_dir.name]  # partial one removed


def test_blender_command_line_renders_through_comfyui(addon, comfyui, tmp_path):
    """`blender -c talking_head render PORTRAIT MOTION -o DIR --renderer comfyui --workflow ...`"""
    import cv2

    main = mod(addon, "cli_command").main
    motion = mod(addon, "engine.sample").sample_performance(0.2, 25.0)
    motion.save(tmp_path / "m.json")
    small = tmp_path / "p.png"
    cv2.imwrite(str(small), cv2.resize(cv2.imread(str(PORTRAIT)), (96, 96), interpolation=cv2.INTER_AREA))
    out = tmp_path / "frames"
    assert main(["render", str(small), str(tmp_path / "m.json"), "-o", str(out), "--renderer", "comfyui",
                 "--workflow", "core_roundtrip", "--server", comfyui.url]) == 0
    assert len(list(out.glob("frame_*.png"))) == motion.frame_count
    # a server that is not this machine needs --allow-network (or Blender's online access)
    import bpy

    if getattr(bpy.app, "online_access", False):
        return
    assert main(["render", str(small), str(tmp_path / "m.json"), "-o", str(tmp_path / "f2"),
                 "--renderer", "comfyui", "--workflow", "core_roundtrip",
                 "--server", "http://192.0.2.7:8188"]) == 2
