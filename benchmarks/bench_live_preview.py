"""Live preview speed and latency on this machine: a shared clip served in real time on 127.0.0.1,
tracked, mapped to controls, rendered by the built-in renderer at 512² and handed to a
"Blender timer" -- the whole path of the Blender *Live* preview, minus Blender itself.

Run: .venv/bin/python benchmarks/bench_live_preview.py [--seconds N] [--size 512] [--clip PATH]

The bundled ffmpeg serves the clip (looped, -re = real time) as HTTP MPEG-TS; the engine's stream
source reads it (reader thread) and tracks the newest frame (tracker thread, MediaPipe VIDEO
mode); the preview worker (engine/capture/live/preview.py) takes the newest sample, maps it to
the 16 controls and renders the portrait; a consumer thread stands in for Blender's 1/60 s timer:
each tick it drains the newest finished frame and copies its pixels into a float buffer, as the
Image's ``pixels.foreach_set`` does. Stages stamped with time.monotonic():

  capture   the frame arrives from OpenCV (what the take is keyed by)
  tracked   the tracker's sample is ready
  picked    the preview worker takes it (it waits while the previous frame renders)
  controls  the sample's 16 controls are computed
  rendered  the built-in renderer's frame is ready (RGBA, Blender's row order)
  hand-off  the timer tick took it and copied the pixels

Reported: frames shown per second (median of 1 s windows), tracked and rendered per second, and
median / p95 of each stage's share and of capture -> hand-off. The time a frame spends in the
network and in ffmpeg's buffers before OpenCV returns it is not visible here (not included).
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
CLIP = ROOT.parent / "shared" / "testdata" / "driving" / "lp_d10_talk.mp4"
PORTRAIT = ROOT.parent / "shared" / "testdata" / "portraits" / "photo_woman.jpg"
TICK_S = 1 / 60


def serve(clip: Path) -> tuple[subprocess.Popen, str]:
    import imageio_ffmpeg

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}/live.ts"
    proc = subprocess.Popen([imageio_ffmpeg.get_ffmpeg_exe(), "-nostdin", "-loglevel", "error", "-re",
                             "-stream_loop", "-1", "-i", str(clip), "-an", "-c:v", "mpeg2video", "-q:v", "3",
                             "-muxdelay", "0", "-flush_packets", "1", "-f", "mpegts", "-listen", "1", url])
    time.sleep(0.5)
    return proc, url


def stats(values: list[float]) -> str:
    a = np.asarray(values) * 1000
    return f"median {np.median(a):6.1f} ms   p95 {np.percentile(a, 95):6.1f} ms"


def run(seconds: float, size: int, clip: Path) -> None:
    from engine.capture.live import CameraSource
    from engine.capture.live.preview import LivePreview
    from engine.media.images import load_image

    portrait = load_image(PORTRAIT)
    proc, url = serve(clip)
    src = CameraSource(url).start()
    preview = LivePreview(src.buffer, portrait, size=size, device="cpu")
    shown: list[dict[str, float]] = []
    stop = threading.Event()
    measuring = threading.Event()
    pixels = None

    def timer() -> None:  # Blender's main thread: a tick every 1/60 s, never waiting
        nonlocal pixels
        next_tick = time.monotonic()
        while not stop.is_set():
            frame = preview.newest()
            if frame is not None and frame.rgba is not None:
                if pixels is None:
                    pixels = np.empty(frame.rgba.size, np.float32)
                pixels[:] = frame.rgba.ravel()  # what Image.pixels.foreach_set copies
                if measuring.is_set():
                    shown.append({**frame.stamps, "handoff": time.monotonic()})
            next_tick += TICK_S
            time.sleep(max(0.0, next_tick - time.monotonic()))

    try:
        src.wait_first(10.0)
        preview.start()
        if not preview.ready.wait(60) or preview.error is not None:
            raise SystemExit(f"preview failed: {preview.error}")
        from engine import blas_threads

        blas = blas_threads.get()  # what the preview set numpy's OpenBLAS to (None: not OpenBLAS)
        tick = threading.Thread(target=timer, daemon=True)
        tick.start()
        time.sleep(1.0)  # settle: the first renders warm caches
        tracked0, rendered0 = len(src.buffer.take()), preview.rendered
        measuring.set()
        t0 = time.monotonic()
        time.sleep(seconds)
        measuring.clear()
        span = time.monotonic() - t0
        tracked, rendered = len(src.buffer.take()) - tracked0, preview.rendered - rendered0
        stop.set()
        tick.join()
    finally:
        preview.stop()
        src.stop()
        proc.kill()
        proc.wait()
    if not shown:
        raise SystemExit("no frame was shown")
    h = np.array([s["handoff"] for s in shown])
    windows = [np.sum((h >= t0 + k) & (h < t0 + k + 1)) for k in range(int(span))]
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"live preview, {clip.name} served in real time over HTTP on 127.0.0.1 -> track -> controls "
          f"-> built-in render {size}px ({portrait.shape[1]}x{portrait.shape[0]} portrait scaled) -> timer; "
          f"{span:.1f} s, {os.cpu_count()} CPUs, load {load:.1f}")
    print(f"  shown:    {np.median(windows):5.1f} frames/s (median of 1 s windows; {len(shown)} frames)")
    print(f"  tracked:  {tracked / span:5.1f} samples/s   rendered: {rendered / span:5.1f} frames/s   "
          f"skipped at hand-off: {preview.skipped}   numpy BLAS threads while previewing: {blas}")
    stages = (("capture -> tracked", "capture", "tracked"),
              ("tracked -> picked up", "tracked", "picked"),
              ("picked -> controls", "picked", "controls"),
              ("controls -> rendered", "controls", "rendered"),
              ("rendered -> hand-off", "rendered", "handoff"),
              ("capture -> hand-off", "capture", "handoff"))
    for label, a, b in stages:
        print(f"  {label:22s} {stats([s[b] - s[a] for s in shown])}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--clip", type=Path, default=CLIP)
    args = ap.parse_args()
    run(args.seconds, args.size, args.clip)


if __name__ == "__main__":
    main()
