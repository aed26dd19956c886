"""The OpenPose/DWPose-style pose video: a known pose drawn, colours and positions checked, and the
pose-video command end to end (mp4 decoded back) and its refusals."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from engine import cli
from engine.body import JOINT_COUNT, BodyTrack, J, body_controls
from engine.controls import NEUTRAL
from engine.motion import Motion
from engine.pose_video import COLORS, LIMBS, OPENPOSE_NAMES, openpose_keypoints, pose_frame

# A T-ish pose on a 400x300 frame (normalised), every OpenPose point set and apart from the others.
POSE = {"nose": (0.50, 0.20), "left_eye": (0.53, 0.17), "right_eye": (0.47, 0.17),
        "left_ear": (0.57, 0.19), "right_ear": (0.43, 0.19), "left_shoulder": (0.62, 0.35),
        "right_shoulder": (0.38, 0.35), "left_elbow": (0.75, 0.45), "right_elbow": (0.25, 0.45),
        "left_wrist": (0.85, 0.55), "right_wrist": (0.15, 0.55), "left_hip": (0.57, 0.65),
        "right_hip": (0.43, 0.65), "left_knee": (0.58, 0.80), "right_knee": (0.42, 0.80),
        "left_ankle": (0.59, 0.95), "right_ankle": (0.41, 0.95)}
SIZE = (400, 300)


def pose_joints() -> tuple[np.ndarray, np.ndarray]:
    joints = np.zeros((JOINT_COUNT, 3), np.float32)
    for name, xy in POSE.items():
        joints[J[name], :2] = xy
    return joints, np.ones(JOINT_COUNT, np.float32)


def pixel(frame: np.ndarray, xy: tuple[float, float]) -> np.ndarray:
    return frame[int(xy[1] * SIZE[1]), int(xy[0] * SIZE[0])].astype(int)


def test_openpose_order_and_neck() -> None:
    joints, conf = pose_joints()
    conf[J["left_shoulder"]] = 0.4
    pts, c = openpose_keypoints(joints, conf)
    assert OPENPOSE_NAMES[:3] == ("nose", "neck", "right_shoulder") and len(OPENPOSE_NAMES) == 18
    np.testing.assert_allclose(pts[1], (0.5, 0.35))  # neck = shoulders' midpoint
    np.testing.assert_allclose(pts[2], POSE["right_shoulder"])  # subject's right first
    np.testing.assert_allclose(pts[5], POSE["left_shoulder"])
    np.testing.assert_allclose(pts[14], POSE["right_eye"])
    np.testing.assert_allclose(pts[17], POSE["left_ear"])
    assert c[1] == pytest.approx(0.4)  # the weaker shoulder


def test_known_pose_colours_and_positions() -> None:
    joints, conf = pose_joints()
    frame = pose_frame(joints, conf, SIZE)
    assert frame.shape == (300, 400, 3) and frame.dtype == np.uint8
    pts, _ = openpose_keypoints(joints, conf)
    for k in range(18):  # every keypoint: a dot of its own full colour at its position
        assert pixel(frame, tuple(pts[k])).tolist() == list(COLORS[k]), OPENPOSE_NAMES[k]
    for i, (a, b) in enumerate(LIMBS):  # every limb: its colour at 0.6 at a third of its length
        mid = tuple(pts[a] + (pts[b] - pts[a]) / 3)
        expected = [int(c * 0.6) for c in COLORS[i]]
        assert pixel(frame, mid).tolist() == expected, f"limb {OPENPOSE_NAMES[a]}-{OPENPOSE_NAMES[b]}"
    # black everywhere away from the skeleton
    assert pixel(frame, (0.05, 0.05)).tolist() == [0, 0, 0]
    assert pixel(frame, (0.95, 0.95)).tolist() == [0, 0, 0]
    lit = (frame.max(axis=2) > 0).mean()
    assert 0.01 < lit < 0.15


def test_low_confidence_points_and_their_limbs_are_left_out() -> None:
    joints, conf = pose_joints()
    conf[J["left_wrist"]] = 0.1
    frame = pose_frame(joints, conf, SIZE)
    assert pixel(frame, POSE["left_wrist"]).tolist() == [0, 0, 0]
    between = tuple((np.array(POSE["left_elbow"]) + np.array(POSE["left_wrist"])) / 2)
    assert pixel(frame, between).tolist() == [0, 0, 0]
    assert pixel(frame, POSE["left_elbow"]).tolist() == list(COLORS[6])  # the elbow stays


def body_motion(n: int) -> Motion:
    joints, conf = pose_joints()
    moving = np.repeat(joints[None], n, axis=0)
    moving[:, :, 0] += np.linspace(0, 0.05, n)[:, None]
    world = np.zeros_like(moving)
    body = BodyTrack(moving, world, np.repeat(conf[None], n, axis=0), np.ones(n, bool),
                     body_controls(moving, world, 4 / 3, 0))
    return Motion(fps=25.0, controls={k: np.full(n, v, np.float32) for k, v in NEUTRAL.items()},
                  body=body, source={"kind": "video", "width": SIZE[0], "height": SIZE[1]})


def test_pose_video_command_writes_the_drawn_frames(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    import cv2

    motion = body_motion(10)
    src = motion.save(tmp_path / "m.json")
    out = tmp_path / "pose.mp4"
    assert cli.main(["pose-video", str(src), "-o", str(out)]) == 0
    cap = cv2.VideoCapture(str(out))
    frames = []
    while True:
        ok, bgr = cap.read()
        if not ok:
            break
        frames.append(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
    assert len(frames) == 10 and frames[0].shape == (300, 400, 3)
    last = motion.body.joints[9]
    expected = pose_frame(last, motion.body.confidence[9], SIZE).astype(int)
    got = frames[9].astype(int)
    # H.264 is lossy: the same picture within a small mean error, and the dots keep their hue
    assert np.abs(got - expected).mean() < 4
    x, y = int(last[J["nose"], 0] * 400), int(last[J["nose"], 1] * 300)
    assert got[y, x, 0] > 200 and got[y, x, 1] < 60 and got[y, x, 2] < 60  # the nose is red
    assert "wrote" in capsys.readouterr().out


def test_pose_video_refuses_a_motion_without_body(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    src = Motion.neutral(5).save(tmp_path / "face.json")
    rc = cli.main(["pose-video", str(src), "-o", str(tmp_path / "p.mp4")])
    err = capsys.readouterr().err
    assert rc == 2 and err.count("error:") == 1 and "--body" in err and "Traceback" not in err
    assert not (tmp_path / "p.mp4").exists()
    rc = cli.main(["pose-video", str(src), "-o", str(tmp_path / "p.avi")])
    assert rc == 2 and ".mp4" in capsys.readouterr().err


@pytest.mark.parametrize("case", ["nan_joint", "bad_size", "missing", "exists"])
def test_pose_video_bad_inputs_give_one_error_line(tmp_path: Path, capsys: pytest.CaptureFixture,
                                                   case: str) -> None:
    import json

    src = body_motion(4).save(tmp_path / "m.json")
    out = tmp_path / "pose.mp4"
    args = ["pose-video", str(src), "-o", str(out)]
    if case == "nan_joint":
        doc = json.loads(src.read_text())
        doc["body"]["joints"][1][0][0] = 1e400  # parses as infinity
        src.write_text(json.dumps(doc))
    elif case == "bad_size":
        args += ["--size", "12x9000000"]
    elif case == "missing":
        args[1] = str(tmp_path / "nothing.json")
    else:
        out.write_bytes(b"mine")
    try:
        rc = cli.main(args)
    except SystemExit as exc:  # argparse
        rc = exc.code
    err = capsys.readouterr().err
    assert rc == 2 and "Traceback" not in err and err.count("error:") == 1, err
    if case == "exists":
        assert out.read_bytes() == b"mine"
    else:
        assert not out.exists()


def test_pose_video_at_another_frame_rate(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    import cv2

    from engine.commands.pose_video import resample_frames

    assert resample_frames(30, 30.0, 15.0) == list(range(0, 30, 2))
    assert resample_frames(10, 25.0, 25.0) == list(range(10))
    assert resample_frames(3, 10.0, 20.0) == [0, 0, 1, 2, 2, 2]
    src = body_motion(20).save(tmp_path / "m.json")  # 25 fps
    out = tmp_path / "p16.mp4"
    assert cli.main(["pose-video", str(src), "-o", str(out), "--fps", "16", "--size", "200x150"]) == 0
    cap = cv2.VideoCapture(str(out))
    assert cap.get(cv2.CAP_PROP_FPS) == pytest.approx(16, abs=0.01)
    assert int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == 13  # 20 frames at 25 fps = 0.8 s
    assert (int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))) == (200, 150)
    assert "13 frames at 16 fps" in capsys.readouterr().out


def test_hands_and_face_points_in_dwpose_style() -> None:
    from engine.pose_video import (
        FACE_COLOR,
        HAND_EDGE_COLORS,
        HAND_POINT_COLOR,
        face_keypoints,
        hand_keypoints,
    )

    joints, conf = pose_joints()
    hand = {"left_index": (0.93, 0.60), "left_pinky": (0.90, 0.66), "left_thumb": (0.90, 0.50),
            "mouth_left": (0.52, 0.23), "mouth_right": (0.48, 0.23), "left_eye_outer": (0.555, 0.17),
            "right_eye_outer": (0.445, 0.17)}
    for name, xy in hand.items():
        joints[J[name], :2] = xy
    pts, c = hand_keypoints(joints, conf, "left")
    np.testing.assert_allclose(pts[[0, 2, 5, 17]], [POSE["left_wrist"], hand["left_thumb"],
                                                    hand["left_index"], hand["left_pinky"]])
    assert c[[1, 3, 4, 6]].max() == 0  # the 17 points BlazePose lacks are not there
    fpts, fc = face_keypoints(joints, conf)
    np.testing.assert_allclose(fpts[54], hand["mouth_left"])  # iBUG-68: 54 = the subject's left corner
    np.testing.assert_allclose(fpts[36], hand["right_eye_outer"])
    body_only = pose_frame(joints, conf, SIZE)
    frame = pose_frame(joints, conf, SIZE, hands=True, face=True)
    # hands: the knuckles are DWPose's blue hand points, the wrist's too (drawn over the body's)
    for name in ("left_index", "left_pinky", "left_thumb"):
        assert pixel(frame, hand[name]).tolist() == list(HAND_POINT_COLOR), name
        assert pixel(body_only, hand[name]).tolist() == [0, 0, 0], name
    assert pixel(frame, POSE["left_wrist"]).tolist() == list(HAND_POINT_COLOR)
    # edges wrist-index (edge 4) and wrist-pinky (edge 16) in their HSV colours, 2 px lines
    w = np.array(POSE["left_wrist"])
    for edge, tip in ((4, "left_index"), (16, "left_pinky")):
        mid = tuple(w + (np.array(hand[tip]) - w) / 2)
        assert pixel(frame, mid).tolist() == list(HAND_EDGE_COLORS[edge]), edge
    assert HAND_EDGE_COLORS[4] == (204, 255, 0) and HAND_EDGE_COLORS[16] == (204, 0, 255)
    # no thumb edge: its middle joint is not known (no guessing the missing points)
    mid = tuple(w + (np.array(hand["left_thumb"]) - w) / 2)
    assert pixel(frame, mid).tolist() == [0, 0, 0]
    # the right hand's knuckles are at 0 (not found): nothing drawn from its wrist toward them
    assert pixel(frame, (0.12, 0.52)).tolist() == [0, 0, 0]
    # face: white radius-3 dots on the eye and mouth corners and the nose tip, over the body
    for name in ("mouth_left", "mouth_right", "left_eye_outer", "right_eye_outer"):
        assert pixel(frame, hand[name]).tolist() == list(FACE_COLOR), name
    assert pixel(frame, POSE["nose"]).tolist() == list(FACE_COLOR)
    # everything else as the body-only frame
    same = (frame == body_only).all(axis=2)
    assert same.mean() > 0.99
