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
