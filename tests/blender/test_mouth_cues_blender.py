"""Key Mouth Shapes on the installed extension: the portrait's captured mouth curves -> Rhubarb
shapes (A-H, X) keyed with constant interpolation on a chosen property, in one undo step; keys
outside the captured range kept; bad targets are one error line."""

from __future__ import annotations

import importlib
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
PORTRAIT = ROOT.parent / "shared" / "testdata" / "portraits" / "photo_woman.jpg"
pytestmark = pytest.mark.skipif(not PORTRAIT.is_file(), reason="shared test media missing (../shared)")

# frames of (mouth_open, mouth_wide, mouth_pucker) and the shape they are
SCRIPT = [(12, 0.0, 0.0, 0.0, "X"), (6, 0.6, 0.0, 0.0, "D"), (3, 0.0, 0.0, 0.0, "A"),
          (6, 0.3, 0.0, 0.0, "C"), (5, 0.03, 0.9, 0.0, "B"), (5, 0.1, 0.0, 0.8, "F"),
          (5, 0.25, 0.0, 0.3, "E"), (12, 0.0, 0.0, 0.0, "X")]
START = 11  # the capture's first scene frame


def mod(addon, name):
    return importlib.import_module(f"{addon}.{name}")


@pytest.fixture
def captured(addon, tmp_path):
    """A 25 fps scene with a portrait whose mouth curves were captured on frames 11-64, and an
    empty "Mouth" that will show the shapes."""
    import bpy

    bpy.ops.wm.read_homefile(use_empty=True)
    bpy.ops.wm.save_as_mainfile(filepath=str(tmp_path / "cues.blend"))
    scene = bpy.context.scene
    scene.render.fps, scene.render.fps_base = 25, 1.0
    por = mod(addon, "adapters.compat").strip_collection(scene).new_image(
        "Portrait", str(PORTRAIT), channel=1, frame_start=1)
    mod(addon, "adapters.compat").set_strip_timing(por, "duration", 100)
    item = mod(addon, "adapters.strips").item_for_strip(scene, por, create=True)
    names = list(mod(addon, "engine.controls").CONTROL_NAMES)
    n = sum(s[0] for s in SCRIPT)
    values = np.zeros((n, 16), np.float32)
    values[:, names.index("head_scale")] = 1
    values[:, names.index("eye_open_l")] = values[:, names.index("eye_open_r")] = 1
    i = 0
    for frames, o, w, p, _ in SCRIPT:
        values[i:i + frames, names.index("mouth_open")] = o
        values[i:i + frames, names.index("mouth_wide")] = w
        values[i:i + frames, names.index("mouth_pucker")] = p
        i += frames
    mod(addon, "adapters.keyframes").write_controls(scene, item, np.arange(START, START + n), values)
    mouth = bpy.data.objects.new("Mouth", None)
    scene.collection.objects.link(mouth)
    return scene, item, mouth


def _curve(addon, id_data, path, index=0):
    curves = mod(addon, "adapters.compat").fcurves(id_data)
    return None if curves is None else curves.find(path, index=index)


def test_keys_constant_shapes_on_a_custom_property(addon, captured):
    import bpy

    scene, item, mouth = captured
    scene.frame_set(START + 13)  # inside the D
    bpy.ops.ed.undo_push(message="before keying")
    assert bpy.ops.talking_head.key_mouth_shapes(
        portrait=item.name, target_type="OBJECT", target="Mouth", data_path='["mouth_shape"]') == {"FINISHED"}
    mouth = bpy.data.objects["Mouth"]
    fc = _curve(addon, mouth, '["mouth_shape"]')
    points = fc.keyframe_points
    assert {p.interpolation for p in points} == {"CONSTANT"}
    chart = "ABCDEFGHX"
    assert [chart[int(p.co[1])] for p in points] == [s[4] for s in SCRIPT]  # one key per shape
    assert points[0].co[0] == START
    # every captured frame shows its shape (constant between keys)
    expected = [s[4] for s in SCRIPT for _ in range(s[0])]
    shown = [chart[int(round(fc.evaluate(START + k)))] for k in range(len(expected))]
    assert sum(a != b for a, b in zip(shown, expected, strict=True)) == 0
    assert fc.evaluate(START + 13.5) == chart.index("D")  # no blending between frames either
    assert mouth["mouth_shape"] == chart.index("D")  # the current frame's shape shows at once
    # one undo step takes it all away; redo brings it back (from Python, as in the other tests, the
    # step is pushed by hand: the UI pushes it for an operator with the UNDO option)
    bpy.ops.ed.undo_push(message="Key Mouth Shapes")
    bpy.ops.ed.undo()
    mouth = bpy.data.objects["Mouth"]
    fc = _curve(addon, mouth, '["mouth_shape"]')
    assert fc is None or len(fc.keyframe_points) == 0
    bpy.ops.ed.redo()
    mouth = bpy.data.objects["Mouth"]
    assert len(_curve(addon, mouth, '["mouth_shape"]').keyframe_points) == len(SCRIPT)


