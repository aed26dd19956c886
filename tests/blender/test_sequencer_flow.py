"""Sequencer workflow on the installed extension: capture -> keys, render -> result strip,
hand edits, Blender's own Sequencer render, cancel, save/reload, undo.

Runs on the real shared media: d1_single_blink (16 frames, eyes closed 4-13 per MANIFEST.md)
and photo_woman.jpg rendered at 25 % to keep the tier short.
"""

from __future__ import annotations

import importlib
import threading
from pathlib import Path

import numpy as np
import pytest


def _compat():  # strip timing by Blender 5.3's names on every Blender (adapters/compat.py)
    return importlib.import_module("bl_ext.user_default.talking_head.adapters.compat")

ROOT = Path(__file__).resolve().parents[2]
SHARED = ROOT.parent / "shared"
BLINK = SHARED / "testdata" / "driving" / "d1_single_blink.mp4"
PORTRAIT = SHARED / "testdata" / "portraits" / "photo_woman.jpg"

pytestmark = pytest.mark.skipif(not BLINK.is_file() or not PORTRAIT.is_file(),
                                reason="shared test media missing (../shared)")


def mod(addon, name):
    return importlib.import_module(f"{addon}.{name}")


def span(addon, text):
    """Inclusive frames, parsed by the add-on's one parser."""
    return mod(addon, "engine.frames").parse_frames(text)


def png(path):
    import cv2

    img = cv2.imread(str(path), cv2.IMREAD_COLOR)
    assert img is not None, path
    return img


@pytest.fixture
def setup(addon, tmp_path):
    """An empty file saved in tmp_path with a 30 fps scene: portrait strip on channel 2 (frames
    1-16), driving strip on channel 1."""
    import bpy

    bpy.ops.wm.read_homefile(use_empty=True)
    assert addon in bpy.context.preferences.addons
    scene = bpy.context.scene
    scene.render.fps, scene.render.fps_base = 30, 1.0
    scene.frame_start, scene.frame_end = 1, 16
    compat = mod(addon, "adapters.compat")
    coll = compat.strip_collection(scene)
    drv = coll.new_movie("Driving", str(BLINK), channel=1, frame_start=1)
    por = coll.new_image("Portrait", str(PORTRAIT), channel=2, frame_start=1)
    _compat().set_strip_timing(por, "duration", 16)
    bpy.ops.wm.save_as_mainfile(filepath=str(tmp_path / "shot.blend"))
    strips = mod(addon, "adapters.strips")
    item = strips.item_for_strip(scene, por, create=True)
    item.driving_strip = drv.name
    item.scale = 25
    return bpy.context.scene, item


def run(addon, task):
    return mod(addon, "adapters.flows").run_sync(task, echo=False)


def controls(addon, scene, item, frames):
    return mod(addon, "adapters.keyframes").evaluate_controls(scene, item, np.asarray(frames))


def col(name):
    from importlib import import_module  # noqa: F401  (engine names are stable)

    order = ["head_yaw", "head_pitch", "head_roll", "head_x", "head_y", "head_scale", "eye_open_l",
             "eye_open_r", "gaze_x", "gaze_y", "brow_l", "brow_r", "mouth_open", "mouth_smile",
             "mouth_wide", "mouth_pucker"]
    return order.index(name)


def test_capture_keys_blink_and_grouped_channels(addon, setup):
    import bpy

    scene, item = setup
    result = bpy.ops.talking_head.capture(portrait=item.name)
    assert result == {"FINISHED"}
    kf = mod(addon, "adapters.keyframes")
    curves = kf.control_fcurves(scene, item)
    assert len(curves) == 16
    for fc in curves.values():
        xs = [k.co.x for k in fc.keyframe_points]
        assert xs == [float(f) for f in range(1, 17)]
        assert fc.group is not None and fc.group.name.split(" (")[0] in {"Head", "Eyes", "Brows", "Mouth"}
    assert curves["mouth_open"].group.name.startswith("Mouth")
    vals = controls(addon, scene, item, range(1, 17))
    eye = (vals[:, col("eye_open_l")] + vals[:, col("eye_open_r")]) / 2
    # strip starts at scene frame 1 = source frame 0: closed source frames 4-13 -> scene 5-14
    closed, open_ = eye[5:13].min(), np.r_[eye[:2], eye[15:]]
    assert closed < 0.5 and open_.min() > 0.7, eye
    assert vals[:, col("mouth_open")].max() < 0.3  # "no mouth"


def test_capture_honours_trim_and_offset(addon, setup):
    scene, item = setup
    compat = mod(addon, "adapters.compat")
    drv = compat.get_strip(scene, item.driving_strip)
    _compat().set_strip_timing(drv, "content_start", 11)          # content starts at scene frame 11
    # first 3 source frames trimmed: visible 14..26
    _compat().set_strip_timing(drv, "left_handle_offset", 3)
    rng = mod(addon, "adapters.strips").driving_range(scene, drv)
    assert rng.scene_frames[0] == 14 and rng.scene_frames[-1] == 26
    assert rng.source_frames[0] == 3 and rng.source_frames[-1] == 15
    run(addon, mod(addon, "adapters.flows").prepare_capture(scene, item))
    curves = mod(addon, "adapters.keyframes").control_fcurves(scene, item)
    xs = [k.co.x for k in curves["eye_open_l"].keyframe_points]
    assert xs[0] == 14 and xs[-1] == 26
    eye = controls(addon, scene, item, range(14, 27))[:, col("eye_open_l")]
    # source 4-13 closed -> scene 15-24; the last frames (source 14, 15) are open again
    assert eye[3:9].min() < 0.5 and eye[-1] > 0.7, eye


