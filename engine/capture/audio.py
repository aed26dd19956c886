"""Capture from a voice: audio file (or a video's audio track) -> Motion (same 16 controls).

Streams the sound through ffmpeg at 11 kHz mono (``engine.media.audio``), measures it every 10 ms
(``voice_features``), finds speech (``voice_activity``), turns formants and loudness into mouth
shapes (``mouth_shapes``) and adds optional idle life (``idle_life``). The 10 ms curves are then
averaged over each output frame's interval, so any frame rate gets the same motion. Memory: the
features (tens of bytes per 10 ms), never the signal.

Frame k of the motion shows the instant k / fps of the audio track, like frame k of a video at
that rate (its picture is taken at its timestamp): the 10 ms curves are averaged over the frame
interval *centred* there, [(k - 0.5) / fps, (k + 0.5) / fps). The mouth leads the sound by
``LEAD_S`` because lips and jaw move into a sound before it is heard (anticipatory
coarticulation); its value was measured (docs/audio_capture.md), and all smoothing is
zero-phase, so nothing else shifts the mouth in time.
"""

from __future__ import annotations

import contextlib
import math
import os
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..controls import CONTROL_NAMES, CONTROLS_BY_NAME, NEUTRAL
from ..errors import EngineError
from ..file_hash import file_sha256 as _sha256
from ..media.audio import AudioInfo, probe_audio, read_pcm
from ..media.video import MediaError
from ..motion import Motion
from ..notices import warn
from ..progress import Progress
from . import voice_features as vf
from .idle_life import idle_life, stress_peaks
from .mouth_shapes import SMOOTH_S, mouth_shapes
from .voice_activity import VOICED, voice_activity

if TYPE_CHECKING:
    from .voice_profile import VoiceProfile

METHOD = "lpc_formants_v3"  # v3: the mouth's loudness from the 300-3400 Hz band
LEAD_S = 0.02
CONTEXT_S = 1.0  # audio analysed around a frame range so its edges see their surroundings
# Decoding that ends this much before the header's duration is damage, not codec padding (AAC
# priming and frame rounding are tens of milliseconds).
TRUNCATED_S = 0.15
MOUTH = ("mouth_open", "mouth_wide", "mouth_pucker", "mouth_smile")


class AudioCaptureError(EngineError):
    """Audio capture could not produce motion; the message says what to do."""



def _expected(probing: Future, a0: float, span: float | None) -> float | None:
    """Seconds the decoding will deliver, once the probe has said how long the sound is."""
    if not probing.done() or probing.exception() is not None:
        return span
    duration = probing.result().duration
    if duration is None:
        return span
    return duration - a0 if span is None else min(duration - a0, span)


def _missing_tail(info: AudioInfo, end_s: float, fps: float, stop: int | None) -> int | None:
    """The frame where the captured range should end when the decoding stopped short of what
    the file's header promises (a cut or damaged file), None when it did not (within
    TRUNCATED_S: codecs pad and trim a few milliseconds). Capped at engine/limits.py's
    MAX_UNDECODED_FRAMES past the decoded end: a corrupt header must not size the arrays."""
    from ..limits import MAX_UNDECODED_FRAMES

    if info.declared is None:
        return None
    wanted_s = info.declared if stop is None else min(stop / fps, info.declared)
    if wanted_s - end_s <= TRUNCATED_S:
        return None
    decoded_last = int(math.ceil(end_s * fps - 1e-6))
    return min(int(math.ceil(wanted_s * fps - 1e-6)), decoded_last + MAX_UNDECODED_FRAMES)


def _missing_warning(name: str, missing: list[int], end_s: float, declared_s: float) -> str:
    """As video damage is reported (capture.video.missing_frames_warning): how much, which frames."""
    frames = str(missing[0]) if len(missing) == 1 else f"{missing[0]}-{missing[-1]}"
    return (f"{name}: {len(missing)} frame(s) could not be decoded (damaged or truncated file: "
            f"the sound stops at {end_s:.2f} s of the {declared_s:.2f} s its header declares, "
            f"{declared_s - end_s:.2f} s missing): frames {frames}; they are marked untracked and "
            "keep the mouth closed")


