"""The body in the motion model: file round trips (with and without a body, inline and sidecar),
old version-1 files, validation, and the body controls computed from known joint positions."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from engine.body import BODY_CONTROL_NAMES, JOINT_COUNT, JOINT_NAMES, BodyTrack, J, body_controls
from engine.capture.body import jitter, smooth_joints
from engine.controls import CONTROL_NAMES, NEUTRAL
from engine.motion import Motion, MotionError


def standing(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Joints of a person facing the camera: normalised image coords and world metres."""
    img = np.zeros((n, JOINT_COUNT, 3), np.float32)
    world = np.zeros((n, JOINT_COUNT, 3), np.float32)
    pos = {"nose": (0.5, 0.30), "left_eye": (0.52, 0.28), "right_eye": (0.48, 0.28),
           "left_shoulder": (0.62, 0.45), "right_shoulder": (0.38, 0.45),
           "left_hip": (0.58, 0.80), "right_hip": (0.42, 0.80)}
    for name, (x, y) in pos.items():
        img[:, J[name], :2] = (x, y)
    for name, xyz in {"left_shoulder": (0.18, -0.5, 0.0), "right_shoulder": (-0.18, -0.5, 0.0),
                      "left_hip": (0.1, 0.0, 0.0), "right_hip": (-0.1, 0.0, 0.0),
                      "nose": (0.0, -0.65, -0.05)}.items():
        world[:, J[name]] = xyz
    return img, world


