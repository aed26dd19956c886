"""Does the captured head size follow the jaw or the head's turn? (issue 20)

For each driving clip: tracks it as capture does (VIDEO mode), computes the capture's
``head_scale`` (``controls_from_raw`` against the automatic neutral), and prints its correlation
and slope against ``mouth_open`` and its correlation with |yaw|. A size that is the head's own
should follow neither: d18's head hardly moves while the mouth opens wide, d3's turns by ±15°
without moving nearer. ``--candidates`` also prints other measures for comparison: the
cheek-to-cheek width, the outer eye corners' distance, and the 3D RMS radius of the upper face's
landmarks (above the nose tip, lids and brows left out), a "rigid" size.
``--image`` measures the size in the pixels instead (the reference the landmark measures are
judged against): the eye band's scale along the eye line against the neutral frame, registered
by ECC (started from the landmarks' similarity fit, so large head motions converge), over
cos(yaw) for the turn. Reliable where the head hardly turns (d18); the turning clips' figures
are rough (perspective, lids squeezing).

Measured (2026-12, this script): on d18 the capture's head_scale follows mouth_open (corr +0.96,
+0.054 per unit), and so does every landmark size (outer eye corners +0.046, upper-face RMS
+0.030), while the image's eye band does not grow (+0.005): MediaPipe's whole mesh swells with an
open jaw, so no landmark subset gives a jaw-free size on that actor; on the lp_* clips the upper
face's RMS follows the jaw more than the matrix does (+0.028 vs +0.010). Since the second stop of
2026-12-03 capture takes the swelling out of head_scale from its fast co-movement with the mouth
(capture/head_size.py): on d18 the open frames' size over the closed ones 1.041 -> 1.008, the
pixels' 1.004.

``--place`` does the same for the head's place (head_x/head_y): the eye band's centre registered
by ECC against the neutral frame is the pixels' reference, and the cheek midpoint (what capture
reads today) and the eye corners' midpoint are compared with it (rms, face widths).

Measured (2026-12-03, --place): the eye corners follow the pixels 2-4x closer than the cheek
midpoint (rms x/y: d18 0.003/0.003 vs 0.012/0.009, lp_d6 0.005/0.007 vs 0.021/0.023, lp_d10
0.011/0.015 vs 0.018/0.025; on the turning clips the cheek midpoint is a different point, so its
figure there is not a fair comparison). Capture reading the place at the eye corners (carried to
the cheek midpoint through the neutral's 3D offset turned by the head's rotation) was tried in
bench_render_open_mouth.py and not adopted: the portrait, measured at its cheeks, then sat
0.005-0.02 face widths off its own captured place; with that offset removed (an oracle) the
medians went from +1.59 / +1.44 dB (face / mouth) to +1.37 / +1.96 — mouth boxes better, face
boxes mixed (d18 88 +0.06 -> +0.78, d18 140 +1.92 -> +0.63).

``--pitch`` asks the same of the head's pitch: the slope of the capture's head_pitch on
mouth_open (both high-passed over 1 s, as capture/head_size.py reads the size's swelling) against
that of a rigid cue, the nose tip's offset from the eye line (along its normal, over the eyes'
distance), converted to degrees by the cue's own co-movement with the pitch where the mouth is
not moving (the residuals of both after their mouth slopes are taken out). A pitch that follows
the mouth while the nose does not is the tracker's; one the nose follows is the head's own nod.

Measured (2026-12-04, --pitch): the pitch follows the mouth on every clip that opens wide
(deg per unit of mouth_open: d18 +2.21, tps +3.86, lp_d10 +7.72, lp_d6 +2.22; d3 -0.27), and the
nose cue says most of it is the head's own nod where the cue is tied to the pitch (lp_d10 +6.45,
tps +3.45, d18 +1.36; lp_d6 and d3's cue is too loosely tied, corr -0.42, to tell). On d18 the
same cue from IMAGE-mode landmarks (the renderer's tracker mode) did not move at all (+0.0002 eye
distances per unit), and the eye and forehead region of its closed frames registered by ECC onto
frame 88 keeps its height (sy 0.999-1.003) where the renders stretch it 1-3.6 % (the pitch
difference between the portrait's fit and the curve): so on d18 part of the slope is the tracker's,
and this cue does not settle how much. Not adopted, measured in bench_render_open_mouth.py (face /
mouth dB): taking the whole slope out of the curves (d18 88 +0.46 / +2.16 -> +0.58 / +2.72, but
lp_d10 100 mouth +3.48 -> +2.02, tps 87 mouth +1.69 -> +0.91: those nods are real); a fixed
+-2 deg per unit of the portrait's own opening taken off its fitted pitch (mixed in both signs,
-0.8 to +0.7 dB per frame and box). A jaw-free pitch would need rigid points both in capture and
in the portrait's fit.

Run: .venv/bin/python benchmarks/eval_head_scale.py [--clips d18,tps,...] [--candidates] [--image]
[--place] [--pitch]
Landmarks are cached in out/head_scale_cache/ (npz, keyed by the clip's size and mtime).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DRIVING = ROOT.parent / "shared" / "testdata" / "driving"
CACHE = ROOT / "out" / "head_scale_cache"
CLIPS = {"d18": ("d18_mouth_open.mp4", 216), "tps": ("tps_interview.mp4", 169),
         "d3": ("d3_expressive_turns.mp4", 354), "lp_d10": ("lp_d10_talk.mp4", 240),
         "lp_d6": ("lp_d6_expressive_talk.mp4", 300)}


def track(path: Path, stop: int) -> dict[str, np.ndarray]:
    """Per frame landmarks (n, 478, 3), matrices (n, 4, 4) and blendshapes (n, 52); NaN where no
    face was found."""
    from engine.face_tracker import FaceTracker, pick_main_face
    from engine.media.video import VideoReader

    st = path.stat()
    cached = CACHE / f"{path.stem}_{stop}_{st.st_size}_{int(st.st_mtime)}.npz"
    if cached.is_file():
        with np.load(cached, allow_pickle=False) as z:
            return {k: z[k] for k in z.files}
    lms, mats, bss, names = [], [], [], []
    prev = None
    with VideoReader(path) as reader, FaceTracker(video=True) as tracker:
        for _, ts, rgb in reader.frames(0, stop):
            face = pick_main_face(tracker.detect(rgb, int(round(ts))), (rgb.shape[1], rgb.shape[0]), prev)
            if face is None:
                lms.append(np.full((478, 3), np.nan, np.float32))
                mats.append(np.full((4, 4), np.nan, np.float32))
                bss.append(np.full(52, np.nan, np.float32))
                prev = None
                continue
            lms.append(face.landmarks)
            mats.append(face.matrix)
            bs = np.zeros(52, np.float32)
            bs[: min(52, face.blendshapes.size)] = face.blendshapes[:52]
            bss.append(bs)
            names = names or list(face.blendshape_names)
            prev = face.center
    out = {"landmarks": np.stack(lms), "matrix": np.stack(mats), "blendshapes": np.stack(bss),
           "names": np.array(names)}
    CACHE.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(cached, **out)
    return out


def observations(t: dict[str, np.ndarray]):  # noqa: ANN201 - benchmark helper
    from engine.face_tracker import FaceObservation

    names = [str(n) for n in t["names"]]
    return [None if not np.isfinite(lm).all() else FaceObservation(lm, bs, names, m)
            for lm, bs, m in zip(t["landmarks"], t["blendshapes"], t["matrix"], strict=True)]


def controls(obs: list) -> dict[str, np.ndarray]:  # noqa: ANN201
    """Unsmoothed controls against the automatic neutral, as capture computes them."""
    from engine.capture.expression import controls_from_raw, neutrality, raw_measures
    from engine.controls import CONTROL_NAMES

    good = [k for k, o in enumerate(obs) if o is not None]
    raw = np.stack([raw_measures(obs[k]) for k in good])
    cal = int(np.argmin(neutrality(raw)))
    ctl = controls_from_raw(raw, raw[cal])
    out = {n: ctl[:, j].astype(np.float64) for j, n in enumerate(CONTROL_NAMES)}
    out["raw"] = raw
    out["cal"] = np.array(cal)
    return out


def stats(size: np.ndarray, mouth: np.ndarray, yaw: np.ndarray) -> str:
    s = size / np.median(size)
    cm = float(np.corrcoef(s, mouth)[0, 1])
    slope = float(np.polyfit(mouth, s, 1)[0])
    cy = float(np.corrcoef(s, np.abs(yaw))[0, 1])
    return (f"corr(mouth) {cm:+.2f} slope {slope:+.3f}/open  corr(|yaw|) {cy:+.2f}  "
            f"range {np.percentile(s, 2):.3f}..{np.percentile(s, 98):.3f}")


UPPER_SKIP = {  # lids, brows and irises: they move with the expression, not the head
    *range(468, 478), 7, 33, 133, 144, 145, 153, 154, 155, 157, 158, 159, 160, 161, 163, 173, 246,
    249, 263, 362, 373, 374, 380, 381, 382, 384, 385, 386, 387, 388, 390, 398, 466,
    46, 52, 53, 55, 63, 65, 66, 70, 105, 107, 276, 282, 283, 285, 293, 295, 296, 300, 334, 336}
EYE_BAND = (33, 133, 362, 263, 159, 145, 386, 374, 105, 334, 168, 6)


def upper_rms(lms: np.ndarray, neutral: int) -> np.ndarray:
    """3D RMS radius of the landmarks above the neutral's nose tip, lids and brows left out."""
    n0 = lms[neutral]
    idx = [j for j in range(468) if n0[j, 1] < n0[1, 1] and j not in UPPER_SKIP]
    q = lms[:, idx] - lms[:, idx].mean(1, keepdims=True)
    return np.sqrt((q ** 2).sum(2).mean(1))


