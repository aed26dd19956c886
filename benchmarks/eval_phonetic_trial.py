"""Trial (not shipped): would a phonetic recogniser beat the default voice mouth on English?

Run: PYTHONPATH=/path/to/pocketsphinx-5.1.1 .venv/bin/python benchmarks/eval_phonetic_trial.py
(pocketsphinx is not a dependency: install its wheel into a separate folder with
``pip install --no-deps --target DIR pocketsphinx==5.1.1``).

PocketSphinx 5.1.1's allphone search with the en-US acoustic model and phone language model
that ship in its wheel (as Rhubarb Lip Sync uses it) gives phones every 10 ms; each phone gets
the jaw opening of its viseme (closures 0 for p/b/m, the open vowels widest), placed 20 ms
early (the lips lead the sound, as the default's LEAD_S), smoothed as the default is (zero-phase
Gaussian, sigma 40 ms) and averaged over each frame's centred interval. Scored as
eval_voice_sync.py does: best Pearson r within +-0.4 s against the video capture's mouth_open
(smoothing 0) of the same clip, for: the default, the phonetic curve alone, and the phonetic
opening times the default's loudness-driven curve (what the phone adds on top of loudness).
Video captures are shared with eval_mouth_cues.py's cache.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))
DRIVING = ROOT.parent / "shared" / "testdata" / "driving"
CLIPS = ("tps_interview", "lp_d6_expressive_talk", "lp_d10_talk")

# jaw opening per ARPAbet phone (CMU set of the en-US model); silence and noise 0
OPEN = {"AA": 0.75, "AE": 0.65, "AH": 0.5, "AO": 0.6, "AW": 0.65, "AY": 0.65, "EH": 0.5,
        "ER": 0.3, "EY": 0.4, "IH": 0.3, "IY": 0.2, "OW": 0.4, "OY": 0.45, "UH": 0.3, "UW": 0.2,
        "P": 0.0, "B": 0.0, "M": 0.0, "F": 0.1, "V": 0.1, "TH": 0.15, "DH": 0.15, "T": 0.15,
        "D": 0.15, "N": 0.15, "S": 0.12, "Z": 0.12, "L": 0.2, "R": 0.2, "K": 0.2, "G": 0.2,
        "NG": 0.15, "HH": 0.3, "W": 0.1, "Y": 0.15, "CH": 0.12, "JH": 0.12, "SH": 0.12, "ZH": 0.12}


def phones(clip: Path) -> list[tuple[str, int, int]]:
    """(phone, first 10 ms frame, last) from PocketSphinx allphone decoding of the clip."""
    import pocketsphinx as ps

    from engine.media.audio import read_pcm

    pcm = np.concatenate(list(read_pcm(clip, 16000)))
    raw = (np.clip(pcm, -1, 1) * 32767).astype(np.int16).tobytes()
    model = Path(ps.get_model_path()) / "en-us"
    dec = ps.Decoder(hmm=str(model / "en-us"), allphone=str(model / "en-us-phone.lm.bin"),
                     lw=2.0, beam=1e-20, pbeam=1e-20, loglevel="FATAL")
    dec.start_utt()
    dec.process_raw(raw, full_utt=True)
    dec.end_utt()
    return [(s.word, s.start_frame, s.end_frame) for s in dec.seg()]


def phonetic_open(segs: list[tuple[str, int, int]], n10: int) -> np.ndarray:
    out = np.zeros(n10)
    for word, a, b in segs:
        out[a:b + 1] = OPEN.get(word, 0.0)
    return out


def main() -> None:
    from eval_mouth_cues import best_lag, video_motion

    from engine.capture.audio import LEAD_S, capture_audio, frame_average

    cache = Path("/tmp/talking_head_cue_eval")
    print(f"{'clip':<22} {'default':>8} {'phonetic':>9} {'phonetic x default':>19}  phones")
    for name in CLIPS:
        clip = DRIVING / f"{name}.mp4"
        video = video_motion(name, cache)
        face = video.controls["mouth_open"].astype(float)
        fps, n = video.fps, video.frame_count
        default = capture_audio(clip, fps=fps, blinks=0, head_motion=0).controls["mouth_open"][:n]
        segs = phones(clip)
        n10 = max(b for _, _, b in segs) + 1
        curve = _smooth(phonetic_open(segs, n10))
        k = np.arange(n)
        t0, t1 = (k - 0.5) / fps + LEAD_S, (k + 0.5) / fps + LEAD_S
        phon = frame_average(curve, np.maximum(t0, 0), t1)
        both = phon * default.astype(float)
        lag = int(round(0.4 * fps))
        cells = [f"{_best_r(x, face, lag, best_lag):>8.3f}" for x in (default.astype(float), phon, both)]
        print(f"{name:<22} {cells[0]} {cells[1]:>9} {cells[2]:>19}  {len(segs)}")


def _smooth(x: np.ndarray) -> np.ndarray:
    sigma = 4.0  # 40 ms at 100 Hz, as the default's zero-phase Gaussian
    r = np.arange(-12, 13)
    w = np.exp(-0.5 * (r / sigma) ** 2)
    return np.convolve(x, w / w.sum(), "same")


def _best_r(a: np.ndarray, b: np.ndarray, max_lag: int, best_lag) -> float:
    n = min(a.size, b.size)
    a, b = a[:n], b[:n]
    lag = best_lag(a, b, max_lag)
    x, y = (a[lag:], b[:n - lag]) if lag >= 0 else (a[:n + lag], b[-lag:])
    return float(np.corrcoef(x, y)[0, 1])


if __name__ == "__main__":
    main()
