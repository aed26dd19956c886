"""The 4 body curves on the portrait (issue 22): a capture with Body of a real shared clip keys
torso_lean, torso_turn, shoulder_raise_l/_r next to the 16 face controls with the engine capture's
values; the Blender render's motion carries them (an edited key changes the torso in the frame);
a portrait without body keys renders without them; Clear removes them; one undo step.

d0_smile_blink (25 fps, shoulders seen) on a 25 fps scene, so scene frame f is clip frame f - 1
exactly; photo_woman.jpg (the built-in renderer's shoulder warp finds its shoulders) at 25 %."""

from __future__ import annotations

import importlib
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
D0 = ROOT.parent / "shared" / "testdata" / "driving" / "d0_smile_blink.mp4"
PORTRAIT = ROOT.parent / "shared" / "testdata" / "portraits" / "photo_woman.jpg"
N = 12
FRAMES = f"1-{N}"


def mod(addon, name):
    return importlib.import_module(f"{addon}.{name}")


@pytest.fixture
def shot(addon, tmp_path):
    if not D0.is_file() or not PORTRAIT.is_file():
        pytest.skip("../shared/testdata not present")
    import bpy

    bpy.ops.wm.read_homefile(use_empty=True)
    scene = bpy.context.scene
    scene.render.fps, scene.render.fps_base, scene.frame_start, scene.frame_end = 25, 1.0, 1, N
    compat = mod(addon, "adapters.compat")
    coll = compat.strip_collection(scene)
    drv = coll.new_movie("Driving", str(D0), channel=1, frame_start=1)
    por = coll.new_image("Portrait", str(PORTRAIT), channel=2, frame_start=1)
    compat.set_strip_timing(por, "duration", N)
    bpy.ops.wm.save_as_mainfile(filepath=str(tmp_path / "shot.blend"))
    item = mod(addon, "adapters.strips").item_for_strip(scene, por, create=True)
    item.driving_strip, item.scale, item.capture_body = drv.name, 25, True
    return scene, item


def item_of(addon, scene):
    return mod(addon, "adapters.strips").find_item(scene, "Portrait")


def body_keys(addon, scene, item):
    """name -> (frames, values) of the item's body curves."""
    out = {}
    for name, fc in mod(addon, "adapters.keyframes").body_fcurves(scene, item).items():
        co = np.array([k.co[:] for k in fc.keyframe_points])
        out[name] = (co[:, 0], co[:, 1]) if len(co) else (np.zeros(0), np.zeros(0))
    return out


@pytest.fixture
def engine_body(addon):
    # the engine's own capture of the same clip frames, smoothing as the preferences' default
    smoothing = mod(addon, "prefs").default_smoothing()
    m = mod(addon, "engine.capture").capture(D0, start=0, stop=N, body=True, smoothing=smoothing)
    return m.body


def test_capture_with_body_keys_the_four_curves_as_the_engine_computes_them(addon, shot, engine_body):
    import bpy

    scene, item = shot
    names = mod(addon, "engine.body").BODY_CONTROL_NAMES
    assert bpy.ops.talking_head.capture(portrait=item.name, frames=FRAMES) == {"FINISHED"}
    keys = body_keys(addon, scene, item)
    assert set(keys) == set(names)
    for name in names:
        frames, values = keys[name]
        assert frames.tolist() == list(range(1, N + 1)), name
        assert np.allclose(values, engine_body.controls[name], atol=1e-3), \
            (name, values, engine_body.controls[name])
    # a real performance, not all zeros (0 only at the neutral frame)
    assert max(np.abs(keys[n][1]).max() for n in names) > 1e-3
    # grouped next to the face's groups, and the UI value follows the keys
    groups = {g.name for g in mod(addon, "adapters.compat").groups(scene)}
    assert f"Body ({item.name})" in groups and f"Head ({item.name})" in groups
    scene.frame_set(5)
    assert item.torso_turn == pytest.approx(float(engine_body.controls["torso_turn"][4]), abs=1e-3)


