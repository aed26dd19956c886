"""Built-in renderer, expression creases (issue 20 item 4): self-reenactment on the shared clips,
portrait = the clip's own neutral frame (capture's automatic calibration frame), motion = the
clip's own capture with its crease details, rendered without and with the creases; both are
compared with the real frames, against the static portrait as the baseline.

Figures, median over frames:
* forehead (the middle 90 % of the portrait's canonical forehead region) on frames whose mean
  brow raise is >= 0.3; cheeks (both nasolabial regions, away from the mouth corner) on frames
  with mouth_smile >= 0.3 past the portrait's own smile;
* PSNR dB of static / off / on against the real frame;
* detail energy: mean square of the luma band-pass (Gaussian 1 px minus 0.02 face widths), as a
  ratio render / real (1 = as much fine detail as the real frame; off, a warp of the neutral
  portrait, lacks the expression's folds).

Run: .venv/bin/python benchmarks/bench_render_creases.py [--clips d0,d3,...] [--json out.json]
[--speed FRAMES] (only the per-frame cost, see speed()).
Captures are cached in out/crease_cache/ (keyed by the clip's size and mtime).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DRIVING = ROOT.parent / "shared" / "testdata" / "driving"
CACHE = ROOT / "out" / "crease_cache"

CLIPS = {"d0": ("d0_smile_blink.mp4", 78), "d3": ("d3_expressive_turns.mp4", 354),
         "d18": ("d18_mouth_open.mp4", 216), "tps": ("tps_interview.mp4", 169),
         "lp_d6": ("lp_d6_expressive_talk.mp4", 300), "lp_d10": ("lp_d10_talk.mp4", 300)}
BROW_MIN, SMILE_MIN = 0.3, 0.3
MAX_FRAMES = 40  # per region and clip (evenly spread)


def psnr(a: np.ndarray, b: np.ndarray, mask: np.ndarray) -> float:
    diff = (a.astype(np.float64) - b)[mask]
    return 10 * np.log10(255.0 ** 2 / max(float((diff ** 2).mean()), 1e-9))


def detail_energy(rgb: np.ndarray, width: float, mask: np.ndarray) -> float:
    import cv2

    y = cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2GRAY).astype(np.float32)
    d = cv2.GaussianBlur(y, (0, 0), 1.0) - cv2.GaussianBlur(y, (0, 0), max(0.02 * width, 1.5))
    return float((d[mask] ** 2).mean())


def motion_for(path: Path, stop: int):  # noqa: ANN201 - benchmark helper
    from engine.capture import capture
    from engine.motion import Motion

    st = path.stat()
    cached = CACHE / f"{path.stem}_{stop}_{st.st_size}_{int(st.st_mtime)}.json"
    if cached.is_file():
        return Motion.load(cached)
    m = capture(path, stop=stop, creases=True)
    CACHE.mkdir(parents=True, exist_ok=True)
    m.save(cached)
    return m


def region_boxes(landmarks: np.ndarray, width: float, shape: tuple[int, ...]
                 ) -> dict[str, tuple[tuple[slice, slice], np.ndarray]]:
    """Per measured region its box in the portrait and the mask of the crease regions' inner
    parts in it (the canonical patches' middle 90 %, the cheeks away from the mouth corner: skin,
    not the lips, nose or brows around it)."""
    from engine.capture.creases import SHAPES, canonical_coords, canonical_map, corner_mask, face_frame

    h, w = shape[:2]
    pad = 0.03 * width
    out = {}
    for name, regions in (("forehead", ("forehead",)), ("cheeks", ("cheek_r", "cheek_l"))):
        pts = np.concatenate([np.stack(canonical_map(landmarks, r), -1).reshape(-1, 2) for r in regions])
        (x0, y0), (x1, y1) = pts.min(0) - pad, pts.max(0) + pad
        x0, y0, x1, y1 = int(max(x0, 0)), int(max(y0, 0)), int(min(x1, w)), int(min(y1, h))
        gx, gy = np.meshgrid(np.arange(x0, x1, dtype=np.float64), np.arange(y0, y1, dtype=np.float64))
        mask = np.zeros(gx.shape, bool)
        for r in regions:
            col, row = canonical_coords(landmarks, r, gx, gy)
            rows, cols = SHAPES[r]
            fx, fy = (col + 0.5) / cols, (row + 0.5) / rows
            inside = (fx > 0.05) & (fx < 0.95) & (fy > 0.05) & (fy < 0.95)
            if r != "forehead":
                cm = corner_mask(face_frame(landmarks), r)
                ci = np.clip(np.round(col).astype(int), 0, cols - 1)
                ri = np.clip(np.round(row).astype(int), 0, rows - 1)
                inside &= cm[ri, ci] > 0.5
            mask |= inside
        out[name] = (np.s_[y0:y1, x0:x1], mask)
    return out


def pick(frames: np.ndarray, n: int) -> list[int]:
    if frames.size <= n:
        return [int(f) for f in frames]
    return [int(frames[i]) for i in np.linspace(0, frames.size - 1, n).round().astype(int)]


def measure(key: str) -> dict:
    from engine.media.video import VideoReader
    from engine.render.base import create_renderer

    clip, stop = CLIPS[key]
    motion = motion_for(DRIVING / clip, stop)
    k = int(motion.calibration["frame"])
    brow = (motion.controls["brow_l"] + motion.controls["brow_r"]) / 2
    smile = motion.controls["mouth_smile"]
    renderers = {}
    for name, on in (("off", False), ("on", "all")):
        r = create_renderer("builtin", device="cpu", creases=on)
        r.use_motion(motion)
        renderers[name] = r
    with VideoReader(DRIVING / clip) as reader:
        frames = {i: f for i, _, f in reader.frames(0, stop)}
    portrait = frames[k]
    for r in renderers.values():
        r.prepare(portrait)
        r.bind_motion(motion)
    fit = renderers["on"].fit
    own = max(fit.own.mouth_smile, 0.0)
    sets = {"forehead": pick(np.flatnonzero(brow >= BROW_MIN), MAX_FRAMES),
            "cheeks": pick(np.flatnonzero(smile - own >= SMILE_MIN), MAX_FRAMES)}
    boxes = region_boxes(fit.landmarks, fit.width, portrait.shape)
    out = {"portrait_frame": k, "creases": None if motion.creases is None else
           [int(motion.creases.forehead.shape[0]), int(motion.creases.cheeks.shape[0])]}
    for region, idx in sets.items():
        if not idx:
            out[region] = {"frames": 0}
            continue
        s, mask = boxes[region]
        rows = []
        for i in idx:
            real = frames[i]
            off = renderers["off"].render_frame(motion.frame(i))
            on = renderers["on"].render_frame(motion.frame(i))
            e_real = detail_energy(real[s], fit.width, mask)
            rows.append((psnr(portrait[s], real[s], mask), psnr(off[s], real[s], mask),
                         psnr(on[s], real[s], mask),
                         detail_energy(off[s], fit.width, mask) / e_real,
                         detail_energy(on[s], fit.width, mask) / e_real))
        a = np.median(np.array(rows), axis=0)
        gain = np.array([r[2] - r[1] for r in rows])
        out[region] = {"frames": len(idx), "psnr_static": a[0], "psnr_off": a[1], "psnr_on": a[2],
                       "gain_median": float(np.median(gain)), "gain_min": float(gain.min()),
                       "energy_off": a[3], "energy_on": a[4]}
    return out


def speed(frames: int) -> None:
    """CPU ms per 512x512 frame of the sample performance (brows, smiles, talking) on
    bench_render.py's portrait without and with d3's crease details (all regions), the two renderers
    alternating frame by frame in one process on one OpenCV thread (load from other jobs hits
    both alike); the median of the per-frame differences is the creases' cost."""
    import cv2
    from bench_render import make_image

    from engine.render.base import create_renderer
    from engine.sample import sample_performance

    cv2.setNumThreads(1)
    clip, stop = CLIPS["d3"]
    creases = motion_for(DRIVING / clip, stop).creases
    motion = sample_performance(frames / 25.0, 25.0)
    motion.creases = creases
    img, _ = make_image(512)  # the portrait bench_render.py times (photo_woman when shared)
    rs = {}
    for name, opt in (("off", "off"), ("on", "all")):
        rs[name] = create_renderer("builtin", device="cpu", creases=opt)
        rs[name].prepare(img)
        rs[name].bind_motion(motion)
    cpu = {"off": [], "on": []}
    for i in range(motion.frame_count):
        for name in (("off", "on") if i % 2 else ("on", "off")):
            t = time.process_time()
            rs[name].render_frame(motion.frame(i))
            cpu[name].append(time.process_time() - t)
    off, on = np.array(cpu["off"]) * 1e3, np.array(cpu["on"]) * 1e3
    layer = rs["on"]._creases
    shown = np.array([any(layer.detail(r, motion.frame(i), 0.0) is not None for r in layer.regions)
                      for i in range(motion.frame_count)])
    print(f"512x512, {motion.frame_count} frames ({int(shown.sum())} with creases showing): cpu ms median "
          f"off {np.median(off):.2f}, on {np.median(on):.2f}; median per-frame difference "
          f"{np.median(on - off):+.2f} ms, on the frames showing creases "
          f"{np.median((on - off)[shown]):+.2f} ms")