def _sample_keys(addon, scene, item):
    from importlib import import_module

    # 1.0-1.5 s of the built-in performance: mid-phrase, the mouth opens and closes
    sample = import_module(f"{addon}.engine.sample").sample_performance(2.0, 30).slice(30, 46)
    mod(addon, "adapters.keyframes").write_controls(scene, item, np.arange(1, 17), sample.to_array())
    return sample


def test_render_places_strip_and_hand_edits_change_exactly_those_frames(addon, setup, tmp_path):
    import bpy

    scene, item = setup
    sample = _sample_keys(addon, scene, item)
    assert bpy.ops.talking_head.render(portrait=item.name) == {"FINISHED"}
    compat = mod(addon, "adapters.compat")
    strip = compat.get_strip(scene, item.result_strip)
    portrait = compat.get_strip(scene, item.portrait_strip)
    assert strip.type == "IMAGE" and len(strip.elements) == 16
    assert _compat().strip_handles(strip) == _compat().strip_handles(portrait) == (1, 17)
    assert strip.channel == portrait.channel + 1
    # rendered at 25 % (128 px): scaled up to lie exactly over the 512 px portrait
    assert strip.elements[0].orig_width == 128
    assert strip.transform.scale_x == pytest.approx(4 * portrait.transform.scale_x)
    first = Path(bpy.path.abspath(item.result_dir))
    assert first.parent == tmp_path / "talking_head" / "Portrait"
    before = {p.name: png(p) for p in first.glob("frame_*.png")}
    assert sorted(before) == [f"frame_{i:06d}.png" for i in range(16)]

    # force mouth_open to 0 on scene frames 4-9 where the sample talks
    mouth = sample.controls["mouth_open"]
    edited = [f for f in range(4, 10) if mouth[f - 1] > 0.05]
    assert len(edited) >= 3
    fc = mod(addon, "adapters.keyframes").control_fcurves(scene, item)["mouth_open"]
    for kp in fc.keyframe_points:
        if 4 <= kp.co.x <= 9:
            kp.co.y = 0.0
    fc.update()
    assert bpy.ops.talking_head.render(portrait=item.name) == {"FINISHED"}
    second = Path(bpy.path.abspath(item.result_dir))
    assert second != first and not first.exists()  # our previous result replaced, folder removed
    assert len(mod(addon, "adapters.strips").result_strips(scene, item)) == 1
    changed = []
    for i in range(16):
        a, b = before[f"frame_{i:06d}.png"], png(second / f"frame_{i:06d}.png")
        if not np.array_equal(a, b):
            changed.append(i + 1)  # scene frame
    assert changed and set(changed) <= set(range(4, 10)), changed
    assert set(edited) <= set(changed), (edited, changed)


def test_sequencer_render_animation_writes_frames(addon, setup, tmp_path):
    import bpy

    scene, item = setup
    _sample_keys(addon, scene, item)
    item.scale = 100
    scene.frame_start, scene.frame_end = 3, 6
    assert run(addon, mod(addon, "adapters.flows").prepare_render(scene, item, span(addon, "3-6")))
    result = mod(addon, "adapters.compat").get_strip(scene, item.result_strip)
    assert _compat().strip_timing(result, "left_handle") == 3 and len(result.elements) == 4
    rd = scene.render
    rd.use_sequencer = True
    rd.resolution_x, rd.resolution_y, rd.resolution_percentage = 512, 512, 100
    rd.image_settings.file_format = "PNG"
    scene.view_settings.view_transform = "Standard"
    rd.filepath = str(tmp_path / "seq" / "f_")
    bpy.ops.render.render(animation=True)
    written = sorted((tmp_path / "seq").glob("f_*.png"))
    assert [p.name for p in written] == [f"f_{f:04d}.png" for f in range(3, 7)]
    ours = Path(bpy.path.abspath(item.result_dir))
    for k, p in enumerate(written):
        diff = np.abs(png(p).astype(int) - png(ours / f"frame_{k + 2:06d}.png").astype(int)).mean()
        assert diff < 3.0, (p.name, diff)


