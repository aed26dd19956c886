"""A Motion -> per-shape-key value arrays, through mapping rows.

Sources: the 52 ARKit blendshapes (the tracker's scores when the motion has them, otherwise the
controls' approximation ``arkit.CONTROL_APPROX``), the 16 controls as they are, and five vowels
made from the mouth controls. Rows are evaluated together as one (frames, rows) array.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..controls import CONTROL_NAMES
from ..motion import Motion
from .arkit import ARKIT_NAMES, CONTROL_APPROX, GEOMETRY_ASSISTED, VOWEL_NAMES
from .matching import MappingRow, check_row

VOWEL_OPEN = 0.55  # mouth_open of a fully open A
VOWEL_SHAPE_GAIN = 1.5  # lip shape (wide - pucker) that counts as fully spread / rounded: 1 / 1.5
# mouth_open from close (I, U) to open (E, O) vowels, and over which the nearly-closed I and U fade
# in, per origin of the mouth curve. A face at rest keeps its lips a little apart and often rounded
# (mouth_open ~0.03, pucker ~0.2), which must not read as "U"; the voice capture rests at 0 in pauses
# and seals (zero-phase smoothing leaves tails below 0.003) and speaks I/U at ~0.01-0.06.
VOWEL_CLOSE_OPEN = {"face": (0.1, 0.55), "voice": (0.02, 0.15)}
VOWEL_GATE = {"face": (0.04, 0.12), "voice": (0.003, 0.015)}


def mouth_origin(motion: Motion) -> str:
    """"voice" when the motion's mouth curves come from a voice capture, else "face"."""
    src = motion.source if isinstance(motion.source, dict) else {}
    voiced = src.get("kind") == "audio" or src.get("mouth") == "voice" or bool(src.get("mouth_from_audio"))
    return "voice" if voiced else "face"


def neutral_index(motion: Motion) -> int | None:
    """Index (into the motion's frames) of the capture's calibration frame, if it has one."""
    frame = motion.calibration.get("frame") if isinstance(motion.calibration, dict) else None
    if not isinstance(frame, int):
        return None
    start = motion.source.get("start", 0) if isinstance(motion.source, dict) else 0
    i = frame - (start if isinstance(start, int) else 0)
    return i if 0 <= i < motion.frame_count else None


def vowels(motion: Motion) -> dict[str, np.ndarray]:
    """A I U E O weights from mouth_open / mouth_wide / mouth_pucker.

    The lip shape s = ``VOWEL_SHAPE_GAIN`` x (wide - pucker) (-1 rounded .. +1 spread) and the
    opening decide: A is the open mouth of neutral shape (amount = mouth_open / ``VOWEL_OPEN``);
    a spread mouth is I when nearly closed and E when open, a rounded one U when nearly closed and
    O when open, split by t = ramp of mouth_open over ``VOWEL_CLOSE_OPEN`` (spoken I/U open the
    mouth ~0.12-0.24, E/O ~0.41-0.5). I and U fade in over ``VOWEL_GATE``: a closed mouth says no
    vowel, however wide (a closed smile is not an "ee"). Tuned on the audio captures of the shared
    en/ja vowel recordings (tests/engine/test_rig.py)."""
    c = motion.controls
    origin = mouth_origin(motion)
    raw_open = np.clip(c["mouth_open"], 0.0, None)
    amount = np.clip(raw_open / VOWEL_OPEN, 0.0, 1.0)
    lo, hi = VOWEL_CLOSE_OPEN[origin]
    t = np.clip((raw_open - lo) / (hi - lo), 0.0, 1.0)
    shape = np.clip(VOWEL_SHAPE_GAIN * (np.clip(c["mouth_wide"], 0, 1) - np.clip(c["mouth_pucker"], 0, 1)),
                    -1.0, 1.0)
    spread, rounded = np.maximum(shape, 0.0), np.maximum(-shape, 0.0)
    lo, hi = VOWEL_GATE[origin]
    gate = np.clip((raw_open - lo) / (hi - lo), 0.0, 1.0)
    return {
        "vowel_a": amount * (1.0 - np.abs(shape)),
        "vowel_e": t * spread,
        "vowel_i": gate * (1.0 - t) * spread,
        "vowel_o": t * rounded,
        "vowel_u": gate * (1.0 - t) * rounded,
    }


