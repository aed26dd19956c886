"""Cost of the checked input layer: image loading (header check, EXIF, format handling) against a
bare cv2.imdecode, the header-only refusal of a huge PNG, and video decoding of an intact clip
against the same clip with damage (OpenCV, then the ffmpeg pipe past the damage).

Run: .venv/bin/python benchmarks/bench_inputs.py [--repeat N]
Prints medians in milliseconds.
"""

from __future__ import annotations

import argparse
import os
import statistics
import struct
import sys
import tempfile
import time
import zlib
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
SHARED = ROOT.parent / "shared" / "testdata"


def median_ms(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t) * 1000)
    return statistics.median(times)


def main() -> None:
    import cv2

    from engine.errors import EngineError
    from engine.media.images import load_image
    from engine.media.video import VideoReader

    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()

    print("image                      checked layer   bare cv2.imdecode")
    for p in sorted((SHARED / "portraits").glob("*")):
        def bare(p=p) -> None:
            cv2.cvtColor(cv2.imdecode(np.fromfile(str(p), np.uint8), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)

        print(f"{p.name:<26} {median_ms(lambda p=p: load_image(p), args.repeat):9.1f} ms"
              f"   {median_ms(bare, args.repeat):9.1f} ms")

    with tempfile.TemporaryDirectory() as tmp:
        big = Path(tmp) / "claims_30000.png"

        def chunk(kind: bytes, body: bytes) -> bytes:
            return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

        ihdr = struct.pack(">IIBBBBB", 30000, 30000, 8, 0, 0, 0, 0)
        big.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr)
                        + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b""))

        def refuse() -> None:
            try:
                load_image(big)
            except EngineError:
                return
            raise AssertionError("not refused")

        print(f"refusing a 30000x30000 PNG header: {median_ms(refuse, args.repeat):.2f} ms")

        clip = SHARED / "driving" / "d3_expressive_turns.mp4"
        if clip.is_file():
            data = clip.read_bytes()
            damaged = Path(tmp) / "damaged.mp4"
            mid = len(data) // 2
            damaged.write_bytes(data[:mid] + os.urandom(100_000) + data[mid + 100_000:])
            for name, path in (("intact", clip), ("100 KB damaged", damaged)):
                counts = []

                def decode(path=path, counts=counts) -> None:
                    with VideoReader(path) as r:
                        counts.append(sum(1 for _ in r.frames()))

                ms = median_ms(decode, args.repeat)
                print(f"decode {clip.name} ({name}): {ms:.0f} ms, {counts[-1]} frames")


if __name__ == "__main__":
    main()
