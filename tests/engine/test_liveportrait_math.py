"""LivePortrait math without networks: pose from bins, the keypoint formula, relative motion,
stitching application, controls -> motion, crop and paste-back geometry. Hand-computed values."""

from __future__ import annotations

import numpy as np
import pytest

from engine.controls import NEUTRAL
from engine.render.liveportrait import controls_to_motion as ctm
from engine.render.liveportrait import crop as C
from engine.render.liveportrait import keypoints as K


def test_pose_from_bins_by_hand():
    one_hot = np.full(66, -1e4)
    one_hot[40] = 0.0
    assert K.pose_from_bins(one_hot) == pytest.approx(40 * 3 - 97.5)
    two = np.full(66, -1e4)
    two[[10, 11]] = 5.0  # half each -> bin 10.5
    assert K.pose_from_bins(two) == pytest.approx(10.5 * 3 - 97.5)
    assert K.pose_from_bins(np.zeros(66)) == pytest.approx(0.0)  # uniform: mean bin 32.5
    logits = np.random.default_rng(1).normal(size=66) * 3
    p = [np.exp(v) for v in logits]
    expected = sum(pi / sum(p) * i for i, pi in enumerate(p)) * 3 - 97.5
    assert K.pose_from_bins(logits) == pytest.approx(expected, abs=1e-9)
    batch = np.stack([one_hot, two])
    assert np.allclose(K.pose_from_bins(batch), [22.5, -66.0])


def test_rotation_matrix_conventions():
    assert np.allclose(K.rotation_matrix(0, 0, 0), np.eye(3))
    r = K.rotation_matrix(13, -27, 41)
    assert np.allclose(r @ r.T, np.eye(3)) and np.linalg.det(r) == pytest.approx(1.0)
    # roll 90 turns the row vector x=(1,0,0) into +y (down on screen): clockwise as seen
    assert np.allclose(np.array([1.0, 0, 0]) @ K.rotation_matrix(0, 0, 90), [0, 1, 0], atol=1e-12)
    # R = (Rz Ry Rx)^T: with only pitch, R = Rx^T
    a = np.radians(30)
    rx = np.array([[1, 0, 0], [0, np.cos(a), -np.sin(a)], [0, np.sin(a), np.cos(a)]])
    assert np.allclose(K.rotation_matrix(30, 0, 0), rx.T)
    b = np.radians(-20)
    ry = np.array([[np.cos(b), 0, np.sin(b)], [0, 1, 0], [-np.sin(b), 0, np.cos(b)]])
    assert np.allclose(K.rotation_matrix(30, -20, 0), (ry @ rx).T)


def test_keypoint_formula_by_hand():
    kp = np.zeros((21, 3))
    kp[0] = (1.0, 2.0, 3.0)
    exp = np.zeros((21, 3))
    exp[0] = (0.1, 0.0, -0.1)
    rot = K.rotation_matrix(0, 0, 90)  # (x, y, z) @ R = (-y, x, z)
    x = K.transform_keypoints(kp, rot, exp, 2.0, np.array([0.5, -0.25, 9.0]))
    # 2 * ((-2, 1, 3) + (0.1, 0, -0.1)) + (0.5, -0.25, 0): t_z dropped
    assert np.allclose(x[0], [2 * -1.9 + 0.5, 2 * 1.0 - 0.25, 2 * 2.9])
    assert np.allclose(x[1:], [0.5, -0.25, 0.0])  # zero keypoints get only t_x, t_y


def _info(pitch=0.0, yaw=0.0, roll=0.0, scale=1.0, seed=0):
    rng = np.random.default_rng(seed)
    return K.KeypointInfo(pitch, yaw, roll, rng.normal(size=3) * 0.1, rng.normal(size=(21, 3)) * 0.01,
                          scale, rng.normal(size=(21, 3)) * 0.3)


