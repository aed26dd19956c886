"""Dense LivePortrait expression: capture runs the motion extractor on every driving frame and
stores LivePortrait's relative expression and pose in the motion extras; the renderer applies the
16 controls as offsets on top (untouched = the actor, an edited control = exactly its aspect).

Motion extractor: a stand-in with the published signature whose expression and pose follow the
mean of the driving crop (tests/helpers/lp_standins.py), so the stored track can be checked
against that law on a real clip."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

ort = pytest.importorskip("onnxruntime")
torch = pytest.importorskip("torch")

from engine.capture import capture  # noqa: E402
from engine.capture import liveportrait_dense as D  # noqa: E402
from engine.controls import CONTROL_NAMES, NEUTRAL  # noqa: E402
from engine.media.video import load_image  # noqa: E402
from engine.motion import Motion  # noqa: E402
from engine.render import create_renderer  # noqa: E402
from engine.render.liveportrait import controls_to_motion as ctm  # noqa: E402
from engine.render.liveportrait import pipeline as P  # noqa: E402
from engine.render.liveportrait.keypoints import rotation_matrix  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
CLIP = ROOT.parent / "shared" / "testdata" / "driving" / "d1_single_blink.mp4"
PORTRAIT = ROOT / "engine" / "assets" / "sample_portrait.jpg"


def _standins():
    path = ROOT / "tests" / "helpers" / "lp_standins.py"
    spec = importlib.util.spec_from_file_location("lp_standins", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


S = _standins()
pytestmark = pytest.mark.skipif(not CLIP.exists() or not all(p.exists() for p in S.REAL.values()),
                                reason="../shared test media not present")


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    return S.build(tmp_path_factory.mktemp("lp"))


@pytest.fixture(scope="module")
def motion(files):
    return capture(CLIP, smoothing=0.5, dense=D.DenseCapture(files["motion"], device="cpu"))


def test_capture_stores_the_dense_track(motion):
    n = motion.frame_count
    ex = motion.extras
    assert ex[D.EXTRA_EXP].shape == (n, 63) and ex[D.EXTRA_POSE].shape == (n, 13)
    assert ex[D.EXTRA_BASE].shape == (n, 16)
    ref = motion.calibration["frame"]
    identity = np.r_[np.eye(3).ravel(), 1, 0, 0, 0]
    assert np.allclose(ex[D.EXTRA_EXP][ref], 0) and np.allclose(ex[D.EXTRA_POSE][ref], identity)
    # base = the stored controls themselves (region "all"): untouched curves add nothing
    assert np.array_equal(ex[D.EXTRA_BASE], motion.to_array())


def test_dense_track_follows_the_motion_extractor(motion):
    """The stand-in's law: exp_i - exp_ref = c_i * exp_dir, yaw_i - yaw_ref = 90 c_i, pitch 30 c_i,
    scale ratio (1.4 + 0.2 (m_i - 0.4)) / (1.4 + 0.2 (m_ref - 0.4)), with c_i = m_i - m_ref (m =
    mean of the driving crop). The blink and the head's small moves change m along the clip."""
    exp_dir = S.Motion().exp_dir.numpy().ravel()
    ex = motion.extras
    c = ex[D.EXTRA_EXP] @ exp_dir / (exp_dir @ exp_dir)
    assert np.allclose(ex[D.EXTRA_EXP], np.outer(c, exp_dir), atol=1e-6)  # one direction, as the law says
    assert np.ptp(c) > 1e-3  # the frames differ
    checked = 0
    for i in range(motion.frame_count):
        # R_rel = R(p_ref + 30 c, y_ref + 90 c, r) R(p_ref, y_ref, r)^T for the reference angles
        # of the stand-in at m_ref; recover m_ref from the scale ratio law
        ratio = ex[D.EXTRA_POSE][i, 9]
        s_ref = 0.2 * c[i] / (ratio - 1) if abs(ratio - 1) > 1e-6 else None
        if s_ref is None:
            continue
        m_ref = (s_ref - 1.4) / 0.2 + 0.4
        p_ref, y_ref = 3 * (34 + 10 * (m_ref - 0.4)) - 97.5, 3 * (31 + 30 * (m_ref - 0.4)) - 97.5
        r_i = rotation_matrix(p_ref + 30 * c[i], y_ref + 90 * c[i], 0.0)  # stand-in roll: 0
        want = r_i @ rotation_matrix(p_ref, y_ref, 0.0).T
        assert np.allclose(ex[D.EXTRA_POSE][i, :9].reshape(3, 3), want, atol=2e-4), i
        assert np.allclose(ex[D.EXTRA_POSE][i, 10:12], 0.1 * c[i], atol=1e-5)
        checked += 1
    assert checked >= motion.frame_count - 2  # all but the reference (and a frame equal to it)


