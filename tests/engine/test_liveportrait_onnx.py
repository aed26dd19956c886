"""LivePortrait networks through onnxruntime: the real F, stitching and lip files from
../shared/reference/liveportrait_onnx (signatures, output shapes and ranges), the 5-D GridSample
the warping network needs, and the whole renderer with stand-in M, W+G and eye networks that
have the published input/output signatures (exported here from tiny torch modules) so the data
path can be checked against values computed independently in the test.

The stand-ins are NOT LivePortrait: images rendered here say nothing about quality."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest

ort = pytest.importorskip("onnxruntime")
torch = pytest.importorskip("torch")

from engine.controls import NEUTRAL  # noqa: E402
from engine.media.video import load_image  # noqa: E402
from engine.render import RenderError, create_renderer  # noqa: E402
from engine.render.liveportrait import crop as C  # noqa: E402
from engine.render.liveportrait import keypoints as K  # noqa: E402
from engine.render.liveportrait import pipeline as P  # noqa: E402
from engine.render.liveportrait.networks import SIGNATURES, Network  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
LP = ROOT.parent / "shared" / "reference" / "liveportrait_onnx"
PORTRAIT = ROOT / "engine" / "assets" / "sample_portrait.jpg"
REAL = {"appearance": LP / "appearance_feature_extractor.onnx", "stitching": LP / "stitching.onnx",
        "lip": LP / "stitching_lip.onnx"}

pytestmark = pytest.mark.skipif(not all(p.exists() for p in REAL.values()),
                                reason="../shared/reference/liveportrait_onnx not present")

# Stand-in motion extractor outputs: pose logits whose decoding is known by hand.
PITCH_BIN, YAW_BINS, ROLL_BIN = 35, (30, 31), 32  # 7.5 deg, (30.5*3-97.5) = -6 deg, -1.5 deg


def _session(path):
    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])


def _export(module, args, path, inputs, outputs, opset=17):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(module, args, str(path), input_names=inputs, output_names=outputs,
                          opset_version=opset, dynamo=False)
    return path


class StandInMotion(torch.nn.Module):
    """Fixed pose logits, t, scale, kp; exp = exp0 + mean(image) * exp_dir (so frames differ)."""

    def __init__(self):
        super().__init__()
        g = torch.Generator().manual_seed(0)

        def logits(bins):
            v = torch.full((1, 66), -30.0)
            v[0, list(bins)] = 4.0
            return v

        self.register_buffer("pitch", logits([PITCH_BIN]))
        self.register_buffer("yaw", logits(YAW_BINS))
        self.register_buffer("roll", logits([ROLL_BIN]))
        self.register_buffer("t", torch.tensor([[0.03, -0.02, 0.5]]))
        self.register_buffer("exp0", torch.randn(1, 63, generator=g) * 0.01)
        self.register_buffer("exp_dir", torch.randn(1, 63, generator=g) * 0.05)
        self.register_buffer("scale", torch.tensor([[1.4]]))
        self.register_buffer("kp", torch.randn(1, 63, generator=g) * 0.4)

    def forward(self, img):
        m = img.mean()
        return (self.pitch + 0 * m, self.yaw + 0 * m, self.roll + 0 * m, self.t + 0 * m,
                self.exp0 + m * self.exp_dir, self.scale + 0 * m, self.kp + 0 * m)


class StandInWarp(torch.nn.Module):
    """A flat image whose colours encode the keypoints it was given (by input position)."""

    def forward(self, feature, kp_driving, kp_source):
        r = 0.5 + 2.0 * (kp_driving[0, 0, 0] - kp_source[0, 0, 0])
        g = 0.5 + 0.25 * kp_driving[0, 1, 1]
        b = 0.5 + 0.25 * kp_source[0, 2, 0] + 0 * feature.mean()
        rgb = torch.stack([r, g, b]).reshape(1, 3, 1, 1)
        return rgb.expand(1, 3, 512, 512).clamp(0, 1) + 0 * feature[:, :3, 0, :1, :1]


class StandInEye(torch.nn.Module):
    """Moves keypoint 11's y by 0.5 x the target eye ratio (input 65)."""

    def forward(self, x):
        out = torch.zeros(1, 63) + 0 * x[:, :63]
        return out + torch.nn.functional.one_hot(torch.tensor([34]), 63).float() * 0.5 * x[:, 65:66]