def test_relative_motion():
    src = _info(5, -10, 3, 1.2, seed=1)
    d0 = _info(2, 4, -1, 0.9, seed=2)
    rot, exp, scale, t = K.relative_motion(src, d0, d0)  # driving at its first frame: source unchanged
    assert np.allclose(rot, src.rotation) and np.allclose(exp, src.exp)
    assert scale == pytest.approx(1.2) and np.allclose(t, src.t)
    di = _info(2, 4 + 15, -1, 1.8, seed=3)
    rot, exp, scale, t = K.relative_motion(src, di, d0)
    assert np.allclose(rot, di.rotation @ d0.rotation.T @ src.rotation)
    assert np.allclose(exp, src.exp + di.exp - d0.exp)
    assert scale == pytest.approx(1.2 * 1.8 / 0.9)
    assert K.relative_motion(src, di, d0, use_scale=False)[2] == pytest.approx(1.2)
    assert np.allclose(t, src.t + di.t - d0.t)


def test_stitching_application_by_hand():
    x_d = np.arange(63, dtype=float).reshape(21, 3)
    delta = np.zeros(65)
    delta[0:3] = (1, 2, 3)
    delta[63:65] = (10, 20)
    out = K.apply_stitching(x_d, delta)
    assert np.allclose(out[0], [0 + 1 + 10, 1 + 2 + 20, 2 + 3])
    assert np.allclose(out[5], [15 + 10, 16 + 20, 17])  # tx, ty on every keypoint, z untouched
    s = K.stitching_input(x_d, x_d + 1)
    assert s.shape == (1, 126) and s[0, 63] == 1.0 and s.dtype == np.float32


def test_neutral_controls_reproduce_the_source():
    src = _info(4, -7, 2, 1.1)
    p = ctm.controls_to_driving(src, NEUTRAL, (0.3, 0.34), 0.02)
    assert np.allclose(p.rotation, src.rotation) and np.allclose(p.exp, src.exp)
    assert p.scale == pytest.approx(1.1) and np.allclose(p.t, src.t)
    assert p.eye_target == pytest.approx(0.32) and p.lip_target == pytest.approx(0.02)
    assert np.allclose(K.transform_keypoints(src.kp, p.rotation, p.exp, p.scale, p.t), src.keypoints())


def test_slider_coefficients_reach_the_expression():
    src = _info()
    p = ctm.controls_to_driving(src, {"mouth_smile": 1.0}, (0.3, 0.3), 0.0)
    d = p.exp - src.exp
    assert d[20, 1] == pytest.approx(-0.01) and d[14, 1] == pytest.approx(-0.02)
    assert d[17, 1] == pytest.approx(0.0065) and d[17, 2] == pytest.approx(0.003)
    assert np.count_nonzero(np.abs(d) > 1e-12) == 8
    p = ctm.controls_to_driving(src, {"mouth_smile": -1.0}, (0.3, 0.3), 0.0)
    assert (p.exp - src.exp)[14, 1] == pytest.approx(0.3 * 0.02)  # frown: slider -0.3
    p = ctm.controls_to_driving(src, {"gaze_x": 1.0, "gaze_y": 1.0}, (0.3, 0.3), 0.0)
    d = p.exp - src.exp
    assert d[11, 0] == pytest.approx(15 * 0.0007) and d[15, 0] == pytest.approx(15 * 0.001)
    # pupil_y 15: iris up (-y) 0.015, and the lid compensation blink -= 7.5
    assert d[11, 1] == pytest.approx(-0.015 + 7.5 * 0.001)
    assert d[13, 1] == pytest.approx(-7.5 * 0.0003)
    p = ctm.controls_to_driving(src, {"brow_l": 1.0, "brow_r": 0.0}, (0.3, 0.3), 0.0)
    assert (p.exp - src.exp)[1, 1] == pytest.approx(7.5 * 0.001)
    p = ctm.controls_to_driving(src, {"mouth_wide": 1.0, "mouth_pucker": 1.0}, (0.3, 0.3), 0.0)
    assert (p.exp - src.exp)[14, 1] == pytest.approx(15 * -0.001 + 15 * 0.001)
    assert (p.exp - src.exp)[20, 2] == pytest.approx(-0.015)


