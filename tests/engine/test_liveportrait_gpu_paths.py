"""The throughput code paths of the LivePortrait renderer, checked on the CPU (CI has no GPU; the
GPU run is benchmarks/device_check.sh): batched warping+generator runs give the same frames as
one by one, the I/O binding keeps the feature volume bound, fp16 stays within 2 levels of fp32,
the torch paste-back matches OpenCV's, the provider choice per device, and the placement probe
that gives ONE warning per session when a provider leaves real work to the CPU.

Networks: stand-ins with the published signatures (tests/helpers/lp_standins.py) and the real
F, stitching and lip files."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

ort = pytest.importorskip("onnxruntime")
torch = pytest.importorskip("torch")

from engine.controls import NEUTRAL  # noqa: E402
from engine.media.video import load_image  # noqa: E402
from engine.render import RenderError, create_renderer  # noqa: E402
from engine.render.liveportrait import crop as C  # noqa: E402
from engine.render.liveportrait import networks as N  # noqa: E402
from engine.render.liveportrait import pipeline as P  # noqa: E402
from engine.render.liveportrait import providers as PV  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
PORTRAIT = ROOT / "engine" / "assets" / "sample_portrait.jpg"


def _standins():
    path = ROOT / "tests" / "helpers" / "lp_standins.py"
    spec = importlib.util.spec_from_file_location("lp_standins", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


S = _standins()
pytestmark = pytest.mark.skipif(not all(p.exists() for p in S.REAL.values()),
                                reason="../shared/reference/liveportrait_onnx not present")

CONTROLS = [dict(NEUTRAL), dict(NEUTRAL, head_yaw=10.0, mouth_open=0.6),
            dict(NEUTRAL, head_pitch=-5.0, eye_open_l=0.2, eye_open_r=0.3, mouth_smile=0.8),
            dict(NEUTRAL, head_x=0.1, head_roll=6.0, brow_l=-0.8, brow_r=-0.6, gaze_x=0.5),
            dict(NEUTRAL, head_scale=1.1, mouth_wide=0.4)]


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    return S.build(tmp_path_factory.mktemp("lp"))


@pytest.fixture(scope="module")
def portrait():
    return load_image(PORTRAIT)


@pytest.fixture(scope="module")
def landmarks(portrait):
    return P.track_landmarks(portrait)


def _renderer(files, portrait, landmarks, **opts):
    r = create_renderer("liveportrait", device="cpu", model_files=files, **opts)
    r.prepare(portrait, landmarks)
    return r


def test_batched_frames_equal_unbatched(files, portrait, landmarks):
    """render_frame one by one == render_frames in batches == any other split (farm chunks)."""
    r = _renderer(files, portrait, landmarks, batch_size=3)
    assert r.nets["warping"].batch_dynamic
    items = [(c, None) for c in CONTROLS]
    single = [r.render_frame(c) for c in CONTROLS]
    batched = r.render_frames(items)  # batches of 3 + 2 (padded to 3)
    split = r.render_frames(items[:1]) + r.render_frames(items[1:4]) + r.render_frames(items[4:])
    assert len(batched) == len(single) == len(split)
    for x, y, z in zip(single, batched, split, strict=True):
        assert np.array_equal(x, y) and np.array_equal(x, z)
    assert len({x.tobytes() for x in single}) == len(single)  # the frames do differ from each other
    # batch size 1 runs onnxruntime's N=1 kernels: the floats differ by ~1 ulp, so at most
    # 1 level on a few pixels (that is why every run is padded to the full batch size)
    one = _renderer(files, portrait, landmarks, batch_size=1)
    for x, y in zip(single, one.render_frames(items), strict=True):
        d = np.abs(x.astype(int) - y.astype(int))
        assert d.max() <= 1 and (d > 0).mean() < 1e-3
    # a batch-1 export (fixed batch axis) falls back to one run per frame
    fixed = dict(files, warping=S.export(S.Warp3D(), (torch.zeros(1, 32, 16, 64, 64), torch.zeros(1, 21, 3),
                                                      torch.zeros(1, 21, 3)),
                                         Path(files["warping"]).with_name("warp_b1.onnx"),
                                         ["f", "kd", "ks"], ["o"]))
    r1 = _renderer(fixed, portrait, landmarks, batch_size=4)
    assert not r1.nets["warping"].batch_dynamic
    for x, y in zip([r1.render_frame(c) for c in CONTROLS], r1.render_frames(items), strict=True):
        assert np.array_equal(x, y)


def test_render_motion_in_batches_and_chunks_writes_the_same_frames(files, portrait, tmp_path):
    """A whole render in batches of 2 and the same motion rendered as two farm chunks (0-2, 3-4)
    give the same PNG bytes."""
    from engine.motion import Motion
    from engine.pipeline import frame_path, render_motion

    values = np.array([[c[k] for k in NEUTRAL] for c in CONTROLS], np.float32)
    motion = Motion.from_array(values, fps=25)
    opts = {"model_files": files, "batch_size": 2}
    logs = []
    render_motion("liveportrait", portrait, motion, tmp_path / "whole", device="cpu", log=logs.append,
                  renderer_options=opts)
    assert logs == ["liveportrait renderer runs on CPU"]
    for chunk in (range(0, 3), range(3, 5)):
        render_motion("liveportrait", portrait, motion, tmp_path / "chunks", frames=chunk, device="cpu",
                      renderer_options=opts)
    for i in range(len(CONTROLS)):
        a, b = frame_path(tmp_path / "whole", i), frame_path(tmp_path / "chunks", i)
        assert np.array_equal(load_image(a), load_image(b))


def test_io_binding_keeps_the_feature_volume_bound(files, portrait, landmarks):
    r = _renderer(files, portrait, landmarks, batch_size=2)
    net = r.nets["warping"]
    r.render_frames([(c, None) for c in CONTROLS[:2]])
    bound = net._feature[2]
    r.render_frames([(c, None) for c in CONTROLS[2:4]])
    assert net._feature[2] is bound  # same portrait, same batch: not uploaded again
    assert bound.shape() == [2, 32, 16, 64, 64] and bound.device_name() == "cpu"


def test_fp16_is_kept_only_within_two_levels_of_fp32(files, portrait, landmarks):
    """fp16 is measured against fp32 on the portrait when the renderer is prepared. The stand-in's
    high-gain random convolutions amplify fp16 rounding past 2 levels: one warning, fp32 used, the
    frames are fp32's. A low-gain export stays within the limit and keeps fp16."""
    pytest.importorskip("onnx")
    items = [(c, None) for c in CONTROLS]
    r32 = _renderer(files, portrait, landmarks, batch_size=5)
    seen = []
    r16 = _renderer(files, portrait, landmarks, batch_size=5, fp16=True, on_warning=seen.append)
    print(f"fp16 vs fp32, stand-in W+G (gain 0.3), CPU: {r16.fp16_levels} levels")
    assert r16.fp16_levels > P.FP16_MAX_LEVELS
    assert len(seen) == 1 and "using fp32" in seen[0] and not r16.nets["warping"].fp16
    for a, b in zip(r32.render_frames(items), r16.render_frames(items), strict=True):
        assert np.array_equal(a, b)

    calm = dict(files, warping=S.export(S.Warp3D(gain=0.05), (torch.zeros(2, 32, 16, 64, 64),
                                                              torch.zeros(2, 21, 3), torch.zeros(2, 21, 3)),
                                        Path(files["warping"]).with_name("warp_calm.onnx"),
                                        ["f", "kd", "ks"], ["o"],
                                        dynamic={k: {0: "b"} for k in ("f", "kd", "ks", "o")}))
    c32 = _renderer(calm, portrait, landmarks, batch_size=5)
    c16 = _renderer(calm, portrait, landmarks, batch_size=5, fp16=True, on_warning=seen.append)
    print(f"fp16 vs fp32, stand-in W+G (gain 0.05), CPU: {c16.fp16_levels} levels")
    assert c16.fp16_levels <= P.FP16_MAX_LEVELS and c16.nets["warping"].fp16 and len(seen) == 1
    worst = max(int(np.abs(a.astype(int) - b.astype(int)).max())
                for a, b in zip(c32.render_frames(items), c16.render_frames(items), strict=True))
    assert worst <= P.FP16_MAX_LEVELS


