"""Can the voice tell f/v (Rhubarb's G: lower lip on the upper teeth) from other consonants?

Run: .venv/bin/python benchmarks/eval_fv_shape.py   (needs the espeak-ng binary)

Labelled speech made here: espeak-ng syllables with f/v (fa, va, afa, ava, ofo, ivi, ...) and
with other consonants (sa, sha, ta, pa, ka, ma, za, ha, tha, ...), each synthesised alone, in
three voices. A candidate acoustic cue, computed from the analysis signal the capture uses (11 kHz,
30 ms windows every 10 ms): a frication frame has little voicing (or, for v, a voiced frame whose
energy above 2.5 kHz is a large share), a high-band share (2.5-5.5 kHz over 300-5.5 kHz) above a
threshold, and a level between ``quiet`` dB and 6 dB under the syllable's loudest frame
(f is weak, s and sh are loud); a run of 30-200 ms of such frames inside the syllable "fires".
Per syllable: precision and recall of firing on the f/v syllables, for each threshold pair on
voice 1 (chosen there) and then on voices 2 and 3 with the thresholds voice 1 chose (held out).
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

FV = ("fa", "va", "afa", "ava", "ofo", "ivi", "fee", "voo", "off", "of", "ufu", "eve")
OTHER = ("sa", "sha", "ta", "pa", "ka", "ma", "za", "ha", "tha", "asa", "asha", "ata", "apa",
         "aka", "ama", "aza", "see", "shoo", "chah", "ja", "la", "na", "ga", "ba", "ess", "ash")
VOICES = (("en", 175, 50), ("en-us+f3", 160, 70), ("en-gb-x-rp+m3", 190, 40))


def synth(text: str, voice: tuple[str, int, int], folder: Path) -> np.ndarray:
    from engine.capture.voice_features import RATE
    from engine.media.audio import read_pcm

    name, speed, pitch = voice
    path = folder / f"{text}_{name}.wav"
    subprocess.run(["espeak-ng", "-v", name, "-s", str(speed), "-p", str(pitch), "-w", str(path),
                    text], check=True, capture_output=True)
    return np.concatenate(list(read_pcm(path, RATE)))


def frame_features(x: np.ndarray):
    from engine.capture.voice_features import HOP, RATE, WIN, analyse

    f = analyse([x])
    n = f.count
    frames = np.lib.stride_tricks.sliding_window_view(np.pad(x, (0, WIN)), WIN)[::HOP][:n]
    spec = np.abs(np.fft.rfft(frames * np.hamming(WIN), 512)) ** 2
    freq = np.fft.rfftfreq(512, 1 / RATE)
    hi = spec[:, freq >= 2500].sum(1) / (spec[:, freq >= 300].sum(1) + 1e-12)
    return f.level, f.voicing, hi


def fires(level, voicing, hi, hi_th: float, quiet: float) -> bool:
    peak = level.max()
    noisy = (voicing < 0.5) | (hi > hi_th + 0.15)  # unvoiced, or voiced with strong hiss (v)
    fric = (hi > hi_th) & (level > peak - quiet) & (level < peak - 6) & noisy
    run = best = 0
    for v in fric:
        run = run + 1 if v else 0
        best = max(best, run)
    return 3 <= best <= 20


def scores(data, hi_th, quiet):
    fired = {t: fires(*feats, hi_th, quiet) for t, feats in data.items()}
    tp = sum(fired[t] for t in FV)
    fp = sum(fired[t] for t in OTHER)
    prec = tp / (tp + fp) if tp + fp else float("nan")
    return prec, tp / len(FV), [t for t in OTHER if fired[t]]


def main() -> None:
    grid = [(h, q) for h in (0.2, 0.3, 0.4, 0.5, 0.6, 0.7) for q in (20, 25, 30, 35, 40)]
    with tempfile.TemporaryDirectory() as tmp:
        per_voice = [{t: frame_features(synth(t, v, Path(tmp))) for t in FV + OTHER} for v in VOICES]
    results = [(scores(per_voice[0], h, q), h, q) for h, q in grid]
    ok = [r for r in results if r[0][1] >= 0.5]
    (prec, rec, fps), h, q = max(ok or results, key=lambda r: (r[0][0], r[0][1]))
    print(f"voice 1 ({VOICES[0][0]}), best of {len(grid)} thresholds with recall >= 0.5: "
          f"high-band share > {h}, quiet {q} dB: precision {prec:.2f}, recall {rec:.2f}, "
          f"fires on {fps}")
    best_any = max(results, key=lambda r: r[0][0] if r[0][1] > 0 else -1)
    print(f"  highest precision at any recall > 0: {best_any[0][0]:.2f} (recall {best_any[0][1]:.2f})")
    for i, v in enumerate(VOICES[1:], 2):
        p, r, f = scores(per_voice[i - 1], h, q)
        print(f"voice {i} ({v[0]}), held out: precision {p:.2f}, recall {r:.2f}, fires on {f}")


if __name__ == "__main__":
    main()