def frame_average(values: np.ndarray, t0: np.ndarray, t1: np.ndarray) -> np.ndarray:
    """Mean of a 10 ms series over each interval [t0, t1) in seconds (box filter: anti-aliasing
    for any output frame rate)."""
    if values.size == 0:
        return np.zeros(t0.shape)
    edges = np.arange(values.size + 1) / vf.FRAME_RATE
    cum = np.concatenate([[0.0], np.cumsum(values, dtype=np.float64)]) / vf.FRAME_RATE
    a = np.interp(t0, edges, cum)
    b = np.interp(t1, edges, cum)
    return (b - a) / np.maximum(t1 - t0, 1e-9)


def capture_audio(path: str | os.PathLike[str], *, fps: float = 25.0, start: int = 0,
                  stop: int | None = None, blinks: float = 1.0, head_motion: float = 1.0,
                  seed: int = 0, progress: Progress | None = None,
                  profile: VoiceProfile | None = None) -> Motion:
    """Motion for frames [start, stop) at ``fps`` of the first audio track of ``path``.

    ``blinks`` and ``head_motion`` (0..1, 0 = off) scale the idle life; ``seed`` makes it
    repeatable; ``profile`` (an actor's voice profile, ``voice_profile.py``) replaces the default
    loudness/F1 -> opening mapping and the adult formant ranges. Raises ``MediaError`` for
    unreadable files, ``AudioCaptureError`` for a range outside the sound."""
    p = Path(path)
    if not (isinstance(fps, (int, float)) and math.isfinite(fps) and 1 <= fps <= 1000):
        raise AudioCaptureError(f"frame rate {fps!r} is not usable; give --fps between 1 and 1000")
    if start < 0 or (stop is not None and stop <= start):
        raise AudioCaptureError(f"empty frame range {start}-{stop}: give start < stop")
    if not p.is_file():
        raise MediaError(f"audio file not found: {p}")
    t_start = start / fps
    a0 = max(0.0, t_start - CONTEXT_S)
    span = None if stop is None else stop / fps + CONTEXT_S - a0
    stream = vf.FeatureStream()
    # The probe (stream facts for the record, duration for the progress bar) runs beside the
    # decoding: both start an ffmpeg process, and on short clips that start-up is most of the time.
    with ThreadPoolExecutor(1) as pool:
        probing = pool.submit(probe_audio, p)
        try:
            # closing(): a cancel (Progress raises) stops ffmpeg at once, not at garbage collection
            with contextlib.closing(read_pcm(p, vf.RATE, start=a0, duration=span)) as blocks:
                for block in blocks:
                    stream.push(block)
                    if progress is not None:
                        done = stream.samples / vf.RATE
                        total = _expected(probing, a0, span) or done
                        progress.update(int(done * 10), max(int(max(total, done) * 10), 1),
                                        "listening")
        except MediaError:
            probing.result()  # its message is the more precise one (no audio track, corrupt)
            raise
        info: AudioInfo = probing.result()
    if info.duration is not None and t_start >= info.duration:
        raise AudioCaptureError(f"frame {start} is past the end of the sound in {p.name} "
                                f"({info.duration:.2f} s = {int(info.duration * fps)} frames at "
                                f"{fps:g} fps); pick frames inside it")
    feats = stream.finish()
    decoded_s = stream.samples / vf.RATE
    if decoded_s <= 0:
        raise AudioCaptureError(f"no sound could be decoded from {p.name}; check the file")
    speech, vad = voice_activity(feats)
    shapes, norm = (mouth_shapes(feats, speech) if profile is None else
                    mouth_shapes(feats, speech, profile.open_mapping, (profile.f1_hz, profile.f2_hz)))
    end_s = a0 + decoded_s
    last = int(math.ceil(end_s * fps - 1e-6))  # the first frame with no decoded sound at all
    decoded_last = last
    lost = _missing_tail(info, end_s, fps, stop)
    if lost is not None:  # a truncated or damaged file: the frames it promised are kept, marked
        last = lost
    stop_f = last if stop is None else min(stop, last)
    if stop_f <= start:
        raise AudioCaptureError(f"frames {start}-{stop} lie past the end of the sound in {p.name}")
    k = np.arange(start, stop_f)
    n = k.size
    # frame intervals centred on the frames' instants, in the analysed excerpt's time (from a0)
    t0, t1 = (k - 0.5) / fps - a0, (k + 0.5) / fps - a0
    # frame 0's interval starts half a frame before the sound: average over the part that exists
    t0 = np.maximum(t0, -LEAD_S)
    controls = {name: np.full(n, NEUTRAL[name], np.float64) for name in CONTROL_NAMES}
    for name in MOUTH:
        controls[name] = frame_average(shapes[name], t0 + LEAD_S, t1 + LEAD_S)
    activity = frame_average(speech.astype(np.float64), t0, t1)
    # idle life on the same frame grid
    times = feats.times()
    loudness = np.clip(1 + (feats.level - vad["speech_db"]) / 20.0, 0, 1)
    voiced = speech & (feats.voicing > VOICED)
    stress = stress_peaks(times, loudness, feats.f0, voiced)
    d = np.diff(np.concatenate([[0], speech.astype(np.int8), [0]]))
    pauses = a0 + np.flatnonzero(d == -1) / vf.FRAME_RATE
    # absolute times: a frame range gets the same blinks and head motion as the whole clip
    life = idle_life(k / fps, activity, (stress[0] + a0, stress[1]), pauses, seed=seed,
                     blinks=blinks, head_motion=head_motion)
    controls.update(life)
    for name, v in controls.items():
        spec = CONTROLS_BY_NAME[name]
        controls[name] = np.clip(v, spec.hard_min, spec.hard_max).astype(np.float32)
    source = {"kind": "audio", "path": str(p), "sha256": _sha256(p), "method": METHOD,
              "sample_rate": info.sample_rate, "channels": info.channels, "codec": info.codec,
              "duration": info.duration, "has_video": info.has_video, "fps": float(fps),
              "frame_count": int(math.ceil((info.duration or end_s) * fps - 1e-6)),
              "start": int(start), "analysis_rate": vf.RATE, "decoded_seconds": round(decoded_s, 3),
              "speech_seconds": round(float(speech.sum()) / vf.FRAME_RATE, 2),
              "idle_life": {"seed": int(seed), "blinks": float(np.clip(blinks, 0, 1)),
                            "head_motion": float(np.clip(head_motion, 0, 1)),
                            "stressed_syllables": int(stress[0].size)}}
    tracked = k < decoded_last
    if not tracked.all():
        missing = [int(f) for f in k[~tracked]]
        warn(_missing_warning(p.name, missing, end_s, info.declared or end_s))
        source["missing_frames"] = [[missing[0], missing[-1]]]
        source["missing_seconds"] = round(float((info.declared or end_s) - end_s), 3)
    return Motion(
        fps=float(fps), controls=controls, confidence=np.clip(activity, 0, 1).astype(np.float32),
        tracked=tracked, blendshapes=None, source=source,
        calibration={"method": "speaker_percentiles" if profile is None else "voice_profile", **norm,
                     "voice_activity": vad,
                     **({} if profile is None else {"profile": profile.trained_on})},
        filter={"name": "zero_phase_gaussian", "sigma_s": SMOOTH_S, "median_s": 0.05,
                "lead_s": LEAD_S, "frame_centred": True},
    )
