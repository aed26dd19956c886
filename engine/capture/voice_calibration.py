"""Learn a voice profile from a clip with the actor's face and voice (``voice_profile.py``).

The face capture of the clip says how this actor's mouth actually moves while this voice is
heard; the profile calibrates the voice method's own few settings to it -- not a regression
from the spectrum (a ridge regression from 24 log-mel bands with +-4 frames of context, fit on
half of each shared clip, reached only r 0.29-0.48 on the other half, below the formant method):

1. the clip's own audio/video offset: the lag (within +-0.4 s) where the default voice mouth
   best matches the face; it belongs to that recording, not to the actor, so it is used for
   fitting only and not stored;
2. ``gain`` and ``gamma``: the power curve that maps the voice mouth's p50 and p90 while
   speaking onto the face's at that offset (this actor's own range of openings), its gamma
   taken half-way from the default (``GAMMA_WEIGHT``: gamma also changes the curve's shape,
   and the fully fitted one lowered held-out r by up to 0.031), the gain then matching p90;
3. the speaker's F1 and F2 ranges (p10, p90 over voiced speech).

Left out, measured held out (benchmarks/eval_voice_profile.py, docs/audio_capture.md): anything
that changes the curve's shape for r -- the loudness band's lower edge, its weight against the
broadband level, a slow loudness baseline, the loudness exponent and F1 floor, gamma chosen for r,
the smoothing, the voice-activity threshold, a ridge model on the method's own per-frame
features -- each chosen by an inner cross-validation inside the training part; none raised
held-out r on most splits, so the profile keeps the defaults there.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import numpy as np

from ..progress import Progress
from . import voice_features as vf
from .audio import CONTEXT_S, LEAD_S, frame_average
from .mouth_shapes import OpenMapping, open_parts, smooth
from .voice_activity import voice_activity
from .voice_profile import VoiceProfile

MAX_LAG_S = 0.4
GAMMA_RANGE, GAIN_RANGE = (0.5, 4.0), (0.05, 1.5)
MIN_OPEN = 0.01  # a face that barely opens still gets a defined gamma
MIN_SPEECH_FRAMES = 50
# gamma shapes the curve (Pearson r sees it): the fitted gamma is taken only half-way from the
# default (geometric mean), which held out lowered r by at most 0.014 instead of 0.031 while
# keeping most of the amplitude gain (docs/audio_capture.md)
GAMMA_WEIGHT = 0.5


class _TooLittleSpeech(Exception):
    pass


def lagged_r(a: np.ndarray, b: np.ndarray, max_lag: int) -> dict[int, float]:
    """Pearson r of a[t + lag] against b[t] for every lag in +-max_lag (0 where flat)."""
    n = min(a.size, b.size)
    a, b = a[:n], b[:n]
    out = {}
    for lag in range(-max_lag, max_lag + 1):
        x, y = (a[lag:], b[:n - lag]) if lag >= 0 else (a[:n + lag], b[-lag:])
        ok = x.size > 2 and x.std() > 1e-9 and y.std() > 1e-9
        out[lag] = float(np.corrcoef(x, y)[0, 1]) if ok else 0.0
    return out


def _shift(x: np.ndarray, lag: int) -> np.ndarray:
    """x[t + lag] on x's own grid (edge values held)."""
    idx = np.clip(np.arange(x.size) + lag, 0, x.size - 1)
    return x[idx]


