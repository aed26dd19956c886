"""Body capture, measured: pose found per clip, joint jitter before/after smoothing, torso turn vs
head yaw on the head-turn clip, and capture speed (face alone, face + body) at 512².

Run: /path/to/venv/bin/python benchmarks/bench_body.py [--frames N]
     /path/to/venv/bin/python benchmarks/bench_body.py --rate-only   # pose every frame vs every other
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


def pose_rate_numbers(repeat: int, frames: int) -> None:
    """The pose on every frame vs every other frame (capture/body.py POSE_EVERY): speed of the
    whole face + body capture (runs alternated, so machine load hits both alike; medians), and
    what interpolating the skipped frames costs in accuracy: the joints' distance to the
    full-rate capture's, in shoulder widths, and the body controls' largest difference."""
    import statistics

    import numpy as np

    from engine.body import BODY_CONTROL_NAMES, J
    from engine.capture import body as body_capture
    from engine.capture import capture

    def run(clip: Path, every: int, stop: int | None = None):  # noqa: ANN202
        body_capture.POSE_EVERY = every
        t = time.perf_counter()
        m = capture(clip, body=True, stop=stop)
        return m, time.perf_counter() - t

    clip = DRIVING / "d3_expressive_turns.mp4"
    times: dict[str, list[float]] = {"face": [], "every 1": [], "every 2": []}
    for _ in range(repeat):
        t = time.perf_counter()
        m = capture(clip, stop=frames)
        times["face"].append(m.frame_count / (time.perf_counter() - t))
        for every in (1, 2):
            m, dt = run(clip, every, frames)
            times[f"every {every}"].append(m.frame_count / dt)
    med = {k: statistics.median(v) for k, v in times.items()}
    print(f"capture of {clip.name} (first {frames} frames) at 512², median of {repeat} alternated runs: "
          f"face alone "
          f"{med['face']:.1f} fps; face + body, pose every frame {med['every 1']:.1f} fps, every other "
          f"frame {med['every 2']:.1f} fps ({med['every 2'] / med['every 1']:.2f}x; runs: "
          + "; ".join(f"{k} " + " ".join(f"{x:.1f}" for x in v) for k, v in times.items()) + ")", flush=True)
    print("pose every other frame vs every frame (smoothed joints, confident upper-body joints):")
    for name in ("d3_expressive_turns.mp4", "tps_interview.mp4", "lp_d10_talk.mp4"):
        full, _ = run(DRIVING / name, 1, frames)
        half, _ = run(DRIVING / name, 2, frames)
        a, b = full.body, half.body
        scale = np.array([full.source["width"] / full.source["height"], 1.0])  # x, y in one unit
        pa, pb = a.joints[..., :2] * scale, b.joints[..., :2] * scale
        width = np.median(np.linalg.norm(pa[:, J["left_shoulder"]] - pa[:, J["right_shoulder"]], axis=1))
        err = np.linalg.norm(pa - pb, axis=2) / width  # (n, 33)
        ok = (a.confidence >= 0.5) & (b.confidence >= 0.5)
        ok[:, 23:] = False
        skipped = np.zeros(len(err), bool)
        skipped[1::2] = True
        e_all, e_skip = err[ok], err[ok & skipped[:, None]]
        ctl = {k: float(np.max(np.abs(a.controls[k] - b.controls[k]))) for k in BODY_CONTROL_NAMES}
        print(f"  {name:26s} joint error median {np.median(e_all):.4f}, p95 {np.percentile(e_all, 95):.4f} "
              f"(skipped frames: median {np.median(e_skip):.4f}, p95 {np.percentile(e_skip, 95):.4f}) "
              f"shoulder widths; full-rate raw jitter {a.filter['jitter_raw']:.4f}; largest control "
              f"difference: lean {ctl['torso_lean']:.2f}°, turn {ctl['torso_turn']:.2f}°, raise L "
              f"{ctl['shoulder_raise_l']:.3f}, R {ctl['shoulder_raise_r']:.3f}", flush=True)
    body_capture.POSE_EVERY = 2


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--frames", type=int, default=400, help="frames per clip for the pose count")
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--rate-only", action="store_true", help="only the pose-rate speed/accuracy figures")
    args = ap.parse_args()
    if args.rate_only:
        print(f"cores: {os.cpu_count()}, load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
        pose_rate_numbers(max(args.repeat, 3), min(args.frames, 200))
        print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
        return
    print(f"cores: {os.cpu_count()}, load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    pose_per_clip(args.frames)
    capture_numbers(args.repeat)
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