def test_reference_and_regions():
    rng = np.random.default_rng(0)
    raw = np.concatenate([rng.normal(0, 5, (6, 3)), rng.normal(0, 0.05, (6, 3)), rng.normal(0, 0.02, (6, 63)),
                          1.3 + rng.normal(0, 0.02, (6, 1))], axis=1)
    controls = {k: rng.normal(0, 0.3, 6).astype(np.float32) for k in CONTROL_NAMES}
    first = D.dense_extras(raw, 0, "all", controls)
    assert np.allclose(first[D.EXTRA_EXP][0], 0) and not np.allclose(first[D.EXTRA_EXP][3], 0)
    lips = D.dense_extras(raw, 2, "lips", controls)
    assert D.EXTRA_POSE not in lips
    e = lips[D.EXTRA_EXP].reshape(6, 21, 3)
    moved = set(np.flatnonzero(np.abs(e).sum((0, 2)) > 0))
    assert moved == {6, 12, 14, 17, 19, 20}
    eyes = D.dense_extras(raw, 2, "eyes", controls)
    e = eyes[D.EXTRA_EXP].reshape(6, 21, 3)
    assert set(np.flatnonzero(np.abs(e).sum((0, 2)) > 0)) == {11, 13, 15, 16, 18}
    pose = D.dense_extras(raw, 2, "pose", controls)
    assert D.EXTRA_EXP not in pose and pose[D.EXTRA_POSE].shape == (6, 13)
    # base: captured values for the region's controls, neutral elsewhere (those stay absolute)
    for region, out in (("lips", lips), ("pose", pose), ("eyes", eyes)):
        for j, name in enumerate(CONTROL_NAMES):
            want = controls[name] if name in D.REGION_CONTROLS[region] else np.full(6, NEUTRAL[name])
            assert np.allclose(out[D.EXTRA_BASE][:, j], want), (region, name)
    with pytest.raises(D.DenseCaptureError, match="animation region"):
        D.DenseCapture("x.onnx", region="hair")


def test_round_trip_through_json_and_sidecar(motion, tmp_path):
    for sidecar in (False, True):
        path = tmp_path / f"m{int(sidecar)}.json"
        motion.save(path, sidecar=sidecar)
        back = Motion.load(path)
        for k, v in motion.extras.items():
            assert np.allclose(back.extras[k], v, atol=1e-6)
        assert np.allclose(back.slice(3, 9).extras[D.EXTRA_POSE], motion.extras[D.EXTRA_POSE][3:9])


def test_controls_are_offsets_on_top_of_the_dense_track(motion, files):
    r = create_renderer("liveportrait", device="cpu", model_files=files)
    r.prepare(load_image(PORTRAIT))
    src = r.source["info"]
    i = int(np.argmax(np.abs(motion.extras[D.EXTRA_EXP]).sum(1)))  # the frame furthest from neutral
    extras = {k: v[i] for k, v in motion.extras.items()}
    untouched = motion.frame(i)
    p = r.driving(untouched, extras)
    # untouched curves: exactly LivePortrait's relative motion of the actor
    assert np.allclose(p.exp, src.exp + extras[D.EXTRA_EXP].reshape(21, 3), atol=1e-6)
    assert np.allclose(p.rotation, extras[D.EXTRA_POSE][:9].reshape(3, 3) @ src.rotation, atol=1e-6)
    assert p.scale == pytest.approx(src.scale * extras[D.EXTRA_POSE][9], rel=1e-6)
    # an edited smile: exactly the smile coefficients more, nothing else moves
    edited = dict(untouched, mouth_smile=untouched["mouth_smile"] + 0.4)
    q = r.driving(edited, extras)
    want = np.zeros((21, 3))
    for k, axis, coef in ctm.SMILE:
        want[k, axis] += 0.4 * coef
    assert np.allclose(q.exp - p.exp, want, atol=1e-6)
    assert np.allclose(q.rotation, p.rotation) and q.scale == p.scale
    # an edited yaw turns the head by that much on top of the actor's rotation
    turned = r.driving(dict(untouched, head_yaw=untouched["head_yaw"] + 10.0), extras)
    assert np.allclose(turned.rotation, rotation_matrix(0, -10.0, 0) @ p.rotation, atol=1e-9)
    assert np.allclose(turned.exp, p.exp)
    # the toggle: use_dense=False renders from the controls alone
    r2 = create_renderer("liveportrait", device="cpu", model_files=files, use_dense=False)
    r2.prepare(load_image(PORTRAIT))
    assert np.allclose(r2.driving(untouched, extras).exp, r2.driving(untouched).exp)
    # the renderer draws frames from it
    frame = r.render_frame(untouched, extras)
    assert frame.shape == r.source["portrait"].shape