def arkit_from_controls(motion: Motion, name: str) -> np.ndarray:
    """The controls' approximation of one ARKit blendshape (zeros when the table has none)."""
    terms, offset = CONTROL_APPROX.get(name, ((), 0.0))
    out = np.full(motion.frame_count, offset, np.float32)
    for control, gain in terms:
        out += gain * motion.controls[control]
    return np.clip(out, 0.0, 1.0) if terms else np.zeros(motion.frame_count, np.float32)


def source_arrays(motion: Motion, names: Sequence[str], calibrate: bool = True) -> dict[str, np.ndarray]:
    """Per-frame values of the sources ``names``.

    With ``calibrate``, tracker blendshapes are made relative to the capture's neutral frame,
    (v - v0) / (1 - v0) clipped to 0..1, like the controls: a tracker scores an open eye ~0.2
    eyeBlink, which would leave a character's eyes a fifth closed. Blink scores are assisted by
    the lid geometry (``arkit.GEOMETRY_ASSISTED``)."""
    out: dict[str, np.ndarray] = {}
    blend = motion.blendshapes if motion.blendshapes is not None and len(motion.blendshape_names) else None
    columns = {n: i for i, n in enumerate(motion.blendshape_names)} if blend is not None else {}
    neutral = neutral_index(motion) if calibrate else None
    vow = None
    for name in names:
        if name in out:
            continue
        if name in CONTROL_NAMES:
            out[name] = motion.controls[name].astype(np.float32)
        elif name in VOWEL_NAMES:
            vow = vow or vowels(motion)
            out[name] = vow[name].astype(np.float32)
        elif name in ARKIT_NAMES:
            if name in columns:
                v = blend[:, columns[name]].astype(np.float32)
                if neutral is not None:
                    v0 = float(v[neutral])
                    v = np.clip((v - v0) / max(1.0 - v0, 0.05), 0.0, 1.0)
                if name in GEOMETRY_ASSISTED:
                    v = np.maximum(v, arkit_from_controls(motion, name))
                out[name] = v
            else:  # no tracker scores (audio, portrait curves), or one the tracker lacks (tongueOut)
                out[name] = arkit_from_controls(motion, name)
        else:
            raise ValueError(f"unknown source {name!r}")
    return out


def evaluate(rows: Sequence[MappingRow], motion: Motion, calibrate: bool = True) -> np.ndarray:
    """(frame_count, len(rows)) float32: column j = clip(gain * source + offset, lo, hi) of row j.
    Callers leave disabled rows out."""
    for r in rows:
        check_row(r)
    src = source_arrays(motion, [r.source for r in rows], calibrate)
    out = np.empty((motion.frame_count, len(rows)), np.float32)
    for j, r in enumerate(rows):
        lo, hi = min(r.clamp_min, r.clamp_max), max(r.clamp_min, r.clamp_max)
        np.clip(r.gain * src[r.source] + r.offset, lo, hi, out=out[:, j])
    return out


def resample(values: np.ndarray, motion_fps: float, scene_fps: float, count: int) -> np.ndarray:
    """Rows of ``values`` (per motion frame) at ``count`` scene frames from the motion's start:
    scene frame k shows motion time k / scene_fps (linear interpolation, ends held)."""
    values = np.asarray(values)
    if values.shape[0] == 0:
        raise ValueError("nothing to resample")
    if abs(motion_fps - scene_fps) < 1e-6 and count == values.shape[0]:
        return values
    idx = np.clip(np.arange(count) * (motion_fps / scene_fps), 0, values.shape[0] - 1)
    lo = np.floor(idx).astype(int)
    hi = np.minimum(lo + 1, values.shape[0] - 1)
    t = (idx - lo).astype(np.float32).reshape((-1,) + (1,) * (values.ndim - 1))
    return values[lo] * (1 - t) + values[hi] * t


def scene_frame_count(motion: Motion, scene_fps: float) -> int:
    """Scene frames that cover the motion (played at its own rate)."""
    return max(1, int(round(motion.frame_count * scene_fps / motion.fps)))
