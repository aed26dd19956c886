"""Live capture latency and throughput on this machine, all on 127.0.0.1.

Run: .venv/bin/python benchmarks/bench_live.py [--seconds N] [--clip PATH]

1. Phone packets: a sender in this process emits Live Link Face packets at 60 Hz; for each packet,
   send -> arrival (the socket) and arrival -> sample ready (decode + controls' raw row), median
   and p95 in ms, plus packets lost. Same clock (time.monotonic) on both ends.
2. Stream: the bundled ffmpeg serves a shared clip in real time as HTTP MPEG-TS; the stream
   source reads and tracks it: frames read per second, samples tracked per second, and frame
   arrival -> tracked sample latency (median, p95). The frame's time in the network and in
   ffmpeg's own buffers before OpenCV hands it over is not included (it cannot be seen here).
3. Live vs offline: a take of the stream (looped clip, --seconds) against the offline capture of
   the same clip: per-control Pearson r at the best lag (the stream's start-up offset), for the
   controls that move in the clip (standard deviation above a small floor).
"""

from __future__ import annotations

import argparse
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


def ms(values: list[float]) -> str:
    a = np.asarray(values) * 1000
    return f"median {np.median(a):.2f} ms, p95 {np.percentile(a, 95):.2f} ms"


def bench_packets(seconds: float) -> None:
    from engine.capture.live import UdpReceiver
    from engine.capture.live.packets import encode_livelink

    rng = np.random.default_rng(0)
    sent: list[float] = []
    with UdpReceiver("livelink", "127.0.0.1", 0) as rx, socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        start = time.monotonic()
        k = 0
        while k / 60 < seconds:
            wait = start + k / 60 - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            data = encode_livelink(rng.uniform(0, 1, 52), 5.0, 2.0, 1.0, frame=k)
            sent.append(time.monotonic())
            s.sendto(data, ("127.0.0.1", rx.port))
            k += 1
        time.sleep(0.2)
        samples = rx.buffer.take()
    print(f"Live Link Face packets: {len(sent)} sent at 60 Hz, {len(samples)} received, "
          f"{rx.buffer.dropped_total()} dropped as invalid")
    if len(samples) == len(sent):  # loopback keeps order: pair them
        print(f"  send -> arrival: {ms([x.t - t for x, t in zip(samples, sent, strict=True)])}")
    print(f"  arrival -> sample: {ms([x.t_done - x.t for x in samples])}")


def bench_stream(seconds: float, clip: Path) -> None:
    import imageio_ffmpeg

    from engine.capture.live import CameraSource

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}/live.ts"
    proc = subprocess.Popen([imageio_ffmpeg.get_ffmpeg_exe(), "-nostdin", "-loglevel", "error", "-re",
                             "-stream_loop", "-1", "-i", str(clip), "-an", "-c:v", "mpeg2video", "-q:v", "3",
                             "-muxdelay", "0", "-flush_packets", "1", "-f", "mpegts", "-listen", "1", url])
    try:
        time.sleep(0.5)
        src = CameraSource(url).start()
        try:
            src.wait_first(10)
            read0, t0 = src.frames_read, time.monotonic()
            first = len(src.buffer.take())
            time.sleep(seconds)
            read1, t1 = src.frames_read, time.monotonic()
            samples = src.buffer.take()[first:]
        finally:
            src.stop()
    finally:
        proc.kill()
        proc.wait()
    found = np.mean([x.raw is not None for x in samples]) if samples else 0.0
    print(f"stream {clip.name} ({src.size[0]}x{src.size[1]}) over HTTP MPEG-TS for {seconds:g} s:")
    print(f"  read {(read1 - read0) / (t1 - t0):.1f} frames/s, tracked {len(samples) / (t1 - t0):.1f} "
          f"samples/s, face found in {100 * found:.0f} %")
    print(f"  frame arrival -> tracked sample: {ms([x.t_done - x.t for x in samples])}")


def bench_vs_offline(seconds: float, clip: Path) -> None:
    import imageio_ffmpeg

    from engine.capture import capture
    from engine.capture.live import CameraSource, record_take
    from engine.controls import CONTROL_NAMES

    offline = capture(clip, smoothing=0.5)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}/live.ts"
    proc = subprocess.Popen([imageio_ffmpeg.get_ffmpeg_exe(), "-nostdin", "-loglevel", "error", "-re",
                             "-i", str(clip), "-an", "-c:v", "mpeg2video", "-q:v", "3", "-muxdelay", "0",
                             "-flush_packets", "1", "-f", "mpegts", "-listen", "1", url])
    try:
        time.sleep(0.5)
        take, _ = record_take(CameraSource(url), min(seconds, offline.duration - 1.5), offline.fps,
                              first_timeout=10, smoothing=0.5)
    finally:
        proc.kill()
        proc.wait()
    live, off = take.to_array(), offline.to_array()
    best = None
    for lag in range(0, min(90, off.shape[0] - live.shape[0] + 1)):
        seg = off[lag: lag + live.shape[0]]
        r = float(np.corrcoef(live[:, 12], seg[:, 12])[0, 1])  # align on mouth_open
        best = max(best or (r, lag), (r, lag))
    lag = best[1]
    seg = off[lag: lag + live.shape[0]]
    rows = []
    for k, name in enumerate(CONTROL_NAMES):
        if np.std(seg[:, k]) < (0.5 if name.startswith("head_") and name != "head_scale" else 0.02):
            continue
        rows.append(f"{name} {np.corrcoef(live[:, k], seg[:, k])[0, 1]:.3f}")
    print(f"live take of {clip.name} ({take.frame_count} frames) vs offline capture, lag {lag} frames:")
    print("  " + ", ".join(rows))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=8.0)
    ap.add_argument("--clip", type=Path, default=CLIP)
    args = ap.parse_args()
    threading.current_thread().name = "bench"
    bench_packets(args.seconds)
    if args.clip.is_file():
        bench_stream(args.seconds, args.clip)
        bench_vs_offline(args.seconds, args.clip)
    else:
        print(f"stream: skipped ({args.clip} not found)")


if __name__ == "__main__":
    main()