def test_head_controls_and_retarget_targets():
    src = _info(3, 8, -2, 1.3)
    c = {"head_yaw": 10.0, "head_pitch": -5.0, "head_roll": 7.0, "head_x": 0.5, "head_y": 0.25,
         "head_scale": 1.2, "eye_open_l": 0.0, "eye_open_r": 0.5, "mouth_open": 1.0}
    p = ctm.controls_to_driving(src, c, (0.3, 0.34), 0.05)
    s = ctm.POSE_SIGNS
    expected_rot = K.rotation_matrix(-5 * s["pitch"], 10 * s["yaw"], 7 * s["roll"]) @ src.rotation
    assert np.allclose(p.rotation, expected_rot)
    assert p.scale == pytest.approx(1.3 * 1.2)
    assert p.t[0] == pytest.approx(src.t[0] + 0.5 * 2 / 2.3)
    assert p.t[1] == pytest.approx(src.t[1] - 0.25 * 2 / 2.3)
    assert p.t[2] == pytest.approx(src.t[2])
    assert p.eye_target == pytest.approx(0.32 * 0.25)
    assert p.lip_target == pytest.approx(ctm.LIP_RATIO_OPEN)
    assert ctm.controls_to_driving(src, c, (0.3, 0.34), 0.05, use_scale=False).scale == pytest.approx(1.3)
    slider = ctm.controls_to_driving(src, {"mouth_open": 1.0}, (0.3, 0.3), 0.05, mouth_mode="slider")
    assert slider.lip_target is None
    assert (slider.exp - src.exp)[19, 1] == pytest.approx(0.1)
    assert np.allclose(slider.rotation, K.rotation_matrix(-5.0, 0, 0) @ src.rotation)  # pitch -= 0.05*aaa


def test_dense_expression_is_the_base_that_edits_offset():
    src = _info()
    dense = np.random.default_rng(5).normal(size=63) * 0.01
    captured = dict(NEUTRAL, mouth_smile=0.6, gaze_x=0.2)
    p = ctm.controls_to_driving(src, captured, (0.3, 0.3), 0.0, dense_exp=dense, dense_base=captured)
    assert np.allclose(p.exp, src.exp + dense.reshape(21, 3))  # unedited: the dense capture alone
    edited = dict(captured, mouth_smile=1.0)
    p2 = ctm.controls_to_driving(src, edited, (0.3, 0.3), 0.0, dense_exp=dense, dense_base=captured)
    assert (p2.exp - p.exp)[20, 1] == pytest.approx(0.4 * -0.01)


def test_eye_asymmetry_moves_only_that_eyes_keypoints():
    src = _info()
    p = ctm.controls_to_driving(src, {"eye_open_l": 0.0, "eye_open_r": 1.0}, (0.3, 0.3), 0.0,
                                eye_asymmetry=True)
    d = p.exp - src.exp
    moved = {int(k) for k in np.nonzero(np.abs(d).sum(1) > 1e-12)[0]}
    assert moved == set(ctm.EYE_KP["l"]) | set(ctm.EYE_KP["r"])
    assert d[15, 1] == pytest.approx(20 * -0.5 * -0.001)  # left eye closes more than the mean


def _face_landmarks(rng):
    """478 points: random filler, with the crop points on a plausible frontal face."""
    lm = rng.uniform(100, 300, size=(478, 3))
    lm[list(C.CROP_POINTS), :2] = rng.uniform(150, 250, size=(len(C.CROP_POINTS), 2))
    lm[33, :2], lm[133, :2], lm[362, :2], lm[263, :2] = (160, 180), (185, 180), (215, 180), (240, 180)
    lm[159, :2], lm[145, :2], lm[386, :2], lm[374, :2] = (172, 175), (172, 185), (228, 176), (228, 184)
    lm[61, :2], lm[291, :2], lm[13, :2], lm[14, :2] = (180, 240), (220, 240), (200, 238), (200, 246)
    return lm


