"""Built-in renderer speed and memory: frames per second at 512² and for a 1080p (and 4K)
paste-back, CPU (cv2.remap, and torch grid_sample on the CPU when torch imports) and CUDA when a GPU
is present, with ratios against one LivePortrait frame on this CPU (~12 s on 2 cores).

Run: .venv/bin/python benchmarks/bench_render.py [--frames N] [--sizes 512,1080,1080face,2160]
``1080face``: a 1920x1080 frame cropped so the face (forehead to chin) fills the frame height,
driven with the mouth held at least half open (the close-up case: eyelid and mouth edits at full
resolution).
Each configuration runs in its own subprocess so the peak RSS belongs to it alone. Frame times
are render_frame() only (no PNG/H.264 encoding); the motion is the built-in sample performance
(turns, blinks, talking), so every edit path is exercised. Reported: median and p90 ms per frame.
``--mouths MOTION.json``: open mouths filled from that capture's mouth exemplars (the per-motion
schedule, ``bind_s``, is computed once before the frames and passed as each frame's extra).
``--creases MOTION.json``: the sample's brow raises and smiles add that capture's crease details.
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
SHARED_PORTRAIT = ROOT.parent / "shared" / "testdata" / "portraits" / "photo_woman.jpg"
LIVEPORTRAIT_S_PER_FRAME = 12.0  # measured with its published networks on this 2-core CPU


def make_image(size: int, face: bool = False):  # noqa: ANN201 - benchmark helper
    """A test frame: the portrait scaled so the image height is ``size``; 512 -> 512², larger
    sizes -> a 16:9 frame (e.g. 1920x1080) with the portrait in the middle, edges replicated.
    ``face``: first crop the portrait to its face (forehead to chin), so the face fills the height."""
    import cv2

    sys.path.insert(0, str(ROOT))
    from engine.media.video import load_image

    src = SHARED_PORTRAIT if SHARED_PORTRAIT.is_file() else ROOT / "engine" / "assets" / "sample_portrait.jpg"
    img = load_image(src)
    if face:
        from engine.render.builtin.fitting import detect_face

        lm = detect_face(img)
        y0, y1 = float(lm[10, 1]), float(lm[152, 1])
        pad = 0.04 * (y1 - y0)
        cx = float(lm[:, 0].mean())
        half = 0.5 * (y1 - y0 + 2 * pad) * 16 / 9
        img = img[max(int(y0 - pad), 0):int(y1 + pad), max(int(cx - half), 0):int(cx + half)]
    h, w = img.shape[:2]
    s = size / h
    img = cv2.resize(img, (round(w * s), size), interpolation=cv2.INTER_CUBIC if s > 1 else cv2.INTER_AREA)
    if size == 512:
        return cv2.resize(img, (512, 512)), src.name
    width = round(size * 16 / 9)
    pad = max(width - img.shape[1], 0)
    img = cv2.copyMakeBorder(img, 0, 0, pad // 2, pad - pad // 2, cv2.BORDER_REFLECT)[:, :width]
    return img, src.name


def one(size: str, device: str, sampler: str, frames: int, threads: int, mouths: str | None = None,
        creases: str | None = None) -> None:
    sys.path.insert(0, str(ROOT))
    import cv2
    import numpy as np

    if threads:
        cv2.setNumThreads(threads)

    from engine.render.base import create_renderer
    from engine.sample import sample_performance

    face = size.endswith("face")
    img, name = make_image(int(size.removesuffix("face")), face)
    motion = sample_performance(max(frames, 1) / 25.0, 25.0)
    if face:  # the close-up case: the mouth stays open (0.5-1.0), blinks as in the sample
        mo = motion.controls["mouth_open"]
        motion.controls["mouth_open"] = np.clip(0.5 + mo, 0.5, 1.0).astype(np.float32)
    if creases:  # the sample's brows and smiles with that capture's crease details, all regions
        from engine.motion import Motion

        motion.creases = Motion.load(creases).creases
    base_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    r = create_renderer("builtin", device=device, sampler=sampler,
                        **({"mouth_source": mouths} if mouths else {}),
                        **({"creases": "all"} if creases else {}))
    t = time.perf_counter()
    r.prepare(img)
    prepare_s = time.perf_counter() - t
    t = time.perf_counter()
    rows = r.bind_motion(motion)
    bind_s = time.perf_counter() - t

    def extras(i: int) -> dict | None:
        return {k: v[i] for k, v in rows.items()} or None

    r.render_frame(motion.frame(0), extras(0))  # warm-up
    times, cpu = [], []
    for i in range(motion.frame_count):
        t, c = time.perf_counter(), time.process_time()
        r.render_frame(motion.frame(i), extras(i))
        times.append(time.perf_counter() - t)
        cpu.append(time.process_time() - c)
    times.sort()
    med = statistics.median(times)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    x0, y0, x1, y1 = r.box
    tag = f"{img.shape[1]}x{img.shape[0]}" + ("f" if face else "")
    print(json.dumps({"size": tag, "portrait": name, "backend": r.backend,
                      "region": f"{x1 - x0}x{y1 - y0}", "prepare_s": prepare_s, "bind_s": bind_s,
                      "median_ms": med * 1e3,
                      "p90_ms": times[int(0.9 * (len(times) - 1))] * 1e3, "fps": 1.0 / med,
                      "cpu_ms": statistics.median(cpu) * 1e3,
                      "peak_mb": peak_mb, "peak_over_import_mb": peak_mb - base_mb}))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--frames", type=int, default=100)
    ap.add_argument("--sizes", default="512,1080,1080face,2160")
    ap.add_argument("--cpu-only", action="store_true", help="cv2 only (skip torch grid_sample)")
    ap.add_argument("--threads", type=int, default=0,
                    help="OpenCV threads (0: its default). On a busy shared machine, --threads 1 and "
                         "the 'cpu ms' column (CPU time per frame) compare versions more stably")
    ap.add_argument("--mouths", default=None, help="a motion .json with mouth exemplars")
    ap.add_argument("--creases", default=None, help="a motion .json with crease details (all regions added)")
    ap.add_argument("--one", nargs=3, metavar=("SIZE", "DEVICE", "SAMPLER"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one:
        size, device, sampler = args.one
        one(size, device, "" if sampler == "-" else sampler, args.frames, args.threads, args.mouths,
            args.creases)
        return
    configs = [("cpu", "-")]
    try:
        if args.cpu_only:
            raise ImportError
        import torch

        configs.append(("cpu", "torch"))
        if torch.cuda.is_available():
            configs.append(("cuda", "-"))
    except ImportError:
        pass
    print(f"built-in renderer, {args.frames} frames of the sample performance per run; "
          f"LivePortrait reference: {LIVEPORTRAIT_S_PER_FRAME:g} s/frame on this CPU")
    print(f"{'size':>10} {'backend':>10} {'region':>10} {'prep s':>7} {'med ms':>7} {'p90 ms':>7} "
          f"{'fps':>6} {'cpu ms':>7} {'peak MB':>8} {'x LivePortrait':>14}")
    for size in args.sizes.split(","):
        for device, sampler in configs:
            cmd = [sys.executable, __file__, "--frames", str(args.frames), "--threads", str(args.threads),
                   "--one", str(size), device, sampler] + (["--mouths", args.mouths] if args.mouths else []) \
                + (["--creases", args.creases] if args.creases else [])
            r = subprocess.run(cmd, capture_output=True, text=True)
            lines = [ln for ln in r.stdout.splitlines() if ln.startswith("{")]
            if r.returncode != 0 or not lines:
                print(f"{size:>10} {device}/{sampler}: failed: {r.stderr.strip().splitlines()[-1:]}")
                continue
            d = json.loads(lines[-1])
            speedup = LIVEPORTRAIT_S_PER_FRAME / (d["median_ms"] / 1e3)
            print(f"{d['size']:>10} {d['backend']:>10} {d['region']:>10} {d['prepare_s']:7.2f} "
                  f"{d['median_ms']:7.1f} {d['p90_ms']:7.1f} {d['fps']:6.1f} {d['cpu_ms']:7.1f} "
                  f"{d['peak_mb']:8.0f} "
                  f"{speedup:13.0f}x" + (f"  (bind {d['bind_s'] * 1e3:.0f} ms)" if args.mouths else ""))


if __name__ == "__main__":
    main()
