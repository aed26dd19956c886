"""`blender -c talking_head ...` handler (called directly: the bpy module has no blender binary)
and the Compositor workflow on Image / Movie Clip nodes, on the installed extension."""

from __future__ import annotations

import importlib
import json
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


def test_cli_missing_files_exit_non_zero_with_message(addon, tmp_path, capsys):
    main = mod(addon, "cli_command").main
    assert main(["capture", str(tmp_path / "nope.mp4"), "-o", str(tmp_path / "m.json")]) == 2
    err = capsys.readouterr().err
    assert "talking_head: error:" in err and "nope.mp4" in err
    assert not (tmp_path / "m.json").exists()
    assert main(["render", "--blend", str(tmp_path / "missing.blend")]) == 2
    assert ".blend file not found" in capsys.readouterr().err
    assert main(["render", str(PORTRAIT), str(tmp_path / "none.json"), "-o", str(tmp_path / "o")]) == 2
    assert "none.json" in capsys.readouterr().err
    assert main(["capture", "--frames"]) == 2  # argparse errors do not exit Blender
    assert main(["explode"]) == 2
    assert main(["render", "--help"]) == 0 and "--frames" in capsys.readouterr().out
    assert main(["encode", "--help"]) == 0 and "--job-dir" in capsys.readouterr().out
    assert main(["encode", "-o", str(tmp_path / "x.mp4")]) == 2
    assert "encode needs --blend FILE" in capsys.readouterr().err
    # the one frame parser's messages reach the command line as one error line
    assert main(["render", str(PORTRAIT), str(tmp_path / "none.json"), "-o", str(tmp_path / "o"),
                 "--frames", "9-2"]) == 2
    err = capsys.readouterr().err
    assert "reversed frame range '9-2': give the first frame first, e.g. 2-9" in err
    assert main(["render", "--blend", str(tmp_path / "missing.blend"), "--frames", "1-5,4"]) == 2
    assert "frame ranges overlap in '1-5,4' (frame 4 is given twice)" in capsys.readouterr().err


def test_cli_file_capture_frames(addon, tmp_path):
    main = mod(addon, "cli_command").main
    out = tmp_path / "m.json"
    assert main(["capture", str(BLINK), "-o", str(out), "--frames", "2-9"]) == 0
    doc = json.loads(out.read_text())
    assert doc["frame_count"] == 8


def _blend_with_portrait(addon, path):
    import bpy

    bpy.ops.wm.read_homefile(use_empty=True)
    scene = bpy.context.scene
    scene.render.fps, scene.frame_start, scene.frame_end = 30, 1, 16
    coll = mod(addon, "adapters.compat").strip_collection(scene)
    coll.new_movie("Driving", str(BLINK), channel=1, frame_start=1)
    por = coll.new_image("Portrait", str(PORTRAIT), channel=2, frame_start=1)
    _compat().set_strip_timing(por, "duration", 16)
    item = mod(addon, "adapters.strips").item_for_strip(scene, por, create=True)
    item.driving_strip, item.scale = "Driving", 25
    bpy.ops.wm.save_as_mainfile(filepath=str(path))


