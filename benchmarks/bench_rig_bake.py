"""Baking a 3D character: 52 ARKit shape keys x 10,000 frames (bpy module).

Run: .venv/bin/python benchmarks/bench_rig_bake.py [--repeat N] [--frames N]   (or .venv45/bin/python)
Registers the add-on from this source tree (through a temporary `talking_head` symlink), builds a
mesh with the 52 ARKit shape keys and an armature with a neck and head bone, and times
  * the whole bake (evaluate the mapping + head/neck rotations, write every key in bulk) from a
    motion file with blendshapes, first into empty curves, then a re-bake over the same range,
  * the mapping evaluation alone (engine, numpy).
Prints medians over --repeat runs.
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


def median_time(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def median_cpu(fn, repeat: int) -> float:
    """CPU seconds of this process (less sensitive than wall time to other work on the machine)."""
    times = []
    for _ in range(repeat):
        t = time.process_time()
        fn()
        times.append(time.process_time() - t)
    return statistics.median(times)


def build_character(bpy, names):
    mesh = bpy.data.meshes.new("Face")
    mesh.from_pydata([(0, 0, 0), (1, 0, 0), (0, 0, 1)], [], [(0, 1, 2)])
    face = bpy.data.objects.new("Face", mesh)
    bpy.context.scene.collection.objects.link(face)
    face.shape_key_add(name="Basis")
    for n in names:
        face.shape_key_add(name=n, from_mix=False)
    arm_data = bpy.data.armatures.new("Rig")
    arm = bpy.data.objects.new("Rig", arm_data)
    bpy.context.scene.collection.objects.link(arm)
    bpy.context.view_layer.objects.active = arm
    bpy.ops.object.mode_set(mode="EDIT")
    neck = arm_data.edit_bones.new("neck")
    neck.head, neck.tail = (0, 0, 1.4), (0, 0, 1.55)
    head = arm_data.edit_bones.new("head")
    head.head, head.tail, head.parent = (0, 0, 1.55), (0, 0, 1.8), neck
    bpy.ops.object.mode_set(mode="OBJECT")
    return face, arm


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--frames", type=int, default=10_000)
    args = ap.parse_args()

    tmp = tempfile.mkdtemp(prefix="bench_rig_")
    os.symlink(ROOT, Path(tmp) / "talking_head")
    sys.path.insert(0, tmp)
    import bpy
    import numpy as np
    import talking_head
    from talking_head.adapters import flows, rig
    from talking_head.engine.controls import CONTROL_NAMES
    from talking_head.engine.motion import Motion
    from talking_head.engine.rig import ARKIT_NAMES, evaluate

    talking_head.register()
    print(f"Blender {bpy.app.version_string}, {args.frames} frames")
    bpy.context.scene.render.fps = 30
    face, arm = build_character(bpy, ARKIT_NAMES)
    rng = np.random.default_rng(0)
    n = args.frames
    controls = {k: rng.uniform(-0.5, 1.0, n).astype(np.float32) for k in CONTROL_NAMES}
    for k in ("head_yaw", "head_pitch", "head_roll"):
        controls[k] = (20 * np.sin(np.arange(n) / 40.0)).astype(np.float32)
    names = ["_neutral", *[x for x in ARKIT_NAMES if x != "tongueOut"]]
    motion = Motion(fps=30, controls=controls, blendshapes=rng.uniform(0, 1, (n, len(names))),
                    blendshape_names=names, calibration={"frame": 0}, source={"start": 0})
    path = Path(tmp) / "motion.json"
    motion.save(path, sidecar=True)

    rig.setup(face)
    st = rig.settings(face)
    st.armature, st.head_bone, st.neck_bone = arm, "head", "neck"
    st.source, st.motion_path, st.frame_start = "MOTION", str(path), 1
    rows = rig.rows_of(face)
    keys = n * (len(rows) + 8)

    def bake():
        flows.run_sync(rig.prepare_bake(bpy.context.scene, face), echo=False)

    t = time.perf_counter()
    bake()
    first = time.perf_counter() - t
    print(f"bake into empty curves: {len(rows)} shape keys + head/neck quaternions = {keys} keys "
          f"in {first * 1000:.0f} ms")
    t = median_time(bake, args.repeat)
    cpu = median_cpu(bake, args.repeat)
    print(f"re-bake (replace the range), median of {args.repeat}: {t * 1000:.0f} ms wall, "
          f"{cpu * 1000:.0f} ms CPU ({t / keys * 1e6:.2f} us/key; motion file load included)")
    loaded = Motion.load(path)
    t_load = median_time(lambda: Motion.load(path), args.repeat)
    print(f"  of which motion file load (.json + .npz): {t_load * 1000:.0f} ms")
    t = median_time(lambda: evaluate(rig.rows_of(face), loaded), args.repeat)
    print(f"  of which mapping evaluation (engine): {t * 1000:.1f} ms")
    talking_head.unregister()


if __name__ == "__main__":
    main()