def test_torch_paste_back_matches_opencv(files, portrait, landmarks):
    cpu = _renderer(files, portrait, landmarks, batch_size=5)
    tch = _renderer(files, portrait, landmarks, batch_size=5, paste="torch")
    assert cpu._paste is None and tch._paste is not None and tch._paste.device.type == "cpu"
    items = [(c, None) for c in CONTROLS]
    for a, b in zip(cpu.render_frames(items), tch.render_frames(items), strict=True):
        d = np.abs(a.astype(int) - b.astype(int))
        assert d.max() <= 2 and d.mean() < 0.05  # bilinear weights: OpenCV's are fixed-point (1/32 px)


def test_crop_scale_option_reaches_the_crop(files, portrait, landmarks):
    a = _renderer(files, portrait, landmarks)
    b = _renderer(files, portrait, landmarks, crop_scale=2.6)
    assert b.source["geom"].size == pytest.approx(a.source["geom"].size * 2.6 / 2.3)
    m = _renderer(files, portrait, landmarks, crop_rule="mesh")
    assert m.source["geom"].size > a.source["geom"].size


@pytest.mark.parametrize(("device", "have", "want"), [
    ("auto", [], "CPU"), ("auto", ["CUDA"], "CUDA"), ("auto", ["Dml"], "Dml"), ("auto", ["CoreML"], "CoreML"),
    ("auto", ["Dml", "CUDA"], "CUDA"), ("dml", ["Dml"], "Dml"), ("cpu", ["CUDA"], "CPU"),
])
def test_provider_choice(device, have, want):
    have = [f"{h}ExecutionProvider" for h in have] + ["CPUExecutionProvider"]
    got = PV.choose_providers(device, have=have)
    assert got[0] == f"{want}ExecutionProvider" and got[-1] == "CPUExecutionProvider"