def test_cli_blend_capture_then_farm_chunks(addon, tmp_path, capsys):
    import bpy

    blend = tmp_path / "farm.blend"
    _blend_with_portrait(addon, blend)
    main = mod(addon, "cli_command").main
    capsys.readouterr()
    assert main(["capture", "--blend", str(blend), "--frames", "1-8"]) == 0
    out = capsys.readouterr().out  # background mode: progress lines on stdout
    assert "talking_head: capture Portrait 8/8 (100%)" in out and "captured 8 frames" in out
    bpy.ops.wm.read_homefile(use_empty=True)
    bpy.ops.wm.open_mainfile(filepath=str(blend))
    scene = bpy.context.scene
    item = mod(addon, "adapters.strips").find_item(scene, "Portrait")
    fc = mod(addon, "adapters.keyframes").control_fcurves(scene, item)["eye_open_l"]
    assert [k.co.x for k in fc.keyframe_points] == [float(f) for f in range(1, 9)]
    capsys.readouterr()
    assert main(["capture", "--blend", str(blend), "--keep-keys"]) == 0  # keyed: nothing captured
    assert "kept the keys of 'Portrait'" in capsys.readouterr().out

    out = tmp_path / "chunks"
    assert main(["render", "--blend", str(blend), "--frames", "1-3", "-o", str(out)]) == 0
    assert main(["render", "--blend", str(blend), "--frames", "4..6", "-o", str(out)]) == 0
    assert sorted(p.name for p in out.glob("frame_*.png")) == [f"frame_{i:06d}.png" for i in range(6)]
    # a chunk outside the portrait fails clearly
    assert main(["render", "--blend", str(blend), "--frames", "40-50", "-o", str(out)]) == 2
    # the farm render did not touch the .blend's result link
    bpy.ops.wm.open_mainfile(filepath=str(blend))
    assert mod(addon, "adapters.strips").find_item(bpy.context.scene, "Portrait").result_strip == ""


def test_compositor_capture_and_result_node(addon, tmp_path):
    import bpy

    bpy.ops.wm.read_homefile(use_empty=True)
    bpy.ops.wm.save_as_mainfile(filepath=str(tmp_path / "comp.blend"))
    scene = bpy.context.scene
    scene.render.fps, scene.frame_start, scene.frame_end = 30, 1, 16
    tree = mod(addon, "adapters.compat").compositor_tree(scene, create=True)
    por = tree.nodes.new("CompositorNodeImage")
    por.image = bpy.data.images.load(str(PORTRAIT))
    drv = tree.nodes.new("CompositorNodeMovieClip")
    drv.clip = bpy.data.movieclips.load(str(BLINK))
    drv.clip.frame_start = 3  # clip starts at scene frame 3: scene 3..16 show source 0..13
    nodes = mod(addon, "adapters.nodes")
    item = nodes.item_for_node(scene, por, create=True)
    assert item.kind == "COMPOSITOR"
    item.driving_node, item.scale = drv.name, 25
    flows = mod(addon, "adapters.flows")
    rng = flows.driving_range(scene, item)
    assert rng.scene_frames[0] == 3 and rng.scene_frames[-1] == 16 and rng.source_frames[0] == 0
    flows.run_sync(flows.prepare_capture(scene, item), echo=False)
    eye = mod(addon, "adapters.keyframes").evaluate_controls(scene, item, np.arange(3, 17))[:, 6]
    assert eye[5:14].min() < 0.5 and eye[:2].min() > 0.7, eye  # source 4-13 closed -> scene 7-16

    flows.run_sync(flows.prepare_render(scene, item, span(addon, "5-8")), echo=False)
    node = tree.nodes.get(item.result_node)
    assert node is not None and node.get("talking_head_result") == item.uid
    assert node.image.source == "SEQUENCE"
    assert node.frame_start == 5 and node.frame_duration == 4
    assert node.frame_offset == 3  # scene frame 5 -> image-user frame 1 + 3 -> frame_000004.png
    first = Path(bpy.path.abspath(node.image.filepath))
    assert first.name == "frame_000004.png" and first.is_file()  # motion index 4 = scene frame 5
    # re-render replaces the node
    flows.run_sync(flows.prepare_render(scene, item, span(addon, "5-8")), echo=False)
    assert len(nodes.result_nodes(scene, item)) == 1


