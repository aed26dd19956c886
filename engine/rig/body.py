"""Body bones from the captured joints: per-frame local rotations of spine, shoulders, arms, hands
and legs, retargeted in each bone's own rest frame (like the head bone, rig/head.py).

Axes: the character faces -Y as Blender characters do (+X is the viewer's right = the character's
left, +Z up). MediaPipe's world joints (x to the image's right, y down, z away from the camera)
become (x, z, -y) there; the subject's left side is at +X, as a character's ``.L`` bones are.

Each bone gets the world rotation that takes its rest direction (its rest +Y axis, as Blender
bones point) onto the captured segment (shortest arc: joints say nothing of a limb's twist); the
spine gets the full rotation of its frame (the hips-to-shoulders direction and the shoulder line),
so it carries lean and turn. A bone's local rotation is then taken relative to its posed parent and
expressed in its rest axes: ``L = Bᵀ R_parentᵀ R B`` (B: the bone's rest orientation). Segments
whose joints are not confidently seen keep the last confident direction (the rest pose before
any); a bone whose joints are never seen in the clip (legs of an upper-body shot) is left out.
adapters/body_rig.py + adapters/rig.py key these in Blender (presets, each bone's own rotation mode).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from ..body import BodyTrack, J
from .head import to_bone_local

# role -> (parent role or None, segment start joints, segment end joints); a segment end that is
# several joints is their midpoint. Parents come before children.
BONES: dict[str, tuple[str | None, tuple[str, ...], tuple[str, ...]]] = {
    "spine": (None, ("left_hip", "right_hip"), ("left_shoulder", "right_shoulder")),
    "shoulder.L": ("spine", ("left_shoulder", "right_shoulder"), ("left_shoulder",)),
    "upper_arm.L": ("shoulder.L", ("left_shoulder",), ("left_elbow",)),
    "forearm.L": ("upper_arm.L", ("left_elbow",), ("left_wrist",)),
    "hand.L": ("forearm.L", ("left_wrist",), ("left_index", "left_pinky")),
    "shoulder.R": ("spine", ("left_shoulder", "right_shoulder"), ("right_shoulder",)),
    "upper_arm.R": ("shoulder.R", ("right_shoulder",), ("right_elbow",)),
    "forearm.R": ("upper_arm.R", ("right_elbow",), ("right_wrist",)),
    "hand.R": ("forearm.R", ("right_wrist",), ("right_index", "right_pinky")),
    "thigh.L": (None, ("left_hip",), ("left_knee",)),
    "shin.L": ("thigh.L", ("left_knee",), ("left_ankle",)),
    "thigh.R": (None, ("right_hip",), ("right_knee",)),
    "shin.R": ("thigh.R", ("right_knee",), ("right_ankle",)),
}

# Bone names per rig family. Rigify: the generated rig's FK controls; Mixamo: its exported names;
# VRM: the humanoid bone roles of the VRM spec (the model's own bone names are mapped to them by its
# humanoid table). Not yet checked against rigs in Blender.
PRESETS: dict[str, dict[str, str]] = {
    "rigify": {"spine": "chest", "shoulder.L": "shoulder.L", "upper_arm.L": "upper_arm_fk.L",
               "forearm.L": "forearm_fk.L", "hand.L": "hand_fk.L", "shoulder.R": "shoulder.R",
               "upper_arm.R": "upper_arm_fk.R", "forearm.R": "forearm_fk.R", "hand.R": "hand_fk.R",
               "thigh.L": "thigh_fk.L", "shin.L": "shin_fk.L", "thigh.R": "thigh_fk.R",
               "shin.R": "shin_fk.R"},
    "mixamo": {"spine": "mixamorig:Spine1", "shoulder.L": "mixamorig:LeftShoulder",
               "upper_arm.L": "mixamorig:LeftArm", "forearm.L": "mixamorig:LeftForeArm",
               "hand.L": "mixamorig:LeftHand", "shoulder.R": "mixamorig:RightShoulder",
               "upper_arm.R": "mixamorig:RightArm", "forearm.R": "mixamorig:RightForeArm",
               "hand.R": "mixamorig:RightHand", "thigh.L": "mixamorig:LeftUpLeg",
               "shin.L": "mixamorig:LeftLeg",
               "thigh.R": "mixamorig:RightUpLeg", "shin.R": "mixamorig:RightLeg"},
    "vrm": {"spine": "chest", "shoulder.L": "leftShoulder", "upper_arm.L": "leftUpperArm",
            "forearm.L": "leftLowerArm", "hand.L": "leftHand", "shoulder.R": "rightShoulder",
            "upper_arm.R": "rightUpperArm", "forearm.R": "rightLowerArm", "hand.R": "rightHand",
            "thigh.L": "leftUpperLeg", "shin.L": "leftLowerLeg", "thigh.R": "rightUpperLeg",
            "shin.R": "rightLowerLeg"},
}
MIN_CONFIDENCE = 0.5


def to_character(world: np.ndarray) -> np.ndarray:
    """MediaPipe world coordinates (..., 3) -> the character's axes (x, z, -y)."""
    w = np.asarray(world, np.float64)
    return np.stack([w[..., 0], w[..., 2], -w[..., 1]], axis=-1)


