"""Built-in renderer self-reenactment quality: portrait = frame 0 of a driving clip, driven by
the curves captured from that same clip (calibrated on frame 0); the renders are compared with
the real frames, against the static frame 0 as the baseline a renderer must beat.

Figures (PSNR dB / SSIM, mean over frames), each as render vs static:
* face: the face box (landmark bounding box + 10 %) over all MANIFEST event frames;
* mouth: the mouth box (inner+outer lips and chin of frame 0, padded) during the mouth events;
* eyes: the box around both eyes and brows during the blinks.

Run: .venv/bin/python benchmarks/bench_render_quality.py [--clips d18,d3,...] [--json out.json]
Captured curves are cached in out/quality_cache/ (capture is the slow part: MediaPipe per frame),
keyed by the clip's size and mtime, so a re-run after a renderer change costs only the renders.
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
CACHE = ROOT / "out" / "quality_cache"

# MANIFEST events, end exclusive: (blinks, mouth openings). d3's long squeezes count as blinks.
EVENTS = {
    "d1_single_blink.mp4": ([(4, 14)], []),
    "d0_smile_blink.mp4": ([(65, 69)], []),
    "d18_mouth_open.mp4": ([(94, 98)], [(19, 41), (64, 97), (119, 156)]),
    "d3_expressive_turns.mp4": ([(48, 53), (57, 63), (103, 136), (138, 161), (216, 256)], [(300, 354)]),
    "tps_interview.mp4": ([(20, 25), (58, 64), (91, 99), (149, 157)], [(86, 90), (107, 109)]),
}
SHORT = {"d1": "d1_single_blink.mp4", "d0": "d0_smile_blink.mp4", "d18": "d18_mouth_open.mp4",
         "d3": "d3_expressive_turns.mp4", "tps": "tps_interview.mp4"}


def ssim(a: np.ndarray, b: np.ndarray) -> float:
    import cv2

    a = cv2.cvtColor(a, cv2.COLOR_RGB2GRAY).astype(np.float64)
    b = cv2.cvtColor(b, cv2.COLOR_RGB2GRAY).astype(np.float64)
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2

    def g(x: np.ndarray) -> np.ndarray:
        return cv2.GaussianBlur(x, (11, 11), 1.5)

    ma, mb = g(a), g(b)
    va, vb, cab = g(a * a) - ma * ma, g(b * b) - mb * mb, g(a * b) - ma * mb
    return float((((2 * ma * mb + c1) * (2 * cab + c2)) / ((ma * ma + mb * mb + c1) * (va + vb + c2))).mean())


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(((a.astype(np.float64) - b) ** 2).mean())
    return 10 * np.log10(255.0 ** 2 / max(mse, 1e-9))


def _box(points: np.ndarray, pad: float, shape: tuple[int, ...]) -> tuple[slice, slice]:
    (x0, y0), (x1, y1) = points.min(0), points.max(0)
    h, w = shape[:2]
    return np.s_[int(max(y0 - pad, 0)):int(min(y1 + pad, h)), int(max(x0 - pad, 0)):int(min(x1 + pad, w))]


def boxes(landmarks: np.ndarray, shape: tuple[int, ...]) -> dict[str, tuple[slice, slice]]:
    from engine.render.builtin.fitting import (
        CHIN,
        L_BROW,
        L_EYE_LO,
        L_EYE_UP,
        LIP_OUT_LO,
        LIP_OUT_UP,
        R_BROW,
        R_EYE_LO,
        R_EYE_UP,
    )

    lm = landmarks[:, :2]
    width = float(np.linalg.norm(lm[454] - lm[234]))
    mouth = lm[list(LIP_OUT_UP + LIP_OUT_LO + CHIN)]
    eyes = lm[list(L_EYE_UP + L_EYE_LO + R_EYE_UP + R_EYE_LO + L_BROW + R_BROW)]
    (x0, _), (x1, _) = lm.min(0), lm.max(0)
    return {"face": _box(lm, 0.1 * (x1 - x0), shape), "mouth": _box(mouth, 0.06 * width, shape),
            "eyes": _box(eyes, 0.05 * width, shape)}


def motion_for(clip: str, stop: int):  # noqa: ANN201 - benchmark helper
    from engine.capture import capture
    from engine.motion import Motion

    path = DRIVING / clip
    st = path.stat()
    cached = CACHE / f"{path.stem}_{stop}_{st.st_size}_{int(st.st_mtime)}.json"
    if cached.is_file():
        return Motion.load(cached)
    m = capture(path, stop=stop, calibration_frame=0)
    CACHE.mkdir(parents=True, exist_ok=True)
    m.save(cached)
    return m


def measure(clip: str) -> dict:
    from engine.media.video import VideoReader
    from engine.render.base import create_renderer

    blinks, mouths = EVENTS[clip]
    spans = blinks + mouths
    stop = max(b for _, b in spans)
    motion = motion_for(clip, stop)
    sets = {"face": {i for a, b in spans for i in range(a, b)},
            "eyes": {i for a, b in blinks for i in range(a, b)},
            "mouth": {i for a, b in mouths for i in range(a, b)}}
    wanted = set().union(*sets.values())
    with VideoReader(DRIVING / clip) as reader:
        frames = {i: f for i, _, f in reader.frames(0, stop) if i in wanted or i == 0}
    first = frames[0]
    r = create_renderer("builtin", device="cpu")
    r.prepare(first)
    bx = boxes(r.fit.landmarks, first.shape)
    rendered = {i: r.render_frame(motion.frame(i)) for i in sorted(wanted)}
    out = {}
    for name, idx in sets.items():
        if not idx:
            continue
        s = bx[name]
        rows = [(psnr(rendered[i][s], frames[i][s]), psnr(first[s], frames[i][s]),
                 ssim(rendered[i][s], frames[i][s]), ssim(first[s], frames[i][s])) for i in sorted(idx)]
        pr, ps, sr, ss = np.array(rows).mean(axis=0)
        out[name] = {"frames": len(idx), "psnr_render": pr, "psnr_static": ps, "ssim_render": sr,
                     "ssim_static": ss}
    return out


def main() -> None:
    sys.path.insert(0, str(ROOT))
    ap = argparse.ArgumentParser()
    ap.add_argument("--clips", default="d1,d0,d18,d3,tps", help="comma list of: " + ",".join(SHORT))
    ap.add_argument("--json", help="also write the figures to this JSON file")
    args = ap.parse_args()
    results = {}
    print(f"{'clip':>5} {'region':>6} {'frames':>6} {'PSNR render':>11} {'static':>7} {'gain dB':>7} "
          f"{'SSIM render':>11} {'static':>7}")
    for key in args.clips.split(","):
        clip = SHORT[key.strip()]
        t = time.perf_counter()
        res = measure(clip)
        results[key] = res
        for name, d in res.items():
            print(f"{key:>5} {name:>6} {d['frames']:>6} {d['psnr_render']:11.2f} {d['psnr_static']:7.2f} "
                  f"{d['psnr_render'] - d['psnr_static']:+7.2f} {d['ssim_render']:11.3f} "
                  f"{d['ssim_static']:7.3f}", flush=True)
        print(f"      ({time.perf_counter() - t:.0f} s)", flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