def _composite_frame(scene, node, frame, path):
    """Render the compositor with ``node`` wired to the output at ``frame`` into ``path``."""
    import bpy

    tree = node.id_data
    if "node_tree" not in scene.bl_rna.properties:  # 5.0+: the tree is a node group with an output
        out = tree.nodes.new("NodeGroupOutput")
        if not tree.interface.items_tree:
            tree.interface.new_socket("Image", in_out="OUTPUT", socket_type="NodeSocketColor")
    else:  # 4.5: a Composite node; the scene render still needs a camera (cheapest engine)
        out = next((n for n in tree.nodes if n.bl_idname == "CompositorNodeComposite"), None) \
            or tree.nodes.new("CompositorNodeComposite")
        cam = bpy.data.objects.new("Cam", bpy.data.cameras.new("Cam"))
        scene.collection.objects.link(cam)
        scene.camera = cam
        scene.render.engine = "CYCLES"
        scene.cycles.samples = 1
        scene.cycles.device = "CPU"
    tree.links.new(node.outputs["Image"], out.inputs[0])
    scene.render.image_settings.file_format = "PNG"
    scene.view_settings.view_transform = "Standard"
    scene.frame_set(frame)
    scene.render.filepath = str(path)
    bpy.ops.render.render(write_still=True)


def test_compositor_result_node_shows_the_frame_rendered_for_that_scene_frame(addon, tmp_path):
    import bpy
    import cv2

    bpy.ops.wm.read_homefile(use_empty=True)
    bpy.ops.wm.save_as_mainfile(filepath=str(tmp_path / "comp2.blend"))
    scene = bpy.context.scene
    scene.frame_start, scene.frame_end = 1, 12
    tree = mod(addon, "adapters.compat").compositor_tree(scene, create=True)
    por = tree.nodes.new("CompositorNodeImage")
    por.image = bpy.data.images.load(str(PORTRAIT))
    item = mod(addon, "adapters.nodes").item_for_node(scene, por, create=True)
    item.scale = 25
    sample = mod(addon, "engine.sample").sample_performance(2.0, 25).slice(25, 37)  # talking
    mod(addon, "adapters.keyframes").write_controls(scene, item, np.arange(1, 13), sample.to_array())
    flows = mod(addon, "adapters.flows")
    flows.run_sync(flows.prepare_render(scene, item, span(addon, "5-9")), echo=False)
    node = tree.nodes.get(item.result_node)
    scene.render.resolution_x = scene.render.resolution_y = 128
    scene.render.resolution_percentage = 100
    folder = Path(bpy.path.abspath(node.image.filepath)).parent
    frames = {i: cv2.imread(str(folder / f"frame_{i:06d}.png")).astype(int) for i in range(4, 9)}
    assert any(np.abs(frames[6] - frames[k]).mean() > 1 for k in (4, 8))  # frames differ
    _composite_frame(scene, node, 7, tmp_path / "c7.png")
    shown = cv2.imread(str(tmp_path / "c7.png")).astype(int)
    diffs = {i: np.abs(shown - f).mean() for i, f in frames.items()}
    assert min(diffs, key=diffs.get) == 6 and diffs[6] < 3, diffs  # scene 7 = motion index 6


def test_cli_animate_blend_and_files(addon, tmp_path):
    import bpy

    blend = tmp_path / "anim.blend"
    _blend_with_portrait(addon, blend)
    main = mod(addon, "cli_command").main
    assert main(["animate", "--blend", str(blend), "--frames", "1-4"]) == 0
    bpy.ops.wm.open_mainfile(filepath=str(blend))
    scene = bpy.context.scene
    item = mod(addon, "adapters.strips").find_item(scene, "Portrait")
    assert mod(addon, "adapters.keyframes").has_keys(scene, item)
    strip = mod(addon, "adapters.compat").get_strip(scene, item.result_strip)
    assert strip is not None and len(strip.elements) == 4
    assert _compat().strip_timing(strip, "left_handle") == 1

    mp4 = tmp_path / "talk.mp4"
    assert main(["animate", str(PORTRAIT), str(BLINK), "-o", str(mp4), "--frames", "0-3"]) == 0
    assert mp4.stat().st_size > 1000
    assert main(["animate", str(PORTRAIT), "-o", str(tmp_path / "x.mp4")]) == 2  # no video
