"""Body bones from joints (engine/rig/body.py) on a test rig built here: the posed bones follow
the captured segments (forward kinematics through the parent chain), with rolled bones, in three
rotation modes (quaternion, XYZ Euler, axis-angle, each converted back independently here)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from engine.body import JOINT_COUNT, BodyTrack, J, body_controls
from engine.rig.body import (
    BONES,
    PRESETS,
    bone_local_rotations,
    matrix_to_axis_angle,
    matrix_to_euler_xyz,
    segments,
)
from engine.rig.head import matrix_to_quaternion

N = 90
DRIVING = Path(__file__).resolve().parents[2].parent / "shared" / "testdata" / "driving"


def rot(axis: np.ndarray, angle: float) -> np.ndarray:
    axis = np.asarray(axis, float) / np.linalg.norm(axis)
    k = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
    return np.eye(3) + np.sin(angle) * k + (1 - np.cos(angle)) * k @ k


def rest(direction: tuple[float, float, float], roll: float) -> np.ndarray:
    """A bone's rest orientation (columns x, y, z) pointing along ``direction``, rolled about it."""
    y = np.asarray(direction, float) / np.linalg.norm(direction)
    hint = np.array([0.0, 0, 1]) if abs(y[2]) < 0.9 else np.array([0.0, 1, 0])
    x = np.cross(y, hint)
    x /= np.linalg.norm(x)
    frame = np.stack([x, y, np.cross(x, y)], axis=1)
    return rot(y, roll) @ frame


# T-pose test rig in character axes (+X = its left, +Z up), bones rolled by odd angles
RIG = {"spine": rest((0, 0, 1), 0.3), "shoulder.L": rest((1, 0, 0), -0.4),
       "upper_arm.L": rest((1, 0, 0), 0.7), "forearm.L": rest((1, 0, 0), 1.1),
       "shoulder.R": rest((-1, 0, 0), 0.2), "upper_arm.R": rest((-1, 0, 0), -0.9),
       "forearm.R": rest((-1, 0, 0), 0.5)}


def performance() -> BodyTrack:
    """World joints (MediaPipe axes: x right, y down, z away) of a torso that turns and leans while
    the left arm swings up and down and bends, the right arm swings forward."""
    t = np.linspace(0, 2 * np.pi, N)
    turn, lean = 0.4 * np.sin(t), 0.15 * np.sin(2 * t)
    lift, bend, fwd = 1.2 * np.sin(t) - 0.3, 0.8 + 0.6 * np.sin(3 * t), 0.9 * np.sin(t + 1)
    char = np.zeros((N, JOINT_COUNT, 3))  # built in character axes, converted at the end
    for i in range(N):
        torso = rot((0, 0, 1), turn[i]) @ rot((0, 1, 0), lean[i])
        neck = torso @ np.array([0, 0, 0.5])
        char[i, J["left_hip"]], char[i, J["right_hip"]] = (0.1, 0, 0), (-0.1, 0, 0)
        ls, rs = neck + torso @ np.array([0.18, 0, 0]), neck + torso @ np.array([-0.18, 0, 0])
        char[i, J["left_shoulder"]], char[i, J["right_shoulder"]] = ls, rs
        up = torso @ rot((0, 1, 0), -lift[i]) @ np.array([1.0, 0, 0])  # raised toward +Z
        le = ls + 0.28 * up
        fore = torso @ rot((0, 1, 0), -lift[i]) @ rot((0, 0, 1), bend[i]) @ np.array([1.0, 0, 0])
        char[i, J["left_elbow"]], char[i, J["left_wrist"]] = le, le + 0.25 * fore
        rup = torso @ rot((0, 0, 1), fwd[i]) @ np.array([-1.0, 0, -0.3])
        re = rs + 0.28 * rup / np.linalg.norm(rup)
        char[i, J["right_elbow"]], char[i, J["right_wrist"]] = re, re + 0.25 * rup / np.linalg.norm(rup)
    world = np.stack([char[..., 0], -char[..., 2], char[..., 1]], axis=-1).astype(np.float32)
    conf = np.ones((N, JOINT_COUNT), np.float32)
    img = np.zeros_like(world)
    img[..., 0], img[..., 1] = 0.5 + world[..., 0], 0.5 + world[..., 1]
    return BodyTrack(img, world, conf, np.ones(N, bool), body_controls(img, world, 1.0, 0))


def forward(local: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Posed world orientations, Blender's way: P_child = P_parent (B_parentᵀ B_child) L_child."""
    posed = {}
    for role in BONES:
        if role not in local:
            continue
        parent = BONES[role][0]
        b = RIG[role]
        posed[role] = b @ local[role] if parent is None else \
            posed[parent] @ (RIG[parent].T @ b) @ local[role]
    return posed


def angle_deg(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.degrees(np.arccos(np.clip(np.einsum("ni,ni->n", a, b), -1, 1)))


def quat_to_matrix(q: np.ndarray) -> np.ndarray:
    w, x, y, z = q.T
    return np.stack([np.stack([1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)], 1),
                     np.stack([2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)], 1),
                     np.stack([2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)], 1)], 1)


