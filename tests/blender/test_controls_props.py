"""The 16 controls as animatable properties (names, units, ranges, tooltips from the engine's
contract), drivers honoured by Render's curve evaluation, undo after render, registration."""

from __future__ import annotations

import importlib
from pathlib import Path

import numpy as np
import pytest


def _compat():  # strip timing by Blender 5.3's names on every Blender (adapters/compat.py)
    return importlib.import_module("bl_ext.user_default.talking_head.adapters.compat")

ROOT = Path(__file__).resolve().parents[2]
SHARED = ROOT.parent / "shared"
PORTRAIT = SHARED / "testdata" / "portraits" / "photo_woman.jpg"


def mod(addon, name):
    return importlib.import_module(f"{addon}.{name}")


def test_controls_are_animatable_properties_matching_the_contract(addon):
    import bpy

    controls = mod(addon, "engine.controls")
    rna = bpy.types.Scene.bl_rna.properties["talking_head"].fixed_type.properties["portraits"] \
        .fixed_type.properties
    for spec in controls.CONTROLS:
        p = rna[spec.name]
        assert p.name == spec.label and p.is_animatable
        assert (p.soft_min, p.soft_max) == pytest.approx((spec.soft_min, spec.soft_max))
        assert (p.hard_min, p.hard_max) == pytest.approx((spec.hard_min, spec.hard_max))
        assert p.default == pytest.approx(spec.neutral)
        assert spec.description in p.description and "unit:" in p.description
    for name in ("SEQUENCER_PT_talking_head", "NODE_PT_talking_head"):
        assert hasattr(bpy.types, name), name
    for op in ("capture", "render", "clear", "add_portrait", "models_download"):
        assert getattr(bpy.ops.talking_head, op).get_rna_type().bl_rna is not None, op
    assert mod(addon, "cli_command")._handle is not None  # `blender -c talking_head` registered
    prefs = bpy.context.preferences.addons[addon].preferences
    assert {"device", "models_dir", "default_renderer", "smoothing"} <= set(prefs.bl_rna.properties.keys())


@pytest.fixture
def scene_item(addon, tmp_path):
    import bpy

    bpy.ops.wm.read_homefile(use_empty=True)
    bpy.ops.wm.save_as_mainfile(filepath=str(tmp_path / "c.blend"))
    scene = bpy.context.scene
    por = mod(addon, "adapters.compat").strip_collection(scene).new_image(
        "Portrait", str(PORTRAIT), channel=1, frame_start=1)
    _compat().set_strip_timing(por, "duration", 6)
    item = mod(addon, "adapters.strips").item_for_strip(scene, por, create=True)
    item.scale = 25
    return scene, item


def test_evaluation_follows_keys_static_values_and_drivers(addon, scene_item):
    scene, item = scene_item
    kf = mod(addon, "adapters.keyframes")
    names = list(mod(addon, "engine.controls").CONTROL_NAMES)
    item.head_yaw = 7.0  # no curve: the static value is used
    values = np.zeros((3, 16), np.float32)
    values[:, names.index("brow_l")] = [0.0, 1.0, 0.0]
    kf.write_controls(scene, item, np.array([1, 3, 5]), values)
    fc = item.driver_add("mouth_open")
    fc.driver.type = "SCRIPTED"
    fc.driver.expression = "frame / 10"
    out = kf.evaluate_controls(scene, item, np.arange(1, 7))
    # keyed curves at keys and in between (linear), the driver per frame
    assert out[:, names.index("brow_l")] == pytest.approx([0, 0.5, 1, 0.5, 0, 0])
    assert out[:, names.index("mouth_open")] == pytest.approx([0.1, 0.2, 0.3, 0.4, 0.5, 0.6])
    assert scene.frame_current == 1  # evaluation restored the current frame


def test_undo_after_render_removes_result_strip(addon, scene_item):
    import bpy

    scene, item = scene_item
    bpy.ops.ed.undo_push(message="before render")
    assert bpy.ops.talking_head.render(portrait=item.name) == {"FINISHED"}
    bpy.ops.ed.undo_push(message="after render")
    scene = bpy.context.scene
    strips = mod(addon, "adapters.strips")
    assert len(strips.result_strips(scene, strips.find_item(scene, "Portrait"))) == 1
    bpy.ops.ed.undo()
    scene = bpy.context.scene
    assert strips.result_strips(scene, strips.find_item(scene, "Portrait")) == []
    bpy.ops.ed.redo()
    scene = bpy.context.scene
    assert len(strips.result_strips(scene, strips.find_item(scene, "Portrait"))) == 1


