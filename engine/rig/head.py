"""Head (and neck) bone rotation from the captured yaw / pitch / roll.

The character is assumed to face -Y in the world, as Blender characters do (front view looks
along +Y, +X on the viewer's right, +Z up). The contract's angles (MOTION_SPEC.md) then become
rotations about world axes: + yaw turns the face toward the viewer's right = + about Z; + pitch
lifts the chin = - about X; + roll is clockwise as the viewer sees it = + about Y. A pose bone's
rotation is expressed in the bone's own rest axes, so the rotation R is conjugated by the bone's
rest orientation B (in world axes: the armature object's rotation times the bone's rest matrix):
``R_local = Bᵀ R B``; whatever the bone's roll or direction, or the armature object's rotation,
the head turns the same way round.

The neck takes ``neck_share`` of each angle and the head the rest; the head's rotation composes
on top of the neck's, so the head ends up turned by (very nearly) the full captured angle.
"""

from __future__ import annotations

import numpy as np


def armature_rotations(yaw: np.ndarray, pitch: np.ndarray, roll: np.ndarray) -> np.ndarray:
    """(n, 3, 3) rotations in the character's (world) axes: yaw about Z, then pitch about X, then roll about Y
    (R = Rz(yaw) Rx(-pitch) Ry(roll)); angles in degrees."""
    y, p, r = (np.radians(np.asarray(a, np.float64)) for a in (yaw, pitch, roll))
    n = y.shape[0]
    rz = np.zeros((n, 3, 3))
    rz[:, 0, 0] = rz[:, 1, 1] = np.cos(y)
    rz[:, 0, 1], rz[:, 1, 0] = -np.sin(y), np.sin(y)
    rz[:, 2, 2] = 1
    rx = np.zeros((n, 3, 3))
    rx[:, 0, 0] = 1
    rx[:, 1, 1] = rx[:, 2, 2] = np.cos(-p)
    rx[:, 1, 2], rx[:, 2, 1] = -np.sin(-p), np.sin(-p)
    ry = np.zeros((n, 3, 3))
    ry[:, 1, 1] = 1
    ry[:, 0, 0] = ry[:, 2, 2] = np.cos(r)
    ry[:, 0, 2], ry[:, 2, 0] = np.sin(r), -np.sin(r)
    return rz @ rx @ ry


def to_bone_local(rotations: np.ndarray, rest: np.ndarray) -> np.ndarray:
    """Rotations (n, 3, 3) in the character's axes -> the bone's local rotations, ``Bᵀ R B`` with
    B the bone's rest orientation in those axes (scale removed)."""
    b = np.asarray(rest, np.float64)[:3, :3]
    b = b / np.linalg.norm(b, axis=0, keepdims=True)
    return np.einsum("ji,njk,kl->nil", b, rotations, b)


def matrix_to_quaternion(m: np.ndarray) -> np.ndarray:
    """(n, 3, 3) rotations -> (n, 4) unit quaternions (w, x, y, z), signs kept continuous from
    frame to frame (no flips through the other hemisphere)."""
    m = np.asarray(m, np.float64)
    n = m.shape[0]
    q = np.empty((n, 4))
    tr = m[:, 0, 0] + m[:, 1, 1] + m[:, 2, 2]
    # the largest of w, x, y, z decides the numerically safe formula (Shepperd)
    cand = np.stack([tr, m[:, 0, 0], m[:, 1, 1], m[:, 2, 2]], axis=1)
    k = np.argmax(cand, axis=1)
    for case in range(4):
        sel = k == case
        if not np.any(sel):
            continue
        a = m[sel]
        if case == 0:
            s = np.sqrt(1.0 + tr[sel]) * 2
            q[sel] = np.stack([0.25 * s, (a[:, 2, 1] - a[:, 1, 2]) / s, (a[:, 0, 2] - a[:, 2, 0]) / s,
                               (a[:, 1, 0] - a[:, 0, 1]) / s], axis=1)
        elif case == 1:
            s = np.sqrt(1.0 + a[:, 0, 0] - a[:, 1, 1] - a[:, 2, 2]) * 2
            q[sel] = np.stack([(a[:, 2, 1] - a[:, 1, 2]) / s, 0.25 * s, (a[:, 0, 1] + a[:, 1, 0]) / s,
                               (a[:, 0, 2] + a[:, 2, 0]) / s], axis=1)
        elif case == 2:
            s = np.sqrt(1.0 + a[:, 1, 1] - a[:, 0, 0] - a[:, 2, 2]) * 2
            q[sel] = np.stack([(a[:, 0, 2] - a[:, 2, 0]) / s, (a[:, 0, 1] + a[:, 1, 0]) / s, 0.25 * s,
                               (a[:, 1, 2] + a[:, 2, 1]) / s], axis=1)
        else:
            s = np.sqrt(1.0 + a[:, 2, 2] - a[:, 0, 0] - a[:, 1, 1]) * 2
            q[sel] = np.stack([(a[:, 1, 0] - a[:, 0, 1]) / s, (a[:, 0, 2] + a[:, 2, 0]) / s,
                               (a[:, 1, 2] + a[:, 2, 1]) / s, 0.25 * s], axis=1)
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    if n:
        q[0] *= 1 if q[0, 0] >= 0 else -1
        flip = np.cumprod(np.where(np.einsum("ij,ij->i", q[1:], q[:-1]) < 0, -1.0, 1.0))
        q[1:] *= flip[:, None]
    return q


def head_neck_rotations(yaw: np.ndarray, pitch: np.ndarray, roll: np.ndarray, *,
                        head_rest: np.ndarray, neck_rest: np.ndarray | None = None,
                        neck_share: float = 0.0, gain: float = 1.0
                        ) -> tuple[np.ndarray, np.ndarray | None]:
    """Local rotations (n, 3, 3) of the head bone and of the neck bone (None without one)."""
    yaw, pitch, roll = (gain * np.asarray(a, np.float64) for a in (yaw, pitch, roll))
    share = float(np.clip(neck_share, 0.0, 1.0)) if neck_rest is not None else 0.0
    head = to_bone_local(armature_rotations(yaw * (1 - share), pitch * (1 - share), roll * (1 - share)),
                         head_rest)
    if neck_rest is None:
        return head, None
    neck = to_bone_local(armature_rotations(yaw * share, pitch * share, roll * share), neck_rest)
    return head, neck
