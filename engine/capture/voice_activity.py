"""Voice activity: per-10 ms level and voicing -> where someone is speaking (0/1 per frame).

Thresholds adapt to the recording: the noise floor is a low percentile of the frame levels, the
speech level a high one, and the switch-on level sits between them (never closer than 6 dB to
the floor, never more than 40 dB under the speech). Hysteresis (a lower switch-off level), a
minimum pause that splits speech and a hangover keep the mouth from chattering on noise; a
stretch with no voiced frame at all (a click, a breath, a door) is not speech.
"""

from __future__ import annotations

import numpy as np

from .voice_features import FRAME_RATE, VoiceFeatures

QUIET_DBFS = -55.0  # a recording whose speech level stays below this is treated as silence
MIN_VOICED_S = 0.04  # a speech stretch needs this much clearly voiced sound
VOICED = 0.45  # normalised autocorrelation peak of a voiced frame
HANGOVER_S = 0.05
MIN_GAP_S = 0.06  # pauses shorter than this (a stop consonant's closure) stay inside speech


def thresholds(level: np.ndarray) -> tuple[float, float, float, float]:
    """(floor, speech, on, off) levels in dBFS for this recording."""
    lv = np.maximum(level, -100.0)
    if lv.size == 0:
        return -100.0, -100.0, -94.0, -98.0
    floor = float(np.percentile(lv, 10))
    # the speech level among the frames clearly above the floor: a long recording with a few
    # words must not take its (quiet) 95th percentile for the voice
    loud = lv[lv > floor + 10.0]
    speech = float(np.percentile(loud if loud.size >= 10 else lv, 95))
    on = max(floor + 6.0, floor + 0.3 * (speech - floor), speech - 40.0)
    return floor, speech, on, on - 4.0


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """[start, stop) of each run of True."""
    if mask.size == 0:
        return []
    d = np.diff(np.concatenate([[0], mask.astype(np.int8), [0]]))
    return list(zip(np.flatnonzero(d == 1), np.flatnonzero(d == -1), strict=True))


def voice_activity(f: VoiceFeatures) -> tuple[np.ndarray, dict]:
    """Speech mask (bool per analysis frame) and the thresholds used."""
    n = f.count
    floor, speech, on, off = thresholds(f.level)
    info = {"floor_db": round(floor, 1), "speech_db": round(speech, 1), "on_db": round(on, 1),
            "off_db": round(off, 1)}
    if n == 0 or speech < QUIET_DBFS or speech - floor < 6.0:
        return np.zeros(n, bool), info
    # hysteresis: switch on above `on`, stay on until the level falls below `off`
    above_on, above_off = f.level > on, f.level > off
    mask = np.zeros(n, bool)
    for a, b in _runs(above_off):
        if above_on[a:b].any():
            mask[a:b] = True
    # close short pauses (stop closures), then drop stretches without voice
    min_gap = int(round(MIN_GAP_S * FRAME_RATE))
    for a, b in _runs(~mask):
        if 0 < a and b < n and b - a < min_gap:
            mask[a:b] = True
    voiced = (f.voicing > VOICED) & (f.level > off)
    need = max(1, int(round(MIN_VOICED_S * FRAME_RATE)))
    for a, b in _runs(mask):
        if voiced[a:b].sum() < need:
            mask[a:b] = False
    hang = int(round(HANGOVER_S * FRAME_RATE))
    if hang:
        ends = [b for _, b in _runs(mask)]
        for b in ends:
            mask[b:b + hang] = True
    return mask, info
