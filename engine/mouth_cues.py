"""Mouth cues for 2D characters: a motion's mouth controls -> Rhubarb Lip Sync's shapes A-H, X.

A mouth chart (drawings, Grease Pencil frames, an image sequence) shows one of a few shapes at a
time. Rhubarb Lip Sync's nine are the common vocabulary (its README):

  A closed (M, B, P)                 B slightly open, teeth clenched (most consonants, EE)
  C open (EH as in men, AE as in bat) D wide open (AA as in father)
  E slightly rounded (AO, ER)        F puckered (UW, OW, W)
  G upper teeth on the lower lip (F, V)   H tongue raised (long L)
  X idle: the mouth at rest in pauses

The shapes are read from the motion's mouth controls (``mouth_open``, ``mouth_wide``,
``mouth_pucker``), so a
voice capture and a video capture give cues the same way. Openings are judged against the
performance's own wide opening (p90 while the mouth moves), as a chart's D is "this character's
widest", not an absolute jaw angle. A closure inside speech (a p/b/m seal of the voice capture,
closed lips in a video) is A; a closure longer than ``IDLE_S``, at either end, or outside the
speech a voice capture found is the rest shape X. G and H are never produced: the controls do not
carry teeth-on-lip or the tongue (docs/audio_capture.md: why f/v could not be measured), but a
target set with G/H is accepted for charts that have them.

Flicker: as Rhubarb does, no shape stays on screen for less than ``MIN_SHAPE_S`` (shorter runs
are absorbed by their longer neighbour), and an open or closed stretch shorter than
``MIN_SEGMENT_S`` is lengthened by taking time from the shape before it (so a one-frame seal
still shows); a closure is never dropped, even where it cannot be lengthened. Times are in
seconds; frame ``k`` (instant k/fps) lies inside its cue.

Formats (Rhubarb's exporters): TSV lines ``start<TAB>shape`` with a last line ``end<TAB>X`` (the
mouth after the end); JSON ``{"metadata": {"soundFile", "duration"}, "mouthCues": [{"start",
"end", "value"}]}``. Times have two decimals, as Rhubarb writes them.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .errors import EngineError
from .motion import Motion

SHAPES = "ABCDEFGHX"
BASIC = "ABCDEF"  # every target set has them; the extended ones fall back as Rhubarb's do:
FALLBACK = {"G": "B", "H": "C", "X": "A"}  # (Rhubarb's getBasicShape)
MIN_SHAPE_S = 0.07  # Rhubarb: "5 to 7 cs, with 7 cs sometimes looking just marginally better"
MIN_SEGMENT_S = 0.08  # Rhubarb: an open or closed stretch must last this long to register
IDLE_S = 0.3  # a closure longer than a p/b/m seal (closures.py: 250 ms at most) is a pause
SHUT_ABS = 0.005  # mouth_open under this is shut whatever the lips' shape (seals reach 0.000)
CLOSED_ABS = 0.02  # ... and under this too, unless the lips are spread or rounded
CLOSED_REL = 0.12  # ... and so is anything under this share of the performance's wide opening
WIDE_FLOOR = 0.1  # the wide opening is at least this (a mumbled take does not make every gap a D)
OPEN_C, OPEN_D = 0.3, 0.7  # share of the wide opening: B below C, C below D, D above
PUCKER_F, PUCKER_E = 0.45, 0.25  # mouth_pucker: puckered (F), slightly rounded (E)
SPREAD_B = 0.3  # mouth_wide: lips spread over clenched teeth (EE) is B however small the opening
MAX_CUE_FILE_BYTES = 64 * 1024 * 1024


class CueError(EngineError, ValueError):
    """Bad shape set or cue file; the message says what to fix."""


@dataclass(frozen=True)
class Cue:
    start: float
    end: float
    value: str


def target_shapes(shapes: str | None) -> str:
    """A checked target shape set in A..X order: Rhubarb's basic A-F plus any of G, H, X."""
    text = SHAPES if shapes is None else str(shapes).strip().upper()
    bad = sorted(set(text) - set(SHAPES))
    if bad or not text:
        raise CueError(f"shapes {shapes!r}: use letters from {SHAPES} (e.g. ABCDEF or ABCDEFGHX)")
    missing = [s for s in BASIC if s not in text]
    if missing:
        raise CueError(f"shapes {shapes!r} lack the basic shape(s) {''.join(missing)}: every "
                       "mouth chart has A-F (G, H and X are optional, as in Rhubarb)")
    return "".join(s for s in SHAPES if s in text)