@pytest.fixture(scope="module")
def standins(tmp_path_factory):
    d = tmp_path_factory.mktemp("standins")
    img = torch.zeros(1, 3, 256, 256)
    files = dict(REAL)
    files["motion"] = _export(StandInMotion().eval(), (img,), d / "motion_extractor.onnx", ["img"],
                              ["pitch", "yaw", "roll", "t", "exp", "scale", "kp"])
    files["warping"] = _export(StandInWarp().eval(), (torch.zeros(1, 32, 16, 64, 64), torch.zeros(1, 21, 3),
                                                      torch.zeros(1, 21, 3)),
                               d / "warping_spade.onnx", ["feature_3d", "kp_driving", "kp_source"], ["out"])
    files["eye"] = _export(StandInEye().eval(), (torch.zeros(1, 66),), d / "stitching_eye.onnx",
                           ["input"], ["output"])
    return files


@pytest.fixture(scope="module")
def portrait():
    return load_image(PORTRAIT)


@pytest.fixture(scope="module")
def landmarks(portrait):
    return P.track_landmarks(portrait)  # our own MediaPipe tracker, as the renderer uses it


# ------------------------------------------------------------------ real networks
@pytest.mark.parametrize("role", ["appearance", "stitching", "lip"])
def test_real_signatures(role):
    s = _session(REAL[role])
    ins, outs = SIGNATURES[role]
    assert [tuple(i.shape) for i in s.get_inputs()] == list(ins)
    assert [tuple(o.shape) for o in s.get_outputs()] == list(outs)
    assert all(i.type == "tensor(float)" for i in s.get_inputs() + s.get_outputs())
    Network(role, REAL[role], ["CPUExecutionProvider"])  # our loader accepts it


def test_real_appearance_features_on_a_face_crop(portrait, landmarks):
    crop = C.crop_image(portrait, C.crop_geometry(landmarks), 256)
    f = _session(REAL["appearance"]).run(None, {"img": P.to_input(crop)})[0]
    assert f.shape == (1, 32, 16, 64, 64) and f.dtype == np.float32
    assert np.isfinite(f).all()
    assert 0.5 < f.std() < 20 and np.abs(f).max() < 200  # measured: std 3.5, |max| 27
    flat = _session(REAL["appearance"]).run(None, {"img": np.full((1, 3, 256, 256), 0.5, np.float32)})[0]
    assert np.abs(f - flat).mean() > 0.1  # the features depend on the image


def test_real_stitching_and_lip_outputs():
    rng = np.random.default_rng(0)
    kp = rng.uniform(-0.6, 0.6, (21, 3))
    st = _session(REAL["stitching"])
    d = st.run(None, {"input": K.stitching_input(kp, kp)})[0]
    assert d.shape == (1, 65) and np.isfinite(d).all()
    assert np.abs(d).max() < 0.5  # small corrections in keypoint units (measured 0.13)
    d2 = st.run(None, {"input": K.stitching_input(kp, kp + 0.05)})[0]
    assert not np.allclose(d, d2)
    lip = _session(REAL["lip"])
    outs = [lip.run(None, {"input": K.lip_input(kp, 0.05, t)})[0] for t in (0.05, 0.3, 0.6)]
    assert all(o.shape == (1, 63) and np.isfinite(o).all() and np.abs(o).max() < 0.5 for o in outs)
    # opening the lips further moves the keypoints further
    assert np.abs(outs[2] - outs[0]).sum() > np.abs(outs[1] - outs[0]).sum() > 0


def test_grid_sample_5d_runs_on_the_shipped_onnxruntime(tmp_path):
    """The warping module's volumetric grid_sample (opset 20 GridSample on 5-D tensors)."""

    class Warp3D(torch.nn.Module):
        def forward(self, vol, grid):
            return torch.nn.functional.grid_sample(vol, grid, mode="bilinear", padding_mode="zeros",
                                                   align_corners=False)

    g = torch.Generator().manual_seed(0)
    vol = torch.randn(1, 4, 6, 8, 10, generator=g)
    grid = torch.rand(1, 5, 7, 9, 3, generator=g) * 2.2 - 1.1
    path = _export(Warp3D(), (vol, grid), tmp_path / "gs5d.onnx", ["vol", "grid"], ["out"], opset=20)
    got = _session(path).run(None, {"vol": vol.numpy(), "grid": grid.numpy()})[0]
    want = Warp3D()(vol, grid).numpy()
    assert got.shape == (1, 4, 5, 7, 9)
    assert np.abs(got - want).max() < 1e-5



