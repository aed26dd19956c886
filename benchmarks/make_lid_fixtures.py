"""Write the closing-lid portrait fixtures (tests/fixtures/lids/*.jpg) from ../shared: frames of
the shared driving clips with wide-open eyes (MediaPipe eyeWide 0.1-0.55, no blink) and the two
public-domain paintings, each a square crop around the face (2.4 face widths, as
make_open_mouth_fixtures.py), 360 px, JPEG quality 90 (lower for the paintings: < 24 KiB each). tests/engine/
test_render_lids.py and the lid contact sheet (benchmarks/builtin_lids_sheet.py) use them, so
they run on a fresh clone without ../shared.

Run: .venv/bin/python benchmarks/make_lid_fixtures.py
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "testdata"
OUT = ROOT / "tests" / "fixtures" / "lids"
SIDE, CROP = 360, 2.4
# wide-eyed frames (eyeWide, measured every 6th frame): lp_d6 102 (0.54, grimacing talker),
# lp_d10 396 (0.47, mouth closed), d3 288 (0.10, expressive, mouth closed); and the paintings
# (soft, craquelure, a lit band above the eye)
FRAMES = [("lp_d6_expressive_talk.mp4", 102), ("lp_d10_talk.mp4", 396), ("d3_expressive_turns.mp4", 288)]
PAINTINGS = ["mona_lisa.jpg", "pearl_earring.jpg"]


def _crop(frame: np.ndarray) -> np.ndarray:
    import cv2

    from engine.render.builtin.fitting import detect_face

    lm = detect_face(frame)[:, :2]
    width = float(np.linalg.norm(lm[454] - lm[234]))
    cx, cy = lm[[454, 234, 152, 10]].mean(axis=0)
    h, w = frame.shape[:2]
    half = min(CROP * width / 2, w / 2, h / 2)  # a square inside the frame: no invented border
    x0 = int(round(min(max(cx - half, 0), w - 2 * half)))
    y0 = int(round(min(max(cy - half, 0), h - 2 * half)))
    crop = frame[y0:y0 + int(2 * half), x0:x0 + int(2 * half)]
    return cv2.resize(crop, (SIDE, SIDE), interpolation=cv2.INTER_AREA)


def main() -> None:
    import cv2

    sys.path.insert(0, str(ROOT))
    from engine.media.video import VideoReader, load_image

    OUT.mkdir(parents=True, exist_ok=True)
    images = []
    for clip, index in FRAMES:
        with VideoReader(SHARED / "driving" / clip) as reader:
            frame = next(f for i, _, f in reader.frames(index, index + 1))
        parts = clip.split("_")
        short = "_".join(parts[:2]) if clip.startswith("lp_") else parts[0]
        images.append((f"{short}_{index}.jpg", frame))
    for name in PAINTINGS:
        images.append((name, load_image(SHARED / "portraits" / name)))
    for name, frame in images:
        bgr = cv2.cvtColor(_crop(frame), cv2.COLOR_RGB2BGR)
        for quality in range(90, 50, -5):  # the paintings' craquelure needs a lower quality
            ok, data = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, quality])
            assert ok
            if len(data) < 24 * 1024:
                break
        (OUT / name).write_bytes(data.tobytes())
        print(f"{(OUT / name).relative_to(ROOT)}: {len(data) / 1024:.0f} KiB")


if __name__ == "__main__":
    main()