def frame_shapes(motion: Motion) -> np.ndarray:
    """One shape letter per frame, before the hold rules (``cues`` applies them)."""
    o = np.asarray(motion.controls["mouth_open"], np.float64)
    pucker = np.asarray(motion.controls["mouth_pucker"], np.float64)
    spread = np.asarray(motion.controls["mouth_wide"], np.float64)
    n = o.size
    speaking = np.ones(n, bool)
    if motion.source.get("kind") == "audio":  # its confidence is the share of the frame with speech
        speaking = np.asarray(motion.confidence) >= 0.5
    moving = speaking & (o >= CLOSED_ABS)
    wide = max(float(np.percentile(o[moving], 90)) if moving.any() else 0.0, WIDE_FLOOR)
    rel = o / wide
    out = np.full(n, "B", dtype="<U1")
    out[rel >= OPEN_C] = "C"
    out[rel >= OPEN_D] = "D"
    out[pucker >= PUCKER_E] = "E"
    out[(pucker >= PUCKER_F) & (rel < OPEN_D)] = "F"
    # a spread or rounded mouth is not shut even when the jaw barely moves (EE is B in Rhubarb)
    shaped = (spread >= SPREAD_B) | (pucker >= PUCKER_E)
    closed = ~speaking | (o < SHUT_ABS) | (((o < CLOSED_ABS) | (rel < CLOSED_REL)) & ~shaped)
    out[closed] = "A"
    idle_frames = IDLE_S * motion.fps
    for a, b in _runs(closed):
        if b - a > idle_frames or a == 0 or b == n or not speaking[a:b].all():
            out[a:b] = "X"
    return out


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    d = np.diff(np.concatenate([[0], mask.astype(np.int8), [0]]))
    return list(zip(np.flatnonzero(d == 1).tolist(), np.flatnonzero(d == -1).tolist(), strict=True))


def _letter_runs(letters: np.ndarray) -> list[list]:
    """[[shape, frames], ...] for consecutive equal letters."""
    runs: list[list] = []
    for s in letters.tolist():
        if runs and runs[-1][0] == s:
            runs[-1][1] += 1
        else:
            runs.append([s, 1])
    return runs


def _join(runs: list[list]) -> list[list]:
    out: list[list] = []
    for s, k in runs:
        if k <= 0:
            continue
        if out and out[-1][0] == s:
            out[-1][1] += k
        else:
            out.append([s, k])
    return out


def _absorb_short(runs: list[list], min_frames: int) -> list[list]:
    """Open shapes shorter than ``min_frames`` join their longer open neighbour (within one
    open stretch; closures and rests are never absorbed: they are handled by _lengthen)."""
    out: list[list] = []
    i = 0
    while i < len(runs):  # one open stretch at a time: few runs each, shortest first
        if runs[i][0] in "AX":
            out.append(runs[i])
            i += 1
            continue
        j = i
        while j < len(runs) and runs[j][0] not in "AX":
            j += 1
        seg = [list(r) for r in runs[i:j]]
        while len(seg) > 1:
            k = min(range(len(seg)), key=lambda m: seg[m][1])
            if seg[k][1] >= min_frames:
                break
            left = seg[k - 1][1] if k > 0 else -1
            right = seg[k + 1][1] if k + 1 < len(seg) else -1
            into = k - 1 if left >= right else k + 1
            seg[into][1] += seg[k][1]
            del seg[k]
            seg = _join(seg)
        out.extend(seg)
        i = j
    return _join(out)


