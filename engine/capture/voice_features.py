"""Voice features: mono PCM -> per-10 ms acoustic measures (level, voicing, pitch, formants).

Everything is plain numpy, vectorised over the frames of each decoded block, so it runs far
faster than real time with no native dependency. Per analysis frame (30 ms window, 10 ms hop):

* ``level``: RMS level in dBFS of the raw signal.
* ``band_level``: level in dBFS of the 300-3400 Hz band alone (window-corrected), the mouth's
  loudness: energy under 300 Hz (the voice's fundamental, a nasal murmur, the voice bar of a
  b/d/g closure) radiates through closed lips as well, so it says little about the opening;
  the band above is what an open mouth lets out (Chandrasekaran et al. 2009: mouth area follows
  the mid-band envelope more than the broadband one). The edges are the telephone band's, so an
  8 kHz recording carries all of it.
* ``voicing``: peak of the normalised autocorrelation in the 60-500 Hz pitch-lag range, divided
  by the window's own autocorrelation (Boersma 1993), ~1 for a clean vowel, ~0 for noise.
* ``f0``: the pitch of that peak (Hz; meaningful only where ``voicing`` is high).
* ``f1``, ``f2``: the two lowest vocal-tract resonances, from the roots of a 12th-order LPC
  polynomial of the pre-emphasised, Hamming-windowed frame (autocorrelation method, Levinson-
  Durbin) -- the classic formant tracker (Markel & Gray; as Praat: 5 formants below 5.5 kHz
  at an 11 kHz sampling rate, plus one pole pair for the glottal source and lip radiation).
  F1 rises as the jaw opens; F2 rises as the lips spread and the tongue moves forward, falls
  as the lips round -- in every language.
* ``low``: share of the 80-4000 Hz energy below 400 Hz: high in a nasal murmur (m, n), where the
  lips or tongue close the mouth while the voice goes on.
* ``flatness``: spectral flatness (geometric / arithmetic mean power) in 300-4000 Hz: high for
  fricatives and noise, low for vowels.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

RATE = 11000  # analysis sampling rate (Hz): covers 5 formants of any adult voice
HOP = RATE // 100  # 10 ms
WIN = 3 * HOP  # 30 ms: two periods of an 70 Hz voice
NFFT = 512  # >= WIN + the longest lag used (pitch at 60 Hz): linear autocorrelation there
ORDER = 12  # LPC order: 2 per formant below RATE / 2 (5) + 2 for glottis and lip radiation
PRE_EMPHASIS = float(np.exp(-2 * np.pi * 50 / RATE))  # +6 dB/octave above 50 Hz
SILENT_DB = -70.0  # frames quieter than this skip the formant analysis
FRAME_RATE = RATE / HOP

_WINDOW = np.hamming(WIN).astype(np.float64)
_W_AC = np.fft.irfft(np.abs(np.fft.rfft(_WINDOW, NFFT)) ** 2, NFFT)[:WIN]
_W_AC = _W_AC / _W_AC[0]
_LAG_LO, _LAG_HI = RATE // 500, RATE // 60
_FREQS = np.fft.rfftfreq(NFFT, 1.0 / RATE)
_BAND_ALL = (_FREQS >= 80) & (_FREQS <= 4000)
_BAND_LOW = (_FREQS >= 80) & (_FREQS < 400)
_BAND_FLAT = (_FREQS >= 300) & (_FREQS <= 4000)
SPEECH_BAND_HZ = (300.0, 3400.0)
_BAND_SPEECH = (_FREQS >= SPEECH_BAND_HZ[0]) & (_FREQS <= SPEECH_BAND_HZ[1])
# one-sided power spectrum of a Hamming-windowed frame -> mean power per sample (Parseval,
# the window's own energy divided out), so band_level is in dBFS like level
_BAND_SCALE = 2.0 / (NFFT * np.sum(_WINDOW ** 2))

NAMES = ("level", "band_level", "voicing", "f0", "f1", "f2", "low", "flatness")


@dataclass
class VoiceFeatures:
    """Per-analysis-frame arrays; frame k is centred at ``(k + 0.5) * HOP / RATE`` seconds."""

    level: np.ndarray
    band_level: np.ndarray  # dBFS of 300-3400 Hz
    voicing: np.ndarray
    f0: np.ndarray
    f1: np.ndarray  # NaN where no formant was found
    f2: np.ndarray
    low: np.ndarray
    flatness: np.ndarray

    @property
    def count(self) -> int:
        return int(self.level.shape[0])

    def times(self) -> np.ndarray:
        return (np.arange(self.count) + 0.5) / FRAME_RATE


def _levinson(r: np.ndarray, order: int) -> np.ndarray:
    """LPC coefficients a (n, order+1), a[:, 0] = 1, from autocorrelations r (n, >= order+1)."""
    n = r.shape[0]
    a = np.zeros((n, order + 1))
    a[:, 0] = 1.0
    err = r[:, 0].copy()
    for i in range(1, order + 1):
        acc = r[:, i] + np.einsum("nj,nj->n", a[:, 1:i], r[:, i - 1:0:-1])
        k = -acc / np.maximum(err, 1e-12)
        k = np.clip(k, -0.9999, 0.9999)
        prev = a[:, 1:i].copy()
        a[:, 1:i] = prev + k[:, None] * prev[:, ::-1]
        a[:, i] = k
        err = err * (1.0 - k * k)
    return a


def _formants(a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """F1, F2 (Hz; NaN if absent) from the roots of each LPC polynomial."""
    n, p = a.shape[0], a.shape[1] - 1
    comp = np.zeros((n, p, p))
    comp[:, 0, :] = -a[:, 1:]
    comp[:, np.arange(1, p), np.arange(p - 1)] = 1.0
    roots = np.linalg.eigvals(comp)
    freq = np.angle(roots) * RATE / (2 * np.pi)
    bw = -np.log(np.maximum(np.abs(roots), 1e-9)) * RATE / np.pi
    # a formant: a resonance (upper half-plane root) of modest bandwidth away from DC and Nyquist
    ok = (roots.imag > 0) & (freq > 150) & (freq < RATE / 2 - 200) & (bw < 600)
    freq = np.where(ok, freq, np.inf)
    freq.sort(axis=1)
    f1 = freq[:, 0]
    # F2 must sit clearly above F1 (two roots of one broad peak are one formant)
    above = np.where(freq > f1[:, None] + 200, freq, np.inf)
    f2 = above.min(axis=1)
    f1 = np.where(np.isfinite(f1) & (f1 < 1300), f1, np.nan)
    f2 = np.where(np.isfinite(f2) & np.isfinite(f1) & (f2 < 3800), f2, np.nan)
    return f1, f2


def _analyse(frames: np.ndarray) -> dict[str, np.ndarray]:
    """Features of a stack of frames (n, WIN)."""
    x = frames.astype(np.float64)
    x = x - x.mean(axis=1, keepdims=True)
    power = np.mean(x * x, axis=1)
    level = 10 * np.log10(power + 1e-12)
    spec = np.abs(np.fft.rfft(x * _WINDOW, NFFT)) ** 2
    ac = np.fft.irfft(spec, NFFT)[:, :WIN]
    norm = ac[:, :1] + 1e-12
    lagged = ac[:, _LAG_LO:_LAG_HI] / norm / _W_AC[_LAG_LO:_LAG_HI]
    best = np.argmax(lagged, axis=1)
    voicing = np.clip(lagged[np.arange(len(best)), best], 0.0, 1.0)
    f0 = RATE / (best + _LAG_LO)
    total = spec[:, _BAND_ALL].sum(axis=1) + 1e-12
    low = spec[:, _BAND_LOW].sum(axis=1) / total
    band_level = 10 * np.log10(spec[:, _BAND_SPEECH].sum(axis=1) * _BAND_SCALE + 1e-12)
    band = spec[:, _BAND_FLAT] + 1e-12
    flatness = np.exp(np.mean(np.log(band), axis=1)) / np.mean(band, axis=1)
    f1 = np.full(len(x), np.nan)
    f2 = np.full(len(x), np.nan)
    # formants only where they are used: audible, (partly) voiced frames
    use = (level > SILENT_DB) & (voicing > 0.3)
    if use.any():
        # autocorrelation of the pre-emphasised windowed frame, straight from the plain one:
        # y = x[n] - a x[n-1]  =>  r_y(k) = (1 + a^2) r(k) - a (r(k-1) + r(k+1))
        r = ac[use, :ORDER + 2]
        pa = PRE_EMPHASIS
        prev = np.concatenate([r[:, 1:2], r[:, :ORDER]], axis=1)  # r(k-1), with r(-1) = r(1)
        r = (1 + pa * pa) * r[:, :ORDER + 1] - pa * (prev + r[:, 1:ORDER + 2])
        r[:, 0] *= 1.0 + 1e-6  # white-noise floor: keeps Levinson stable on pure tones
        a = _levinson(r, ORDER)
        f1[use], f2[use] = _formants(a)
    return {"level": level, "band_level": band_level, "voicing": voicing, "f0": f0, "f1": f1,
            "f2": f2, "low": low, "flatness": flatness}


class FeatureStream:
    """Feed PCM blocks at ``RATE``; collects features of every complete frame (memory: the
    features, ~60 bytes per 10 ms, never the signal)."""

    def __init__(self) -> None:
        # lead-in of silence so that frame k is centred on the k-th 10 ms of the signal
        self._tail = np.zeros((WIN - HOP) // 2, np.float32)
        self._parts: dict[str, list[np.ndarray]] = {k: [] for k in NAMES}
        self.samples = 0

    def push(self, block: np.ndarray) -> None:
        self.samples += int(block.size)
        buf = np.concatenate([self._tail, np.asarray(block, np.float32)])
        n = (buf.size - WIN) // HOP + 1 if buf.size >= WIN else 0
        if n <= 0:
            self._tail = buf
            return
        frames = np.lib.stride_tricks.sliding_window_view(buf, WIN)[::HOP][:n]
        feats = _analyse(frames)
        for k in NAMES:
            self._parts[k].append(feats[k])
        self._tail = buf[n * HOP:]

    def finish(self) -> VoiceFeatures:
        # pad with silence so that frames are centred up to the clip's last sample
        if self.samples:
            counted = self.samples
            self.push(np.zeros((WIN - HOP) // 2 + HOP - 1, np.float32))
            self.samples = counted
        return VoiceFeatures(**{k: (np.concatenate(v) if v else np.zeros(0)) for k, v in
                                self._parts.items()})


def analyse(blocks: Iterable[np.ndarray]) -> VoiceFeatures:
    """Features of a whole PCM stream given as blocks at ``RATE``."""
    stream = FeatureStream()
    for b in blocks:
        stream.push(b)
    return stream.finish()
