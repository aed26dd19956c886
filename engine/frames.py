"""Frame ranges the way Blender and render farms write them: both ends included.

One parser for every ``--frames`` / ``frames=`` in the product (engine CLI, ``blender -c
talking_head``, the operators, the farm bundle). Accepted forms (docs/farm.md#frame-ranges):

* ``A-B`` or Blender's ``A..B``: frames A to B, **both included** (``1-100`` = 100 frames), as
  Blender's ``-s/-e`` and ``-f 1..100``, Flamenco's ``frames``, Deadline and Open Job Description;
* ``N``: the single frame N;
* ``A-`` / ``A..``: from A to the last frame (only on its own, not in a list);
* a comma list ``1-10,20-30``: the **union** of its parts. Parts may come in any order but must
  not overlap (an overlap almost always means a typo, and a farm would render it twice).

Negative frames are allowed (Blender scenes may start below 0): ``-5..10``, ``-5-10``.
Reversed spans (``10-1``), overlaps and empty text are refused with one sentence saying what to
type instead.
"""

from __future__ import annotations

import argparse
import re
from dataclasses import dataclass

from .errors import EngineError

_PART = re.compile(r"^\s*(-?\d+)\s*(?:(-|\.\.)\s*(-?\d+)?)?\s*$")
# Blender's own frame limits (MINAFRAME/MAXAFRAME): no scene, clip or farm job goes past them. A
# bound here keeps every range small enough to list (a typo such as 1-99999999999 would otherwise
# build a list of 10^11 frames and exhaust memory).
MAX_FRAME = 1048574
HELP = "inclusive frame range: A-B or A..B (both ends included), N, A- (to the end), or a list 1-10,20-30"


class FrameRangeError(EngineError):
    """A frame range the user typed cannot be used; the message says what to type."""


@dataclass(frozen=True)
class FrameSpans:
    """Sorted, disjoint, inclusive spans ``(first, last)``; ``last`` is None for an open end."""

    spans: tuple[tuple[int, int | None], ...]

    @property
    def first(self) -> int:
        return self.spans[0][0]

    @property
    def last(self) -> int | None:
        return self.spans[-1][1]

    @property
    def is_contiguous(self) -> bool:
        return len(self.spans) == 1

    def span(self, what: str = "this command") -> tuple[int, int | None]:
        """The one inclusive span ``(first, last or None)``; a list is refused (capture follows
        the clip through time, so it needs one contiguous range)."""
        if not self.is_contiguous:
            raise FrameRangeError(f"{what} needs one contiguous range A-B, not the list {self}")
        return self.spans[0]

    def resolve(self, lo: int, hi: int, what: str = "the frames") -> list[int]:
        """Every frame, in order, with an open end closed at ``hi``; every frame must lie in
        ``lo..hi`` (inclusive) or FrameRangeError names the ones outside."""
        frames: list[int] = []
        for a, b in self.spans:
            b = hi if b is None else b
            if b < a:  # only an open end can get here ("300-" on 100 frames)
                raise FrameRangeError(f"frames {a}- start after the last frame {hi} of {what}")
            if a < lo or b > hi:  # checked on the span's ends, before any frame is listed
                parts = [(a, min(b, lo - 1)), (max(a, hi + 1), b)]
                text = ",".join(str(x) if x == y else f"{x}-{y}" for x, y in parts if x <= y)
                raise FrameRangeError(f"frames {text} are outside {what} "
                                      f"(frames {lo}-{hi}, both ends included)")
            frames.extend(range(a, b + 1))
        return frames

    def __str__(self) -> str:
        return ",".join(f"{a}-" if b is None else (str(a) if a == b else f"{a}-{b}")
                        for a, b in self.spans)


