"""What the shoulder warp costs per frame: the built-in renderer at 512² on photo_woman (whose
shoulders are in the picture), the sample performance alone vs the same with all four body curves
moving (sines), runs alternated so the machine's load hits both alike; median ms per frame.

Run: .venv/bin/python benchmarks/bench_body_render.py [--frames N] [--repeat R]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
sys.path.insert(0, str(ROOT))


def main() -> None:
    import os

    from bench_render import make_image

    from engine.render.base import create_renderer
    from engine.sample import sample_performance

    ap = argparse.ArgumentParser()
    ap.add_argument("--frames", type=int, default=100)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    img, name = make_image(512)
    motion = sample_performance()
    r = create_renderer("builtin", device="cpu")
    r.prepare(img)
    n = min(args.frames, motion.frame_count)
    face = [motion.frame(i) for i in range(n)]
    t = np.arange(n) / 30.0
    body = [dict(f, torso_lean=6 * np.sin(t[i]), torso_turn=15 * np.sin(0.7 * t[i]),
                 shoulder_raise_l=0.1 * np.sin(1.3 * t[i]), shoulder_raise_r=0.1 * np.cos(1.1 * t[i]))
            for i, f in enumerate(face)]
    t0 = time.perf_counter()
    r.render_frame(body[1])  # finds the body (pose + mask) once
    print(f"{name} 512², load average {' '.join(f'{x:.1f}' for x in os.getloadavg())}; body found: "
          f"{r._body is not None} ({time.perf_counter() - t0:.2f} s for the first body frame)")
    runs: dict[str, list[float]] = {"face only": [], "face + body": []}
    for _ in range(args.repeat):
        for label, frames in (("face only", face), ("face + body", body)):
            ms = []
            for c in frames:
                t0 = time.perf_counter()
                r.render_frame(c)
                ms.append((time.perf_counter() - t0) * 1e3)
            runs[label].append(statistics.median(ms))
    for label, v in runs.items():
        m = statistics.median(v)
        each = " ".join(f"{x:.2f}" for x in v)
        print(f"  {label:12s} median {m:6.2f} ms/frame ({1e3 / m:5.1f} fps); runs {each}")


if __name__ == "__main__":
    main()
