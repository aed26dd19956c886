"""Mouth cues (engine/mouth_cues.py) on the shared speech: what the voice's cues look like, and
how far they agree with the cues of the same clip's face.

Run: .venv/bin/python benchmarks/eval_mouth_cues.py [--cache DIR]

* Faces with their voice (testdata/driving: tps_interview, lp_d6, lp_d10): cues from the voice
  capture and from the video capture (smoothing 0) of the same clip, compared frame by frame at
  the clip's own audio/video offset (the lag where voice and face mouth_open agree best, as in
  eval_voice_sync.py): agreement on closed (A/X) vs open, and Cohen's kappa (agreement above
  what the two shape shares alone would give), and each side's shape shares.
* Speech without a face (testdata/audio: six languages and singing): share of the pause frames
  (>= 0.1 s from speech) shown as X, of the speaking frames shown open (B-F), cues per second of
  speech, shortest cue.
* Speed: cues for a 10 min motion (median of 3).

Video captures are cached as .npz in --cache (default /tmp/talking_head_cue_eval).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
DRIVING = ROOT.parent / "shared" / "testdata" / "driving"
AUDIO = ROOT.parent / "shared" / "testdata" / "audio"
CLIPS = ("tps_interview", "lp_d6_expressive_talk", "lp_d10_talk")
FACELESS = ("en_sentence", "ja_sentence", "sadtalker_deyu", "sadtalker_fayu", "sadtalker_eluosi",
            "sadtalker_bus_chinese", "sadtalker_RD_Radio34_002", "sadtalker_itosinger1")
MAX_LAG_S = 0.4


def video_motion(name: str, cache: Path):
    from engine.motion import Motion

    f = cache / f"{name}_video_raw.json"
    if not f.is_file():
        from engine.capture import capture

        cache.mkdir(parents=True, exist_ok=True)
        capture(DRIVING / f"{name}.mp4", smoothing=0.0).save(f)
    return Motion.load(f)


def best_lag(a: np.ndarray, b: np.ndarray, max_lag: int) -> int:
    n = min(a.size, b.size)
    a, b = a[:n], b[:n]

    def r(lag: int) -> float:
        x, y = (a[lag:], b[:n - lag]) if lag >= 0 else (a[:n + lag], b[-lag:])
        return 0.0 if x.std() < 1e-9 or y.std() < 1e-9 else float(np.corrcoef(x, y)[0, 1])

    return max(range(-max_lag, max_lag + 1), key=r)


def shown(motion) -> np.ndarray:
    from engine import mouth_cues as mc

    return np.array(mc.cue_at_frames(mc.cues(motion), motion.fps, motion.frame_count))


def kappa(a: np.ndarray, b: np.ndarray) -> float:
    labels = sorted(set(a) | set(b))
    po = float((a == b).mean())
    pe = sum(float((a == s).mean()) * float((b == s).mean()) for s in labels)
    return (po - pe) / (1 - pe) if pe < 1 else 1.0


def shares(x: np.ndarray) -> str:
    return " ".join(f"{s}{100 * (x == s).mean():.0f}" for s in "ABCDEFX")


def faces(cache: Path) -> None:
    from engine.capture.audio import capture_audio

    print("voice cues vs the same clip's face cues (frames at the clip's own offset)")
    print(f"{'clip':<22} {'lag':>4} {'closed/open agree':>18} {'kappa 7 shapes':>15}  "
          "shares % voice | face")
    for name in CLIPS:
        video = video_motion(name, cache)
        voice = capture_audio(DRIVING / f"{name}.mp4", fps=video.fps, blinks=0, head_motion=0)
        n = min(video.frame_count, voice.frame_count)
        lag = best_lag(voice.controls["mouth_open"][:n].astype(float),
                       video.controls["mouth_open"][:n].astype(float), int(round(MAX_LAG_S * video.fps)))
        a, b = shown(voice)[:n], shown(video)[:n]
        a, b = (a[lag:], b[:n - lag]) if lag >= 0 else (a[:n + lag], b[-lag:])
        closed_a, closed_b = np.isin(a, ["A", "X"]), np.isin(b, ["A", "X"])
        print(f"{name:<22} {lag:>+4} {100 * (closed_a == closed_b).mean():>16.0f} % "
              f"(kappa {kappa(closed_a, closed_b):.2f}) {kappa(a, b):>6.2f}  {shares(a)} | {shares(b)}")


def faceless() -> None:
    from engine import mouth_cues as mc
    from engine.capture.audio import capture_audio

    print("\nspeech without a face: pauses X, speech open")
    print(f"{'recording':<26} {'pause X':>8} {'speech open':>12} {'cues/s':>7} {'shortest':>9}  shares %")
    for name in FACELESS:
        m = capture_audio(AUDIO / f"{name}.wav", fps=25, blinks=0, head_motion=0)
        s = shown(m)
        speaking = m.confidence >= 0.5
        near = np.convolve(speaking, np.ones(5), "same") > 0  # within 0.1 s of speech (25 fps)
        cue_list = mc.cues(m)
        speech_s = max(float(speaking.sum()) / m.fps, 1e-9)
        shortest = min(c.end - c.start for c in cue_list[1:-1])  # the ends are cut at 0 and the end
        print(f"{name:<26} {100 * (s[~near] == 'X').mean():>7.0f}% "
              f"{100 * np.isin(s[speaking], list('BCDEF')).mean():>11.0f}% "
              f"{len(cue_list) / speech_s:>7.1f} {shortest:>8.2f}s  {shares(s)}")


def speed() -> None:
    from engine import mouth_cues as mc
    from engine.capture.audio import capture_audio

    m = capture_audio(AUDIO / "en_sentence.wav", fps=25, blinks=0, head_motion=0)
    reps = int(np.ceil(600 / m.duration))
    from engine.motion import Motion

    long = Motion(fps=m.fps, controls={k: np.tile(v, reps) for k, v in m.controls.items()},
                  confidence=np.tile(m.confidence, reps), source=dict(m.source))
    times = []
    for _ in range(3):
        t = time.perf_counter()
        mc.cues(long)
        times.append(time.perf_counter() - t)
    print(f"\nspeed: cues for {long.duration / 60:.1f} min ({long.frame_count} frames) in "
          f"{np.median(times):.3f} s (median of 3)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cache", default="/tmp/talking_head_cue_eval")
    args = ap.parse_args()
    faces(Path(args.cache))
    faceless()
    speed()


if __name__ == "__main__":
    main()
