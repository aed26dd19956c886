"""Is the self-reenactment render's head where the real one is? (issue 20, head size)

For each portrait frame k of ``bench_render_open_mouth.py`` (portrait = frame k of a clip, motion =
that clip's capture with its mouth exemplars), every 6th frame i is rendered and its eye band (the
portrait's lids, brows and nose bridge + 8 %) registered to the real frame i by ECC (affine): the
scale along the eye line (render / real - 1: + = the render's head is too large) and the
translation of the band's centre in face widths, as medians, and the scale's correlation with
mouth_open. The static frame k gets the same registration: what the real head does on its own.

``--swell-slope``: the experiment of removing MediaPipe's jaw swelling from head_scale with a
per-clip slope measured against the pixels: each tracked frame's eye band registered to the
neutral's (ECC started from the landmarks' similarity), log(head_scale) - log(pixel scale) fitted
against mouth_open over the frames within 12 degrees of yaw, the slope (positive only) removed
as head_scale x exp(-slope x mouth_open), and the self-reenactment figures re-measured.

Measured (2026-12, this script): d18 88 / 30 / 140 render eye band too large by a median 1.2 /
0.5 / 1.2 % (p90 4.3 %), corr with mouth_open +0.96..+0.97, static -0.2..+0.3 %: the swelling is
in the captured curve. Swell slope d18 +0.032 (corr 0.46): face / mouth d18 30 -0.43 / +0.83 ->
+0.14 / +0.79, 88 +0.06 / +3.22 -> +0.15 / +2.58, 140 +1.92 / +1.69 -> +2.01 / +2.81; tps -0.32,
d3 +0.15 (d3 320 mouth +2.68 -> -0.72), lp_d6 -0.09, lp_d10 +0.003 (corr 0.01): the 2D band's
scale is noise where heads turn; not adopted (docs/builtin_renderer.md).

Run: .venv/bin/python benchmarks/eval_render_alignment.py [--clips d18,...] [--swell-slope]
Uses the caches of bench_render_open_mouth.py (out/open_mouth_cache/) and eval_head_scale.py.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def _grey(rgb: np.ndarray) -> np.ndarray:
    import cv2

    return cv2.GaussianBlur(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY).astype(np.float32), (0, 0), 1.0)


def _band_mask(landmarks: np.ndarray, shape: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    from eval_head_scale import EYE_BAND  # the eye band eval_head_scale.py registers

    pts = landmarks[list(EYE_BAND), :2]
    (x0, y0), (x1, y1) = pts.min(0), pts.max(0)
    pad = 0.08 * (x1 - x0)
    mask = np.zeros(shape[:2], np.uint8)
    mask[int(y0 - pad):int(y1 + pad), int(x0 - pad):int(x1 + pad)] = 1
    return mask, np.array([(x0 + x1) / 2, (y0 + y1) / 2])


def _ecc(template: np.ndarray, image: np.ndarray, mask: np.ndarray, start: np.ndarray | None = None):  # noqa: ANN202
    """The affine warp with image(warp(x)) ~ template(x), or None when ECC does not converge."""
    import cv2

    warp = np.eye(2, 3, dtype=np.float32) if start is None else start.astype(np.float32)
    criteria = (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 100, 1e-6)
    try:
        _, warp = cv2.findTransformECC(template, image, warp, cv2.MOTION_AFFINE, criteria, mask, 3)
    except cv2.error:
        return None
    return warp.astype(np.float64)


def alignment(key: str) -> None:
    import bench_render_open_mouth as bench

    from engine.media.video import VideoReader
    from engine.render.base import create_renderer

    name, stop, _, portraits = bench.CLIPS[key]
    motion = bench.motion_for(bench.DRIVING / name, stop, True)
    with VideoReader(bench.DRIVING / name) as reader:
        frames = [f for _, _, f in reader.frames(0, stop)]
    for k in portraits:
        r = create_renderer("builtin", device="cpu")
        r.use_motion(motion)
        r.prepare(frames[k])
        bound = r.bind_motion(motion)
        lm, width = r.fit.landmarks[:, :2], r.fit.width
        mask, centre = _band_mask(lm, frames[k].shape)
        line = (lm[263] - lm[33]) / np.linalg.norm(lm[263] - lm[33])
        rows = []
        for i in range(0, min(len(frames), motion.frame_count), 6):
            if i == k:
                continue
            out = r.render_frame(motion.frame(i), {n: a[i] for n, a in bound.items()} or None)
            real = _grey(frames[i])
            w, w0 = _ecc(_grey(out), real, mask), _ecc(_grey(frames[k]), real, mask)
            if w is None or w0 is None:
                continue
            # render(x) = real(A x): the render's head is 1/|A line| times the real one
            shift = (w[:, :2] @ centre + w[:, 2] - centre) / width
            rows.append((1 / np.linalg.norm(w[:, :2] @ line) - 1, 1 / np.linalg.norm(w0[:, :2] @ line) - 1,
                         shift[0], shift[1], motion.frame(i)["mouth_open"]))
        a = np.array(rows)
        scale, static = a[:, 0], a[:, 1]
        p10, p90 = np.percentile(scale, [10, 90])
        corr = np.corrcoef(scale, a[:, 4])[0, 1]
        print(f"{key:>7} {k:>4}  render scale {np.median(scale):+.4f} (p10 {p10:+.4f} p90 {p90:+.4f}, "
              f"corr(mouth_open) {corr:+.2f})  static {np.median(static):+.4f}  "
              f"shift x {np.median(a[:, 2]):+.4f} y {np.median(a[:, 3]):+.4f} W", flush=True)


def swell_slope(key: str) -> float:
    """The clip's head_scale swelling per unit mouth_open against the pixels (see the docstring)."""
    import cv2
    import eval_head_scale as heads

    from engine.media.video import VideoReader

    name, stop = heads.CLIPS[key]
    obs = heads.observations(heads.track(heads.DRIVING / name, stop))
    if any(o is None for o in obs):
        raise SystemExit(f"{key}: untracked frames; the experiment needs every frame")
    c = heads.controls(obs)
    lms = np.stack([o.landmarks for o in obs]).astype(np.float64)[:, :, :2]
    cal = int(c["cal"])
    with VideoReader(heads.DRIVING / name) as reader:
        grey = [_grey(f) for _, _, f in reader.frames(0, stop)]
    mask, _ = _band_mask(lms[cal], grey[0].shape)
    n0 = lms[cal, list(heads.EYE_BAND)].astype(np.float32)
    rows = []
    for i in range(0, len(obs), 2):
        start, _ = cv2.estimateAffinePartial2D(n0, lms[i, list(heads.EYE_BAND)].astype(np.float32))
        w = _ecc(grey[cal], grey[i], mask, start)
        if w is None or abs(c["head_yaw"][i]) >= 12:
            continue
        rows.append((c["mouth_open"][i], np.log(c["head_scale"][i] / np.sqrt(abs(np.linalg.det(w[:, :2]))))))
    a = np.array(rows)
    slope = float(np.polyfit(a[:, 0], a[:, 1], 1)[0])
    corr = np.corrcoef(a[:, 0], a[:, 1])[0, 1]
    print(f"{key:>7} swell slope {slope:+.4f} per unit mouth_open (corr {corr:+.2f}, {len(a)} frames)",
          flush=True)
    return slope


def main() -> None:
    sys.path.insert(0, str(ROOT))
    sys.path.insert(0, str(ROOT / "benchmarks"))
    import bench_render_open_mouth as bench

    ap = argparse.ArgumentParser()
    ap.add_argument("--clips", default=",".join(bench.CLIPS))
    ap.add_argument("--swell-slope", action="store_true", help="the per-clip swelling experiment")
    args = ap.parse_args()
    for key in args.clips.split(","):
        key = key.strip()
        if not args.swell_slope:
            alignment(key)
            continue
        slope = max(swell_slope(key), 0.0)

        def deswell(motion, how, slope=slope) -> None:  # noqa: ANN001 - replaces the bench's hook
            m = np.asarray(motion.controls["mouth_open"], np.float64)
            hs = motion.controls["head_scale"] * np.exp(-slope * m)
            motion.controls["head_scale"] = hs.astype(np.float32)

        bench.replace_head_scale = deswell
        for k, d in bench.measure(key, mouths=True, head_scale="pixel").items():
            print(f"{key:>7} {k:>5} face {d['face']:+.2f} mouth {d['mouth']:+.2f} dB (render - static)",
                  flush=True)


if __name__ == "__main__":
    main()
