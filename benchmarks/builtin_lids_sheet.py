"""Closing-lid contact sheet of the built-in renderer: per portrait, both eyes zoomed at
eye_open 1 / 0.5 / 0.25 / 0. Portraits: the lid fixtures (tests/fixtures/lids/: wide-eyed clip
frames and the paintings), the open-mouth fixtures, the shared portraits when ../shared is there,
and hard variants of one fixture (mirrored, colour-shifted, a ~80 px face, blurred).
``--before DIR``: DIR holds another version's ``engine/`` (e.g. ``git archive <rev> engine | tar
-x -C DIR``); each portrait then gets a row from it above the current one (before / after).

Run: .venv/bin/python benchmarks/builtin_lids_sheet.py [--before DIR] [--only LABELS] [-o FILE]
The docs picture: --before DIR --quality 72 --only "lp_d10_396,lp_d6_102,d3_288,mona_lisa,
pearl_earring,cartoon_3d,photo_woman,anime,lp_d10_396 small,lp_d10_396 soft"
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
LIDS = ROOT / "tests" / "fixtures" / "lids"
OPEN = ROOT / "tests" / "fixtures" / "open_mouth"
PORTRAITS = ROOT.parent / "shared" / "testdata" / "portraits"
OPENNESS = (1.0, 0.5, 0.25, 0.0)
CELL_W, CELL_H = 220, 92


def variant(image: np.ndarray, kind: str) -> np.ndarray:
    """A harder copy of a portrait: mirrored, colour-shifted (warm, darker), small (the face
    ~80 px wide) or soft (blurred)."""
    import cv2

    if kind == "mirror":
        return np.ascontiguousarray(image[:, ::-1])
    if kind == "colour":
        return np.clip(image.astype(np.float32) * [1.08, 0.9, 0.72], 0, 255).astype(np.uint8)
    if kind == "small":  # the fixtures' faces are ~150 px wide
        return cv2.resize(image, None, fx=0.55, fy=0.55, interpolation=cv2.INTER_AREA)
    if kind == "soft":
        return cv2.GaussianBlur(image, (0, 0), 2.0)
    raise ValueError(kind)


def cases(shared: bool = True) -> list[tuple[str, Path, str]]:
    """(label, image path, variant or '')."""
    out = [(p.stem, p, "") for p in sorted(LIDS.glob("*.jpg"))]
    out += [(p.stem, p, "") for p in sorted(OPEN.glob("*.jpg"))[:3]]
    if shared and PORTRAITS.is_dir():
        out += [(p.stem, p, "") for p in sorted(PORTRAITS.iterdir())
                if not (LIDS / f"{p.stem}.jpg").exists()]  # the paintings are lid fixtures already
    base = LIDS / "lp_d10_396.jpg"
    out += [(f"lp_d10_396 {k}", base, k) for k in ("mirror", "colour", "small", "soft")]
    return out


def eye_cells(path: Path, kind: str) -> list[np.ndarray]:
    """The eye crops (both eyes, 0.62 face widths either side of the eye line's middle) at each
    OPENNESS, resized to the cell."""
    import cv2

    from engine.media.video import load_image
    from engine.render.base import create_renderer

    img = load_image(path)
    if kind:
        img = variant(img, kind)
    r = create_renderer("builtin", device="cpu")
    r.prepare(img)
    lm, width = r.fit.landmarks[:, :2], r.fit.width
    ex, ey = lm[[33, 263]].mean(axis=0)
    cells = []
    for o in OPENNESS:
        out = r.render_frame({"eye_open_l": o, "eye_open_r": o})
        h, w = out.shape[:2]
        hw, up, down = 0.62 * width, 0.22 * width, 0.12 * width
        crop = out[int(max(ey - up, 0)):int(min(ey + down, h)), int(max(ex - hw, 0)):int(min(ex + hw, w))]
        s = min(CELL_W / crop.shape[1], CELL_H / crop.shape[0])
        cells.append(cv2.resize(crop, (round(crop.shape[1] * s), round(crop.shape[0] * s)),
                                interpolation=cv2.INTER_AREA if s < 1 else cv2.INTER_CUBIC))
    return cells


def _row(label: str, cells: list[np.ndarray]) -> np.ndarray:
    import cv2

    row = [np.full((CELL_H, 120, 3), 24, np.uint8)]
    for k, part in enumerate(label.split(" ")):
        cv2.putText(row[0], part, (6, 22 + 20 * k), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (255, 255, 255), 1,
                    cv2.LINE_AA)
    for c, o in zip(cells, OPENNESS, strict=True):
        cell = np.full((CELL_H, CELL_W, 3), 24, np.uint8)
        y, x = (CELL_H - c.shape[0]) // 2, (CELL_W - c.shape[1]) // 2
        cell[y:y + c.shape[0], x:x + c.shape[1]] = c
        text = f"eye_open {o:g}"
        for colour, thick in (((0, 0, 0), 3), ((255, 255, 255), 1)):
            cv2.putText(cell, text, (4, CELL_H - 6), cv2.FONT_HERSHEY_SIMPLEX, 0.4, colour, thick,
                        cv2.LINE_AA)
        row.append(cell)
    return np.hstack(row)


def main() -> None:
    import cv2

    if "--_cells" in sys.argv:  # a worker: the other engine, put first on sys.path, must win
        sys.path.append(str(ROOT))
    else:
        sys.path.insert(0, str(ROOT))
    ap = argparse.ArgumentParser()
    ap.add_argument("-o", "--output", default=str(ROOT / "docs" / "images" / "builtin_lids.jpg"))
    ap.add_argument("--before", default=None, help="a folder holding another version's engine/")
    ap.add_argument("--only", default=None, help="comma-separated labels (default: all)")
    ap.add_argument("--quality", type=int, default=85)
    ap.add_argument("--_cells", default=None, help=argparse.SUPPRESS)  # worker: label -> .npz
    args = ap.parse_args()
    todo = cases()
    if args.only:
        keep = set(args.only.split(","))
        todo = [c for c in todo if c[0] in keep]
    if args._cells:  # a worker run with another engine on sys.path: write its cells
        data = {f"{i}_{k}": c for i, (_, p, kind) in enumerate(todo)
                for k, c in enumerate(eye_cells(p, kind))}
        np.savez(args._cells, **data)
        return
    before = None
    if args.before:
        npz = Path(args.output).with_suffix(".before.npz")
        argv = [__file__, "--_cells", str(npz)] + (["--only", args.only] if args.only else [])
        # the other engine first on sys.path; this script's code runs as __main__ there
        code = (f"import sys; sys.path.insert(0, {str(Path(args.before).resolve())!r}); "
                f"sys.argv = {json.dumps(argv)}; __file__ = {__file__!r}; "
                f"exec(compile(open(__file__).read(), __file__, 'exec'))")
        subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)
        with np.load(npz) as z:  # plain arrays (no pickles)
            before = {k: z[k] for k in z.files}
        npz.unlink()
    rows = []
    for i, (label, path, kind) in enumerate(todo):
        if before is not None:
            rows.append(_row(label + " before", [before[f"{i}_{k}"] for k in range(len(OPENNESS))]))
        rows.append(_row(label + (" after" if before is not None else ""), eye_cells(path, kind)))
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
