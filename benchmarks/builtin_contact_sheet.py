"""Close-up contact sheet of the built-in renderer: for every shared portrait (the bundled
sample when ../shared is absent), the eyes at eye_open 1 / 0.5 / 0 (and a left wink), and the
mouth at mouth_open 0 / 0.5 / 1 with smile 0 and with smile 1, each cell cropped around it.
``--open-mouth``: the same for the open-mouthed and teeth-showing fixtures (frames of the shared
driving clips, tests/fixtures/open_mouth/) used as portraits, with the portrait itself first
(default output docs/images/builtin_open_mouth.jpg).

Run: .venv/bin/python benchmarks/builtin_contact_sheet.py [-o docs/images/builtin_closeups.jpg]
     .venv/bin/python benchmarks/builtin_contact_sheet.py --open-mouth
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
PORTRAITS = ROOT.parent / "shared" / "testdata" / "portraits"
SAMPLE = ROOT / "engine" / "assets" / "sample_portrait.jpg"
# open-mouthed and teeth-showing frames of the shared clips (wide open d18, turned d3, rolled tps,
# teeth lp_d6, a round "O" lp_d10), committed as fixtures
FIXTURES = ROOT / "tests" / "fixtures" / "open_mouth"

EYES = [("eyes 1", {}), ("eyes 0.5", {"eye_open_l": 0.5, "eye_open_r": 0.5}),
        ("eyes 0", {"eye_open_l": 0.0, "eye_open_r": 0.0}), ("wink", {"eye_open_l": 0.0})]
MOUTHS = [(f"open {o:g}" + (" smile" if s else ""), {"mouth_open": o, "mouth_smile": float(s)})
          for s in (0, 1) for o in (0.0, 0.5, 1.0)]


def _crop(img: np.ndarray, cx: float, cy: float, half_w: float, up: float, down: float) -> np.ndarray:
    h, w = img.shape[:2]
    x0, x1 = int(max(cx - half_w, 0)), int(min(cx + half_w, w))
    y0, y1 = int(max(cy - up, 0)), int(min(cy + down, h))
    return img[y0:y1, x0:x1]


def _cell(img: np.ndarray, width: int, height: int, label: str) -> np.ndarray:
    import cv2

    s = min(width / img.shape[1], height / img.shape[0])
    small = cv2.resize(img, (max(round(img.shape[1] * s), 1), max(round(img.shape[0] * s), 1)),
                       interpolation=cv2.INTER_AREA if s < 1 else cv2.INTER_CUBIC)
    out = np.full((height, width, 3), 24, np.uint8)
    y, x = (height - small.shape[0]) // 2, (width - small.shape[1]) // 2
    out[y:y + small.shape[0], x:x + small.shape[1]] = small
    cv2.putText(out, label, (4, height - 6), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (0, 0, 0), 3, cv2.LINE_AA)
    cv2.putText(out, label, (4, height - 6), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (255, 255, 255), 1, cv2.LINE_AA)
    return out


def sheet_row(path: Path, cell_w: int = 220, cell_h: int = 150, image: np.ndarray | None = None,
              show_portrait: bool = False) -> np.ndarray:
    import cv2

    from engine.media.video import load_image
    from engine.render.base import create_renderer

    img = load_image(path) if image is None else image
    r = create_renderer("builtin", device="cpu")
    r.prepare(img)
    lm, width = r.fit.landmarks[:, :2], r.fit.width
    ex, ey = lm[[33, 263]].mean(axis=0)
    mx, my = lm[[13, 14]].mean(axis=0)
    cells = []
    if show_portrait:
        cells.append(_cell(_crop(img, lm[13, 0], lm[13, 1], 0.4 * width, 0.16 * width, 0.44 * width),
                           cell_h, cell_h, "portrait"))
    for label, c in EYES:
        cells.append(_cell(_crop(r.render_frame(c), ex, ey, 0.62 * width, 0.3 * width, 0.2 * width),
                           cell_w, cell_h, label))
    for label, c in MOUTHS:
        if show_portrait:  # an open mouth closes up to its upper lip: crop around that
            crop = _crop(r.render_frame(c), lm[13, 0], lm[13, 1], 0.4 * width, 0.16 * width, 0.44 * width)
        else:
            crop = _crop(r.render_frame(c), mx, my + 0.07 * width, 0.4 * width, 0.2 * width, 0.32 * width)
        cells.append(_cell(crop, cell_h, cell_h, label))
    name = np.full((cell_h, 110, 3), 24, np.uint8)
    for k, part in enumerate(path.stem.split("_")):
        cv2.putText(name, part, (6, 24 + 20 * k), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (255, 255, 255), 1,
                    cv2.LINE_AA)
    return np.hstack([name] + cells)


def main() -> None:
    import cv2

    sys.path.insert(0, str(ROOT))
    ap = argparse.ArgumentParser()
    ap.add_argument("-o", "--output", default=None)
    ap.add_argument("--quality", type=int, default=82)
    ap.add_argument("--open-mouth", action="store_true", help="open-mouthed frames of the shared clips")
    args = ap.parse_args()
    if args.open_mouth:
        from engine.media.video import load_image

        # the committed fixtures (benchmarks/make_open_mouth_fixtures.py): no ../shared needed
        rows = [sheet_row(Path(p.stem), image=load_image(p), show_portrait=True)
                for p in sorted(FIXTURES.glob("*.jpg"))]
        default = "builtin_open_mouth.jpg"
    else:
        paths = sorted(PORTRAITS.iterdir()) if PORTRAITS.is_dir() else []
        rows = [sheet_row(p) for p in (paths or [SAMPLE])]
        default = "builtin_closeups.jpg"
    args.output = args.output or str(ROOT / "docs" / "images" / default)
    sheet = np.vstack([np.vstack([row, np.full((3, row.shape[1], 3), 60, np.uint8)]) for row in rows])
    out = Path(args.output)
    out.parent.mkdir(parents=True, exist_ok=True)
    ok, data = cv2.imencode(out.suffix or ".jpg", cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR),
                            [cv2.IMWRITE_JPEG_QUALITY, args.quality])
    if not ok:
        raise SystemExit(f"could not encode {out}")
    out.write_bytes(data.tobytes())
    print(f"{out}: {sheet.shape[1]}x{sheet.shape[0]}, {len(data) / 1024:.0f} KiB")


if __name__ == "__main__":
    main()
