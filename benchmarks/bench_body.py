"""Body capture, measured: pose found per clip, joint jitter before/after smoothing, torso turn vs
head yaw on the head-turn clip, and capture speed (face alone, face + body) at 512².

Run: /path/to/venv/bin/python benchmarks/bench_body.py [--frames N]
The numbers in docs/body.md come from this script. Speed is decode + tracking + controls of the
full capture() on d3_expressive_turns.mp4 (512², 30 fps), best of ``--repeat`` runs; it depends
on what else the machine runs (give the load average with the numbers).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DRIVING = ROOT.parent / "shared" / "testdata" / "driving"
sys.path.insert(0, str(ROOT))

CLIPS = ["d1_single_blink.mp4", "d0_smile_blink.mp4", "d18_mouth_open.mp4", "d3_expressive_turns.mp4",
         "tps_interview.mp4", "lp_d6_expressive_talk.mp4", "lp_d10_talk.mp4"]


def pose_per_clip(max_frames: int) -> None:
    import numpy as np

    from engine.body import J
    from engine.body_tracker import BodyTracker
    from engine.media.video import VideoReader

    print("pose found per clip (VIDEO mode, every frame up to --frames):")
    for clip in CLIPS:
        n = found = 0
        shoulders = []
        with VideoReader(DRIVING / clip) as reader, BodyTracker(video=True) as tracker:
            for _i, ts, rgb in reader.frames(0, max_frames):
                bodies = tracker.detect(rgb, int(round(ts)))
                n += 1
                if bodies:
                    found += 1
                    c = bodies[0].confidence
                    shoulders.append(min(c[J["left_shoulder"]], c[J["right_shoulder"]]))
        med = float(np.median(shoulders)) if shoulders else 0.0
        print(f"  {clip:28s} {found:4d}/{n:<4d} frames, median shoulder confidence {med:.2f}")


def capture_numbers(repeat: int) -> None:
    import numpy as np

    from engine.capture import capture

    clip = DRIVING / "d3_expressive_turns.mp4"
    for body in (False, True):
        best = None
        for _ in range(repeat):
            t = time.perf_counter()
            m = capture(clip, body=body)
            dt = time.perf_counter() - t
            best = dt if best is None else min(best, dt)
        label = "face + body" if body else "face alone "
        print(f"capture {label} at 512²: {m.frame_count / best:5.1f} fps ({m.frame_count} frames, "
              f"best of {repeat})")
    b = m.body
    r = float(np.corrcoef(m.controls["head_yaw"], b.controls["torso_turn"])[0, 1])
    turn = b.controls["torso_turn"]
    print(f"d3 torso_turn range {turn.min():.1f}…{turn.max():.1f} deg (neutral frame "
          f"{b.calibration['frame']}), Pearson r with head_yaw {r:.2f}")
    print("joint jitter (median |2nd difference| of confident upper-body joints, shoulder widths):")
    for clip_name in ("d3_expressive_turns.mp4", "tps_interview.mp4", "lp_d10_talk.mp4"):
        mm = capture(DRIVING / clip_name, body=True, stop=300)
        f = mm.body.filter
        print(f"  {clip_name:28s} raw {f['jitter_raw']:.5f} -> smoothed {f['jitter_smoothed']:.5f} "
              f"({f['jitter_raw'] / max(f['jitter_smoothed'], 1e-9):.1f}x lower)")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--frames", type=int, default=400, help="frames per clip for the pose count")
    ap.add_argument("--repeat", type=int, default=2)
    args = ap.parse_args()
    print(f"cores: {os.cpu_count()}, load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    pose_per_clip(args.frames)
    capture_numbers(args.repeat)
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
