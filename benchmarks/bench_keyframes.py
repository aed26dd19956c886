"""Bulk keyframe writing and reading of the 16 expression controls in Blender (bpy module).

Run: .venv/bin/python benchmarks/bench_keyframes.py [--repeat N]   (or .venv45/bin/python)
Registers the add-on from this source tree (through a temporary `talking_head` symlink) and times
  * write_controls: keyframe_points.add + foreach_set, 10,000 and 100,000 keys,
  * the naive way for comparison: one keyframe_insert per key (10,000 keys),
  * evaluate_controls: the curves read back at every frame (what Render does).
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


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()

    tmp = tempfile.mkdtemp(prefix="bench_keyframes_")
    os.symlink(ROOT, Path(tmp) / "talking_head")
    sys.path.insert(0, tmp)
    import bpy
    import numpy as np
    import talking_head
    from talking_head.adapters import keyframes, strips
    from talking_head.engine.controls import CONTROL_NAMES

    talking_head.register()
    scene = bpy.context.scene
    item = strips.new_item(scene, "Bench")
    rng = np.random.default_rng(0)
    print(f"Blender {bpy.app.version_string}")

    for keys in (10_000, 100_000):
        frames = keys // len(CONTROL_NAMES)
        values = rng.uniform(0, 1, (frames, len(CONTROL_NAMES))).astype(np.float32)
        f = np.arange(1, frames + 1)
        t = median_time(lambda f=f, values=values: keyframes.write_controls(scene, item, f, values),
                        args.repeat)
        n = frames * 16
        print(f"write_controls {n:>7} keys: {t * 1000:8.1f} ms  ({t / n * 1e6:.2f} us/key)")
        t = median_time(lambda f=f: keyframes.evaluate_controls(scene, item, f), args.repeat)
        print(f"evaluate_controls {frames:>5} frames x 16: {t * 1000:8.1f} ms")

    # naive reference: one keyframe_insert per key, 10,000 keys into empty curves
    frames = 10_000 // len(CONTROL_NAMES)
    times = []
    for _ in range(max(1, args.repeat // 2)):
        keyframes.clear_controls(scene, item)
        t = time.perf_counter()
        for fr in range(1, frames + 1):
            for name in CONTROL_NAMES:
                setattr(item, name, 0.5)
                item.keyframe_insert(name, frame=fr)
        times.append(time.perf_counter() - t)
    t = statistics.median(times)
    n = frames * 16
    print(f"keyframe_insert  {n:>7} keys: {t * 1000:8.1f} ms  ({t / n * 1e6:.2f} us/key)")
    talking_head.unregister()


if __name__ == "__main__":
    main()
