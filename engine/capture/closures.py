"""Lip closures heard in the voice: where p/b/m seal the lips inside speech.

A bilabial stop (p, b) is a short near-silence between two voiced sounds: the lips are shut
while the pressure builds, then the burst. A bilabial nasal (m) keeps the voice on, but nearly
all its energy sits below 400 Hz and it is quieter than the vowels around it (nasal murmur).
Both are found as short runs inside speech, with voiced sound on each side: far quieter than
the speaker's speech level (a stop closure) or a nasal murmur. The mouth is then held shut for
the whole run (a seal), not merely dipped by the smoothing of the loudness.

The voice cannot tell p/b/m from t/d/n or k/g (the tongue closes those behind open lips); all
are sealed, which is what Rhubarb and hand-made charts do for lips too in fast speech.
"""

from __future__ import annotations

import numpy as np

from .voice_activity import VOICED
from .voice_features import FRAME_RATE, VoiceFeatures

CLOSURE_DB = 22.0  # a stop closure: this far under the speaker's speech level (a fricative is not)
MIN_SEAL_S, MAX_SEAL_S = 0.03, 0.25  # shorter: a dip between syllables; longer: a pause
NEIGHBOUR_S = 0.12  # voiced sound must lie this close on both sides
MURMUR_LOW = 0.75  # share of the 80-4000 Hz energy under 400 Hz in a nasal murmur (vowels: < 0.3)
MURMUR_DB = 6.0  # ... and at least this much quieter than the speech (a loud dark /u/ is no m)


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    d = np.diff(np.concatenate([[0], mask.astype(np.int8), [0]]))
    return list(zip(np.flatnonzero(d == 1), np.flatnonzero(d == -1), strict=True))


def seals(f: VoiceFeatures, speech: np.ndarray, speech_level: np.ndarray) -> np.ndarray:
    """Per analysis frame: True where the lips are held shut inside speech (``speech_level``:
    the speaker's running speech level in dBFS per frame)."""
    out = np.zeros(f.count, bool)
    murmur = (f.low > MURMUR_LOW) & (f.level < speech_level - MURMUR_DB)
    closed = speech & ((f.level < speech_level - CLOSURE_DB) | murmur)
    voiced = speech & (f.voicing > VOICED) & ~closed
    lo, hi = int(round(MIN_SEAL_S * FRAME_RATE)), int(round(MAX_SEAL_S * FRAME_RATE))
    near = int(round(NEIGHBOUR_S * FRAME_RATE))
    for a, b in _runs(closed):
        if lo <= b - a <= hi and voiced[max(0, a - near):a].any() and voiced[b:b + near].any():
            out[a:b] = True
    return out
