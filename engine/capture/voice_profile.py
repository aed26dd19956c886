"""Voice profile: one actor's calibration of the voice -> mouth mapping, as a small JSON file.

Learned from a clip that shows the actor's face and has their voice (``voice_calibration``),
used for their audio-only lines (``capture_audio(..., profile=...)``). It holds only the
method's own settings, a handful of numbers, never a model:

* ``open_mapping``: how loudness and F1 become ``mouth_open`` (``mouth_shapes.OpenMapping``):
  the method's own loudness exponent and F1 floor (fitted to the face they lowered held-out r,
  docs/audio_capture.md), and the gain and gamma that give this face's own openings (its p50
  and p90 while speaking; gamma taken half-way from the default);
* ``f1_hz``, ``f2_hz``: the speaker's formant ranges (p10, p90 over voiced speech), used in
  place of adult averages (at their weight) while a line is too short to measure them itself;
* ``trained_on``: where it came from and how well it fitted (for the record).

Format (``format``/``version`` checked on load; JSON, no pickle):

    {"format": "talking_head_voice_profile", "version": 1, "method": "lpc_formants_v3",
     "open_mapping": {"loudness_exp": 0.7, "floor": 0.2, "gain": 0.45, "gamma": 1.6},
     "f1_hz": [310.0, 720.0], "f2_hz": [1050.0, 2200.0], "trained_on": {...}}
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import EngineError
from .mouth_shapes import OpenMapping

FORMAT = "talking_head_voice_profile"
VERSION = 1
# allowed ranges: wide enough for any real speaker, narrow enough to catch a damaged file
LIMITS = {"loudness_exp": (0.0, 3.0), "floor": (0.0, 1.0), "gain": (0.01, 2.0), "gamma": (0.2, 5.0)}
F1_LIMITS, F2_LIMITS = (100.0, 1500.0), (400.0, 4000.0)
MAX_BYTES = 1 << 20
HINT = "learn one with `python -m engine voice-profile CLIP.mp4 -o actor.json`"


class VoiceProfileError(EngineError):
    """A voice profile file that cannot be used; the message names the file and the problem."""


@dataclass(frozen=True)
class VoiceProfile:
    open_mapping: OpenMapping
    f1_hz: tuple[float, float]
    f2_hz: tuple[float, float]
    trained_on: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        from .audio import METHOD

        return {"format": FORMAT, "version": VERSION, "method": METHOD,
                "open_mapping": {k: round(float(v), 4) for k, v in vars(self.open_mapping).items()},
                "f1_hz": [round(float(x), 1) for x in self.f1_hz],
                "f2_hz": [round(float(x), 1) for x in self.f2_hz], "trained_on": self.trained_on}

    def save(self, path: str | os.PathLike[str], *, overwrite: bool = True) -> Path:
        from ..outputs import write_text

        return write_text(path, json.dumps(self.to_dict(), indent=1) + "\n", overwrite=overwrite)


def _pair(doc: dict, key: str, limits: tuple[float, float]) -> tuple[float, float]:
    v = doc.get(key)
    if not (isinstance(v, list) and len(v) == 2 and all(_number(x) for x in v)):
        raise ValueError(f"'{key}' must be a list of two numbers")
    lo, hi = float(v[0]), float(v[1])
    if not limits[0] <= lo < hi <= limits[1]:
        raise ValueError(f"'{key}' {v} is not a rising pair within {limits[0]:g}-{limits[1]:g} Hz")
    return lo, hi


def _number(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def from_dict(doc: Any) -> VoiceProfile:
    """The profile in a parsed JSON document; ValueError with the reason when it is not one."""
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise ValueError(f"it is not a voice profile (no \"format\": \"{FORMAT}\")")
    version = doc.get("version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise ValueError("its 'version' is missing or not a whole number")
    if version > VERSION:
        raise ValueError(f"it is version {version}, newer than this Talking Head reads ({VERSION}); "
                         "update the extension")
    om = doc.get("open_mapping")
    if not isinstance(om, dict):
        raise ValueError("'open_mapping' is missing")
    values = {}
    for key, (lo, hi) in LIMITS.items():
        v = om.get(key)
        if not _number(v) or not lo <= v <= hi:
            raise ValueError(f"'open_mapping.{key}' must be a number in {lo:g}-{hi:g}, got {v!r}")
        values[key] = float(v)
    trained = doc.get("trained_on", {})
    if not isinstance(trained, dict):
        raise ValueError("'trained_on' must be an object")
    return VoiceProfile(OpenMapping(**values), _pair(doc, "f1_hz", F1_LIMITS),
                        _pair(doc, "f2_hz", F2_LIMITS), trained)


def loads(text: str, name: str = "voice profile") -> VoiceProfile:
    try:
        return from_dict(json.loads(text))
    except (ValueError, RecursionError) as exc:  # JSONDecodeError is a ValueError
        reason = f"invalid JSON ({exc})" if isinstance(exc, json.JSONDecodeError) else str(exc)
        raise VoiceProfileError(f"{name} is not a usable voice profile: {reason}; {HINT}") from None


def load(path: str | os.PathLike[str]) -> VoiceProfile:
    """Read and validate a profile file; one sentence (VoiceProfileError) when it is unusable."""
    p = Path(path)
    if not p.is_file():
        raise VoiceProfileError(f"voice profile not found: {p}; {HINT}")
    if p.stat().st_size > MAX_BYTES:
        raise VoiceProfileError(f"{p.name} is not a usable voice profile: it is over 1 MB; {HINT}")
    try:
        text = p.read_text(encoding="utf-8")
    except UnicodeError:
        raise VoiceProfileError(f"{p.name} is not a usable voice profile: not UTF-8 text; {HINT}") from None
    return loads(text, p.name)
