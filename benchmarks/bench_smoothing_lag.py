"""Lag and jitter of the capture's One Euro filter, causal vs zero-phase, on the shared driving
clips (issue: the causal filter trails short events: a blink's minimum lands late, a jaw drop
is still high a frame after it fell).

Each clip is captured once unsmoothed (smoothing 0: the raw controls, cached in out/lag_raw/);
both filters are then run on those raw controls at the default strength 0.5.
* lag: the shift (frames, > 0 = the smoothed curve trails) at which the cross-correlation of the
  smoothed and the raw control (means removed) peaks, searched over +-6 frames;
* jitter: median |second difference| over the still frames (a control's 5-frame range below its
  clip median), as a share of the raw curve's;
* blinks: the frame of the eye_open minimum (mean of both eyes) inside each MANIFEST blink
  (+-3 frames), raw / causal / zero-phase, and its depth;
* mouth events: the mouth_open peak inside each MANIFEST mouth event, raw / causal / zero-phase
  (any smoothing lowers a short peak; the zero-phase mean of two passes lowers it more).

``--plot PATH``: also draw mouth_open and eye_open_l over short stretches of tps, lp_d6 and d1:
the raw curve, the zero-phase filter with the head's beta on every control (before
``EXPRESSION_BETA``) and the current filter (docs/images/capture_filter_expression.jpg).

Run: .venv/bin/python benchmarks/bench_smoothing_lag.py [--plot PATH]
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DRIVING = ROOT.parent / "shared" / "testdata" / "driving"
CACHE = ROOT / "out" / "lag_raw"
STRENGTH = 0.5
# clip: (file, frames captured, MANIFEST blinks and mouth events (first, last frame) inside them)
CLIPS = {
    "d1": ("d1_single_blink.mp4", None, [(4, 13)], []),
    "d0": ("d0_smile_blink.mp4", None, [(65, 68)], []),
    "tps": ("tps_interview.mp4", 169, [(20, 24), (58, 63), (91, 98), (149, 156)], [(86, 89), (107, 108)]),
    "d18": ("d18_mouth_open.mp4", 216, [(94, 97)], [(19, 40), (64, 96), (119, 155)]),
    "lp_d6": ("lp_d6_expressive_talk.mp4", 300, [(208, 209), (222, 224)],
              [(56, 63), (78, 83), (120, 128), (186, 190), (204, 207), (235, 239)]),
    "lp_d10": ("lp_d10_talk.mp4", 240, [(222, 226)], [(74, 75), (96, 109)]),
    "d3": ("d3_expressive_turns.mp4", 354, [(48, 52), (57, 62)], [(300, 353)]),
}
MAX_LAG = 6


def raw_motion(name: str, stop: int | None):  # noqa: ANN201 - benchmark helper
    from engine.capture import capture
    from engine.motion import Motion

    cached = CACHE / (Path(name).stem + ".json")
    if cached.is_file():
        return Motion.load(cached)
    m = capture(DRIVING / name, stop=stop, smoothing=0.0)
    CACHE.mkdir(parents=True, exist_ok=True)
    m.save(cached)
    return m


def lag_frames(smoothed: np.ndarray, raw: np.ndarray) -> float | None:
    a, b = raw - raw.mean(), smoothed - smoothed.mean()
    if float(np.std(a)) < 1e-6:
        return None
    n = a.size
    scores = [float(np.dot(a[max(0, -s):n - max(0, s)], b[max(0, s):n - max(0, -s)]))
              for s in range(-MAX_LAG, MAX_LAG + 1)]
    k = int(np.argmax(scores))
    if 0 < k < len(scores) - 1:  # parabolic refinement: sub-frame lags
        y0, y1, y2 = scores[k - 1], scores[k], scores[k + 1]
        den = y0 - 2 * y1 + y2
        return k - MAX_LAG + (0.5 * (y0 - y2) / den if den != 0 else 0.0)
    return float(k - MAX_LAG)


def still_jitter(x: np.ndarray, raw: np.ndarray) -> float:
    pad = np.pad(raw, 2, mode="edge")
    rng = np.array([np.ptp(pad[i:i + 5]) for i in range(raw.size)])
    still = rng[1:-1] <= np.median(rng)
    return float(np.median(np.abs(np.diff(x, 2))[still[:x.size - 2]]))


def _print_mouths(rows: list) -> None:
    print(f"\n{'clip':>7} {'mouth':>8} {'raw peak':>8} {'causal':>7} {'zero':>6}")
    for key, a, b, r, c, z in rows:
        print(f"{key:>7} {f'{a}-{b}':>8} {r:8.3f} {c:7.3f} {z:6.3f}")
    loss = np.array([(r - c, r - z) for _, _, _, r, c, z in rows])
    print(f"{'median loss':>16} {np.median(loss[:, 0]):7.3f} {np.median(loss[:, 1]):6.3f}")


def plot(path: str) -> None:
    import cv2

    from engine.capture import smoothing

    panels = []
    for key, ctl, a, b in (("tps", "mouth_open", 60, 130), ("tps", "eye_open_l", 10, 110),
                           ("lp_d6", "mouth_open", 40, 140), ("d1", "eye_open_l", 0, 40)):
        name, stop, _, _ = CLIPS[key]
        m = raw_motion(name, stop)
        raw = {ctl: np.asarray(m.controls[ctl], np.float64)}
        now, _ = smoothing.smooth_controls(raw, m.fps, STRENGTH, zero_phase=True)
        p = {**smoothing.one_euro_params(STRENGTH), "zero_phase": True}
        before = smoothing.smooth_series(raw[ctl], m.fps, p)  # the head's beta
        ys = [raw[ctl][a:b], np.asarray(before, np.float64)[a:b], np.asarray(now[ctl], np.float64)[a:b]]
        lo, hi = min(float(y.min()) for y in ys), max(float(y.max()) for y in ys)
        w, h = 640, 170
        img = np.full((h, w, 3), 255, np.uint8)
        styles = (((150, 150, 150), 1), ((0, 0, 210), 2), ((0, 140, 0), 2))
        for y, (bgr, thick) in zip(ys, styles, strict=True):
            pts = np.stack([np.linspace(8, w - 8, y.size), h - 12 - (y - lo) / (hi - lo + 1e-9) * (h - 34)],
                           1)
            cv2.polylines(img, [pts.astype(np.int32)], False, bgr, thick, cv2.LINE_AA)
        cv2.putText(img, f"{key} {ctl}, frames {a}-{b}: grey raw, red head's beta (before), green now",
                    (8, 14), cv2.FONT_HERSHEY_SIMPLEX, 0.42, (0, 0, 0), 1, cv2.LINE_AA)
        panels.append(img)
    cv2.imwrite(path, np.concatenate(panels, 0), [cv2.IMWRITE_JPEG_QUALITY, 85])
    print(f"wrote {path}")


def main() -> None:
    sys.path.insert(0, str(ROOT))
    from engine.capture.smoothing import smooth_controls

    if "--plot" in sys.argv:
        plot(sys.argv[sys.argv.index("--plot") + 1])

    lags: dict[str, dict[str, list[float]]] = {"causal": {}, "zero": {}}
    print(f"{'clip':>7} {'lag causal':>10} {'lag zero':>9} {'jitter causal':>13} {'jitter zero':>11}"
          "   (median over controls; jitter = share of raw)")
    blink_rows, mouth_rows = [], []
    for key, (name, stop, blinks, mouths) in CLIPS.items():
        m = raw_motion(name, stop)
        raw = {k: np.asarray(v, np.float64) for k, v in m.controls.items()}
        causal, _ = smooth_controls(raw, m.fps, STRENGTH)
        zero, _ = smooth_controls(raw, m.fps, STRENGTH, zero_phase=True)
        row = {}
        for kind, out in (("causal", causal), ("zero", zero)):
            lg, jt = [], []
            for c, r in raw.items():
                lag = lag_frames(np.asarray(out[c], np.float64), r)
                if lag is None:
                    continue
                lags[kind].setdefault(c, []).append(lag)
                lg.append(lag)
                j_raw = still_jitter(r, r)
                if j_raw > 0:
                    jt.append(still_jitter(np.asarray(out[c], np.float64), r) / j_raw)
            row[kind] = (float(np.median(lg)), float(np.median(jt)))
        print(f"{key:>7} {row['causal'][0]:+10.2f} {row['zero'][0]:+9.2f} {row['causal'][1]:13.3f} "
              f"{row['zero'][1]:11.3f}")
        eye = {k: 0.5 * (np.asarray(d["eye_open_l"], np.float64) + np.asarray(d["eye_open_r"], np.float64))
               for k, d in (("raw", raw), ("causal", causal), ("zero", zero))}
        for a, b in blinks:
            lo, hi = max(a - 3, 0), min(b + 4, eye["raw"].size)
            at = {k: lo + int(np.argmin(v[lo:hi])) for k, v in eye.items()}
            depth = {k: float(v[lo:hi].min()) for k, v in eye.items()}
            blink_rows.append((key, a, b, at, depth))
        for a, b in mouths:
            peaks = (float(np.max(d["mouth_open"][a:b + 1])) for d in (raw, causal, zero))
            mouth_rows.append((key, a, b, *peaks))
    print(f"\n{'control':>13} {'lag causal':>10} {'lag zero':>9}   (median over clips, frames)")
    for c in lags["causal"]:
        print(f"{c:>13} {np.median(lags['causal'][c]):+10.2f} {np.median(lags['zero'][c]):+9.2f}")
    print(f"\n{'clip':>7} {'blink':>8} {'raw min at':>10} {'causal':>7} {'zero':>5}"
          "   eye_open min raw/causal/zero")
    for key, a, b, at, depth in blink_rows:
        print(f"{key:>7} {f'{a}-{b}':>8} {at['raw']:>10} {at['causal']:>7} {at['zero']:>5}   "
              f"{depth['raw']:.2f}/{depth['causal']:.2f}/{depth['zero']:.2f}")
    _print_mouths(mouth_rows)


if __name__ == "__main__":
    main()