def fit_open_mapping(parts: dict, frame_curve: Callable[[np.ndarray], np.ndarray],
                     mouth: np.ndarray, use: np.ndarray, fps: float,
                     gamma_weight: float = GAMMA_WEIGHT) -> tuple[OpenMapping, dict]:
    """Steps 1-2 of the module doc: the mapping, and what was measured on the way."""
    default = OpenMapping()
    r = parts["act"] * parts["loud"] ** default.loudness_exp * (
        default.floor + (1 - default.floor) * parts["o"])
    raw = frame_curve(smooth(r))
    rs = lagged_r(raw[use], mouth[use], int(round(MAX_LAG_S * fps)))
    lag = max(rs, key=rs.get)
    x = _shift(raw, lag)[use]
    speaking = x > 0  # the voice mouth is exactly 0 outside speech
    if speaking.sum() < MIN_SPEECH_FRAMES:
        raise _TooLittleSpeech
    x50, x90 = np.percentile(x[speaking], (50, 90))
    y50, y90 = np.maximum(np.percentile(mouth[use][speaking], (50, 90)), MIN_OPEN)
    y90 = max(y90, y50 * 1.5)
    x50 = min(max(x50, 1e-3), x90 * 0.95)
    fitted = float(np.clip(np.log(y90 / y50) / np.log(x90 / x50), *GAMMA_RANGE))
    gamma = float(default.gamma * (fitted / default.gamma) ** gamma_weight)
    gain = float(np.clip(y90 / x90 ** gamma, *GAIN_RANGE))
    mapping = OpenMapping(gain=gain, gamma=gamma)
    return mapping, {"offset_frames": int(lag), "r": round(rs[lag], 3), "gamma_fitted": round(fitted, 3),
                     "face_p50_p90": [round(float(y50), 3), round(float(y90), 3)]}


def learn_from_face(clip: str | os.PathLike[str], mouth: np.ndarray, tracked: np.ndarray,
                    fps: float, start: int = 0, gamma_weight: float = GAMMA_WEIGHT) -> VoiceProfile:
    """The profile from ``clip``'s voice and its face's ``mouth_open`` for frames
    [start, start + len(mouth)) at ``fps`` (``tracked``: where the face was found)."""
    from ..media.audio import read_pcm
    from .voice_profile import VoiceProfileError

    n = mouth.size
    a0 = max(0.0, start / fps - CONTEXT_S)
    span = (start + n) / fps + CONTEXT_S - a0
    feats = vf.analyse(read_pcm(clip, vf.RATE, start=a0, duration=span))
    speech, _ = voice_activity(feats)
    parts = open_parts(feats, speech)
    k = np.arange(start, start + n)
    t0, t1 = (k - 0.5) / fps - a0 + LEAD_S, (k + 0.5) / fps - a0 + LEAD_S

    def frame_curve(x: np.ndarray) -> np.ndarray:
        return frame_average(x, t0, t1)

    name = Path(clip).name
    if not tracked.any():
        raise VoiceProfileError(f"no face found in {name}: a voice profile needs the actor's face")
    try:
        mapping, fit = fit_open_mapping(parts, frame_curve, np.asarray(mouth, np.float64),
                                        np.asarray(tracked, bool), fps, gamma_weight)
    except _TooLittleSpeech:
        raise VoiceProfileError(f"{name} has too little speech with the face in view (under "
                                f"{MIN_SPEECH_FRAMES} frames) to learn a voice profile; give a "
                                "clip where the actor talks for a few seconds") from None
    v = parts["voiced"]
    f1 = np.percentile(feats.f1[v], (10, 90)) if v.sum() > 10 else (300.0, 800.0)
    f2 = np.percentile(feats.f2[v], (10, 90)) if v.sum() > 10 else (950.0, 2300.0)
    from ..file_hash import file_sha256 as _sha256

    trained = {"file": name, "sha256": _sha256(Path(clip)), "frames": [int(start), int(start + n - 1)],
               "fps": float(fps), "voiced_seconds": round(float(v.sum()) / vf.FRAME_RATE, 1), **fit}
    return VoiceProfile(mapping, (float(f1[0]), float(f1[1])), (float(f2[0]), float(f2[1])), trained)


def learn_profile(clip: str | os.PathLike[str], *, start: int = 0, stop: int | None = None,
                  progress: Progress | None = None) -> VoiceProfile:
    """Capture the face of ``clip`` (frames [start, stop)) and learn the profile of its voice."""
    from .video import capture

    face = capture(clip, start=start, stop=stop, smoothing=0.0, progress=progress)
    return learn_from_face(clip, face.controls["mouth_open"], face.tracked, face.fps, start)