def euler_to_matrix(e: np.ndarray) -> np.ndarray:
    return np.stack([rot((0, 0, 1), z) @ rot((0, 1, 0), y) @ rot((1, 0, 0), x) for x, y, z in e])


def axis_angle_to_matrix(a: np.ndarray) -> np.ndarray:
    return np.stack([rot(v[1:], v[0]) if v[0] > 0 else np.eye(3) for v in a])


@pytest.mark.parametrize("mode", ["matrix", "quaternion", "euler_xyz", "axis_angle"])
def test_posed_bones_follow_the_captured_segments(mode: str) -> None:
    body = performance()
    local = bone_local_rotations(body, RIG)
    assert set(local) == set(RIG)  # legs are not in the rig; every rig bone is driven
    if mode == "quaternion":
        local = {k: quat_to_matrix(matrix_to_quaternion(v)) for k, v in local.items()}
    elif mode == "euler_xyz":
        local = {k: euler_to_matrix(matrix_to_euler_xyz(v)) for k, v in local.items()}
    elif mode == "axis_angle":
        local = {k: axis_angle_to_matrix(matrix_to_axis_angle(v)) for k, v in local.items()}
    posed = forward(local)
    segs = segments(body)
    for role, p in posed.items():
        err = angle_deg(p[:, :, 1], segs[role][0])  # a bone points along its +Y
        assert err.max() < 0.5, f"{role}: off by up to {err.max():.2f} degrees"
        # and over the clip the bone's angle to the vertical follows the segment's (r >= 0.9)
        bone_up = p[:, 2, 1]
        seg_up = segs[role][0][:, 2]
        if np.std(seg_up) > 1e-3:
            assert np.corrcoef(bone_up, seg_up)[0, 1] >= 0.9, role
    # the spine also carries the turn: the posed spine's x axis follows the shoulder line
    shoulders = body.world[:, J["left_shoulder"]] - body.world[:, J["right_shoulder"]]
    line = np.stack([shoulders[:, 0], shoulders[:, 2], -shoulders[:, 1]], 1)
    line /= np.linalg.norm(line, axis=1, keepdims=True)
    spine_left = posed["spine"] @ RIG["spine"].T @ np.array([1.0, 0, 0])
    assert angle_deg(spine_left, line).max() < 0.5


def test_unseen_bones_are_left_alone_and_hidden_segments_hold() -> None:
    from engine.rig.body import bone_world_rotations

    body = performance()
    conf = body.confidence.copy()
    conf[:, J["left_wrist"]] = 0.0  # the left hand never seen: no forearm rotation at all
    conf[40:50, J["right_elbow"]] = 0.1  # the right elbow hidden for ten frames
    body = BodyTrack(body.joints, body.world, conf, body.tracked, body.controls)
    local = bone_local_rotations(body, RIG)
    assert "forearm.L" not in local and "upper_arm.L" in local
    world = bone_world_rotations(body, RIG)["upper_arm.R"]
    pointing = world @ RIG["upper_arm.R"][:, 1]  # where the bone points, in character axes
    seen = segments(body)["upper_arm.R"][0]
    assert angle_deg(pointing[40:50], np.repeat(seen[39:40], 10, 0)).max() < 1e-3  # held
    assert angle_deg(pointing[50:], seen[50:]).max() < 1e-3  # and follows again once seen
    assert angle_deg(seen[40:41], seen[39:40])[0] > 0.1  # (the arm did move meanwhile)


def test_presets_name_every_bone() -> None:
    for name, preset in PRESETS.items():
        assert set(preset) == set(BONES), name
        assert len(set(preset.values())) == len(preset), name
    assert PRESETS["mixamo"]["upper_arm.L"] == "mixamorig:LeftArm"
    assert PRESETS["vrm"]["forearm.R"] == "rightLowerArm"


@pytest.mark.skipif(not DRIVING.is_dir(), reason="../shared/testdata not present")
def test_upper_body_clip_drives_spine_and_shoulders_only() -> None:
    from engine.capture import capture

    # chest-up, shoulders clearly seen, arms below the frame
    m = capture(DRIVING / "d0_smile_blink.mp4", body=True, stop=40)
    rig = dict(RIG, **{"thigh.L": rest((0, 0, -1), 0.0), "shin.L": rest((0, 0, -1), 0.0)})
    local = bone_local_rotations(m.body, rig)
    assert {"spine", "shoulder.L", "shoulder.R"} <= set(local)
    assert not {"thigh.L", "shin.L", "forearm.L", "forearm.R"} & set(local)  # never seen: left alone
    for role, r in local.items():
        assert np.isfinite(r).all() and np.allclose(r @ np.swapaxes(r, 1, 2), np.eye(3), atol=1e-6), role
