"""Write the open-mouth / teeth-showing portrait fixtures (tests/fixtures/open_mouth/*.jpg) from
frames of the shared driving clips: each a square crop around the face (2.4 face widths, so the
whole head and the top of the neck are in it), 360 px, JPEG quality 90 (~20-30 KB each). The
tests and the open-mouth contact sheet use these, so they run on a fresh clone without ../shared.

Run: .venv/bin/python benchmarks/make_open_mouth_fixtures.py
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DRIVING = ROOT.parent / "shared" / "testdata" / "driving"
OUT = ROOT / "tests" / "fixtures" / "open_mouth"
SIDE, CROP = 360, 2.4
# wide open "ah" (d18 88), open with a turned head (d3 320), talking with a roll (tps 87), teeth
# and a grimace (lp_d6 237), teeth while talking (lp_d6 60), a round "O" (lp_d10 100)
FRAMES = [("d18_mouth_open.mp4", 88), ("d3_expressive_turns.mp4", 320), ("tps_interview.mp4", 87),
          ("lp_d6_expressive_talk.mp4", 237), ("lp_d6_expressive_talk.mp4", 60), ("lp_d10_talk.mp4", 100)]


def fixture_name(clip: str, index: int) -> str:
    parts = clip.split("_")
    short = "_".join(parts[:2]) if clip.startswith("lp_") else parts[0]  # d18, tps, lp_d6
    return f"{short}_{index}.jpg"


def main() -> None:
    import cv2

    sys.path.insert(0, str(ROOT))
    from engine.media.video import VideoReader
    from engine.render.builtin.fitting import detect_face

    OUT.mkdir(parents=True, exist_ok=True)
    for clip, index in FRAMES:
        with VideoReader(DRIVING / clip) as reader:
            frame = next(f for i, _, f in reader.frames(index, index + 1))
        lm = detect_face(frame)[:, :2]
        width = float(np.linalg.norm(lm[454] - lm[234]))
        cx, cy = lm[[454, 234, 152, 10]].mean(axis=0)
        half = CROP * width / 2
        h, w = frame.shape[:2]
        # a square inside the frame (shifted, not padded: no invented border)
        half = min(half, w / 2, h / 2)
        x0 = int(round(min(max(cx - half, 0), w - 2 * half)))
        y0 = int(round(min(max(cy - half, 0), h - 2 * half)))
        crop = frame[y0:y0 + int(2 * half), x0:x0 + int(2 * half)]
        crop = cv2.resize(crop, (SIDE, SIDE), interpolation=cv2.INTER_AREA)
        path = OUT / fixture_name(clip, index)
        ok, data = cv2.imencode(".jpg", cv2.cvtColor(crop, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 90])
        assert ok
        path.write_bytes(data.tobytes())
        print(f"{path.relative_to(ROOT)}: {len(data) / 1024:.0f} KiB (face {width:.0f} px -> "
              f"{width * SIDE / (2 * half):.0f} px)")


if __name__ == "__main__":
    main()