def _point(pos: np.ndarray, conf: np.ndarray, names: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray]:
    idx = [J[n] for n in names]
    return pos[:, idx].mean(axis=1), conf[:, idx].min(axis=1)


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.maximum(np.linalg.norm(v, axis=-1, keepdims=True), 1e-9)


def segments(body: BodyTrack) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """role -> (unit direction (n, 3) in character axes, confidence (n,))."""
    pos = to_character(body.world)
    out = {}
    for role, (_parent, a, b) in BONES.items():
        pa, ca = _point(pos, body.confidence, a)
        pb, cb = _point(pos, body.confidence, b)
        if role == "spine":
            # world coordinates are centred between the hips, which the model places even off
            # screen: an upper-body shot still turns and leans the torso on its shoulders
            ca = cb
        out[role] = (_unit(pb - pa), np.minimum(ca, cb))
    return out


def swing(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(n, 3, 3) shortest-arc rotations taking unit vector(s) ``a`` ((3,) or (n, 3)) onto ``b`` (n, 3)."""
    b = _unit(np.asarray(b, np.float64))
    a = np.broadcast_to(_unit(np.asarray(a, np.float64)), b.shape)
    axis = np.cross(a, b)
    s = np.linalg.norm(axis, axis=1)
    c = np.einsum("ni,ni->n", a, b)
    # antiparallel: any axis perpendicular to a
    perp = np.cross(a, np.where(np.abs(a[:, :1]) < 0.9, [[1.0, 0, 0]], [[0, 1.0, 0]]))
    axis = np.where((s < 1e-9)[:, None], _unit(perp) * np.where(c < 0, 1.0, 0.0)[:, None], axis)
    s = np.where(s < 1e-9, 0.0, s)
    k = _unit(axis)
    kx = np.zeros((b.shape[0], 3, 3))
    kx[:, 0, 1], kx[:, 0, 2], kx[:, 1, 2] = -k[:, 2], k[:, 1], -k[:, 0]
    kx[:, 1, 0], kx[:, 2, 0], kx[:, 2, 1] = k[:, 2], -k[:, 1], k[:, 0]
    return np.eye(3) + s[:, None, None] * kx + (1 - c)[:, None, None] * (kx @ kx)


def _hold(direction: np.ndarray, conf: np.ndarray, rest: np.ndarray) -> np.ndarray:
    """Directions where the segment is seen; elsewhere the last seen one (rest before any)."""
    out = direction.copy()
    last = rest
    for i in range(out.shape[0]):
        if conf[i] >= MIN_CONFIDENCE:
            last = out[i]
        else:
            out[i] = last
    return out


def _frame(y: np.ndarray, x_hint: np.ndarray) -> np.ndarray:
    """(n, 3, 3) right-handed frames with columns (x, y, z): y given, x the hint made orthogonal."""
    y = _unit(y)
    x = _unit(x_hint - np.einsum("ni,ni->n", x_hint, y)[:, None] * y)
    return np.stack([x, y, np.cross(x, y)], axis=2)


def bone_world_rotations(body: BodyTrack, rests: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """role -> (n, 3, 3) rotation in character axes from the bone's rest orientation to the captured
    one, for the roles in ``rests`` (rest matrices in character axes, columns = bone axes) whose
    joints are seen on at least one frame."""
    segs = segments(body)
    out = {}
    for role, rest in rests.items():
        direction, conf = segs[role]
        if not (conf >= MIN_CONFIDENCE).any():
            continue  # never seen (legs off screen): leave the bone alone
        b = np.asarray(rest, np.float64)[:3, :3]
        b = b / np.linalg.norm(b, axis=0, keepdims=True)
        held = _hold(direction, conf, b[:, 1])
        if role == "spine":
            # the shoulder line gives the torso's turn about the spine
            pos = to_character(body.world)
            across, aconf = _point(pos, body.confidence, ("left_shoulder",))
            rs, rconf = _point(pos, body.confidence, ("right_shoulder",))
            # at rest a character's shoulder line runs along +X (to its left), whatever the
            # spine bone's roll
            left = np.array([1.0, 0.0, 0.0])
            across = _hold(_unit(across - rs), np.minimum(aconf, rconf), left)
            rest_frame = _frame(b[None, :, 1], left[None])[0]
            out[role] = _frame(held, across) @ rest_frame.T
        else:
            out[role] = swing(b[:, 1], held)
    return out


def bone_local_rotations(body: BodyTrack, rests: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """role -> (n, 3, 3) pose-bone rotations in each bone's rest axes, relative to its posed
    parent (the nearest driven ancestor), for keying as quaternion, Euler or axis-angle."""
    world = bone_world_rotations(body, rests)
    local = {}
    for role, r in world.items():
        parent = BONES[role][0]
        while parent is not None and parent not in world:
            parent = BONES[parent][0]
        rel = r if parent is None else np.swapaxes(world[parent], 1, 2) @ r
        local[role] = to_bone_local(rel, rests[role])
    return local


def matrix_to_euler_xyz(m: np.ndarray) -> np.ndarray:
    """(n, 3, 3) -> (n, 3) Blender XYZ Euler angles in radians (R = Rz Ry Rx), unwrapped over frames
    so that keys do not jump by 2π."""
    m = np.asarray(m, np.float64)
    y = np.arcsin(np.clip(-m[:, 2, 0], -1.0, 1.0))
    x = np.arctan2(m[:, 2, 1], m[:, 2, 2])
    z = np.arctan2(m[:, 1, 0], m[:, 0, 0])
    return np.stack([np.unwrap(x), y, np.unwrap(z)], axis=1)


def matrix_to_axis_angle(m: np.ndarray) -> np.ndarray:
    """(n, 3, 3) -> (n, 4) Blender axis-angle (angle in radians, then the unit axis x, y, z)."""
    from .head import matrix_to_quaternion

    q = matrix_to_quaternion(m)
    q = q * np.where(q[:, :1] < 0, -1.0, 1.0)  # angle in [0, π]
    angle = 2 * np.arccos(np.clip(q[:, 0], -1.0, 1.0))
    axis = q[:, 1:] / np.maximum(np.linalg.norm(q[:, 1:], axis=1, keepdims=True), 1e-12)
    axis[angle < 1e-9] = (0.0, 1.0, 0.0)  # no rotation: Blender's default axis
    return np.concatenate([angle[:, None], axis], axis=1)
