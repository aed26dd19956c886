"""Audio capture speed (seconds of audio per second of compute) and peak memory vs clip length.

Run: .venv/bin/python benchmarks/bench_audio_capture.py [--repeat N] [--minutes 0.5,2,10]
Test audio: the shared English and Japanese sentences looped (through the bundled ffmpeg) to
each length, 44.1 kHz stereo WAV like a typical recording. Each length runs in its own
subprocess so the peak RSS belongs to it alone; "python baseline" is the interpreter with numpy
and the engine imported, so the difference is what the capture itself holds. ffmpeg's own
decoding process is counted in the time, not in the RSS (it streams, a few MB).
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
AUDIO = ROOT.parent / "shared" / "testdata" / "audio"


def one(path: str, repeat: int) -> None:
    sys.path.insert(0, str(ROOT))
    from engine.capture.audio import capture_audio

    base_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    times, m = [], None
    for _ in range(repeat):
        t = time.perf_counter()
        m = capture_audio(path, fps=25)
        times.append(time.perf_counter() - t)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    seconds = m.frame_count / m.fps
    print(json.dumps({"seconds": seconds, "median_s": statistics.median(times),
                      "speed": seconds / statistics.median(times), "peak_mb": peak_mb,
                      "base_mb": base_mb}))


def make_clip(folder: Path, minutes: float) -> Path:
    from engine.media.video import ffmpeg_exe

    out = folder / f"speech_{minutes:g}min.wav"
    srcs = [AUDIO / "en_sentence.wav", AUDIO / "ja_sentence.wav"]
    # the two sentences (English, Japanese) in turn, as long as needed
    listing = folder / "list.txt"
    listing.write_text("".join(f"file '{s}'\n" for s in srcs) * 200, encoding="utf-8")
    cmd = [ffmpeg_exe(), "-hide_banner", "-v", "error", "-y", "-f", "concat", "-safe", "0",
           "-i", str(listing), "-t", f"{minutes * 60:.3f}", "-ar", "44100", "-ac", "2", str(out)]
    subprocess.run(cmd, check=True)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--minutes", default="0.5,2,10")
    ap.add_argument("--one")
    args = ap.parse_args()
    if args.one:
        one(args.one, args.repeat)
        return
    sys.path.insert(0, str(ROOT))
    with tempfile.TemporaryDirectory() as tmp:
        print(f"{'clip':>10} {'audio s':>8} {'compute s (median)':>18} {'x real time':>11} "
              f"{'peak RSS MB':>11} {'python baseline MB':>18}")
        for minutes in (float(x) for x in args.minutes.split(",")):
            clip = make_clip(Path(tmp), minutes)
            rep = args.repeat if minutes <= 2 else 1
            r = subprocess.run([sys.executable, __file__, "--one", str(clip), "--repeat", str(rep)],
                               capture_output=True, text=True)
            lines = [ln for ln in r.stdout.splitlines() if ln.startswith("{")]
            if r.returncode or not lines:
                print(f"{minutes:>7g} min  failed: {r.stderr.strip()[-300:]}")
                continue
            d = json.loads(lines[-1])
            print(f"{minutes:>7g} min {d['seconds']:>8.1f} {d['median_s']:>18.2f} {d['speed']:>11.0f} "
                  f"{d['peak_mb']:>11.0f} {d['base_mb']:>18.0f}")
            clip.unlink()


if __name__ == "__main__":
    main()