def test_clear_removes_keys_and_result_but_not_files(addon, scene_item):
    import bpy

    scene, item = scene_item
    flows = mod(addon, "adapters.flows")
    kf = mod(addon, "adapters.keyframes")
    kf.write_controls(scene, item, np.array([1, 6]), np.ones((2, 16), np.float32))
    flows.run_sync(flows.prepare_render(scene, item), echo=False)
    folder = Path(bpy.path.abspath(item.result_dir))
    assert bpy.ops.talking_head.clear(portrait=item.name) == {"FINISHED"}
    assert not kf.has_keys(scene, item) and item.result_strip == ""
    assert mod(addon, "adapters.strips").result_strips(scene, item) == []
    assert len(list(folder.glob("frame_*.png"))) == 6
    assert item.mouth_open == 0.0 and item.head_scale == 1.0  # back to neutral


def test_import_motion_file_keys_from_portrait_start(addon, scene_item, tmp_path):
    import bpy

    scene, item = scene_item
    portrait = mod(addon, "adapters.compat").get_strip(scene, item.portrait_strip)
    _compat().set_strip_timing(portrait, "content_start", 11)
    motion = mod(addon, "engine.sample").sample_performance(1.0, 25)
    motion.save(tmp_path / "m.json")
    assert bpy.ops.talking_head.import_motion(filepath=str(tmp_path / "m.json"),
                                              portrait=item.name) == {"FINISHED"}
    out = mod(addon, "adapters.keyframes").evaluate_controls(scene, item, np.arange(11, 36))
    assert np.allclose(out, motion.to_array(), atol=1e-5)
    with pytest.raises(RuntimeError, match="not found"):
        bpy.ops.talking_head.import_motion(filepath=str(tmp_path / "nope.json"), portrait=item.name)


def test_renamed_portrait_strip_keeps_its_link(addon, scene_item):
    import bpy

    scene, item = scene_item
    strip = mod(addon, "adapters.compat").get_strip(scene, "Portrait")
    strip.name = "Renamed"
    assert bpy.ops.talking_head.render(portrait=item.name, frames="1-2") == {"FINISHED"}
    assert item.portrait_strip == "Renamed"
    result = mod(addon, "adapters.compat").get_strip(scene, item.result_strip)
    assert result.channel == strip.channel + 1 and len(result.elements) == 2


def test_writing_a_frame_range_keeps_keys_outside_it(addon, scene_item):
    scene, item = scene_item
    kf = mod(addon, "adapters.keyframes")
    kf.write_controls(scene, item, np.arange(1, 7), np.ones((6, 16), np.float32))
    fc = kf.control_fcurves(scene, item)["mouth_smile"]
    fc.keyframe_points[0].interpolation = "CONSTANT"  # a hand edit outside the new range
    kf.write_controls(scene, item, np.array([3, 4]), np.zeros((2, 16), np.float32))
    assert [(k.co.x, k.co.y) for k in fc.keyframe_points] == [(1, 1), (2, 1), (3, 0), (4, 0), (5, 1), (6, 1)]
    assert fc.keyframe_points[0].interpolation == "CONSTANT"
    assert fc.keyframe_points[2].interpolation == "LINEAR"


def test_smoothing_and_device_come_from_preferences_unless_the_portrait_overrides(addon, scene_item):
    import bpy

    scene, item = scene_item
    flows = mod(addon, "adapters.flows")
    prefs = bpy.context.preferences.addons[addon].preferences
    prefs.smoothing, prefs.device = 0.2, "cpu"
    try:
        assert flows._smoothing(item) == pytest.approx(0.2) and flows._device(item) == "cpu"
        item.use_own_smoothing, item.smoothing, item.device = True, 0.9, "cuda"
        assert flows._smoothing(item) == pytest.approx(0.9) and flows._device(item) == "cuda"
    finally:
        prefs.smoothing, prefs.device = 0.5, "auto"