def test_cancel_leaves_scene_and_previous_result(addon, setup):
    scene, item = setup
    flows = mod(addon, "adapters.flows")
    jobs = mod(addon, "adapters.jobs")
    _sample_keys(addon, scene, item)
    run(addon, flows.prepare_render(scene, item))
    old_strip, old_dir = item.result_strip, Path(__import__("bpy").path.abspath(item.result_dir))
    keys_before = controls(addon, scene, item, range(1, 17))
    task = flows.prepare_render(scene, item)
    inner = task.work
    third = threading.Event()

    def work(progress):
        cb = progress.callback

        def on(done, total, msg):
            cb(done, total, msg)
            if done >= 3:
                third.set()
                progress.cancel()
        progress.callback = on
        return inner(progress)

    job = jobs.Job(task.label, work, key=scene.name).start()  # the modal operator's thread path
    assert job.join(120)
    job.forget()
    assert third.is_set() and job.cancelled
    from importlib import import_module

    with pytest.raises(import_module(f"{addon}.engine.progress").Cancelled):
        flows.complete(task, job)
    assert item.result_strip == old_strip
    assert mod(addon, "adapters.compat").get_strip(scene, old_strip) is not None
    assert len(list(old_dir.glob("frame_*.png"))) == 16
    assert sorted(p.name for p in old_dir.parent.iterdir()) == [old_dir.name]  # partial one removed
    assert np.array_equal(keys_before, controls(addon, scene, item, range(1, 17)))


def test_save_reload_keeps_controls_keys_and_links(addon, setup, tmp_path):
    import bpy

    scene, item = setup
    _sample_keys(addon, scene, item)
    run(addon, mod(addon, "adapters.flows").prepare_render(scene, item, span(addon, "1-4")))
    values = controls(addon, scene, item, range(1, 17))
    name, uid, result = item.name, item.uid, item.result_strip
    bpy.ops.wm.save_mainfile()
    bpy.ops.wm.read_homefile(use_empty=True)
    bpy.ops.wm.open_mainfile(filepath=str(tmp_path / "shot.blend"))
    scene = bpy.context.scene
    item = mod(addon, "adapters.strips").find_item(scene, name)
    assert item is not None and item.uid == uid
    assert item.portrait_strip == "Portrait" and item.driving_strip == "Driving"
    assert item.result_strip == result
    strip = mod(addon, "adapters.compat").get_strip(scene, result)
    assert strip is not None and strip.get("talking_head_result") == uid and len(strip.elements) == 4
    assert np.allclose(values, controls(addon, scene, item, range(1, 17)), atol=1e-6)


def test_undo_after_capture_removes_keys(addon, setup):
    import bpy

    scene, item = setup
    bpy.ops.ed.undo_push(message="before capture")
    assert bpy.ops.talking_head.capture(portrait=item.name) == {"FINISHED"}
    bpy.ops.ed.undo_push(message="after capture")
    scene = bpy.context.scene
    kf = mod(addon, "adapters.keyframes")
    strips = mod(addon, "adapters.strips")
    assert kf.has_keys(scene, strips.find_item(scene, "Portrait"))
    bpy.ops.ed.undo()
    scene = bpy.context.scene
    assert not kf.has_keys(scene, strips.find_item(scene, "Portrait"))


def test_setup_errors_are_reported_not_raised(addon, setup):
    import bpy

    scene, item = setup
    item.driving_strip = "nope"
    with pytest.raises(RuntimeError, match="driving strip 'nope' not found"):
        bpy.ops.talking_head.capture(portrait=item.name)
    # render refuses an output folder holding the user's own frames and leaves them alone
    user = Path(bpy.path.abspath("//mine"))
    user.mkdir()
    (user / "frame_000000.png").write_bytes(b"user data")
    with pytest.raises(RuntimeError, match="exists"):
        bpy.ops.talking_head.render(portrait=item.name, output=str(user), frames="1-3")
    assert (user / "frame_000000.png").read_bytes() == b"user data"


def test_capture_keeps_the_neutral_head_pose_for_the_head_pose_modes(addon, setup):
    """Capture stores the driving clip's neutral absolute head pose on the portrait; the render
    puts it back into the motion built from the curves, so Head Pose (auto by default) can place
    the head absolutely (engine/render/builtin/pose.py). A damaged property renders relative."""
    import json

    import bpy

    scene, item = setup
    assert item.head_pose == "auto" and item.neutral_head_pose == ""
    assert bpy.ops.talking_head.capture(portrait=item.name) == {"FINISHED"}
    doc = json.loads(item.neutral_head_pose)
    assert set(doc["head_pose"]) >= {"yaw", "pitch", "roll"} and doc["width"] > 0 and doc["height"] > 0
    flows, kf = mod(addon, "adapters.flows"), mod(addon, "adapters.keyframes")
    motion = kf.motion_from_scene(scene, item, np.arange(1, 17))
    assert "head_pose" not in motion.calibration
    flows.with_neutral_pose(motion, item.neutral_head_pose)
    assert motion.calibration["head_pose"]["yaw"] == pytest.approx(doc["head_pose"]["yaw"])
    assert (motion.source["width"], motion.source["height"]) == (doc["width"], doc["height"])
    broken = kf.motion_from_scene(scene, item, np.arange(1, 17))
    flows.with_neutral_pose(broken, '{"head_pose": {"yaw": "x"}}')
    assert "head_pose" not in broken.calibration
    item.head_pose = "relative"
    assert bpy.ops.talking_head.render(portrait=item.name) == {"FINISHED"}
