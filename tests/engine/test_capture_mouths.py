"""capture_mouths: only the actor's mouth exemplars of a clip (the Mouth Source movie of a voice
capture in Blender, docs/builtin_renderer.md): the very set a video capture of the same frames
keeps, and one clear error for a clip with no face, a mouth that never opens, or a non-video."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from engine.capture import CaptureError, capture, capture_mouths
from engine.errors import EngineError
from engine.media.video import Mp4Writer

SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "testdata" / "driving"
TALK = SHARED / "lp_d6_expressive_talk.mp4"  # mouth open > 0.5 at 56-63 (MANIFEST)
BLINK = SHARED / "d1_single_blink.mp4"  # one blink, no mouth opening (MANIFEST)

pytestmark = pytest.mark.skipif(not TALK.is_file() or not BLINK.is_file(),
                                reason="shared test media missing (../shared)")


def test_capture_mouths_equals_the_video_captures_set() -> None:
    got = capture_mouths(TALK, start=55, stop=66)
    want = capture(TALK, start=55, stop=66, mouths=True).mouths
    assert want is not None and 1 <= got.count <= 24 and got.count == want.count
    for name in ("patches", "masks", "controls", "lips", "gaps", "frames"):
        assert np.array_equal(getattr(got, name), getattr(want, name)), name
    # open frames of that span only (motion frame k = video frame 55 + k)
    assert np.all(got.controls[:, 0] >= 0.15) and np.all((got.frames >= 0) & (got.frames < 11))


def test_capture_mouths_errors(tmp_path: Path) -> None:
    with pytest.raises(CaptureError, match="never opens"):
        capture_mouths(BLINK)
    noise = tmp_path / "noface.mp4"
    rng = np.random.default_rng(0)
    with Mp4Writer(noise, 25, (128, 128)) as w:
        for _ in range(6):
            w.write(rng.integers(0, 255, (128, 128, 3), dtype=np.uint8))
    with pytest.raises(CaptureError, match="no face found in noface.mp4"):
        capture_mouths(noise)
    fake = tmp_path / "notes.mp4"
    fake.write_text("not a movie\n", encoding="utf-8")
    with pytest.raises(EngineError, match="notes.mp4") as err:
        capture_mouths(fake)
    assert "\n" not in str(err.value)