def parse_frames(text: str) -> FrameSpans:
    """Parse ``text`` (see the module doc); raises FrameRangeError with what to type."""
    if text is None or not str(text).strip():
        raise FrameRangeError(f"empty frame range: give an {HELP}")
    parts = str(text).split(",")
    spans: list[tuple[int, int | None]] = []
    for part in parts:
        m = _PART.match(part)
        if m is None:
            raise FrameRangeError(f"bad frame range {part.strip()!r} in {text!r}: use an {HELP}")
        a = _frame_number(m.group(1), part)
        if m.group(2) is None:
            b: int | None = a
        elif m.group(3) is None:
            if len(parts) > 1:
                raise FrameRangeError(f"open range {part.strip()!r} cannot be part of a list; "
                                      "give both ends, e.g. 1-10,20-30")
            b = None
        else:
            b = _frame_number(m.group(3), part)
            if b < a:
                raise FrameRangeError(f"reversed frame range {part.strip()!r}: give the first frame "
                                      f"first, e.g. {b}-{a}")
        spans.append((a, b))
    spans.sort()
    for (_a0, b0), (a1, _b1) in zip(spans, spans[1:], strict=False):
        if b0 is not None and a1 <= b0:
            raise FrameRangeError(f"frame ranges overlap in {text!r} (frame {a1} is given twice); "
                                  "each frame must be named once")
    return FrameSpans(tuple(spans))


def _frame_number(digits: str, part: str) -> int:
    """One frame number of ``part``, within Blender's frame limits (checked on the text's length
    first: Python refuses to convert numbers of more than 4300 digits)."""
    if len(digits.lstrip("-").lstrip("0")) > len(str(MAX_FRAME)) or abs(int(digits)) > MAX_FRAME:
        shown = digits[:12] + ("..." if len(digits) > 12 else "")
        raise FrameRangeError(f"frame {shown} in {part.strip()[:40]!r} is past Blender's last frame "
                              f"({MAX_FRAME}); check --frames for a typo")
    return int(digits)


def frame_number(text: str) -> int:
    """argparse type for one scene frame (``--start``): an integer within Blender's frame limits
    (keys past them were saved at frames no timeline can show)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a frame number: {text!r}") from None
    if abs(value) > MAX_FRAME:
        raise argparse.ArgumentTypeError(f"frame {text} is past Blender's frame limits "
                                         f"(-{MAX_FRAME} to {MAX_FRAME})")
    return value


def parse_optional(text: str | None) -> FrameSpans | None:
    """Like parse_frames, but empty/None means "all frames" (None): for properties and operator
    arguments, where empty is the default. Command-line options use ``parse_given``."""
    return None if text is None or not str(text).strip() else parse_frames(text)


def parse_given(text: str | None) -> FrameSpans | None:
    """A ``--frames`` option: None (not given) means all frames; given, it must name frames, so
    ``--frames ""`` (an unset shell variable, a farm template with an empty field) is refused
    instead of silently rendering everything."""
    return None if text is None else parse_frames(text)


def format_frames(frames: list[int] | range) -> str:
    """``[1, 2, 3, 7]`` -> ``"1-3,7"`` (inclusive spans, the form parse_frames reads)."""
    out: list[str] = []
    frames = sorted(frames)
    i = 0
    while i < len(frames):
        j = i
        while j + 1 < len(frames) and frames[j + 1] == frames[j] + 1:
            j += 1
        out.append(str(frames[i]) if i == j else f"{frames[i]}-{frames[j]}")
        i = j + 1
    return ",".join(out)


def chunks(first: int, last: int, size: int) -> list[tuple[int, int]]:
    """Inclusive chunks of ``size`` frames covering ``first..last`` exactly once (the last chunk
    may be shorter): the same split Flamenco's frameChunker and OpenJD's CHUNK[INT] make."""
    if size < 1:
        raise FrameRangeError(f"chunk size {size} must be at least 1 frame")
    if last < first:
        raise FrameRangeError(f"reversed frame range {first}-{last}")
    return [(a, min(a + size - 1, last)) for a in range(first, last + 1, size)]


def capture_span(text: str | None) -> tuple[int, int | None]:
    """``--frames`` of a capture -> the engine's ``(start, stop)`` with ``stop`` exclusive (None:
    to the end of the video); not given (None) = the whole video, empty text is refused."""
    spans = parse_given(text)
    if spans is None:
        return 0, None
    first, last = spans.span("capture")
    return first, None if last is None else last + 1
