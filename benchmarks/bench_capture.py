"""Capture throughput (decode + track + controls) and peak memory on each shared driving clip.

Run: .venv/bin/python benchmarks/bench_capture.py [--repeat N] [--body] [--only NAME]
Each clip runs in its own subprocess so the peak RSS figure belongs to that clip alone. ``--body``:
face + body in one pass (capture --body); ``--only``: clips whose name contains NAME.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DRIVING = ROOT.parent / "shared" / "testdata" / "driving"


def one(clip: str, repeat: int, body: bool) -> None:
    sys.path.insert(0, str(ROOT.parent))
    from importlib import import_module

    capture = import_module(f"{ROOT.name}.engine.capture").capture
    times, n = [], 0
    for _ in range(repeat):
        t = time.perf_counter()
        m = capture(clip, body=body)
        times.append(time.perf_counter() - t)
        n = m.frame_count
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"frames": n, "fps": n / statistics.median(times), "peak_mb": peak_mb,
                      "size": f"{m.source['width']}x{m.source['height']}"}))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--one")
    ap.add_argument("--body", action="store_true", help="face + body (capture --body)")
    ap.add_argument("--only", default="", help="only clips whose name contains this")
    args = ap.parse_args()
    if args.one:
        one(args.one, args.repeat, args.body)
        return
    print(f"{'clip':24} {'size':>8} {'frames':>6} {'fps (median)':>12} {'peak RSS MB':>11}")
    for clip in sorted(c for c in DRIVING.glob("*.mp4") if args.only in c.name):
        r = subprocess.run([sys.executable, __file__, "--one", str(clip), "--repeat", str(args.repeat)]
                           + (["--body"] if args.body else []),
                           capture_output=True, text=True)
        lines = [ln for ln in r.stdout.splitlines() if ln.startswith("{")]
        if not lines:
            print(f"{clip.stem:24} failed: {r.stderr.strip()[-200:]}")
            continue
        d = json.loads(lines[-1])
        print(f"{clip.stem:24} {d['size']:>8} {d['frames']:>6} {d['fps']:12.1f} {d['peak_mb']:11.0f}")


if __name__ == "__main__":
    main()