def test_an_edited_body_key_moves_the_torso_in_the_render(addon, shot, tmp_path, monkeypatch):
    import bpy
    import cv2

    scene, item = shot
    flows = mod(addon, "adapters.flows")
    pipeline = mod(addon, "engine.pipeline")
    frames = mod(addon, "engine.frames").parse_frames("7")
    assert bpy.ops.talking_head.capture(portrait=item.name, frames=FRAMES) == {"FINISHED"}
    seen = []
    real = pipeline.render_motion

    def spy(renderer, rgb, motion, *args, **kw):
        seen.append(motion)
        return real(renderer, rgb, motion, *args, **kw)

    monkeypatch.setattr(pipeline, "render_motion", spy)

    def render(folder):
        flows.run_sync(flows.prepare_render(scene, item, frames=frames, output=str(folder)), echo=False)
        return cv2.imread(str(folder / "frame_000006.png")).astype(int)

    before = render(tmp_path / "a")
    captured = float(body_keys(addon, scene, item)["shoulder_raise_l"][1][6])
    assert seen[-1].frame(6)["shoulder_raise_l"] == pytest.approx(captured, abs=1e-5)
    # the artist raises the left shoulder on frame 7 in the Graph Editor
    fc = mod(addon, "adapters.keyframes").body_fcurves(scene, item)["shoulder_raise_l"]
    key = next(k for k in fc.keyframe_points if round(k.co[0]) == 7)
    key.co[1] = key.handle_left[1] = key.handle_right[1] = captured + 0.25
    fc.update()
    after = render(tmp_path / "b")
    assert seen[-1].frame(6)["shoulder_raise_l"] == pytest.approx(captured + 0.25, abs=1e-5)
    assert seen[-1].frame(5)["shoulder_raise_l"] != pytest.approx(captured + 0.25, abs=1e-3)
    diff = np.abs(after - before).max(axis=2)
    h = diff.shape[0]
    # the torso moved (the bottom part of the portrait), the top rows (above the chin) did not
    assert (diff[h // 2:] > 30).sum() > 50, (diff[h // 2:] > 30).sum()
    assert diff[: h // 8].max() == 0

    # Clear: the body curves go, and the render's motion has no body curves (as before the feature)
    assert bpy.ops.talking_head.clear(portrait=item.name) == {"FINISHED"}
    assert not mod(addon, "adapters.keyframes").has_body_keys(scene, item)
    render(tmp_path / "c")
    assert seen[-1].body is None
    assert "shoulder_raise_l" not in seen[-1].frame(6)


def test_clear_removes_the_body_curves_and_undo_brings_them_back(addon, shot):
    import bpy

    scene, item = shot
    kf = mod(addon, "adapters.keyframes")
    names = mod(addon, "engine.body").BODY_CONTROL_NAMES
    bpy.ops.ed.undo_push(message="before capture")
    assert bpy.ops.talking_head.capture(portrait=item.name, frames=FRAMES) == {"FINISHED"}
    bpy.ops.ed.undo_push(message="capture")
    scene = bpy.context.scene
    item = item_of(addon, scene)
    assert len(kf.body_fcurves(scene, item)) == 4
    assert bpy.ops.talking_head.clear(portrait=item.name) == {"FINISHED"}
    bpy.ops.ed.undo_push(message="clear")
    scene = bpy.context.scene
    item = item_of(addon, scene)
    assert kf.body_fcurves(scene, item) == {}
    assert all(getattr(item, n) == 0.0 for n in names)
    groups = mod(addon, "adapters.compat").groups(scene) or ()
    assert not any(g.name == f"Body ({item.name})" for g in groups)
    bpy.ops.ed.undo()  # the clear undone: the curves are back
    scene = bpy.context.scene
    item = item_of(addon, scene)
    assert len(kf.body_fcurves(scene, item)) == 4
    bpy.ops.ed.undo()  # the capture undone: no body curves, no face keys
    scene = bpy.context.scene
    item = item_of(addon, scene)
    assert kf.body_fcurves(scene, item) == {} and not kf.has_keys(scene, item)


def test_a_capture_without_body_drops_the_body_keys_of_its_range_only(addon, shot):
    import bpy

    scene, item = shot
    kf = mod(addon, "adapters.keyframes")
    assert bpy.ops.talking_head.capture(portrait=item.name, frames=FRAMES) == {"FINISHED"}
    item.capture_body = False
    assert bpy.ops.talking_head.capture(portrait=item.name, frames="4-8") == {"FINISHED"}
    for name, (frames, _values) in body_keys(addon, scene, item).items():
        assert frames.tolist() == [1, 2, 3, 9, 10, 11, 12], name
    assert mod(addon, "adapters.body_track").load(item)[0].tolist() == [1, 2, 3, 9, 10, 11, 12]
    assert kf.has_body_keys(scene, item)