def eye_band_warps(path: Path, stop: int, lms: np.ndarray, neutral: int) -> list[np.ndarray | None]:
    """Per frame the affine map (2x3) of the neutral frame's eye band onto it, from the pixels
    (ECC, started from the landmarks' similarity fit, so large head motions converge); None where
    the registration fails."""
    import cv2

    from engine.media.video import VideoReader

    with VideoReader(path) as reader:
        grey = [cv2.GaussianBlur(cv2.cvtColor(f, cv2.COLOR_RGB2GRAY).astype(np.float32), (0, 0), 1.0)
                for _, _, f in reader.frames(0, stop)]
    n0 = lms[neutral, list(EYE_BAND), :2].astype(np.float32)
    (x0, y0), (x1, y1) = n0.min(0), n0.max(0)
    pad = 0.08 * (x1 - x0)
    mask = np.zeros(grey[0].shape, np.uint8)
    mask[int(y0 - pad):int(y1 + pad), int(x0 - pad):int(x1 + pad)] = 1
    crit = (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 100, 1e-6)
    out: list[np.ndarray | None] = []
    for i, img in enumerate(grey[:len(lms)]):
        start, _ = cv2.estimateAffinePartial2D(n0, lms[i, list(EYE_BAND), :2].astype(np.float32))
        try:
            _, warp = cv2.findTransformECC(grey[neutral], img, start.astype(np.float32), cv2.MOTION_AFFINE,
                                           crit, mask, 3)
        except cv2.error:
            out.append(None)
            continue
        out.append(warp.astype(np.float64))
    return out