def test_grid_sample_5d_declared_at_opset_16_also_runs():
    """Older exports (e.g. torch 2.4 at opset 16, like the shipped F) may declare the 5-D
    GridSample at opset 16, where the ONNX spec says 4-D only: onnxruntime 1.32's CPU kernel
    accepts it."""
    pytest.importorskip("onnx")
    from onnx import TensorProto, helper

    node = helper.make_node("GridSample", ["v", "g"], ["o"], mode="bilinear", align_corners=0,
                            padding_mode="zeros")
    graph = helper.make_graph([node], "gs16", [
        helper.make_tensor_value_info("v", TensorProto.FLOAT, [1, 2, 4, 5, 6]),
        helper.make_tensor_value_info("g", TensorProto.FLOAT, [1, 3, 4, 5, 3])],
        [helper.make_tensor_value_info("o", TensorProto.FLOAT, None)])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 16)])
    model.ir_version = 8
    rng = np.random.default_rng(0)
    v = rng.normal(size=(1, 2, 4, 5, 6)).astype(np.float32)
    g = (rng.random((1, 3, 4, 5, 3)) * 2 - 1).astype(np.float32)
    got = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"]).run(
        None, {"v": v, "g": g})[0]
    want = torch.nn.functional.grid_sample(torch.from_numpy(v), torch.from_numpy(g),
                                           align_corners=False).numpy()
    assert np.abs(got - want).max() < 1e-5

# ------------------------------------------------------------------ renderer data path
def test_missing_models_name_the_files_and_the_command(tmp_path):
    with pytest.raises(RenderError) as err:
        create_renderer("liveportrait", models_dir=tmp_path)
    msg = str(err.value)
    for name in ("motion_extractor.onnx", "warping_spade.onnx", "appearance_feature_extractor.onnx"):
        assert name in msg
    assert "python -m engine models download liveportrait --allow-network" in msg
    assert "models install" in msg


def test_wrong_file_for_a_role_is_refused(standins):
    files = dict(standins, lip=standins["stitching"])
    r = create_renderer("liveportrait", device="cpu", model_files=files)
    with pytest.raises(RenderError, match="not a LivePortrait lip network"):
        r._networks()


@pytest.fixture(scope="module")
def renderer(standins, portrait, landmarks):
    r = create_renderer("liveportrait", device="cpu", model_files=standins)
    r.prepare(portrait, landmarks)
    yield r
    r.close()


def _expected_driving(r, controls, standins):
    """Driving keypoints recomputed here from the formulas and direct onnxruntime calls."""
    src = r.source
    info = src["info"]
    p = r.driving(controls)
    x_s = info.keypoints()
    x_d = info.kp @ p.rotation + p.exp
    x_d = p.scale * x_d
    x_d[:, :2] += p.t[:2]
    el, er = src["eye_ratios"]
    eye = _session(standins["eye"])
    e = lambda t: eye.run(None, {"input": np.concatenate([x_s.ravel(), [el, er, t]])[None]
                                 .astype(np.float32)})[0].reshape(21, 3)
    x_d = x_d + e(p.eye_target) - e((el + er) / 2)
    lip = _session(REAL["lip"])
    lr = src["lip_ratio"]
    li = lambda t: lip.run(None, {"input": np.concatenate([x_s.ravel(), [lr, t]])[None]
                                  .astype(np.float32)})[0].reshape(21, 3)
    x_d = x_d + li(p.lip_target) - li(lr)
    delta = _session(REAL["stitching"]).run(None, {"input": np.concatenate([x_s.ravel(), x_d.ravel()])[None]
                                                   .astype(np.float32)})[0][0]
    x_d = x_d + delta[:63].reshape(21, 3)
    x_d[:, 0] += delta[63]
    x_d[:, 1] += delta[64]
    return x_s, x_d


def test_source_motion_decoded_from_the_motion_extractor(renderer, portrait, landmarks):
    info = renderer.source["info"]
    assert info.pitch == pytest.approx(PITCH_BIN * 3 - 97.5, abs=1e-4)
    assert info.yaw == pytest.approx(30.5 * 3 - 97.5, abs=1e-4)
    assert info.roll == pytest.approx(ROLL_BIN * 3 - 97.5, abs=1e-4)
    assert info.scale == pytest.approx(1.4)
    m = StandInMotion()
    crop = C.crop_image(portrait, C.crop_geometry(landmarks, 512, 2.3, -0.125), 256)
    mean = P.to_input(crop).mean()
    assert np.allclose(info.exp.ravel(), m.exp0.numpy().ravel() + mean * m.exp_dir.numpy().ravel(), atol=1e-5)
    assert np.allclose(renderer.source["x_s"], K.transform_keypoints(info.kp, info.rotation, info.exp,
                                                                     1.4, info.t))


@pytest.mark.parametrize("controls", [
    {},
    {"head_yaw": 12.0, "head_pitch": -6.0, "head_roll": 4.0, "head_scale": 1.1, "head_x": 0.1},
    {"eye_open_l": 0.1, "eye_open_r": 0.2, "mouth_open": 0.8, "mouth_smile": 0.5, "gaze_x": -0.4},
])
def test_driving_keypoints_match_independent_computation(renderer, standins, controls):
    c = dict(NEUTRAL, **controls)
    got = renderer.driving_keypoints(c)
    x_s, want = _expected_driving(renderer, c, standins)
    assert np.allclose(got, want, atol=2e-5)
    if not controls:
        # neutral: only the stitching correction separates driving from source keypoints
        assert np.abs(got - x_s).max() < 0.5
    else:
        assert np.abs(got - renderer.driving_keypoints(NEUTRAL)).max() > 1e-3