def _lengthen(runs: list[list], min_frames: int) -> list[list]:
    """Every open stretch and every closure A lasts ``min_frames``: a shorter one takes the
    frames it lacks from the run before it (Rhubarb extends to the left), else from the run
    after it, down to one frame of it (as Rhubarb does; _drop_short then removes such slivers)."""
    runs = [list(r) for r in runs]

    def stretch_end(i: int) -> int:  # the run after the stretch that starts at i
        j = i + 1
        if runs[i][0] != "A":
            while j < len(runs) and runs[j][0] not in "AX":
                j += 1
        return j

    i = 0
    while i < len(runs):
        if runs[i][0] == "X":
            i += 1
            continue
        j = stretch_end(i)
        need = min_frames - sum(r[1] for r in runs[i:j])
        for donor, taker in ((i - 1, i), (j, j - 1)):
            if need <= 0:
                break
            if 0 <= donor < len(runs):
                spare = runs[donor][1] - 1  # as Rhubarb: the donor may shrink to a sliver
                give = max(0, min(need, spare))
                runs[donor][1] -= give
                runs[taker][1] += give
                need -= give
        i = j
    return _join(runs)


def _drop_short(runs: list[list], min_frames: int) -> list[list]:
    """A sliver left by _lengthen joins its longer neighbour (one pass, left to right): a shape
    that cannot be held is not shown. Closures are kept however short (a lost p/b/m is the
    worst lip-sync error)."""
    runs = [list(r) for r in runs]
    out: list[list] = []
    for i, run in enumerate(runs):
        if run[1] <= 0:
            continue
        if run[1] < min_frames and run[0] != "A" and (out or i + 1 < len(runs)):
            after = runs[i + 1] if i + 1 < len(runs) else None
            if out and (after is None or out[-1][1] >= after[1]):
                out[-1][1] += run[1]
            else:
                after[1] += run[1]
            continue
        if out and out[-1][0] == run[0]:
            out[-1][1] += run[1]
        else:
            out.append(run)
    return out


def cues(motion: Motion, shapes: str | None = None) -> list[Cue]:
    """The motion's mouth as cues over [0, frame_count / fps), in the target ``shapes``."""
    target = target_shapes(shapes)
    letters = frame_shapes(motion)
    for ext, basic in FALLBACK.items():
        if ext not in target:
            letters[letters == ext] = basic
    fps = float(motion.fps)
    min_shape = max(1, math.ceil(MIN_SHAPE_S * fps - 1e-9))
    min_segment = max(1, math.ceil(MIN_SEGMENT_S * fps - 1e-9))
    runs = _lengthen(_absorb_short(_letter_runs(letters), min_shape), min_segment)
    runs = _drop_short(runs, min_shape)
    out: list[Cue] = []
    frame = 0
    n = letters.size
    for s, k in runs:
        # frame k shows the instant k / fps: its cue spans the half frames around it
        start = 0.0 if frame == 0 else (frame - 0.5) / fps
        end = n / fps if frame + k == n else (frame + k - 0.5) / fps
        out.append(Cue(start, end, s))
        frame += k
    return out


def resample(motion: Motion, fps: float) -> Motion:
    """The motion's controls at another frame rate (linear in time; frame k = instant k / fps),
    so cues can be made for a chart animated at another rate than the capture."""
    n = max(1, int(math.floor(motion.duration * fps + 1e-6)))
    t_new = np.arange(n) / fps
    t_old = np.arange(motion.frame_count) / motion.fps
    controls = {k: np.interp(t_new, t_old, v) for k, v in motion.controls.items()}
    return Motion(fps=float(fps), controls=controls,
                  confidence=np.interp(t_new, t_old, motion.confidence), source=dict(motion.source))


def cue_at_frames(cue_list: list[Cue], fps: float, frame_count: int) -> list[str]:
    """The shape each frame 0..frame_count-1 shows (its instant k / fps inside the cue)."""
    starts = np.array([c.start for c in cue_list])
    t = np.arange(frame_count) / fps
    idx = np.clip(np.searchsorted(starts, t + 1e-6, side="right") - 1, 0, len(cue_list) - 1)
    return [cue_list[i].value for i in idx]


# -- Rhubarb's file formats -------------------------------------------------------------------

def _t(x: float) -> str:
    return f"{x:.2f}"  # Rhubarb's formatDuration: seconds, two decimals


def to_tsv(cue_list: list[Cue], duration: float, shapes: str | None = None) -> str:
    """Rhubarb's TSV: each cue's start and shape, then the end with the rest shape (X, or A
    when the target set has no X)."""
    rest = "X" if "X" in target_shapes(shapes) else "A"
    lines = [f"{_t(c.start)}\t{c.value}" for c in cue_list]
    lines.append(f"{_t(duration)}\t{rest}")
    return "\n".join(lines) + "\n"


