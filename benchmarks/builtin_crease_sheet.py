"""Contact sheet of the expression creases (docs/images/builtin_creases.jpg).

Top: self-reenactment on the shared clips (portrait = the clip's neutral frame, as
bench_render_creases.py), at the frame of the strongest smile (cheeks) or brow raise (forehead):
real frame | render without creases | with | the difference x4 (grey = none).
Bottom: the five shared portraits driven by d3's strongest brow raise and smile (expression
controls only, head still), forehead and cheeks without / with the creases.

Run: .venv/bin/python benchmarks/builtin_crease_sheet.py [-o docs/images/builtin_creases.jpg]
(uses the captures bench_render_creases.py caches in out/crease_cache/).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
PORTRAITS = ROOT.parent / "shared" / "testdata" / "portraits"
TILE_H = 132
POSE = ("head_yaw", "head_pitch", "head_roll", "head_x", "head_y")


def _tile(img: np.ndarray, height: int = TILE_H) -> np.ndarray:
    import cv2

    h, w = img.shape[:2]
    return cv2.resize(img, (max(1, int(round(w * height / h))), height), interpolation=cv2.INTER_CUBIC)


def _label(img: np.ndarray, text: str) -> np.ndarray:
    import cv2

    out = img.copy()
    cv2.putText(out, text, (4, 14), cv2.FONT_HERSHEY_SIMPLEX, 0.42, (0, 0, 0), 3, cv2.LINE_AA)
    cv2.putText(out, text, (4, 14), cv2.FONT_HERSHEY_SIMPLEX, 0.42, (255, 255, 255), 1, cv2.LINE_AA)
    return out


def _row(tiles: list[np.ndarray], width: int) -> np.ndarray:
    row = np.hstack([np.pad(t, ((0, 0), (0, 4), (0, 0)), constant_values=255) for t in tiles])
    if row.shape[1] < width:
        row = np.pad(row, ((0, 0), (0, width - row.shape[1]), (0, 0)), constant_values=255)
    return row[:, :width]


def _pair(r_off, r_on, controls):  # noqa: ANN001, ANN202
    return r_off.render_frame(controls), r_on.render_frame(controls)


def main() -> None:
    sys.path.insert(0, str(ROOT))
    sys.path.insert(0, str(ROOT / "benchmarks"))
    import cv2
    from bench_render_creases import CLIPS, DRIVING, motion_for, region_boxes

    from engine.media.video import VideoReader, load_image
    from engine.render.base import create_renderer

    ap = argparse.ArgumentParser()
    ap.add_argument("-o", "--output", default=str(ROOT / "docs" / "images" / "builtin_creases.jpg"))
    args = ap.parse_args()
    rows: list[np.ndarray] = []
    width = 1500
    d3 = None
    for key, region in (("d0", "cheeks"), ("d18", "cheeks"), ("lp_d10", "cheeks"), ("d3", "forehead"),
                        ("lp_d6", "forehead")):
        clip, stop = CLIPS[key]
        motion = motion_for(DRIVING / clip, stop)
        if key == "d3":
            d3 = motion
        k = int(motion.calibration["frame"])
        ctl = (motion.controls["mouth_smile"] if region == "cheeks"
               else (motion.controls["brow_l"] + motion.controls["brow_r"]) / 2)
        i = int(np.argmax(ctl))
        with VideoReader(DRIVING / clip) as reader:
            frames = {j: f for j, _, f in reader.frames(0, stop) if j in (i, k)}
        r_off = create_renderer("builtin", device="cpu", creases="off")
        r_on = create_renderer("builtin", device="cpu", creases="all")
        for r in (r_off, r_on):
            r.use_motion(motion)
            r.prepare(frames[k])
            r.bind_motion(motion)
        off, on = _pair(r_off, r_on, motion.frame(i))
        s, _ = region_boxes(r_on.fit.landmarks, r_on.fit.width, frames[k].shape)[region]
        diff = np.clip(128 + 4 * (on[s].astype(np.int16) - off[s]), 0, 255).astype(np.uint8)
        name = f"{key} {region} f{i} ({'smile' if region == 'cheeks' else 'brow'} {ctl[i]:.2f})"
        rows.append(_row([_label(_tile(frames[i][s]), name + ": real"), _label(_tile(off[s]), "without"),
                          _label(_tile(on[s]), "with creases"), _label(_tile(diff), "difference x4")], width))
    # the five portraits, driven by d3's strongest brow raise and smile (head kept still)
    brow = (d3.controls["brow_l"] + d3.controls["brow_r"]) / 2
    for name in ("photo_woman.jpg", "mona_lisa.jpg", "pearl_earring.jpg", "cartoon_3d.jpg", "anime.png"):
        portrait = load_image(PORTRAITS / name)
        r_off = create_renderer("builtin", device="cpu", creases="off")
        r_on = create_renderer("builtin", device="cpu", creases="all")
        for r in (r_off, r_on):
            r.prepare(portrait)
            r.bind_motion(d3)
        bx = region_boxes(r_on.fit.landmarks, r_on.fit.width, portrait.shape)
        tiles = []
        strongest = {"forehead": int(np.argmax(brow)), "cheeks": int(np.argmax(d3.controls["mouth_smile"]))}
        for region, i in strongest.items():
            c = d3.frame(i)
            c.update({p: 0.0 for p in POSE})
            c["head_scale"] = 1.0
            off, on = _pair(r_off, r_on, c)
            s, _ = bx[region]
            diff = np.clip(128 + 4 * (on[s].astype(np.int16) - off[s]), 0, 255).astype(np.uint8)
            tiles += [_label(_tile(off[s], 100), f"{name.split('.')[0]} {region}: without"),
                      _label(_tile(on[s], 100), "with"), _label(_tile(diff, 100), "x4")]
        rows.append(_row(tiles, width))
    sheet = np.vstack([np.pad(r, ((0, 4), (0, 0), (0, 0)), constant_values=255) for r in rows])
    out = Path(args.output)
    out.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(out), cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 88])
    print(f"wrote {out} ({out.stat().st_size // 1024} KB, {sheet.shape[1]}x{sheet.shape[0]})")


if __name__ == "__main__":
    main()
