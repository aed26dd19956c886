"""Close-up contact sheet of the mouth interior from the actor's exemplars (issue 20).

Per portrait (shared photo, paintings, cartoon, anime): mouth_open 0 / 0.5 / 1 with the
procedural interior (no exemplars) and with the mouth exemplars of a capture of a shared clip
(lp_d6 frames 40-250: teeth, tongue, grimaces; cached in out/). Writes
docs/images/builtin_mouth_exemplars.jpg.

``--teeth``: portraits that show their own teeth (the lp_d6 fixtures 60 and 237, mirrored, cooler,
warmer; d0 frame 50, its teeth rows touching) opened to 0.75 and 1 without and with the
exemplars: the new gap between their own teeth. Writes docs/images/builtin_teeth_opening.jpg.

``--smile``: open-mouthed portraits whose own interior shows no teeth (the d18 88, d3 320,
lp_d10 100, tps 87 fixtures; d3 mirrored and cooler) at their own opening and 0.3 less, smile 0 /
1, without and with the exemplars of d18's clip (it laughs with its upper teeth showing): the
actor's teeth rows laid under the portrait's upper lip (synthesis.actor_over). Writes
docs/images/builtin_smile_teeth.jpg (exemplars: d18 frames 0-215 unless --clip/--frames say).

Run: .venv/bin/python benchmarks/mouth_exemplar_sheet.py [-o PATH] [--clip NAME --frames A-B] [--teeth]
[--smile]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "testdata"
PORTRAITS = ("photo_woman.jpg", "pearl_earring.jpg", "mona_lisa.jpg", "cartoon_3d.jpg", "anime.png")
OPENINGS = (0.0, 0.5, 1.0)


def exemplar_motion(clip: str, start: int, stop: int):  # noqa: ANN201
    from engine.capture.video import capture
    from engine.motion import Motion

    cache = ROOT / "out" / f"mouths_{Path(clip).stem}_{start}_{stop}.json"
    if cache.is_file():
        return Motion.load(cache)
    motion = capture(SHARED / "driving" / clip, start=start, stop=stop, mouths=True)
    cache.parent.mkdir(exist_ok=True)
    motion.save(cache)
    return motion


def row(path: Path, mouths, cell: int = 150) -> np.ndarray:  # noqa: ANN001
    import cv2

    from engine.media.video import load_image
    from engine.motion import Motion
    from engine.render.base import create_renderer

    sys.path.insert(0, str(ROOT / "benchmarks"))
    from builtin_contact_sheet import _cell, _crop

    img = load_image(path)
    cells = []
    for label, source in (("procedural", "none"), ("exemplars", mouths)):
        r = create_renderer("builtin", device="cpu", mouth_source=source)
        r.prepare(img)
        lm, width = r.fit.landmarks[:, :2], r.fit.width
        mx, my = lm[[13, 14]].mean(axis=0)
        for o in OPENINGS:
            m = Motion.neutral(1)
            m.controls["mouth_open"][:] = o
            extras = {k: v[0] for k, v in r.bind_motion(m).items()} or None
            frame = r.render_frame(m.frame(0), extras)
            crop = _crop(frame, mx, my + 0.07 * width, 0.4 * width, 0.2 * width, 0.32 * width)
            cells.append(_cell(crop, cell, cell, f"{label} {o:g}"))
    name = np.full((cell, 110, 3), 24, np.uint8)
    for k, part in enumerate(path.stem.split("_")):
        cv2.putText(name, part, (6, 24 + 20 * k), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (255, 255, 255), 1,
                    cv2.LINE_AA)
    return np.hstack([name] + cells)


TEETH = (("lp_d6_60", ""), ("lp_d6_60", "mirrored"), ("lp_d6_237", ""), ("lp_d6_237", "cooler"),
         ("lp_d6_237", "warmer"), ("d0_50", ""))  # d0 50: teeth rows touching (no band between)
TEETH_OPENINGS = (0.75, 1.0)


def _variant_portrait(name: str, variant: str) -> np.ndarray:
    from engine.media.video import load_image

    if name == "d0_50":
        from engine.media.video import VideoReader

        with VideoReader(SHARED / "driving" / "d0_smile_blink.mp4") as reader:
            img = next(f for _, _, f in reader.frames(50, 51))
    else:
        img = load_image(ROOT / "tests" / "fixtures" / "open_mouth" / f"{name}.jpg")
    if variant == "mirrored":
        img = np.ascontiguousarray(img[:, ::-1])
    elif variant == "cooler":
        img = np.clip(img * np.array([0.9, 1.0, 1.15]), 0, 255).astype(np.uint8)
    elif variant == "warmer":
        img = np.clip(img * np.array([1.1, 1.0, 0.85]), 0, 255).astype(np.uint8)
    return img


def _title(parts: tuple[str, ...], cell: int) -> np.ndarray:
    import cv2

    title = np.full((cell, 110, 3), 24, np.uint8)
    for k, part in enumerate(parts):
        cv2.putText(title, part, (6, 24 + 20 * k), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (255, 255, 255), 1,
                    cv2.LINE_AA)
    return title


def compare_row(name: str, variant: str, mouths, shots, box: tuple[float, ...],  # noqa: ANN001
                cell: int = 150) -> np.ndarray:
    """One portrait fixture: its own mouth, then ``shots(own_opening, first)`` -> [(mouth_open,
    mouth_smile, caption)] rendered without (first) and with the exemplars (the caption may name
    them: ``{label}``, ``{short}``); ``box``: the crop around the lips' midpoint, in face widths
    (down from it, half width, above, below)."""
    from engine.motion import Motion
    from engine.render.base import create_renderer

    sys.path.insert(0, str(ROOT / "benchmarks"))
    from builtin_contact_sheet import _cell, _crop

    img = _variant_portrait(name, variant)
    cells = []
    for label, source in (("no exemplars", "none"), ("exemplars", mouths)):
        r = create_renderer("builtin", device="cpu", mouth_source=source)
        r.prepare(img)
        lm, width, own = r.fit.landmarks[:, :2], r.fit.width, r.fit.own.mouth_open
        mx, my = lm[[13, 14]].mean(axis=0)
        crop = (mx, my + box[0] * width, *(f * width for f in box[1:]))
        first = not cells
        if first:
            cells.append(_cell(_crop(img, *crop), cell, cell, f"own {own:.2f}"))
        for o, smile, caption in shots(own, first):
            m = Motion.neutral(1)
            m.controls["mouth_open"][:] = o
            m.controls["mouth_smile"][:] = smile
            extras = {k: v[0] for k, v in r.bind_motion(m).items()} or None
            text = caption.format(label=label, short=label[:5])
            cells.append(_cell(_crop(r.render_frame(m.frame(0), extras), *crop), cell, cell, text))
    return np.hstack([_title((name, variant), cell)] + cells)


def teeth_row(name: str, variant: str, mouths) -> np.ndarray:  # noqa: ANN001
    shots = [(o, 0.0, f"{{label}} {o:g}") for o in TEETH_OPENINGS]
    return compare_row(name, variant, mouths, lambda own, first: shots, (0.07, 0.3, 0.17, 0.3))


SMILE = (("d18_88", ""), ("d3_320", ""), ("d3_320", "mirrored"), ("d3_320", "cooler"), ("lp_d10_100", ""),
         ("tps_87", ""))


def smile_row(name: str, variant: str, mouths) -> np.ndarray:  # noqa: ANN001
    """own / at its own opening: smile 0, smile 1 without and with exemplars / 0.3 less open:
    smile 1 without and with exemplars."""
    def shots(own: float, first: bool) -> list:  # noqa: FBT001
        out = [(own, 1.0, "own sm 1 {short}"), (own - 0.3, 1.0, f"{own - 0.3:.2f} sm 1 {{short}}")]
        return ([(own, 0.0, "own sm 0")] if first else []) + out

    return compare_row(name, variant, mouths, shots, (0.03, 0.32, 0.2, 0.3))


def main() -> None:
    import cv2

    sys.path.insert(0, str(ROOT))
    ap = argparse.ArgumentParser()
    ap.add_argument("-o", "--output", default=str(ROOT / "docs" / "images" / "builtin_mouth_exemplars.jpg"))
    ap.add_argument("--clip", default="lp_d6_expressive_talk.mp4")
    ap.add_argument("--frames", default="40-249")
    ap.add_argument("--teeth", action="store_true", help="the teeth-showing portraits opened further")
    ap.add_argument("--smile", action="store_true", help="open portraits without teeth driven to a smile")
    args = ap.parse_args()
    if args.smile and args.clip == ap.get_default("clip"):
        args.clip, args.frames = "d18_mouth_open.mp4", "0-215"
    a, b = (int(x) for x in args.frames.split("-"))
    mouths = exemplar_motion(args.clip, a, b + 1).mouths
    if args.smile:
        if args.output == ap.get_default("output"):
            args.output = str(ROOT / "docs" / "images" / "builtin_smile_teeth.jpg")
        rows = [smile_row(n, v, mouths) for n, v in SMILE]
    elif args.teeth:
        if args.output == ap.get_default("output"):
            args.output = str(ROOT / "docs" / "images" / "builtin_teeth_opening.jpg")
        rows = [teeth_row(n, v, mouths) for n, v in TEETH]
    else:
        rows = [row(SHARED / "portraits" / p, mouths) for p in PORTRAITS
                if (SHARED / "portraits" / p).is_file()]
    sheet = np.vstack([np.vstack([r, np.full((3, r.shape[1], 3), 60, np.uint8)]) for r in rows])
    out = Path(args.output)
    out.parent.mkdir(parents=True, exist_ok=True)
    ok, data = cv2.imencode(".jpg", cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 85])
    out.write_bytes(data.tobytes())
    print(f"{out}: {sheet.shape[1]}x{sheet.shape[0]}, {len(data) / 1024:.0f} KiB, {mouths.count} exemplars")


if __name__ == "__main__":
    main()