def test_old_extras_without_pose_keep_the_head_absolute(files):
    r = create_renderer("liveportrait", device="cpu", model_files=files)
    r.prepare(load_image(PORTRAIT))
    base = np.array([NEUTRAL[k] for k in CONTROL_NAMES], np.float32)
    base[CONTROL_NAMES.index("head_yaw")] = 8.0
    c = dict(NEUTRAL, head_yaw=8.0)
    p = r.driving(c, {P.EXTRA_DENSE_EXP: np.zeros(63, np.float32), P.EXTRA_DENSE_BASE: base})
    assert np.allclose(p.rotation, r.driving(c).rotation)  # as before this change: absolute


def test_cli_dense_modes(tmp_path, capsys):
    from engine.cli import main

    out = tmp_path / "m.json"
    assert main(["capture", str(CLIP), "-o", str(out), "--frames", "0-4", "--models-dir", str(tmp_path)]) == 0
    assert "dense expression: off (LivePortrait models not installed)" in capsys.readouterr().out
    assert Motion.load(out).extras == {}
    assert main(["capture", str(CLIP), "-o", str(tmp_path / "n.json"), "--dense", "on",
                 "--models-dir", str(tmp_path)]) == 2
    assert "motion_extractor.onnx" in capsys.readouterr().err


def test_cli_choices_agree_with_the_engine():
    """engine/commands spell the choices out (so --help loads no mediapipe): keep them equal."""
    from engine.commands import capture as cmd
    from engine.render.liveportrait.providers import DEVICES

    assert cmd.DENSE_REGIONS == D.REGIONS and cmd.DENSE_REFERENCES == D.REFERENCES
    assert set(cmd.DEVICES) == set(DEVICES)


def test_cli_refuses_bad_batch_and_crop_values(capsys):
    from engine.cli import main

    for args in (["--batch-size", "0"], ["--batch-size", "x"], ["--crop-scale", "9"], ["--device", "tpu"]):
        with pytest.raises(SystemExit) as exit_:  # argparse: usage line + error, exit 2
            main(["render", "p.png", "m.json", "-o", "out", *args])
        assert exit_.value.code == 2
        assert "error" in capsys.readouterr().err


def test_without_region_leaves_the_lips_to_the_controls():
    """Mouth from the voice: the dense track keeps everything but the lips, whose controls then
    act absolutely (neutral base)."""
    rng = np.random.default_rng(1)
    raw = np.concatenate([rng.normal(0, 5, (4, 3)), rng.normal(0, 0.05, (4, 3)), rng.normal(0, 0.02, (4, 63)),
                          1.3 + rng.normal(0, 0.02, (4, 1))], axis=1)
    controls = {k: rng.normal(0, 0.3, 4).astype(np.float32) for k in CONTROL_NAMES}
    full = D.dense_extras(raw, 0, "all", controls)
    cut = D.without_region(full, "lips")
    e_full, e_cut = (x[D.EXTRA_EXP].reshape(4, 21, 3) for x in (full, cut))
    lips = [6, 12, 14, 17, 19, 20]
    assert np.all(e_cut[:, lips] == 0)
    others = [k for k in range(21) if k not in lips]
    assert np.array_equal(e_cut[:, others], e_full[:, others])
    for j, name in enumerate(CONTROL_NAMES):
        want = NEUTRAL[name] if name.startswith("mouth_") else controls[name]
        assert np.allclose(cut[D.EXTRA_BASE][:, j], want), name
    assert np.array_equal(cut[D.EXTRA_POSE], full[D.EXTRA_POSE])