def test_provider_choice_refusals():
    with pytest.raises(RenderError, match="DirectML was requested.*directml"):
        PV.choose_providers("dml", have=["CPUExecutionProvider"])
    with pytest.raises(RenderError, match="CoreML.*macOS"):
        PV.choose_providers("coreml", have=["CPUExecutionProvider"])
    with pytest.raises(RenderError, match="unknown device"):
        PV.choose_providers("vulkan", have=["CPUExecutionProvider"])


def test_placement_probe_reads_where_each_node_ran(files):
    net = N.Network("warping", files["warping"], ["CPUExecutionProvider"], check=True)
    assert net.nodes["CPUExecutionProvider"]["GridSample"] == 1
    assert net.nodes["CPUExecutionProvider"]["Conv"] == 2
    assert not net.cpu_nodes  # CPU asked, CPU got


def test_one_warning_per_session_when_a_gpu_provider_leaves_nodes_on_the_cpu(files, monkeypatch, portrait,
                                                                          landmarks):
    """A CPU-only onnxruntime asked for CUDA first behaves like a GPU provider without kernels:
    every node lands on the CPU. The probe sees it: one warning per network, naming the ops."""
    monkeypatch.setattr(N, "choose_providers",
                        lambda device, tensorrt=False: ["CUDAExecutionProvider", "CPUExecutionProvider"])
    seen = []
    nets = N.LivePortraitNetworks(files, "cuda", on_warning=seen.append)
    roles = [m.split(":", 1)[0] for m in seen]
    assert seen == nets.fallbacks and len(roles) == len(set(roles))  # at most one per session
    # every network with real work warns (the stand-in eye MLP is only slicing and adding)
    assert set(roles) == set(N.ROLES) - {"eye"}
    warp_msg = next(m for m in seen if m.startswith("warping:"))
    assert "GridSample x1" in warp_msg and "Conv x2" in warp_msg and "Shape" not in warp_msg
    assert nets.label.startswith("CUDA (") and "partly on CPU" in nets.label
    # it still renders (the mixed session works), and no further warning per frame
    r = create_renderer("liveportrait", device="cuda", model_files=files, on_warning=seen.append,
                        check_placement=True)
    r.prepare(portrait, landmarks)
    before = len(seen)
    r.render_frames([(c, None) for c in CONTROLS[:2]])
    assert len(seen) == before


def test_cpu_work_ignores_shape_arithmetic():
    from collections import Counter

    nodes = {"CUDAExecutionProvider": Counter({"Conv": 40}),
             "CPUExecutionProvider": Counter({"Shape": 3, "Gather": 2, "GridSample": 2})}
    assert PV.cpu_work(nodes, ["CUDAExecutionProvider", "CPUExecutionProvider"]) == Counter({"GridSample": 2})
    assert PV.cpu_work(nodes, ["CPUExecutionProvider"]) == Counter()
    events = [{"cat": "Node", "name": "gs_kernel_time", "args": {"op_name": "GridSample",
                                                                 "provider": "CPUExecutionProvider"}},
              {"cat": "Node", "name": "gs_kernel_time", "args": {"op_name": "GridSample",
                                                                 "provider": "CPUExecutionProvider"}},
              {"cat": "Session", "name": "model_run", "args": {}}]
    assert PV.parse_profile(events) == {"CPUExecutionProvider": Counter({"GridSample": 1})}


def test_paste_back_geometry_box_only(portrait, landmarks):
    g = C.crop_geometry(landmarks)
    crop = np.full((512, 512, 3), 255, np.uint8)
    from engine.render.liveportrait.paste_torch import TorchPasteBack

    tp = TorchPasteBack(portrait, g, C.feather_mask(512), "cpu")
    out = tp.paste(torch.ones(1, 3, 512, 512))[0]
    ref = C.paste_back(portrait, crop, g)
    assert np.abs(out.astype(int) - ref.astype(int)).max() <= 2
