"""Mouth shapes: voice features + speech mask -> mouth_open / wide / pucker / smile per 10 ms.

Language-agnostic by construction: it reads the vocal tract, not phonemes. F1 (jaw height) gives
openness; F2 (tongue front/back and lip rounding) gives spread vs rounded, both on a log scale and
normalised per speaker by running percentiles of the voiced frames (shrunk toward adult averages
when there is little speech yet), so a child, a woman and a man all span the same 0..1:

* ``open`` o = F1 position between the speaker's low (p10) and high (p90) F1;
* ``front`` phi = F2 position between the speaker's p10 and p90 F2.

a: high F1 -> open; i/ee: low F1, high F2 -> spread; u/o/oo: low F2 (and lower F1) -> rounded;
e: mid F1, high-mid F2 -> half open and half spread. Whatever the language's vowel inventory.

mouth_open = gain * raw^gamma, raw = loudness^0.7 * (0.2 + 0.8 o) (``OpenMapping``): loudness
relative to the recording's own speech level (closures, pauses and soft consonants dip), F1 for
how far the jaw drops; gain 0.7 and gamma 2 give openings distributed like video captures of
real speech (mostly near closed, wide on loud open vowels). Everything is zero outside speech
and in a nasal murmur (m/n: energy below 400 Hz while quieter than the vowels), and held shut
over the lip closures heard inside speech (``closures``). Formants are only trusted on voiced
frames; unvoiced consonants take the shape interpolated from the voiced sounds around them
(coarticulation). A 50 ms median filter removes single-frame formant-pick errors, then a
zero-phase Gaussian keeps fast speech from flickering without delaying the mouth.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .closures import seals
from .voice_activity import VOICED
from .voice_features import FRAME_RATE, VoiceFeatures

# Adult averages (Hillenbrand et al. 1995, men and women pooled) used before the speaker is known
PRIOR_F1 = (300.0, 800.0)
PRIOR_F2 = (950.0, 2300.0)
PRIOR_FRAMES = 200  # the prior weighs like 2 s of voiced speech
# An actor's own ranges (voice profile) replace the adult averages at the same weight (2 s of
# voice): at 10 s they lowered held-out r on 4 of 6 splits (the line's own running ranges
# did better; docs/audio_capture.md).
PROFILE_FRAMES = 200
WINDOW_S = 30.0  # running normalisation window (follows a change of speaker or microphone)
STEP_S = 5.0
SMOOTH_S = 0.04  # zero-phase Gaussian sigma: -3 dB at 3.3 Hz, syllable rates (4-6 Hz) keep 60-30 %
LOUDNESS_RANGE_DB = 20.0  # a syllable's nucleus down to its softest voiced consonants
SMILE_PER_WIDE = 0.3  # lip corners rise a little in a spread vowel


@dataclass(frozen=True)
class OpenMapping:
    """How the acoustic opening becomes ``mouth_open``: raw = loudness^loudness_exp *
    (floor + (1 - floor) * o), then mouth_open = gain * raw^gamma. The defaults were measured on
    video captures of real speech (docs/audio_capture.md); a voice profile (voice_profile.py)
    replaces them with one actor's."""

    loudness_exp: float = 0.7
    floor: float = 0.2
    gain: float = 0.7
    gamma: float = 2.0


