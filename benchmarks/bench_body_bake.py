"""Baking the body onto an armature: 13 Rigify-named bones x N frames (bpy module).

Run: .venv/bin/python benchmarks/bench_body_bake.py [--repeat N] [--frames N]   (or .venv53/bin/python)
Registers the add-on from this source tree (through a temporary `talking_head` symlink), builds a
one-key face mesh and a T-pose Rigify-named armature (chest, shoulders, arm FK chains, hands,
legs), writes a motion file with a moving body (every joint seen), and times the whole bake
(motion load, body resampling, bone rotations, keys written in bulk) per rotation mode, and the
bone rotations alone (engine, numpy). Prints medians over --repeat runs.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# role -> (head, tail), a T-pose (character axes: +X its left, +Z up)
TPOSE = {"spine": ((0, 0, 1.2), (0, 0, 1.45)), "shoulder.L": ((0.03, 0, 1.45), (0.18, 0, 1.45)),
         "upper_arm.L": ((0.18, 0, 1.45), (0.46, 0, 1.45)), "forearm.L": ((0.46, 0, 1.45), (0.71, 0, 1.45)),
         "hand.L": ((0.71, 0, 1.45), (0.79, 0, 1.45)), "shoulder.R": ((-0.03, 0, 1.45), (-0.18, 0, 1.45)),
         "upper_arm.R": ((-0.18, 0, 1.45), (-0.46, 0, 1.45)),
         "forearm.R": ((-0.46, 0, 1.45), (-0.71, 0, 1.45)), "hand.R": ((-0.71, 0, 1.45), (-0.79, 0, 1.45)),
         "thigh.L": ((0.1, 0, 1.0), (0.1, 0, 0.55)), "shin.L": ((0.1, 0, 0.55), (0.1, 0, 0.1)),
         "thigh.R": ((-0.1, 0, 1.0), (-0.1, 0, 0.55)), "shin.R": ((-0.1, 0, 0.55), (-0.1, 0, 0.1))}


def median_time(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--frames", type=int, default=3000)
    args = ap.parse_args()

    tmp = tempfile.mkdtemp(prefix="bench_body_")
    os.symlink(ROOT, Path(tmp) / "talking_head")
    sys.path.insert(0, tmp)
    import bpy
    import numpy as np
    import talking_head
    from talking_head.adapters import body_rig, flows, rig
    from talking_head.engine.body import JOINT_COUNT, BodyTrack, body_controls
    from talking_head.engine.controls import CONTROL_NAMES
    from talking_head.engine.motion import Motion
    from talking_head.engine.rig.body import PRESETS, bone_local_rotations

    talking_head.register()
    n = args.frames
    print(f"Blender {bpy.app.version_string}, {n} frames")
    scene = bpy.context.scene
    scene.render.fps = 30
    mesh = bpy.data.meshes.new("Face")
    mesh.from_pydata([(0, 0, 0), (1, 0, 0), (0, 0, 1)], [], [(0, 1, 2)])
    face = bpy.data.objects.new("Face", mesh)
    scene.collection.objects.link(face)
    face.shape_key_add(name="Basis")
    face.shape_key_add(name="jawOpen", from_mix=False)
    data = bpy.data.armatures.new("Body")
    arm = bpy.data.objects.new("Body", data)
    scene.collection.objects.link(arm)
    bpy.context.view_layer.objects.active = arm
    bpy.ops.object.mode_set(mode="EDIT")
    names = PRESETS["rigify"]
    for role, (head, tail) in TPOSE.items():
        b = data.edit_bones.new(names[role])
        b.head, b.tail = head, tail
    bpy.ops.object.mode_set(mode="OBJECT")

    rng = np.random.default_rng(0)
    t = np.arange(n) / 30.0
    # a T-pose in MediaPipe world axes (x right, y down, z away), every joint wobbling
    world = np.zeros((n, JOINT_COUNT, 3), np.float32)
    world += rng.normal(0, 0.3, (1, JOINT_COUNT, 3)).astype(np.float32)
    world += (0.05 * np.sin(t[:, None, None] * rng.uniform(1, 4, (1, JOINT_COUNT, 3)))).astype(np.float32)
    img = np.clip(0.5 + world / 2, 0, 1)
    conf = np.ones((n, JOINT_COUNT), np.float32)
    body = BodyTrack(img, world, conf, np.ones(n, bool), body_controls(img, world, 1.0, 0))
    motion = Motion(fps=30, controls={k: np.zeros(n, np.float32) for k in CONTROL_NAMES}, body=body)
    path = Path(tmp) / "motion.json"
    motion.save(path, sidecar=True)

    rig.setup(face)
    st = rig.settings(face)
    st.armature, st.bake_body, st.body_preset = arm, True, "RIGIFY"
    st.source, st.motion_path, st.frame_start = "MOTION", str(path), 1

    def bake():
        flows.run_sync(rig.prepare_bake(scene, face), echo=False)

    for mode, channels in (("QUATERNION", 4), ("XYZ", 3), ("AXIS_ANGLE", 4)):
        for pb in arm.pose.bones:
            pb.rotation_mode = mode
        bake()  # into empty curves of this mode
        keys = n * len(TPOSE) * channels
        t_bake = median_time(bake, args.repeat)
        print(f"{mode}: re-bake of {len(TPOSE)} bones = {keys} keys, median of {args.repeat}: "
              f"{t_bake * 1000:.0f} ms ({t_bake / keys * 1e6:.2f} us/key; motion load included)")
    _, found = body_rig.resolve(arm, "RIGIFY")
    rests = body_rig.rests(arm, found)
    t_rot = median_time(lambda: bone_local_rotations(body, rests), args.repeat)
    print(f"  of which bone rotations (engine): {t_rot * 1000:.0f} ms")
    t_load = median_time(lambda: Motion.load(path), args.repeat)
    print(f"  of which motion file load (.json + .npz): {t_load * 1000:.0f} ms")
    talking_head.unregister()


if __name__ == "__main__":
    main()