def image_scale(warps: list[np.ndarray | None], lms: np.ndarray, neutral: int, yaw: np.ndarray) -> np.ndarray:
    """The eye band's scale along the eye line against the neutral frame, from the pixels' warps
    (eye_band_warps), over the yaw's foreshortening; NaN where the registration failed."""
    line = lms[neutral, 263, :2] - lms[neutral, 33, :2]
    line = line / np.linalg.norm(line)
    out = np.array([np.nan if w is None else np.linalg.norm(w[:, :2] @ line) for w in warps])
    return out / (np.cos(np.radians(yaw)) / np.cos(np.radians(yaw[neutral])))


def image_place(warps: list[np.ndarray | None], lms: np.ndarray, neutral: int) -> np.ndarray:
    """(n, 2) the neutral's eye band centre carried into each frame by the pixels' warps
    (eye_band_warps); NaN where the registration failed."""
    centre = lms[neutral, list(EYE_BAND), :2].astype(np.float64).mean(0)
    return np.array([(np.nan, np.nan) if w is None else w[:, :2] @ centre + w[:, 2] for w in warps])


def place_stats(name: str, p: np.ndarray, ref: np.ndarray, neutral: int, width: float) -> str:
    """How a landmark place follows the pixels' (both relative to the neutral, face widths)."""
    ok = np.isfinite(ref[:, 0])
    d = ((p - p[neutral]) - (ref - ref[neutral]))[ok] / width
    rms = np.sqrt((d ** 2).mean(0))
    return f"{'':>7} {name:<16} rms vs pixels x {rms[0]:.4f} y {rms[1]:.4f} face widths ({ok.sum()} frames)"


