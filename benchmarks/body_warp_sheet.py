"""The built-in renderer's shoulder warp as a picture: the Mona Lisa (shared portraits) at 360x640,
the torso crop for no body motion, each body curve alone, and the difference to the first cell
(bright = moved; the background around her stays black).

Run: .venv/bin/python benchmarks/body_warp_sheet.py [-o docs/images/builtin_body_warp.jpg]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
PORTRAIT = ROOT.parent / "shared" / "testdata" / "portraits" / "mona_lisa.jpg"
CELLS = [("rest", {}), ("shoulder_raise_l 0.15", {"shoulder_raise_l": 0.15}),
         ("shoulder_raise_r 0.15", {"shoulder_raise_r": 0.15}), ("torso_lean 8", {"torso_lean": 8.0}),
         ("torso_turn 20", {"torso_turn": 20.0})]


def main() -> None:
    import cv2

    sys.path.insert(0, str(ROOT))
    from engine.media.video import load_image
    from engine.render.base import create_renderer

    ap = argparse.ArgumentParser()
    ap.add_argument("-o", "--output", type=Path, default=ROOT / "docs" / "images" / "builtin_body_warp.jpg")
    args = ap.parse_args()
    img = cv2.resize(load_image(PORTRAIT), (360, 640), interpolation=cv2.INTER_AREA)
    r = create_renderer("builtin", device="cpu")
    r.prepare(img)
    frames = [(label, r.render_frame(c)) for label, c in CELLS]
    crop = np.s_[170:470, 40:360]
    rows = []
    for diff in (False, True):
        cells = []
        for label, f in frames:
            cell = f[crop].copy()
            if diff:
                d = np.abs(f.astype(int) - frames[0][1]).max(axis=2)[crop]
                cell = np.repeat(np.clip(d * 4, 0, 255).astype(np.uint8)[..., None], 3, axis=2)
            cv2.putText(cell, label if not diff else "difference x4", (6, 18), cv2.FONT_HERSHEY_SIMPLEX,
                        0.45, (255, 255, 255), 1, cv2.LINE_AA)
            cells.append(cell)
        rows.append(np.hstack(cells))
    sheet = np.vstack(rows)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(args.output), cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 85])
    print(f"wrote {args.output} ({sheet.shape[1]}x{sheet.shape[0]})")


if __name__ == "__main__":
    main()
