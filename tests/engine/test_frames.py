"""engine.frames: the one inclusive frame-range parser (Blender's and the farms' convention)."""

from __future__ import annotations

import pytest

from engine.frames import FrameRangeError, capture_span, chunks, format_frames, parse_frames, parse_optional


def test_ranges_are_inclusive_in_every_form() -> None:
    assert parse_frames("1-100").resolve(1, 250) == list(range(1, 101))  # 100 frames, as on a farm
    assert parse_frames("1..100").resolve(1, 250) == list(range(1, 101))  # Blender's -f 1..100
    assert parse_frames(" 7 ").resolve(0, 9) == [7]
    assert parse_frames("5-").resolve(0, 9) == [5, 6, 7, 8, 9]
    assert parse_frames("5..").resolve(0, 9) == [5, 6, 7, 8, 9]
    assert parse_frames("-5..-3").resolve(-10, 0) == [-5, -4, -3]
    assert parse_frames("-2-1").resolve(-10, 10) == [-2, -1, 0, 1]
    assert parse_frames("3-3").resolve(0, 9) == [3]


def test_a_list_is_the_union_of_its_parts() -> None:
    spans = parse_frames("20-22, 1-3,10")
    assert spans.resolve(0, 30) == [1, 2, 3, 10, 20, 21, 22]
    assert str(spans) == "1-3,10,20-22" and not spans.is_contiguous
    assert parse_frames(str(spans)) == spans


@pytest.mark.parametrize(("text", "message"), [
    ("", "empty"), ("   ", "empty"), ("10-1", "reversed.*1-10"), ("1-10,5-20", "overlap.*frame 5"),
    ("1-10,10", "overlap"), ("a-b", "bad frame range"), ("1-2-3", "bad"), ("1,,2", "bad"),
    ("1-,20-30", "open range"), ("1:10", "bad"),
])
def test_bad_ranges_say_what_to_type(text: str, message: str) -> None:
    with pytest.raises(FrameRangeError, match=message):
        parse_frames(text)


def test_resolve_names_frames_outside() -> None:
    with pytest.raises(FrameRangeError, match=r"frames 9-10 are outside the motion \(frames 0-8"):
        parse_frames("5-10").resolve(0, 8, "the motion")
    with pytest.raises(FrameRangeError, match="start after the last frame"):
        parse_frames("30-").resolve(0, 8)


def test_capture_takes_one_span_as_start_stop() -> None:
    assert capture_span(None) == (0, None)  # --frames not given: the whole video
    with pytest.raises(FrameRangeError, match="empty frame range"):  # given empty: refused (docs)
        capture_span("")
    assert capture_span("2-9") == (2, 10)  # the video reader's stop is exclusive
    assert capture_span("4-") == (4, None)
    with pytest.raises(FrameRangeError, match="one contiguous range"):
        capture_span("1-3,5-6")
    assert parse_optional(" ") is None


def test_chunks_cover_the_range_once() -> None:
    assert chunks(1, 10, 4) == [(1, 4), (5, 8), (9, 10)]
    assert chunks(1, 3, 3) == [(1, 3)]
    covered = [f for a, b in chunks(-3, 97, 7) for f in range(a, b + 1)]
    assert covered == list(range(-3, 98))
    with pytest.raises(FrameRangeError, match="at least 1"):
        chunks(1, 10, 0)
    assert format_frames([1, 2, 3, 7, 9, 10]) == "1-3,7,9-10"
