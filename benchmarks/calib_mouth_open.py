"""Re-capture calibration of the built-in renderer's mouth opening (issue 20).

For each portrait, render ``mouth_open`` = c (every other control neutral) for c in 0..1, run
the face tracker on each rendered frame and read it back the way capture does
(capture/expression.py: raw measures, calibrated on the render at c = 0 as capture calibrates on
the clip's most neutral frame). Printed per portrait and c: the re-captured mouth_open, its two
halves (jawOpen part and inner-lip-gap part, each as it enters the 0.5 / 0.5 sum), the rendered
inner-lip gap and the chin's drop (landmark 152 against the nose tip, 1), both in face widths of
the c = 0 render. A renderer that inverts capture's definition gives re-captured = c.

``--real`` also prints, for the shared clips, what the real actors show at a captured
mouth_open c: the real inner-lip gap and chin drop against the clip's neutral frame (binned
medians), the target the render's opening should look like.

Run: .venv/bin/python benchmarks/calib_mouth_open.py [--portraits all|shared|clips] [--real]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
TESTDATA = ROOT.parent / "shared" / "testdata"
DRIVING, PORTRAITS = TESTDATA / "driving", TESTDATA / "portraits"
SHARED = ["photo_woman.jpg", "mona_lisa.jpg", "pearl_earring.jpg", "cartoon_3d.jpg", "anime.png"]
# closed-mouth clip frames used as portraits (the neutral-ish frames the benchmarks start from)
CLIP_FRAMES = [("d18_mouth_open.mp4", 0), ("d18_mouth_open.mp4", 162), ("d3_expressive_turns.mp4", 0),
               ("lp_d10_talk.mp4", 0), ("tps_interview.mp4", 0), ("lp_d6_expressive_talk.mp4", 0)]
# open-mouthed clip frames (own mouth_open 0.47-0.84): the render at c = 0 closes them
OPEN_FRAMES = [("d18_mouth_open.mp4", 88), ("lp_d10_talk.mp4", 100), ("d3_expressive_turns.mp4", 320),
               ("tps_interview.mp4", 87), ("lp_d6_expressive_talk.mp4", 124)]
LEVELS = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)
CHIN, NOSE = 152, 1


def clip_frame(name: str, k: int) -> np.ndarray:
    from engine.media.video import VideoReader

    with VideoReader(DRIVING / name) as reader:
        for _, _, f in reader.frames(k, k + 1):
            return f
    raise SystemExit(f"error: {name} has no frame {k}")


def portraits(which: str) -> list[tuple[str, np.ndarray]]:
    from engine.media.video import load_image

    out = []
    if which in ("all", "shared"):
        out += [(p, load_image(PORTRAITS / p)) for p in SHARED]
    if which == "open":
        return [(f"{'_'.join(n.split('_')[:2 if n.startswith('lp') else 1])} {k}", clip_frame(n, k))
                for n, k in OPEN_FRAMES]
    if which in ("all", "clips"):
        out += [(f"{'_'.join(n.split('_')[:2 if n.startswith('lp') else 1])} {k}", clip_frame(n, k))
                for n, k in CLIP_FRAMES]
    return out


def recapture(img: np.ndarray, levels=LEVELS) -> list[dict[str, float]] | None:  # noqa: ANN001
    """Per level: re-captured mouth_open, its jaw and gap halves, gap and chin drop (face widths)."""
    from engine.capture.expression import RAW_NAMES, controls_from_raw, raw_measures
    from engine.controls import CONTROL_NAMES
    from engine.face_tracker import FaceTracker, portrait_face
    from engine.render.base import create_renderer

    r = create_renderer("builtin", device="cpu")
    r.prepare(img)
    h, w = img.shape[:2]
    rows, geo = [], []
    with FaceTracker(video=False) as tracker:
        for c in levels:
            frame = r.render_frame({"mouth_open": float(c)})
            obs = portrait_face(tracker.detect(frame), (w, h), None)
            if obs is None:
                return None
            rows.append(raw_measures(obs))
            p = obs.landmarks[:, :2].astype(np.float64)
            geo.append((np.linalg.norm(p[13] - p[14]), p[CHIN, 1] - p[NOSE, 1]))
    raw = np.array(rows)
    i = {n: k for k, n in enumerate(RAW_NAMES)}
    again = controls_from_raw(raw, raw[0])[:, CONTROL_NAMES.index("mouth_open")]
    n0 = raw[0]
    w0 = n0[i["width"]]
    out = []
    for k, c in enumerate(levels):
        jaw = 0.5 * (raw[k, i["jaw"]] - n0[i["jaw"]]) / max(0.9 - n0[i["jaw"]], 0.1)
        gap = 0.5 * (raw[k, i["lip_gap"]] - n0[i["lip_gap"]]) / 0.35
        out.append({"c": c, "again": float(again[k]), "jaw_half": float(jaw), "gap_half": float(gap),
                    "gap_w": float(geo[k][0] / w0), "chin_w": float((geo[k][1] - geo[0][1]) / w0),
                    "jawOpen": float(raw[k, i["jaw"]]),
                    "mouth_w": float(raw[k, i["mouth_w"]] / n0[i["mouth_w"]])})
    return out


def real_clips() -> None:
    """What the actors show at a captured mouth_open: gap and chin drop against the neutral frame."""
    from engine.capture.expression import RAW_NAMES, controls_from_raw, neutrality, raw_measures
    from engine.controls import CONTROL_NAMES
    from engine.face_tracker import FaceTracker
    from engine.media.video import VideoReader

    i = {n: k for k, n in enumerate(RAW_NAMES)}
    bins = [(0.15, 0.3), (0.3, 0.45), (0.45, 0.6), (0.6, 0.75), (0.75, 0.9), (0.9, 1.2)]
    clips = (("d18_mouth_open.mp4", 216), ("d3_expressive_turns.mp4", 354), ("lp_d10_talk.mp4", 240),
             ("lp_d6_expressive_talk.mp4", 300), ("tps_interview.mp4", 169))
    for name, stop in clips:
        rows, geo = [], []
        with FaceTracker(video=True) as tracker, VideoReader(DRIVING / name) as reader:
            for _, t, f in reader.frames(0, stop):
                faces = tracker.detect(f, int(t * 1000))
                if not faces:
                    continue
                obs = max(faces, key=lambda o: o.size)
                rows.append(raw_measures(obs))
                p = obs.landmarks[:, :2].astype(np.float64)
                geo.append((np.linalg.norm(p[13] - p[14]), p[CHIN, 1] - p[NOSE, 1]))
        raw, geo = np.array(rows), np.array(geo)
        n0 = int(np.argmin(neutrality(raw)))
        c = controls_from_raw(raw, raw[n0])[:, CONTROL_NAMES.index("mouth_open")]
        w = raw[:, i["width"]]
        gap = geo[:, 0] / w - geo[n0, 0] / w[n0]
        chin = geo[:, 1] / w - geo[n0, 1] / w[n0]
        mw = raw[:, i["mouth_w"]] / raw[n0, i["mouth_w"]]
        jaw_half = 0.5 * (raw[:, i["jaw"]] - raw[n0, i["jaw"]]) / max(0.9 - raw[n0, i["jaw"]], 0.1)
        parts = []
        for lo, hi in bins:
            m = (c >= lo) & (c < hi)
            if m.sum() >= 2:
                parts.append(f"c {np.median(c[m]):.2f}: gap {np.median(gap[m]):.3f} "
                             f"chin {np.median(chin[m]):.3f} jaw½ {np.median(jaw_half[m]):.2f} "
                             f"width {np.median(mw[m]):.2f} (n {m.sum()})")
        print(f"{name.split('.')[0]:>24}: " + " | ".join(parts), flush=True)


def main() -> None:
    sys.path.insert(0, str(ROOT))
    ap = argparse.ArgumentParser()
    ap.add_argument("--portraits", default="all", choices=("all", "shared", "clips", "open", "none"),
                    help="open: open-mouthed clip frames (read back against their own closed render)")
    ap.add_argument("--real", action="store_true", help="also the real clips' gap and chin at a captured c")
    args = ap.parse_args()
    if args.portraits != "none":
        print("portrait  slopes (c 0.2-1, 0.2-0.8)  c: re-captured (jaw half + gap half)  gap W  chin W  "
              "mouth width / c=0", flush=True)
        slopes = []
        for name, img in portraits(args.portraits):
            res = recapture(img)
            if res is None:
                print(f"{name:>16}: tracker lost the render")
                continue
            cs = np.array([d["c"] for d in res])
            ag = np.array([d["again"] for d in res])
            slope = float(np.polyfit(cs[1:], ag[1:], 1)[0])
            mid = float(np.polyfit(cs[1:-1], ag[1:-1], 1)[0])
            slopes.append((slope, mid))
            print(f"{name:>16}: {slope:.2f} {mid:.2f}  " + " | ".join(
                f"{d['c']:.1f}: {d['again']:.2f} ({d['jaw_half']:.2f}+{d['gap_half']:.2f}) "
                f"{d['gap_w']:.3f} {d['chin_w']:+.3f} w{d['mouth_w']:.2f}" for d in res[1:]), flush=True)
        s = np.array(slopes)
        print(f"median slope (re-captured / curve): c 0.2-1 {np.median(s[:, 0]):.2f}, "
              f"c 0.2-0.8 {np.median(s[:, 1]):.2f}")
    if args.real:
        real_clips()


if __name__ == "__main__":
    main()