def test_keypoints_reach_the_generator_in_the_right_order(renderer, standins):
    c = dict(NEUTRAL, head_yaw=10.0, mouth_open=0.5)
    crop = renderer.render_crop(c)
    x_s, x_d = _expected_driving(renderer, c, standins)
    want = np.clip([0.5 + 2 * (x_d[0, 0] - x_s[0, 0]), 0.5 + 0.25 * x_d[1, 1], 0.5 + 0.25 * x_s[2, 0]], 0, 1)
    assert crop.shape == (512, 512, 3) and crop.dtype == np.uint8
    assert np.abs(crop[256, 256].astype(float) - want * 255).max() <= 1.0
    assert set(renderer.timings) >= {"keypoints", "retarget", "stitching", "warp_generate"}


def test_render_frame_pastes_into_the_full_portrait(renderer, portrait):
    frame = renderer.render_frame(NEUTRAL)
    assert frame.shape == portrait.shape and frame.dtype == np.uint8
    g = renderer.source["geom"]
    crop = renderer.render_crop(NEUTRAL)
    cx, cy = np.round(g.center).astype(int)
    assert np.abs(frame[cy, cx].astype(int) - crop[256, 256].astype(int)).max() <= 1
    # far outside the crop square the portrait is untouched
    inside = np.zeros(portrait.shape[:2], bool)
    quad = g.to_image(np.array([[0, 0], [512, 0], [512, 512], [0, 512]], float))
    import cv2
    cv2.fillConvexPoly(inside.view(np.uint8), np.round(quad).astype(np.int32), 1)
    assert np.array_equal(frame[~inside], portrait[~inside])
    assert "paste_back" in renderer.timings
    # stateless: the same controls give the same frame
    assert np.array_equal(renderer.render_frame(NEUTRAL), frame)


def test_dense_expression_extras_and_capture(renderer, standins, portrait, landmarks):
    frames = [(np.clip(portrait.astype(int) + d, 0, 255).astype(np.uint8), landmarks) for d in (0, 30, -20)]
    dense = renderer.capture_expression(frames)
    assert dense.shape == (3, 63) and np.allclose(dense[0], 0)
    m = StandInMotion()
    means = [P.to_input(C.crop_image(f, C.crop_geometry(lm, 512, 2.2, -0.1), 256)).mean() for f, lm in frames]
    want = (means[1] - means[0]) * m.exp_dir.numpy().ravel()
    assert np.allclose(dense[1], want, atol=1e-5)
    base = np.array([NEUTRAL[k] for k in NEUTRAL], np.float32)
    p = renderer.driving(NEUTRAL, {P.EXTRA_DENSE_EXP: dense[1], P.EXTRA_DENSE_BASE: base})
    assert np.allclose(p.exp, renderer.source["info"].exp + dense[1].reshape(21, 3), atol=1e-6)


def test_warping_falls_back_to_cpu_when_the_gpu_provider_fails(standins):
    from engine.render.liveportrait.networks import LivePortraitNetworks

    nets = LivePortraitNetworks(standins, device="cpu")
    real = nets["warping"]

    class FailingGpuSession:  # what a CUDA build without 5-D GridSample does at run time
        providers = ["CUDAExecutionProvider", "CPUExecutionProvider"]
        path = real.path
        _threads = None
        fp16 = False
        batch_dynamic = False

        def run_warp(self, *args, **kwargs):
            raise RuntimeError("GridSample: only 4-D input is supported")

    nets.nets["warping"] = FailingGpuSession()
    kp = np.zeros((21, 3), np.float32)
    out = nets.warp(np.zeros((1, 32, 16, 64, 64), np.float32), kp, kp)
    assert out.shape == (1, 3, 512, 512)
    assert len(nets.fallbacks) == 1 and "CUDA failed" in nets.fallbacks[0]
    assert nets["warping"].providers == ["CPUExecutionProvider"]


def test_explicit_cuda_without_a_cuda_provider_says_what_to_do():
    from engine.render.liveportrait.networks import choose_providers

    assert choose_providers("cpu") == ["CPUExecutionProvider"]
    if "CUDAExecutionProvider" in ort.get_available_providers():
        assert choose_providers("cuda")[0] == "CUDAExecutionProvider"
    else:
        assert choose_providers("auto") == ["CPUExecutionProvider"]
        with pytest.raises(RenderError, match="Install GPU Runtime"):
            choose_providers("cuda")
