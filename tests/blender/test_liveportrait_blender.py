"""LivePortrait inside Blender, on the installed extension:

* the "Install GPU Runtime" operator installs a GPU onnxruntime into the extension's user folder
  (from a local folder of stand-in wheels: no multi-GB download) and, once activated the way
  register() does it, `import onnxruntime` finds it before the bundled CPU build and lists its
  providers;
* the dense expression round trip: capture (keys + dense track) -> save / reload -> render, with
  stand-in LivePortrait networks (tests/helpers/lp_standins.py; the store's checksums cannot
  match them, so the test points the add-on's model lookups at them)."""

from __future__ import annotations

import importlib
import importlib.util
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest


def _compat():  # strip timing by Blender 5.3's names on every Blender (adapters/compat.py)
    return importlib.import_module("bl_ext.user_default.talking_head.adapters.compat")

ROOT = Path(__file__).resolve().parents[2]
SHARED = ROOT.parent / "shared"
BLINK = SHARED / "testdata" / "driving" / "d1_single_blink.mp4"
PORTRAIT = SHARED / "testdata" / "portraits" / "photo_woman.jpg"


def mod(addon, name):
    return importlib.import_module(f"{addon}.{name}")


def _helper(name):
    spec = importlib.util.spec_from_file_location(name, ROOT / "tests" / "helpers" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_gpu_runtime_operator_installs_onnxruntime_into_the_extension(addon, tmp_path):
    import bpy

    house = _helper("fake_ort_wheels").build_wheelhouse(tmp_path / "house")
    models = mod(addon, "operators.models")
    root = Path(models.gpu_runtime_root())
    assert root.is_relative_to(Path(bpy.utils.resource_path("USER")))
    saved_path = list(sys.path)
    saved = {k: v for k, v in sys.modules.items() if k == "onnxruntime" or k.startswith("onnxruntime.")}
    try:
        assert bpy.ops.talking_head.gpu_runtime_install(flavor="cuda", find_links=str(house)) == {"FINISHED"}
        ort_dir = root / "onnxruntime"
        assert (ort_dir / "onnxruntime" / "__init__.py").is_file()
        assert (ort_dir / "nvidia" / "cudnn" / "lib" / "libcudnn.so.9").is_file()
        # nothing that Blender or the bundled wheels already provide is kept in front of them
        assert not (ort_dir / "numpy").exists() and not (ort_dir / "google").exists()

        # what register() does in a fresh Blender: activate before anything imports onnxruntime
        for k in saved:
            sys.modules.pop(k, None)
        models.activate_gpu_runtime()
        assert sys.path[0] == str(ort_dir)
        gpu_runtime = mod(addon, "engine.gpu_runtime")
        state = gpu_runtime.runtime_state(root, load=True)
        assert state.active and not state.restart_needed
        assert state.providers == ("TensorrtExecutionProvider", "CUDAExecutionProvider",
                                   "CPUExecutionProvider")
        providers = mod(addon, "engine.render.liveportrait.providers")
        assert providers.choose_providers("auto") == ["CUDAExecutionProvider", "CPUExecutionProvider"]
        assert sys.modules["onnxruntime"].PRELOADED  # the nvidia-* libraries were preloaded
        assert "CUDA" in mod(addon, "prefs")._runtime_summary()
    finally:
        for k in [k for k in sys.modules if k == "onnxruntime" or k.startswith("onnxruntime.")]:
            del sys.modules[k]
        sys.modules.update(saved)
        sys.path[:] = saved_path
        shutil.rmtree(root, ignore_errors=True)  # later tests must get the real onnxruntime


@pytest.fixture
def standins(addon, tmp_path, monkeypatch):
    """Stand-in networks, and the add-on's model lookups pointed at them."""
    # exported with torch: present in the Blender 5.0 tier's venv, not in the 4.5 tier's
    pytest.importorskip("torch", reason="stand-in networks are exported with torch (5.0 tier)")
    files = _helper("lp_standins").build(tmp_path / "lp")
    dense = mod(addon, "engine.capture.liveportrait_dense")
    pipeline = mod(addon, "engine.render.liveportrait.pipeline")
    monkeypatch.setattr(dense, "find_motion_extractor", lambda models_dir: files["motion"])
    monkeypatch.setattr(pipeline, "resolve_model_files", lambda models_dir: files)
    return files


@pytest.mark.skipif(not BLINK.is_file() or not PORTRAIT.is_file(), reason="shared test media missing")
def test_dense_track_round_trip_capture_save_reload_render(addon, standins, tmp_path):
    import bpy

    blend = tmp_path / "dense.blend"
    bpy.ops.wm.read_homefile(use_empty=True)
    scene = bpy.context.scene
    scene.render.fps, scene.frame_start, scene.frame_end = 30, 1, 16
    coll = mod(addon, "adapters.compat").strip_collection(scene)
    coll.new_movie("Driving", str(BLINK), channel=1, frame_start=1)
    por = coll.new_image("Portrait", str(PORTRAIT), channel=2, frame_start=1)
    _compat().set_strip_timing(por, "duration", 16)
    strips = mod(addon, "adapters.strips")
    item = strips.item_for_strip(scene, por, create=True)
    item.driving_strip, item.scale, item.renderer = "Driving", 25, "liveportrait"
    bpy.ops.wm.save_as_mainfile(filepath=str(blend))

    flows, dense = mod(addon, "adapters.flows"), mod(addon, "adapters.dense")
    span = mod(addon, "engine.frames").parse_frames  # scene frames, both ends included
    bpy.ops.ed.undo_push(message="before capture")
    msg = flows.run_sync(flows.prepare_capture(scene, item, span("1-12")), echo=False)
    assert "dense expression (all)" in msg and "on CPU" in msg
    frames, fields = dense.load(item)
    assert frames.tolist() == list(range(1, 13))
    assert fields["liveportrait_exp"].shape == (12, 63) and fields["liveportrait_pose"].shape == (12, 13)
    assert np.abs(fields["liveportrait_exp"]).max() > 0  # the blink moved the stand-in's expression
    keys = mod(addon, "adapters.keyframes").evaluate_controls(scene, item, frames)
    assert np.allclose(fields["liveportrait_base"], keys, atol=1e-6)  # base = the keys: offsets 0
    # undo takes the track away with the keys, redo brings both back
    bpy.ops.ed.undo_push(message="capture")
    bpy.ops.ed.undo()
    scene = bpy.context.scene
    item = strips.find_item(scene, "Portrait")
    assert not dense.has_track(item) and not mod(addon, "adapters.keyframes").has_keys(scene, item)
    bpy.ops.ed.redo()
    scene = bpy.context.scene
    item = strips.find_item(scene, "Portrait")
    assert np.array_equal(dense.load(item)[1]["liveportrait_exp"], fields["liveportrait_exp"])
    bpy.ops.wm.save_mainfile()

    bpy.ops.wm.read_homefile(use_empty=True)
    bpy.ops.wm.open_mainfile(filepath=str(blend))
    scene = bpy.context.scene
    item = strips.find_item(scene, "Portrait")
    frames2, fields2 = dense.load(item)  # saved with the .blend
    assert np.array_equal(frames2, frames)
    for k, v in fields.items():
        assert np.allclose(fields2[k], v)

    # render frames 1-4 with the track, then the same without it: the track reaches the renderer
    out_dense, out_plain = tmp_path / "dense_out", tmp_path / "plain_out"
    flows.run_sync(flows.prepare_render(scene, item, span("1-4"), output=str(out_dense)), echo=False)
    assert item.last_provider == "CPU"
    item.use_dense = False
    flows.run_sync(flows.prepare_render(scene, item, span("1-4"), output=str(out_plain)), echo=False)
    item.use_dense = True
    video_io = mod(addon, "engine.media.video")
    names = sorted(p.name for p in out_dense.glob("frame_*.png"))
    assert names == [f"frame_{i:06d}.png" for i in range(4)]
    differs = [not np.array_equal(video_io.load_image(out_dense / n), video_io.load_image(out_plain / n))
               for n in names]
    assert any(differs)

    # a farm chunk through `blender -c talking_head render --blend` gives the same frames
    main = mod(addon, "cli_command").main
    chunk = tmp_path / "chunk"
    assert main(["render", "--blend", str(blend), "--frames", "2-3", "-o", str(chunk)]) == 0
    for n in ("frame_000001.png", "frame_000002.png"):
        assert np.array_equal(video_io.load_image(chunk / n), video_io.load_image(out_dense / n))

    # Clear keys removes the track with them (the CLI loaded the .blend again: fresh references)
    scene = bpy.context.scene
    item = strips.find_item(scene, "Portrait")
    assert dense.has_track(item)
    flows.clear(scene, item, keys=True, result=False)
    assert not dense.has_track(item)
