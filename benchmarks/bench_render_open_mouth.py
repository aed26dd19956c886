"""Built-in renderer self-reenactment with portraits that are not neutral (issue 20): portrait =
frame k of a shared driving clip (mouth open, teeth showing, head turned), motion = that clip's
own capture with the default (automatic) neutral; the renders are compared with the real frames,
against the static frame k as the baseline.

Figures: median over frames of (render − static) PSNR, dB, in
* face: the portrait's landmark box + 10 %, every 2nd frame of the captured range;
* mouth: the lips and chin + 0.06 face widths, during the MANIFEST mouth events.
``--head-pose auto|absolute|relative`` picks the renderer's head-pose mode (default: its default,
auto; relative = the renderer before motions carried their neutral's pose).
``--pose-oracle`` subtracts frame k's own captured head pose from the curves (only to isolate the
expression: the renderer applies pose relative to the portrait, which frame k already has).
``--head-scale jaw-free|one`` replaces the captured head_scale curve (experiments on the size,
eval_head_scale.py): ``jaw-free`` removes the clip's least-squares component along mouth_open
(a positive slope only: MediaPipe's mesh swells with an open jaw), ``one`` holds the size.
Since the second stop of 2026-12-03 capture itself takes the swelling out (capture/head_size.py:
the slope of the fast changes), so ``jaw-free`` removes what global slope is left on top of it.

Run: .venv/bin/python benchmarks/bench_render_open_mouth.py [--clips d18,tps,...] [--head-pose MODE]
[--pose-oracle] [--head-scale jaw-free|one] [--frames "d18:10,180;tps:20,140"]
Captures are cached in out/open_mouth_cache/ (keyed by the clip's size and mtime).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DRIVING = ROOT.parent / "shared" / "testdata" / "driving"
CACHE = ROOT / "out" / "open_mouth_cache"

# clip: (file, captured frames, MANIFEST mouth events (end exclusive), portrait frames)
CLIPS = {
    "d18": ("d18_mouth_open.mp4", 216, [(19, 41), (64, 97), (119, 156)], [88, 30, 140]),
    "tps": ("tps_interview.mp4", 169, [(86, 90), (107, 109)], [87, 107]),
    "d3": ("d3_expressive_turns.mp4", 354, [(300, 354)], [320, 340]),
    "lp_d10": ("lp_d10_talk.mp4", 240, [(74, 76), (96, 110)], [100, 105]),
    "lp_d6": ("lp_d6_expressive_talk.mp4", 300,
              [(56, 64), (78, 84), (120, 129), (186, 191), (204, 208), (235, 240)], [60, 124, 237]),
}
POSE = ("head_yaw", "head_pitch", "head_roll", "head_x", "head_y", "head_scale")


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(((a.astype(np.float64) - b) ** 2).mean())
    return 10 * np.log10(255.0 ** 2 / max(mse, 1e-9))


def _box(points: np.ndarray, pad: float, shape: tuple[int, ...]) -> tuple[slice, slice]:
    (x0, y0), (x1, y1) = points.min(0), points.max(0)
    h, w = shape[:2]
    return np.s_[int(max(y0 - pad, 0)):int(min(y1 + pad, h)), int(max(x0 - pad, 0)):int(min(x1 + pad, w))]


def motion_for(path: Path, stop: int, mouths: bool = False):  # noqa: ANN201 - benchmark helper
    from engine.capture import capture
    from engine.motion import Motion

    st = path.stat()
    tag = "_mouths" if mouths else ""  # with the actor's mouth exemplars (as the CLI captures)
    cached = CACHE / f"{path.stem}_{stop}_{st.st_size}_{int(st.st_mtime)}_place{tag}.json"  # head_x/y: place
    if cached.is_file():
        return Motion.load(cached)
    m = capture(path, stop=stop, mouths=mouths)
    CACHE.mkdir(parents=True, exist_ok=True)
    m.save(cached)
    return m


def replace_head_scale(motion, how: str | None) -> None:  # noqa: ANN001 - benchmark helper
    """The --head-scale experiment, in place."""
    if how is None:
        return
    hs = np.asarray(motion.controls["head_scale"], np.float64)
    if how == "one":
        hs = np.ones_like(hs)
    else:
        mouth = np.asarray(motion.controls["mouth_open"], np.float64)
        slope = float(np.polyfit(mouth, hs, 1)[0]) if np.ptp(mouth) > 0 else 0.0
        hs = hs - max(slope, 0.0) * mouth
    motion.controls["head_scale"] = hs.astype(np.float32)


def measure(key: str, pose_oracle: bool = False, head_pose: str | None = None,
            mouths: bool = False, head_scale: str | None = None) -> dict[int, dict[str, float]]:
    from engine.media.video import VideoReader
    from engine.render.base import create_renderer
    from engine.render.builtin.fitting import CHIN, LIP_OUT_LO, LIP_OUT_UP

    name, stop, events, portraits = CLIPS[key]
    motion = motion_for(DRIVING / name, stop, mouths)
    replace_head_scale(motion, head_scale)
    with VideoReader(DRIVING / name) as reader:
        frames = [f for _, _, f in reader.frames(0, stop)]
    n = min(len(frames), motion.frame_count)
    mouth_idx = {i for a, b in events for i in range(a, min(b, n))}
    out = {}
    for k in portraits:
        img = frames[k]
        r = create_renderer("builtin", device="cpu", **({"head_pose": head_pose} if head_pose else {}))
        r.use_motion(motion)  # the neutral's absolute pose, as the pipeline passes it
        r.prepare(img)
        bound = r.bind_motion(motion)  # the exemplar schedule when the motion has mouths
        xy = r.fit.landmarks[:, :2]
        face = _box(xy, 0.1 * float(np.ptp(xy[:, 0])), img.shape)
        mouth = _box(xy[list(LIP_OUT_UP + LIP_OUT_LO + CHIN)], 0.06 * r.fit.width, img.shape)
        face_idx = set(range(0, n, 2))
        gains: dict[str, list[float]] = {"face": [], "mouth": []}
        own = motion.frame(k)
        for i in sorted((face_idx | mouth_idx) - {k}):
            c = motion.frame(i)
            if pose_oracle:
                for p in POSE:
                    c[p] = c[p] - own[p] + (1.0 if p == "head_scale" else 0.0)
            rendered = r.render_frame(c, {n: a[i] for n, a in bound.items()} or None)
            for region, box, idx in (("face", face, face_idx), ("mouth", mouth, mouth_idx)):
                if i in idx:
                    gains[region].append(psnr(rendered[box], frames[i][box]) - psnr(img[box], frames[i][box]))
        out[k] = {region: float(np.median(v)) for region, v in gains.items()}
        out[k]["own_mouth_open"] = r.fit.own.mouth_open
        off = r.pose_offset
        out[k]["pose"] = (f"w {off.weight:.2f} place {off.place:.2f} dyaw {off.yaw:+.1f} "
                          f"dpitch {off.pitch:+.1f} droll {off.roll:+.1f} dx {off.x:+.3f} dy {off.y:+.3f}")
    return out


def main() -> None:
    sys.path.insert(0, str(ROOT))
    ap = argparse.ArgumentParser()
    ap.add_argument("--clips", default=",".join(CLIPS), help="comma list of: " + ",".join(CLIPS))
    ap.add_argument("--frames", default="", help='other portrait frames, e.g. "d18:10,180;tps:20" '
                    "(frames of the clip the benchmark's choices never looked at)")
    ap.add_argument("--pose-oracle", action="store_true", help="subtract frame k's own captured pose")
    ap.add_argument("--head-pose", choices=("auto", "absolute", "relative"), default=None,
                    help="the renderer's head-pose mode (default: the renderer's default)")
    ap.add_argument("--mouths", action="store_true",
                    help="capture with the actor's mouth exemplars (as the CLI does by default)")
    ap.add_argument("--head-scale", choices=("jaw-free", "one"), default=None,
                    help="replace the captured head_scale curve (an experiment on the size)")
    args = ap.parse_args()
    for spec in filter(None, args.frames.split(";")):
        key, frames = spec.split(":")
        CLIPS[key] = CLIPS[key][:3] + ([int(f) for f in frames.split(",")],)
    print(f"{'clip':>7} {'frame':>5} {'own open':>8} {'face dB':>8} {'mouth dB':>8}   (render - static)")
    for key in args.clips.split(","):
        t = time.perf_counter()
        for k, d in measure(key.strip(), args.pose_oracle, args.head_pose, args.mouths,
                                args.head_scale).items():
            row = (f"{key:>7} {k:>5} {d['own_mouth_open']:8.2f} {d['face']:+8.2f} {d['mouth']:+8.2f}   "
                   f"{d['pose']}")
            print(row, flush=True)
        print(f"        ({time.perf_counter() - t:.0f} s)", flush=True)


if __name__ == "__main__":
    main()