def _running_percentiles(values: np.ndarray, use: np.ndarray, qs: tuple[float, float],
                         prior: tuple[float, float], prior_frames: int = PRIOR_FRAMES
                         ) -> tuple[np.ndarray, np.ndarray]:
    """Per-frame (low, high) percentiles of ``values[use]`` in a centred window, shrunk to
    ``prior`` where the window holds little data."""
    n = values.shape[0]
    win, step = int(WINDOW_S * FRAME_RATE), int(STEP_S * FRAME_RATE)
    centres = np.arange(0, max(n, 1), step) if n > win else np.array([n // 2])
    lows, highs = [], []
    for c in centres:
        a, b = (0, n) if n <= win else (max(0, c - win // 2), min(n, c + win // 2))
        v = values[a:b][use[a:b]]
        k = v.size / max(v.size + prior_frames, 1)
        lo, hi = (np.percentile(v, qs) if v.size else prior)
        lows.append(k * lo + (1 - k) * prior[0])
        highs.append(k * hi + (1 - k) * prior[1])
    idx = np.arange(n)
    return (np.interp(idx, centres, lows), np.interp(idx, centres, highs))


def _fill(values: np.ndarray, valid: np.ndarray, default: float) -> np.ndarray:
    """Linear interpolation over the invalid frames (held at the ends)."""
    if not valid.any():
        return np.full(values.shape, default)
    idx = np.arange(values.shape[0])
    return np.interp(idx, idx[valid], values[valid])


def _median5(x: np.ndarray) -> np.ndarray:
    if x.size < 5:
        return x
    p = np.pad(x, 2, mode="edge")
    return np.median(np.lib.stride_tricks.sliding_window_view(p, 5), axis=1)


def smooth(x: np.ndarray, sigma_s: float = SMOOTH_S, rate: float = FRAME_RATE) -> np.ndarray:
    """Zero-phase Gaussian smoothing (the capture is offline: it may look ahead, so the curve
    has no lag, unlike a causal follower, which delayed the mouth by ~2 frames)."""
    sigma = sigma_s * rate
    if sigma <= 0 or x.size == 0:
        return np.asarray(x, np.float64)
    half = int(np.ceil(3 * sigma))
    k = np.arange(-half, half + 1)
    w = np.exp(-0.5 * (k / sigma) ** 2)
    return np.convolve(np.pad(np.asarray(x, np.float64), half, mode="edge"), w / w.sum(), "valid")


def _smoothstep(x: np.ndarray) -> np.ndarray:
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3 - 2 * x)


def _shape_open(raw: np.ndarray, mapping: OpenMapping) -> np.ndarray:
    return mapping.gain * np.clip(raw, 0, 1) ** mapping.gamma


def mouth_shapes(f: VoiceFeatures, speech: np.ndarray, mapping: OpenMapping | None = None,
                 speaker: tuple[tuple[float, float], tuple[float, float]] | None = None,
                 seal: bool = True) -> tuple[dict[str, np.ndarray], dict]:
    """Per analysis frame mouth controls, and the speaker normalisation used (for the record).
    ``mapping`` and ``speaker`` (F1 and F2 ranges in Hz) come from a voice profile."""
    mapping = mapping or OpenMapping()
    parts = open_parts(f, speech, speaker)
    o, phi, loud, act = parts["o"], parts["phi"], parts["loud"], parts["act"]
    raw = act * loud ** mapping.loudness_exp * (mapping.floor + (1 - mapping.floor) * o)
    open_ = _shape_open(smooth(raw), mapping)
    sealed = seals(f, speech, parts["ref"]) if seal else np.zeros(f.count, bool)
    if sealed.any():
        # held shut for the closure's whole duration, easing in and out over ~20 ms
        shut = np.maximum(smooth(sealed.astype(np.float64), 0.01), sealed)
        open_ = open_ * (1 - shut)
    wide = act * _smoothstep((phi - 0.5) / 0.5) * (1 - 0.5 * o)
    pucker = act * (1 - _smoothstep((phi - 0.15) / 0.6)) * (1 - o) ** 0.7
    shapes = {"mouth_open": open_, "mouth_wide": smooth(wide), "mouth_pucker": smooth(pucker)}
    shapes["mouth_smile"] = SMILE_PER_WIDE * shapes["mouth_wide"]
    lo1, hi1, lo2, hi2, ref = (parts[k] for k in ("lo1", "hi1", "lo2", "hi2", "ref"))
    norm = {"f1_hz": [round(float(np.exp(np.median(lo1))), 1), round(float(np.exp(np.median(hi1))), 1)],
            "f2_hz": [round(float(np.exp(np.median(lo2))), 1), round(float(np.exp(np.median(hi2))), 1)],
            "speech_level_db": round(float(np.median(ref)), 1), "voiced_frames": int(parts["voiced"].sum()),
            "frames": f.count, "seals": len(_seal_runs(sealed)),
            "open_mapping": {k: round(float(v), 4) for k, v in vars(mapping).items()}}
    return shapes, norm


def _seal_runs(mask: np.ndarray) -> list[int]:
    return list(np.flatnonzero(np.diff(np.concatenate([[0], mask.astype(np.int8)])) == 1))


def open_parts(f: VoiceFeatures, speech: np.ndarray,
               speaker: tuple[tuple[float, float], tuple[float, float]] | None = None
               ) -> dict[str, np.ndarray]:
    """The per-10 ms ingredients of the mouth: ``o`` (F1 position, jaw), ``phi`` (F2 position,
    spread vs rounded), ``loud`` (level relative to the speech level), ``act`` (speech without
    nasal murmur), and the speaker normalisation behind them. ``speaker``: the actor's own F1 and
    F2 ranges, which then stand in for adult averages until the line has ~2 s of voice."""
    voiced = speech & (f.voicing > VOICED) & np.isfinite(f.f1) & np.isfinite(f.f2)
    lf1 = np.log(np.where(np.isfinite(f.f1), f.f1, 1.0))
    lf2 = np.log(np.where(np.isfinite(f.f2), f.f2, 1.0))
    (p1, p2), weight = (speaker, PROFILE_FRAMES) if speaker else ((PRIOR_F1, PRIOR_F2), PRIOR_FRAMES)
    lo1, hi1 = _running_percentiles(lf1, voiced, (10, 90), tuple(np.log(p1)), weight)
    lo2, hi2 = _running_percentiles(lf2, voiced, (10, 90), tuple(np.log(p2)), weight)
    o = np.clip((lf1 - lo1) / np.maximum(hi1 - lo1, 0.2), 0, 1)
    phi = np.clip((lf2 - lo2) / np.maximum(hi2 - lo2, 0.3), 0, 1)
    o = _median5(_fill(o, voiced, 0.3))
    phi = _median5(_fill(phi, voiced, 0.5))
    # levels relative to the speaker's speech level (running p95 of the speech frames; no
    # prior: a level in dBFS says more about the microphone gain than about the voice)
    _, ref = _running_percentiles(f.level, speech, (50, 95), (-40.0, -20.0), prior_frames=0)
    broad = np.clip(1 + (f.level - ref) / LOUDNESS_RANGE_DB, 0, 1)
    # the mouth's loudness: the 300-3400 Hz band (voice_features), which lowered held-out and
    # whole-clip r nowhere by more than 0.01 and raised lp_d6 by 0.07 (docs/audio_capture.md)
    _, band_ref = _running_percentiles(f.band_level, speech, (50, 95), (-40.0, -20.0), prior_frames=0)
    loud = np.clip(1 + (f.band_level - band_ref) / LOUDNESS_RANGE_DB, 0, 1)
    # nasal murmur (m, n, ng): nearly all energy under 400 Hz while quieter than the vowels --
    # the lips (m) or tongue close the mouth while the voice goes on; /u/ is as dark but loud
    # (broadband: the murmur's own energy lies under 400 Hz)
    nasal = np.clip((f.low - 0.8) / 0.06, 0, 1) * np.clip(2 * (1 - broad), 0, 1)
    act = speech.astype(np.float64) * (1 - nasal)
    return {"o": o, "phi": phi, "loud": loud, "act": act, "nasal": nasal, "ref": ref,
            "voiced": voiced, "lo1": lo1, "hi1": hi1, "lo2": lo2, "hi2": hi2}