def test_crop_geometry_by_hand():
    lm = _face_landmarks(np.random.default_rng(0))
    g = C.crop_geometry(lm, 512, 2.0, -0.1)
    pts = lm[list(C.CROP_POINTS), :2]
    lo, hi = pts.min(0), pts.max(0)  # eyes level, mouth straight below: axis-aligned face frame
    side = (hi - lo).max() * 2.0
    assert g.size == pytest.approx(side)
    assert np.allclose(g.center, [(lo[0] + hi[0]) / 2, (lo[1] + hi[1]) / 2 - 0.1 * side])
    assert g.angle == pytest.approx(0.0, abs=1e-9)
    assert np.allclose(g.to_crop(g.center[None]), [[256, 256]])
    assert np.allclose(g.to_image(g.to_crop(lm[:10])), lm[:10, :2])


def test_crop_geometry_follows_a_similarity_transform():
    lm = _face_landmarks(np.random.default_rng(1))
    g0 = C.crop_geometry(lm)
    th, s, t = np.radians(25), 1.7, np.array([40.0, -15.0])
    rot = np.array([[np.cos(th), -np.sin(th)], [np.sin(th), np.cos(th)]])
    moved = lm.copy()
    moved[:, :2] = (lm[:, :2] @ rot.T) * s + t
    g1 = C.crop_geometry(moved)
    assert g1.size == pytest.approx(g0.size * s)
    assert g1.angle == pytest.approx(g0.angle + th)
    # every point lands on the same crop pixel: the crop is invariant to how the face sits
    assert np.allclose(g1.to_crop(moved), g0.to_crop(lm), atol=1e-6)


def test_eye_and_lip_ratios():
    lm = _face_landmarks(np.random.default_rng(2))
    # LivePortrait's order: the image-left eye (subject's right, x 160..185) first
    image_left, image_right = C.eye_ratios(lm)
    assert image_left == pytest.approx(10 / 25) and image_right == pytest.approx(8 / 25)
    assert C.lip_ratio(lm) == pytest.approx(8 / 40)


def test_feather_mask():
    m = C.feather_mask(100, 0.1)
    assert m.shape == (100, 100) and m.dtype == np.float32
    assert m[50, 50] == 1.0 and m[10:90, 10:90].min() == 1.0
    assert 0 < m[0, 50] < 0.05 and 0 < m[0, 0] < m[0, 50]
    assert np.all(np.diff(m[50, :10]) > 0)


def test_paste_back_geometry():
    lm = _face_landmarks(np.random.default_rng(3))
    portrait = np.zeros((400, 500, 3), np.uint8)
    g = C.crop_geometry(lm, 512)
    crop = np.zeros((512, 512, 3), np.uint8)
    crop[..., 0] = 200
    crop[256 - 40:256 + 40, 256 - 40:256 + 40, 1] = 255  # a green square around the crop centre
    out = C.paste_back(portrait, crop, g)
    cx, cy = np.round(g.center).astype(int)
    assert tuple(out[cy, cx]) == (200, 255, 0)  # crop centre lands on the geometry's centre
    # a point 100 crop px right of the centre lands where the inverse transform says
    px, py = np.round(g.to_image(np.array([[356.0, 256.0]]))[0]).astype(int)
    assert tuple(out[py, px]) == (200, 0, 0)
    # outside the crop square nothing changes; near its edge the feather blends
    corners = g.to_image(np.array([[0, 0], [512, 512]], float))
    far = np.round(corners[1] + 5).astype(int)
    assert far[0] < 500 and far[1] < 400
    assert tuple(out[far[1], far[0]]) == (0, 0, 0)
    edge = np.round(g.to_image(np.array([[3.0, 256.0]]))[0]).astype(int)
    assert 0 < out[edge[1], edge[0], 0] < 100
    assert out.shape == portrait.shape and out.dtype == np.uint8
