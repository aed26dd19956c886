"""Cost of the mouth exemplars in the built-in renderer: CPU time per frame of open-mouth
frames rendered with the procedural interior and with exemplars, alternating in one process (so
load from other jobs hits both alike), and the per-motion schedule time.

Run: .venv/bin/python benchmarks/bench_mouth_exemplars.py [--mouths MOTION.json] [--size 512]
[--portrait PATH]
(default exemplars: the lp_d6 capture benchmarks/mouth_exemplar_sheet.py caches in out/).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    sys.path.insert(0, str(ROOT))
    sys.path.insert(0, str(ROOT / "benchmarks"))
    import cv2
    import numpy as np
    from bench_render import make_image

    from engine.motion import Motion
    from engine.render.base import create_renderer

    ap = argparse.ArgumentParser()
    ap.add_argument("--mouths", default=None)
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--frames", type=int, default=200)
    ap.add_argument("--portrait", default=None,
                    help="another portrait (e.g. tests/fixtures/open_mouth/lp_d6_60.jpg: own teeth)")
    args = ap.parse_args()
    cv2.setNumThreads(1)
    if args.mouths:
        mouths = Motion.load(args.mouths).mouths
    else:
        from mouth_exemplar_sheet import exemplar_motion

        mouths = exemplar_motion("lp_d6_expressive_talk.mp4", 40, 250).mouths
    if args.portrait:
        from engine.media.video import load_image

        img, name = load_image(args.portrait), Path(args.portrait).name
    else:
        img, name = make_image(args.size)
    n = args.frames
    motion = Motion.neutral(n)
    t = np.linspace(0, 4 * np.pi, n)
    motion.controls["mouth_open"][:] = (0.55 + 0.45 * np.sin(t)).astype(np.float32)
    motion.controls["mouth_smile"][:] = (0.3 + 0.3 * np.sin(0.7 * t)).astype(np.float32)
    renderers = {}
    for label, source in (("procedural", "none"), ("exemplars", mouths)):
        r = create_renderer("builtin", device="cpu", mouth_source=source)
        r.prepare(img)
        c = time.process_time()
        rows = r.bind_motion(motion)
        renderers[label] = (r, rows, time.process_time() - c)
    cpu: dict[str, list[float]] = {k: [] for k in renderers}
    for i in range(n):
        for label, (r, rows, _) in renderers.items():
            extras = {k: v[i] for k, v in rows.items()} or None
            c = time.process_time()
            r.render_frame(motion.frame(i), extras)
            cpu[label].append(time.process_time() - c)
    long = Motion.neutral(25 * 3600)  # an hour at 25 fps: the schedule's cost per motion
    long.controls["mouth_open"][:] = np.clip(np.sin(np.arange(long.frame_count) / 7.0), 0, 1)
    c = time.process_time()
    renderers["exemplars"][0].bind_motion(long)
    hour = time.process_time() - c
    print(f"{name} {img.shape[1]}x{img.shape[0]}, {n} open-mouth frames, {mouths.count} exemplars, "
          "1 OpenCV thread")
    for label, times in cpu.items():
        med = statistics.median(times) * 1e3
        print(f"{label:>11}: median CPU {med:6.2f} ms/frame ({1e3 / med:5.0f} frames per CPU second)")
    extra = statistics.median(np.array(cpu["exemplars"]) - np.array(cpu["procedural"])) * 1e3
    print(f"exemplars cost {extra:+.2f} ms/frame (median of per-frame differences); schedule "
          f"{renderers['exemplars'][2] * 1e3:.1f} ms for {n} frames, {hour:.2f} s for one hour of motion")


if __name__ == "__main__":
    main()