def test_builtin_property_shape_set_offset_and_keys_outside_kept(addon, captured):

    scene, item, mouth = captured
    mouth.pass_index = 0
    mouth.keyframe_insert("pass_index", frame=200)  # the user's own key, after the capture
    msg = mod(addon, "adapters.mouth_cues").key_shapes(scene, item, "OBJECT", "Mouth", "pass_index",
                                                      shapes="ABCDEF", offset=1)
    assert "keyed" in msg and "ABCDEF = 1..6" in msg
    fc = _curve(addon, mouth, "pass_index")
    frames = [int(p.co[0]) for p in fc.keyframe_points]
    assert frames[-1] == 200 and frames[0] == START
    values = {int(p.co[1]) for p in fc.keyframe_points if p.co[0] < 200}
    assert values <= set(range(1, 7)) and 1 in values  # X falls back to A = 1 without X in the chart
    # an array element: location[2]
    mod(addon, "adapters.mouth_cues").key_shapes(scene, item, "OBJECT", "Mouth", "location[2]")
    fc = _curve(addon, mouth, "location", 2)
    assert fc is not None and {p.interpolation for p in fc.keyframe_points} == {"CONSTANT"}


def test_bad_targets_are_one_error_line(addon, captured):
    import bpy

    scene, item, mouth = captured
    for kwargs, words in (
            ({"target": "Nope"}, "no object named"),
            ({"target": "Mouth", "data_path": "name"}, "not a number property"),
            ({"target": "Mouth", "data_path": "no_such_thing"}, "has no property"),
            ({"target": "Mouth", "shapes": "ABC"}, "basic shape"),
    ):
        with pytest.raises(RuntimeError) as excinfo:
            bpy.ops.talking_head.key_mouth_shapes(portrait=item.name, target_type="OBJECT", **kwargs)
        assert words in str(excinfo.value), str(excinfo.value)
    mod(addon, "adapters.keyframes").clear_controls(scene, item)
    with pytest.raises(RuntimeError, match="no captured curves"):
        bpy.ops.talking_head.key_mouth_shapes(portrait=item.name, target_type="OBJECT", target="Mouth")


def _chart_strip(addon, scene, tmp_path, count=9):
    """An image-sequence mouth chart on channel 2 from frame 1: image i is one flat colour."""
    import bpy

    folder = tmp_path / "chart"
    folder.mkdir(exist_ok=True)
    for i in range(count):
        img = bpy.data.images.new(f"chart{i}", 8, 8)
        img.pixels = [0.1 * i, 1.0 - 0.1 * i, 0.5, 1.0] * 64
        img.filepath_raw, img.file_format = str(folder / f"m{i:02d}.png"), "PNG"
        img.save()
        bpy.data.images.remove(img)
    coll = mod(addon, "adapters.compat").strip_collection(scene)
    chart = coll.new_image("Chart", str(folder / "m00.png"), channel=2, frame_start=1)
    for i in range(1, count):
        chart.elements.append(f"m{i:02d}.png")
    return chart, folder


def _rendered_images(scene, folder, frames, tmp_path):
    """Which chart image the Sequencer output shows at each frame: the composite rendered (8x8,
    Standard view: colours pass unchanged) matched to the nearest chart image."""
    import bpy

    scene.render.resolution_x = scene.render.resolution_y = 8
    scene.render.resolution_percentage = 100
    scene.render.image_settings.file_format = "PNG"
    scene.view_settings.view_transform = "Standard"
    refs = []
    for path in sorted(folder.glob("m*.png")):
        img = bpy.data.images.load(str(path), check_existing=False)
        refs.append(np.array(img.pixels[:])[(4 * 8 + 4) * 4:(4 * 8 + 4) * 4 + 3])
        bpy.data.images.remove(img)
    refs = np.array(refs)
    shown = []
    for f in frames:
        scene.frame_set(int(f))
        scene.render.filepath = str(tmp_path / "out.png")
        bpy.ops.render.render(write_still=True)
        img = bpy.data.images.load(scene.render.filepath, check_existing=False)
        px = np.array(img.pixels[:])[(4 * 8 + 4) * 4:(4 * 8 + 4) * 4 + 3]
        bpy.data.images.remove(img)
        dist = np.abs(refs - px).sum(axis=1)
        assert dist.min() < 0.02, f"frame {f} shows no chart image: {px}"
        shown.append(int(dist.argmin()))
    return shown


