"""The actor's mouth exemplars inside Blender (issue 20), on the installed extension: a video
capture keeps them on the portrait (an ID property: saved with the .blend), the built-in render
fills the opening from them (frames differ from the procedural interior), a farm chunk through
`blender -c talking_head render --blend` gives the same frames, a voice capture keeps them, and
Clear keys removes them with the curves."""

from __future__ import annotations

import importlib
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
SHARED = ROOT.parent / "shared" / "testdata"
TALK = SHARED / "driving" / "lp_d6_expressive_talk.mp4"  # mouth open at 56-63 (MANIFEST)
PORTRAIT = SHARED / "portraits" / "anime.png"


def mod(addon, name):
    return importlib.import_module(f"{addon}.{name}")


@pytest.mark.skipif(not TALK.is_file() or not PORTRAIT.is_file(), reason="shared test media missing")
def test_mouth_exemplars_capture_save_reload_render(addon, tmp_path):
    import bpy

    blend = tmp_path / "mouths.blend"
    bpy.ops.wm.read_homefile(use_empty=True)
    scene = bpy.context.scene
    scene.render.fps, scene.frame_start, scene.frame_end = 30, 1, 70
    compat = mod(addon, "adapters.compat")
    coll = compat.strip_collection(scene)
    coll.new_movie("Driving", str(TALK), channel=1, frame_start=1)
    por = coll.new_image("Portrait", str(PORTRAIT), channel=2, frame_start=1)
    compat.set_strip_timing(por, "duration", 70)
    strips = mod(addon, "adapters.strips")
    item = strips.item_for_strip(scene, por, create=True)
    item.driving_strip, item.scale, item.renderer = "Driving", 50, "builtin"
    bpy.ops.wm.save_as_mainfile(filepath=str(blend))

    flows, mouths = mod(addon, "adapters.flows"), mod(addon, "adapters.mouths")
    span = mod(addon, "engine.frames").parse_frames
    msg = flows.run_sync(flows.prepare_capture(scene, item, span("55-66")), echo=False)
    assert "mouth exemplars" in msg
    kept = mouths.load(item)
    assert kept is not None and 1 <= kept.count <= 24 and kept.patches.dtype == np.uint8
    bpy.ops.wm.save_mainfile()

    bpy.ops.wm.read_homefile(use_empty=True)
    bpy.ops.wm.open_mainfile(filepath=str(blend))
    scene = bpy.context.scene
    item = strips.find_item(scene, "Portrait")
    again = mouths.load(item)  # saved with the .blend
    assert again is not None and np.array_equal(again.patches, kept.patches)
    assert np.array_equal(again.controls, kept.controls) and np.array_equal(again.gaps, kept.gaps)

    out_ex, out_plain = tmp_path / "ex", tmp_path / "plain"
    flows.run_sync(flows.prepare_render(scene, item, span("58-63"), output=str(out_ex)), echo=False)
    mouths.clear(item)
    flows.run_sync(flows.prepare_render(scene, item, span("58-63"), output=str(out_plain)), echo=False)
    mouths.store(item, again)  # (a copy: the cleared property's arrays are gone)
    video_io = mod(addon, "engine.media.video")
    names = sorted(p.name for p in out_ex.glob("frame_*.png"))
    assert len(names) == 6
    assert any(not np.array_equal(video_io.load_image(out_ex / n), video_io.load_image(out_plain / n))
               for n in names)
    bpy.ops.wm.save_mainfile()

    # a farm chunk from the .blend: the same frames
    main = mod(addon, "cli_command").main
    chunk = tmp_path / "chunk"
    assert main(["render", "--blend", str(blend), "--frames", "60-61", "-o", str(chunk)]) == 0
    got = sorted(p.name for p in chunk.glob("frame_*.png"))
    assert len(got) == 2
    for n in got:
        assert np.array_equal(video_io.load_image(chunk / n), video_io.load_image(out_ex / n)), n

    scene = bpy.context.scene
    item = strips.find_item(scene, "Portrait")
    assert mouths.has_mouths(item)
    flows.clear(scene, item, keys=True, result=False)
    assert not mouths.has_mouths(item)
    # a hand-damaged property is ignored (the procedural interior), never a crash
    item[mouths.KEY] = {"count": 2, "patches": [1, 2, 3]}
    assert mouths.load(item) is None