def pitch_stats(c: dict[str, np.ndarray], lms: np.ndarray, fps: float) -> str:
    """The capture's head_pitch and the nose cue against mouth_open (--pitch; module docstring)."""
    from engine.capture.head_size import HIGH_PASS_S, _high_pass

    window = max(3, int(round(HIGH_PASS_S * fps)) | 1)
    mouth = _high_pass(c["mouth_open"], window)
    pitch = _high_pass(c["head_pitch"], window)
    eye_r, eye_l = lms[:, 33, :2], lms[:, 263, :2]
    line = eye_l - eye_r
    dist = np.linalg.norm(line, axis=1)
    normal = np.stack([-line[:, 1], line[:, 0]], axis=1) / dist[:, None]
    nose = _high_pass(((lms[:, 1, :2] - (eye_l + eye_r) / 2) * normal).sum(1) / dist, window)

    def slope(y: np.ndarray) -> float:
        return float((mouth * y).sum() / (mouth * mouth).sum())

    p_slope, n_slope = slope(pitch), slope(nose)
    p_rest, n_rest = pitch - p_slope * mouth, nose - n_slope * mouth
    per_deg = float((p_rest * n_rest).sum() / (p_rest * p_rest).sum())  # the cue's eye distances per degree
    tie = float(np.corrcoef(p_rest, n_rest)[0, 1])
    implied = n_slope / per_deg if per_deg else float("nan")
    corr = float(np.corrcoef(pitch, mouth)[0, 1])
    return (f"{'':>7} head_pitch       slope {p_slope:+.2f} deg/open (corr {corr:+.2f}); "
            f"nose cue {n_slope:+.4f}/open, {per_deg:+.4f} per deg (corr {tie:+.2f}) -> the head's own "
            f"{implied:+.2f} deg/open")


def main() -> None:
    sys.path.insert(0, str(ROOT))
    ap = argparse.ArgumentParser()
    ap.add_argument("--clips", default=",".join(CLIPS))
    ap.add_argument("--candidates", action="store_true", help="also other size measures")
    ap.add_argument("--image", action="store_true", help="also the size measured in the pixels")
    ap.add_argument("--place", action="store_true", help="the head's place: landmarks vs the pixels")
    ap.add_argument("--pitch", action="store_true", help="the head's pitch: the tracker's vs a rigid cue")
    args = ap.parse_args()
    from engine.capture.expression import CHEEK_L, CHEEK_R, RAW_NAMES

    for key in args.clips.split(","):
        name, stop = CLIPS[key]
        all_obs = observations(track(DRIVING / name, stop))
        if any(o is None for o in all_obs):
            print(f"{key:>7} ({sum(o is None for o in all_obs)} untracked frames left out)")
        obs = [o for o in all_obs if o is not None]
        c = controls(obs)
        mouth, yaw = c["mouth_open"], c["head_yaw"] + c["raw"][int(c["cal"]), RAW_NAMES.index("yaw")]
        print(f"{key:>7} head_scale       {stats(c['head_scale'], mouth, yaw)}   "
              f"(mouth_open max {mouth.max():.2f}, |yaw| max {np.abs(yaw).max():.1f})")
        print(f"{'':>7} head_y           corr(mouth) {np.corrcoef(c['head_y'], mouth)[0, 1]:+.2f} "
              f"slope {np.polyfit(mouth, c['head_y'], 1)[0]:+.4f} face widths/open")
        if args.candidates:
            lms = np.stack([o.landmarks for o in obs]).astype(np.float64)
            width = np.linalg.norm(lms[:, CHEEK_L, :2] - lms[:, CHEEK_R, :2], axis=1)
            eyes = np.linalg.norm(lms[:, 263, :2] - lms[:, 33, :2], axis=1)
            print(f"{'':>7} cheek width      {stats(width, mouth, yaw)}")
            print(f"{'':>7} eye corners      {stats(eyes, mouth, yaw)}")
            print(f"{'':>7} upper-face RMS   {stats(upper_rms(lms, int(c['cal'])), mouth, yaw)}")
        if args.pitch:
            from engine.media.video import VideoReader

            with VideoReader(DRIVING / name) as reader:
                fps = float(reader.info.fps)
            print(pitch_stats(c, np.stack([o.landmarks for o in obs]).astype(np.float64), fps))
        if not (args.place or args.image):
            continue
        if len(obs) != len(all_obs):
            print(f"{'':>7} pixels           (skipped: untracked frames)")
            continue
        lms = np.stack([o.landmarks for o in obs]).astype(np.float64)[:, :, :2]
        cal = int(c["cal"])
        warps = eye_band_warps(DRIVING / name, stop, lms, cal)  # one registration for both
        if args.place:
            ref = image_place(warps, lms, cal)
            w0 = float(np.linalg.norm(lms[cal, CHEEK_L] - lms[cal, CHEEK_R]))
            print(place_stats("cheek midpoint", (lms[:, CHEEK_L] + lms[:, CHEEK_R]) / 2, ref, cal, w0))
            print(place_stats("eye corners", lms[:, [33, 133, 362, 263]].mean(1), ref, cal, w0))
        if args.image:
            img = image_scale(warps, lms, cal, yaw)
            ok = np.isfinite(img)
            print(f"{'':>7} image size       {stats(img[ok], mouth[ok], yaw[ok])}")
            ratio = c["head_scale"][ok] / img[ok]
            print(f"{'':>7} head_scale/image {stats(ratio, mouth[ok], yaw[ok])}")

if __name__ == "__main__":
    main()