def test_image_strip_chart_shows_each_cues_image_and_undoes(addon, captured, tmp_path):
    """The rendered Sequencer shows chart image A=0, B=1, ... X=8 at every captured frame."""
    import bpy

    scene, item, _mouth = captured
    chart, folder = _chart_strip(addon, scene, tmp_path)
    compat = mod(addon, "adapters.compat")
    assert compat.strip_handles(chart) == (1, 10)  # nine images, shorter than the capture
    scene.frame_set(START + 13)  # inside the D
    bpy.ops.ed.undo_push(message="before keying")
    assert bpy.ops.talking_head.key_mouth_shapes(
        portrait=item.name, target_type="IMAGE_STRIP", target="Chart") == {"FINISHED"}
    chart = compat.get_strip(scene, "Chart")
    effect = compat.get_strip(scene, "Chart Mouth")
    assert effect.type == "SPEED" and effect.input_1 == chart and effect.channel == 3
    n = sum(s[0] for s in SCRIPT)
    assert compat.strip_handles(chart)[1] >= START + n  # lengthened over the capture
    fc = compat.fcurves(scene).find(effect.path_from_id("speed_frame_number"))
    assert {p.interpolation for p in fc.keyframe_points} == {"CONSTANT"}
    assert len(fc.keyframe_points) == len(SCRIPT)
    chart_set = "ABCDEFGHX"
    expected = [chart_set.index(s[4]) for s in SCRIPT for _ in range(s[0])]
    shown = _rendered_images(scene, folder, range(START, START + n), tmp_path)
    assert shown == expected
    # keyed again (same strip): the effect is reused, not stacked
    mod(addon, "adapters.mouth_cues").key_image_strip(scene, item, "Chart")
    assert sum(s.type == "SPEED" for s in compat.strips(scene)) == 1
    bpy.ops.ed.undo_push(message="Key Mouth Shapes")
    bpy.ops.ed.undo()  # both keyings (from Python the step is pushed by hand, as above)
    scene = bpy.context.scene
    assert compat.get_strip(scene, "Chart Mouth") is None
    assert compat.strip_handles(compat.get_strip(scene, "Chart")) == (1, 10)
    bpy.ops.ed.redo()
    assert compat.get_strip(bpy.context.scene, "Chart Mouth") is not None


def test_image_strip_offset_and_bad_strips(addon, captured, tmp_path):
    import bpy

    scene, item, _mouth = captured
    chart, folder = _chart_strip(addon, scene, tmp_path, count=8)
    cues = mod(addon, "adapters.mouth_cues")
    # a basic chart (A-F and X: 7 images) from image 1: image 0 is the chart's cover, trimmed off
    mod(addon, "adapters.compat").set_strip_timing(chart, "left_handle_offset", 1)
    with pytest.raises(mod(addon, "adapters.strips").SetupError, match="trimmed"):
        cues.key_image_strip(scene, item, "Chart", shapes="ABCDEFX")
    msg = cues.key_image_strip(scene, item, "Chart", shapes="ABCDEFX", offset=1)
    assert "ABCDEFX = images 1..7" in msg
    n = sum(s[0] for s in SCRIPT)
    expected = ["ABCDEFX".index(s[4]) + 1 for s in SCRIPT for _ in range(s[0])]
    shown = _rendered_images(scene, folder, range(START, START + n), tmp_path)
    assert shown == expected
    for kwargs, words in (({"target": "Nope"}, "no strip named"),
                          ({"target": "Portrait"}, "has 1 images"),
                          ({"target": "Chart", "offset": 2}, "need 11")):
        with pytest.raises(RuntimeError) as excinfo:
            bpy.ops.talking_head.key_mouth_shapes(portrait=item.name, target_type="IMAGE_STRIP",
                                                  **kwargs)
        assert words in str(excinfo.value), str(excinfo.value)