def to_json(cue_list: list[Cue], duration: float, sound_file: str = "") -> str:
    doc = {"metadata": {"soundFile": sound_file, "duration": round(duration, 2)},
           "mouthCues": [{"start": round(c.start, 2), "end": round(c.end, 2), "value": c.value}
                         for c in cue_list]}
    return json.dumps(doc, indent=2) + "\n"


def parse(text: str, name: str = "cues") -> tuple[list[Cue], float]:
    """Cues and duration from Rhubarb TSV or JSON text (ours or Rhubarb's own output), checked:
    known shapes, finite rising times. CueError says what is wrong."""
    stripped = text.lstrip()
    try:
        if stripped.startswith("{"):
            return _parse_json(json.loads(text))
        return _parse_tsv(text)
    except CueError:
        raise
    except (ValueError, TypeError, KeyError) as exc:
        raise CueError(f"{name} is not a Rhubarb cue file (TSV or JSON): {exc}") from None


def _shape(value: Any) -> str:
    if not (isinstance(value, str) and len(value) == 1 and value in SHAPES):
        raise ValueError(f"unknown mouth shape {value!r} (expected one of {SHAPES})")
    return value


def _time(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise ValueError(f"time {value!r} is not a number")
    t = float(value)
    if not math.isfinite(t) or t < 0:
        raise ValueError(f"time {value!r} is not a finite time in seconds")
    return t


def _checked(cue_list: list[Cue], duration: float) -> tuple[list[Cue], float]:
    if not cue_list:
        raise ValueError("no mouth cues")
    for c in cue_list:
        if c.end < c.start:
            raise ValueError(f"cue ends before it starts at {c.start:.2f} s")
    for a, b in zip(cue_list, cue_list[1:], strict=False):
        if b.start < a.start:
            raise ValueError(f"cue times go backwards at {b.start:.2f} s")
    return cue_list, max(duration, cue_list[-1].end)


def _parse_tsv(text: str) -> tuple[list[Cue], float]:
    rows = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        parts = line.strip().split("\t")
        if len(parts) != 2:
            raise ValueError(f"line {number} is not 'time<TAB>shape'")
        rows.append((_time(parts[0]), _shape(parts[1].strip())))
    if len(rows) < 2:
        raise ValueError("a TSV cue file has at least a cue and the end line")
    cue_list = [Cue(t, rows[i + 1][0], s) for i, (t, s) in enumerate(rows[:-1])]
    return _checked(cue_list, rows[-1][0])


def _parse_json(doc: Any) -> tuple[list[Cue], float]:
    if not isinstance(doc, dict) or not isinstance(doc.get("mouthCues"), list):
        raise ValueError("no \"mouthCues\" list")
    meta = doc.get("metadata") if isinstance(doc.get("metadata"), dict) else {}
    cue_list = []
    for c in doc["mouthCues"]:
        if not isinstance(c, dict):
            raise ValueError("a mouth cue is not an object")
        cue_list.append(Cue(_time(c["start"]), _time(c["end"]), _shape(c["value"])))
    duration = _time(meta["duration"]) if "duration" in meta else 0.0
    return _checked(cue_list, duration)


def load(path: str | os.PathLike[str]) -> tuple[list[Cue], float]:
    p = Path(path)
    if p.stat().st_size > MAX_CUE_FILE_BYTES:
        raise CueError(f"{p.name} is too large for a cue file")
    return parse(p.read_text(encoding="utf-8"), p.name)


def write(path: str | os.PathLike[str], cue_list: list[Cue], duration: float, *,
          shapes: str | None = None, sound_file: str = "", overwrite: bool = True) -> Path:
    """Write ``.tsv`` or ``.json`` (by the suffix) atomically."""
    from .outputs import write_text

    suffix = Path(path).suffix.lower()
    if suffix == ".json":
        text = to_json(cue_list, duration, sound_file)
    elif suffix in (".tsv", ".txt"):
        text = to_tsv(cue_list, duration, shapes)
    else:
        raise CueError(f"cue file {Path(path).name}: give a name ending in .tsv or .json")
    return write_text(path, text, overwrite=overwrite)
