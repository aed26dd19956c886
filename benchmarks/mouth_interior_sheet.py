"""The painted (procedural) mouth interior on unseen portraits, measured against real open mouths.

* Default: held-out portraits (d1 frame 15 mirrored and colour-shifted, d0 frame 5 cooler at 0.6x,
  photo_woman at 0.35x, the shared cartoon, anime and pearl_earring) at mouth_open 0.3 / 0.6 / 1
  without and with smile 1, procedural fill: per render the opening's dark share (Lab L under half
  the skin's), its middle rows' L / skin L and its lip-pink share (as
  tests/engine/test_render_mouth_interior.py measures them), and a sheet of the mouths
  (docs/images/builtin_mouth_interior.jpg). ``--before FILE``: an older synthesis.py (e.g.
  ``git show REV:engine/render/builtin/synthesis.py > /tmp/old.py``) whose ``_interior`` paints a
  "before" row above each portrait's.
* ``--real``: the same measures on real open mouths: frames of the shared clips whose captured
  mouth_open lies in 0.2-0.45 / 0.45-0.75 / >0.75 (6 each), tracked, the canonical inner-lip crop
  of the mouth exemplars (motions cached in out/open_mouth_cache/, as bench_render_open_mouth.py).

Run: .venv/bin/python benchmarks/mouth_interior_sheet.py [--before /tmp/old.py] [--real]
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "testdata"
CONTROLS = [(o, s) for s in (0.0, 1.0) for o in (0.3, 0.6, 1.0)]
TILE = (160, 120)


def measures(lab: np.ndarray, f: np.ndarray, stats: np.ndarray) -> tuple[float, float, float]:
    """(dark share, middle rows' L / skin L, lip-pink share) of an opening's pixels (Lab, depth f)."""
    skin, lip_l, lip_c = float(stats[2, 0]), float(stats[0, 0]), float(np.hypot(*stats[0, 1:]))
    L, chroma = lab[:, 0], np.hypot(lab[:, 1], lab[:, 2])
    pink = (np.abs(L - lip_l) < 1.5 * float(stats[1, 0]) + 3) & (chroma > 0.7 * lip_c)
    middle = float(np.mean(L[(f > 0.3) & (f < 0.7)])) / skin
    return float(np.mean(L < 0.5 * skin)), middle, float(np.mean(pink))


def _frame(clip: str, index: int) -> np.ndarray:
    from engine.media.video import VideoReader

    with VideoReader(SHARED / "driving" / clip) as reader:
        return next(f for _, _, f in reader.frames(index, index + 1))


def portraits():  # noqa: ANN201
    import cv2

    from engine.media.video import load_image

    d1 = _frame("d1_single_blink.mp4", 15)[:, ::-1]
    yield "d1 15 mirrored, shifted", np.clip(d1 * np.array([1.08, 0.97, 0.85]), 0, 255).astype(np.uint8)
    d0 = np.clip(_frame("d0_smile_blink.mp4", 5) * np.array([0.9, 1.0, 1.12]), 0, 255).astype(np.uint8)
    yield "d0 5 cooler 0.6x", cv2.resize(d0, None, fx=0.6, fy=0.6, interpolation=cv2.INTER_AREA)
    photo = load_image(SHARED / "portraits" / "photo_woman.jpg")
    yield "photo_woman 0.35x", cv2.resize(photo, None, fx=0.35, fy=0.35, interpolation=cv2.INTER_AREA)
    for name in ("cartoon_3d.jpg", "anime.png", "pearl_earring.jpg"):
        yield name.split(".")[0], load_image(SHARED / "portraits" / name)


class Probe:
    """A procedural renderer whose mouth edit reports the face-local map it was handed, so each
    opening pixel's depth share f and x across the mouth are known."""

    def __init__(self, img: np.ndarray):
        from engine.capture.mouth_exemplars import lip_stats
        from engine.render.base import create_renderer

        self.r = create_renderer("builtin", device="cpu", mouth_source="none")
        self.r.prepare(img)
        self.stats = lip_stats(img, self.r.fit.landmarks)
        self.seen = None
        mouth = self.r._mouth

        def spy(mp, sub, jaw, lift, smile, exemplar=None):  # noqa: ANN001, ANN202
            self.seen = (self.r._uv(mp[sub].copy()), sub, jaw, lift)
            return mouth(mp, sub, jaw, lift, smile, exemplar)

        self.r._mouth = spy

    def render(self, opening: float, smile: float) -> np.ndarray:
        from engine.motion import Motion

        motion = Motion.neutral(1)
        motion.controls["mouth_open"][:] = opening
        motion.controls["mouth_smile"][:] = smile
        self.seen = None
        return self.r.render_frame(motion.frame(0))

    def opening(self, out: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        from engine.capture.mouth_exemplars import to_lab
        from engine.render.builtin.synthesis import opening_bounds

        uv, sub, jaw, lift = self.seen
        x, _, top, bottom = opening_bounds(self.r.fit.mouth, uv[..., 0], jaw, lift)
        f = (uv[..., 1] - top) / np.maximum(bottom - top, 1e-3)
        sel = (np.abs(x) < 0.6) & (f >= 0) & (f <= 1)
        return to_lab(out[sub].astype(np.float32))[sel], f[sel]

    def crop(self, img: np.ndarray) -> np.ndarray:
        import cv2

        m = self.r.fit.mouth
        k = len(m.u) // 2
        centre = [[m.u_centre, 0.5 * (m.v_up[k] + m.v_lo[k]) + 0.45 * m.half_width]]
        c = self.r.fit.to_image(np.array(centre))[0]
        hw = 1.5 * m.half_width
        x0, y0 = max(int(c[0] - hw), 0), max(int(c[1] - 0.75 * hw), 0)
        box = img[y0:int(c[1] + 0.75 * hw), x0:int(c[0] + hw)]
        return cv2.resize(box, TILE, interpolation=cv2.INTER_CUBIC)


def sheet(output: Path, before: str | None) -> None:
    import cv2

    import engine.render.builtin.synthesis as synthesis

    variants = [("after", synthesis._interior)]
    if before:
        spec = importlib.util.spec_from_file_location("engine.render.builtin._synthesis_before", before)
        old = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(old)
        variants.insert(0, ("before", old._interior))
    rows = []
    print(f"{'portrait':26s} {'fill':6s} {'open':>4s} {'smile':>5s}  dark  middle  pink")
    try:
        for name, img in portraits():
            probe = Probe(img)
            for tag, interior in variants:
                synthesis._interior = interior
                tiles = [probe.crop(img)]
                for opening, smile in CONTROLS:
                    out = probe.render(opening, smile)
                    tiles.append(probe.crop(out))
                    if probe.seen is not None:
                        dark, middle, pink = measures(*probe.opening(out), probe.stats)
                        print(f"{name:26s} {tag:6s} {opening:4.1f} {smile:5.1f}  {dark:.2f}  {middle:6.2f}  "
                              f"{pink:.2f}")
                row = np.concatenate(tiles, axis=1)
                cv2.putText(row, f"{name} {tag}" if before else name, (4, 13), cv2.FONT_HERSHEY_SIMPLEX, 0.4,
                            (255, 255, 0), 1, cv2.LINE_AA)
                rows.append(row)
    finally:
        synthesis._interior = variants[-1][1]
    output.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(output), cv2.cvtColor(np.concatenate(rows, axis=0), cv2.COLOR_RGB2BGR),
                [cv2.IMWRITE_JPEG_QUALITY, 88])
    print(output)


def real() -> None:
    import json

    from engine.capture.mouth_exemplars import PATCH_H, PATCH_W, crop_mouth, to_lab
    from engine.face_tracker import FaceTracker
    from engine.media.video import VideoReader

    cache = sorted((ROOT / "out" / "open_mouth_cache").glob("*_pose.json"))
    if not cache:
        sys.exit("no cached captures in out/open_mouth_cache/ (run benchmarks/bench_render_open_mouth.py)")
    f = np.repeat((np.arange(PATCH_H) + 0.5) / PATCH_H, PATCH_W)
    x = np.tile(-1 + 2 * (np.arange(PATCH_W) + 0.5) / PATCH_W, PATCH_H)
    central = np.abs(x) < 0.6
    small = []
    with FaceTracker(video=False) as tracker:
        for path in cache:
            data = json.loads(path.read_text())
            clip = Path(data["source"]["path"]).name
            mo = np.asarray(data["controls"]["mouth_open"], float)
            want = set()
            for lo, hi in ((0.2, 0.45), (0.45, 0.75), (0.75, 9.0)):
                idx = np.nonzero((mo >= lo) & (mo < hi))[0]
                if len(idx):
                    want |= {int(i) for i in idx[np.linspace(0, len(idx) - 1, min(6, len(idx))).astype(int)]}
            if not want:
                continue
            with VideoReader(SHARED / "driving" / clip) as reader:
                for i, _, frame in reader.frames(0, max(want) + 1):
                    faces = tracker.detect(frame) if i in want else None
                    crop = crop_mouth(frame, faces[0].landmarks) if faces else None
                    if crop is None:
                        continue
                    patch, _, stats, gaps = crop
                    lab = to_lab(patch.astype(np.float32)).reshape(-1, 3)
                    dark, middle, pink = measures(lab[central], f[central], stats)
                    gap = float(gaps[PATCH_W // 2])
                    print(f"{clip:28s} {i:4d} open {mo[i]:.2f} gap {gap:.3f} W  dark {dark:.2f}  "
                          f"middle {middle:.2f}  pink {pink:.2f}")
                    if gap <= 0.2:
                        small.append((dark, middle, pink))
    q = np.percentile(np.array(small), [25, 50, 75], axis=0)
    print(f"{len(small)} frames with a gap up to 0.2 W: quartiles dark {q[:, 0].round(2)}, middle "
          f"{q[:, 1].round(2)}, pink {q[:, 2].round(2)}")


def main() -> None:
    sys.path.insert(0, str(ROOT))
    ap = argparse.ArgumentParser()
    ap.add_argument("-o", "--output", default=str(ROOT / "docs" / "images" / "builtin_mouth_interior.jpg"))
    ap.add_argument("--before", default=None, help="an older synthesis.py to paint a 'before' row with")
    ap.add_argument("--real", action="store_true", help="measure real open mouths of the shared clips")
    args = ap.parse_args()
    if args.real:
        real()
    else:
        sheet(Path(args.output), args.before)


if __name__ == "__main__":
    main()