def main() -> None:
    sys.path.insert(0, str(ROOT))
    sys.path.insert(0, str(ROOT / "benchmarks"))
    ap = argparse.ArgumentParser()
    ap.add_argument("--clips", default=",".join(CLIPS), help="comma list of: " + ",".join(CLIPS))
    ap.add_argument("--json", help="also write the figures to this JSON file")
    ap.add_argument("--speed", type=int, metavar="FRAMES", help="only the speed check (see speed())")
    args = ap.parse_args()
    if args.speed:
        speed(args.speed)
        return
    results = {}
    print(f"{'clip':>7} {'k':>4} {'region':>9} {'frames':>6} {'static':>7} {'off':>7} {'on':>7} "
          f"{'on-off':>7} {'min':>6} {'E off':>6} {'E on':>6}  (E = detail energy / real)")
    for key in args.clips.split(","):
        t = time.perf_counter()
        res = measure(key.strip())
        results[key] = res
        for region in ("forehead", "cheeks"):
            d = res[region]
            if not d["frames"]:
                print(f"{key:>7} {res['portrait_frame']:>4} {region:>9} {0:>6}   (no such frames)")
                continue
            print(f"{key:>7} {res['portrait_frame']:>4} {region:>9} {d['frames']:>6} {d['psnr_static']:7.2f} "
                  f"{d['psnr_off']:7.2f} {d['psnr_on']:7.2f} {d['gain_median']:+7.2f} {d['gain_min']:+6.2f} "
                  f"{d['energy_off']:6.2f} {d['energy_on']:6.2f}", flush=True)
        print(f"        (creases kept: {res['creases']}; {time.perf_counter() - t:.0f} s)", flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