def make_body(n: int, seed: int = 0) -> BodyTrack:
    rng = np.random.default_rng(seed)
    img, world = standing(n)
    img = img + rng.normal(0, 0.002, img.shape).astype(np.float32)
    conf = rng.uniform(0.2, 1.0, (n, JOINT_COUNT)).astype(np.float32)
    tracked = np.ones(n, bool)
    tracked[n // 2] = False
    return BodyTrack(img, world, conf, tracked, body_controls(img, world, 1.0, 0), {"frame": 0},
                     {"name": "x"})


def face_motion(n: int, body: BodyTrack | None = None) -> Motion:
    rng = np.random.default_rng(1)
    controls = {k: np.full(n, NEUTRAL[k], np.float32) + rng.normal(0, 0.01, n).astype(np.float32)
                for k in CONTROL_NAMES}
    return Motion(fps=30.0, controls=controls, body=body)


def test_joint_names_are_blazepose_model_order() -> None:
    """The indices MediaPipe documents for the pose model's outputs (the tracker reads them by
    these names)."""
    from engine.body_tracker import LANDMARK

    assert len(JOINT_NAMES) == 33 and len(set(JOINT_NAMES)) == 33
    assert (LANDMARK["nose"], LANDMARK["left_shoulder"], LANDMARK["right_shoulder"], LANDMARK["left_hip"],
            LANDMARK["right_hip"], LANDMARK["right_foot_index"]) == (0, 11, 12, 23, 24, 32)


@pytest.mark.parametrize("sidecar", [False, True])
def test_round_trip_with_body(tmp_path: Path, sidecar: bool) -> None:
    body = make_body(40)
    m = face_motion(40, body)
    path = m.save(tmp_path / "m.json", sidecar=sidecar)
    doc = json.loads(path.read_text())
    assert doc["version"] == 2 and "body" in doc
    back = Motion.load(path)
    assert back.body is not None
    np.testing.assert_allclose(back.body.joints, body.joints, atol=6e-5)
    np.testing.assert_allclose(back.body.world, body.world, atol=6e-5)
    np.testing.assert_allclose(back.body.confidence, body.confidence, atol=6e-4)
    assert back.body.tracked.tolist() == body.tracked.tolist() and not back.body.tracked[20]
    for k in BODY_CONTROL_NAMES:
        np.testing.assert_allclose(back.body.controls[k], body.controls[k], atol=1e-5)
    assert back.body.calibration == {"frame": 0}
    np.testing.assert_allclose(back.to_array(), m.to_array(), atol=1e-5)


@pytest.mark.parametrize("sidecar", [False, True])
def test_round_trip_without_body_stays_version_1(tmp_path: Path, sidecar: bool) -> None:
    m = face_motion(12)
    path = m.save(tmp_path / "m.json", sidecar=sidecar)
    doc = json.loads(path.read_text())
    assert doc["version"] == 1 and "body" not in doc  # older engines keep reading face-only files
    back = Motion.load(path)
    assert back.body is None
    np.testing.assert_allclose(back.to_array(), m.to_array(), atol=1e-5)


def test_old_version_1_file_loads(tmp_path: Path) -> None:
    # written by hand the way engines before the body wrote files (no "body" key at all)
    n = 3
    doc = {"format": "talking_head.motion", "version": 1, "fps": 25.0, "frame_count": n,
           "source": {"kind": "video"}, "calibration": {"frame": 0, "method": "given"}, "filter": {},
           "blendshape_names": [], "controls": {k: [NEUTRAL[k]] * n for k in CONTROL_NAMES},
           "confidence": [1.0] * n, "tracked": [True] * n, "blendshapes": None, "extras": {}}
    path = tmp_path / "old.json"
    path.write_text(json.dumps(doc))
    m = Motion.load(path)
    assert m.body is None and m.frame_count == n and m.fps == 25.0


def test_body_in_a_version_1_file_or_a_newer_version_is_refused(tmp_path: Path) -> None:
    doc = face_motion(5, make_body(5)).to_dict()
    doc["version"] = 1
    with pytest.raises(MotionError, match="cannot hold a body"):
        Motion.from_dict(doc)
    doc["version"] = 3
    with pytest.raises(MotionError, match="newer"):
        Motion.from_dict(doc)


@pytest.mark.parametrize("damage", ["nan", "shape", "confidence", "control", "names", "frames"])
def test_damaged_body_is_refused(damage: str) -> None:
    doc = face_motion(6, make_body(6)).to_dict()
    body = doc["body"]
    if damage == "nan":
        body["joints"][2][3][0] = float("nan")
    elif damage == "shape":
        body["world"][1] = body["world"][1][:32]
    elif damage == "confidence":
        body["confidence"][0][0] = 1.5
    elif damage == "control":
        del body["controls"]["torso_turn"]
    elif damage == "names":
        body["joint_names"] = body["joint_names"][::-1]
    else:
        body["tracked"] = body["tracked"][:-1]
        body["joints"] = body["joints"][:-1]
        body["world"] = body["world"][:-1]
        body["confidence"] = body["confidence"][:-1]
        body["controls"] = {k: v[:-1] for k, v in body["controls"].items()}
    with pytest.raises(MotionError):
        Motion.from_dict(json.loads(json.dumps(doc)))


def test_slice_keeps_the_body() -> None:
    m = face_motion(10, make_body(10)).slice(2, 7)
    assert m.body is not None and m.body.frame_count == 5 and m.frame_count == 5


def test_body_controls_follow_known_joint_motion() -> None:
    n = 4
    img, world = standing(n)
    # frame 1: chest turned 20 degrees toward the viewer's right (left shoulder goes away, +z)
    a = np.radians(20.0)
    world[1, J["left_shoulder"]] = (0.18 * np.cos(a), -0.5, 0.18 * np.sin(a))
    world[1, J["right_shoulder"]] = (-0.18 * np.cos(a), -0.5, -0.18 * np.sin(a))
    # frame 2: shoulders shifted to the viewer's right over still hips: a lean of atan(0.1/0.5)
    world[2, [J["left_shoulder"], J["right_shoulder"]], 0] += 0.1
    # frame 3: subject's left shoulder (viewer's right) raised by 0.05 of the frame = 0.208 widths
    img[3, J["left_shoulder"], 1] -= 0.05
    c = body_controls(img, world, 1.0, neutral=0)
    assert all(abs(c[k][0]) < 1e-5 for k in BODY_CONTROL_NAMES)  # zero at the neutral frame
    assert c["torso_turn"][1] == pytest.approx(20.0, abs=0.1)
    assert abs(c["torso_lean"][1]) < 0.1
    assert c["torso_lean"][2] == pytest.approx(np.degrees(np.arctan2(0.1, 0.5)), abs=0.1)
    assert abs(c["torso_turn"][2]) < 0.1
    assert c["shoulder_raise_l"][3] == pytest.approx(0.05 / 0.24, abs=0.02)
    assert abs(c["shoulder_raise_r"][3]) < 0.02


def test_smoothing_lowers_jitter_and_keeps_steady_motion() -> None:
    n = 120
    img, _ = standing(n)
    t = np.arange(n) / 30.0
    img[:, :, 0] += (0.05 * np.sin(2 * np.pi * 0.5 * t))[:, None]  # a slow sway
    noisy = img + np.random.default_rng(2).normal(0, 0.003, img.shape).astype(np.float32)
    conf = np.ones((n, JOINT_COUNT), np.float32)
    smoothed = smooth_joints(noisy, 30.0, 0.5)
    before, after = jitter(noisy, conf, 1.0), jitter(smoothed, conf, 1.0)
    assert after < 0.5 * before
    assert jitter(img, conf, 1.0) < 0.2 * before  # the sway alone is not jitter
    # the sway survives (a few frames of lag at most)
    assert np.max(np.abs(smoothed[10:, J["nose"], 0] - img[10:, J["nose"], 0])) < 0.012
