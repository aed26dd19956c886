"""Head-pose modes of the built-in renderer (issue 20): motions carry their neutral's absolute
head pose (``calibration.head_pose``), the renderer measures the portrait's own and, in
``absolute`` mode or ``auto`` near the actor's pose, places the head at neutral + curves.

* the offset is exactly the pose difference: an absolute render equals a relative render driven
  by the curves plus (neutral − portrait), bit for bit;
* auto is absolute for a portrait near the actor's neutral, relative for a turned one, and
  follows the actor's place only for a portrait framed like the clip;
* the file field is checked on load and survives a save; older files render relative;
* capture stores the neutral's pose; the CLI flag reaches only the built-in renderer.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from engine.motion import Motion, MotionError
from engine.render.base import RenderError, create_renderer
from engine.render.builtin.pose import FAR, NEAR, HeadPose, pose_offset

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "engine" / "assets" / "sample_portrait.jpg"
DRIVING = ROOT.parent / "shared" / "testdata" / "driving"


def _motion(head_pose: dict | None, n: int = 3, source: dict | None = None) -> Motion:
    from engine.controls import CONTROL_NAMES, NEUTRAL

    controls = {k: np.full(n, NEUTRAL[k], np.float32) for k in CONTROL_NAMES}
    controls["head_yaw"] = np.array([0.0, 4.0, -6.0][:n], np.float32)
    cal = {"frame": 0, "method": "given"}
    if head_pose is not None:
        cal["head_pose"] = head_pose
    return Motion(fps=30, controls=controls, calibration=cal, source=source or {"width": 640, "height": 480})


@pytest.fixture(scope="module")
def sample():
    from engine.media.video import load_image

    return load_image(SAMPLE)


def _prepared(img, mode: str | None, motion: Motion | None):  # noqa: ANN001, ANN202
    r = create_renderer("builtin", device="cpu", **({"head_pose": mode} if mode else {}))
    if motion is not None:
        r.use_motion(motion)
    r.prepare(img)
    return r


def test_absolute_render_is_the_relative_render_shifted_by_the_pose_difference(sample) -> None:
    probe = _prepared(sample, "relative", None)
    own = probe.fit.pose
    assert own is not None and abs(own.yaw) < 30 and abs(own.pitch) < 30
    neutral = {"yaw": own.yaw + 5.0, "pitch": own.pitch - 3.0, "roll": own.roll + 2.0}
    motion = _motion(neutral)
    absolute = _prepared(sample, "absolute", motion)
    off = absolute.pose_offset
    assert (off.weight, off.place) == (1.0, 0.0)  # no place known: angles only
    assert math.isclose(off.yaw, 5.0) and math.isclose(off.pitch, -3.0) and math.isclose(off.roll, 2.0)
    for i in range(motion.frame_count):
        c = motion.frame(i)
        shifted = dict(c, head_yaw=c["head_yaw"] + 5.0, head_pitch=c["head_pitch"] - 3.0,
                       head_roll=c["head_roll"] + 2.0)
        assert np.array_equal(absolute.render_frame(c), probe.render_frame(shifted))
    # the relative and auto-far renders ignore the neutral; the absolute one moves the head
    assert not np.array_equal(absolute.render_frame(motion.frame(0)), probe.render_frame(motion.frame(0)))
    relative = _prepared(sample, "relative", motion)
    assert np.array_equal(relative.render_frame(motion.frame(1)), probe.render_frame(motion.frame(1)))


def test_auto_is_absolute_near_the_actors_pose_and_relative_when_turned(sample) -> None:
    own = _prepared(sample, None, None).fit.pose
    for delta, weight in ((0.5 * NEAR, 1.0), (FAR + 5, 0.0)):
        r = _prepared(sample, None, _motion({"yaw": own.yaw + delta, "pitch": own.pitch, "roll": own.roll}))
        assert r.head_pose == "auto"
        assert math.isclose(r.pose_offset.weight, weight), (delta, r.pose_offset)
    mid = _prepared(sample, "auto", _motion({"yaw": own.yaw - 0.5 * (NEAR + FAR), "pitch": own.pitch,
                                              "roll": own.roll})).pose_offset
    assert 0 < mid.weight < 1 and -0.5 * (NEAR + FAR) < mid.yaw < 0
    # a motion without a neutral pose (older files, voice) renders relative in every mode
    for mode in ("auto", "absolute"):
        r = _prepared(sample, mode, _motion(None))
        assert r.pose_offset.weight == 0 and r.pose_offset.place == 0


def test_place_follows_the_actor_only_for_a_portrait_framed_like_the_clip() -> None:
    portrait = HeadPose(1.0, 2.0, 0.5, x=0.50, y=0.50, width=0.40, aspect=16 / 9)
    same = HeadPose(2.0, 1.0, 0.0, x=0.52, y=0.49, width=0.41, aspect=16 / 9)
    off = pose_offset(portrait, same, "auto")
    assert off.place == 1.0 and off.weight == 1.0
    assert math.isclose(off.x, 0.02 / 0.40) and math.isclose(off.y, 0.01 / (16 / 9 * 0.40))
    assert off.scale == 1.0  # the head's size stays relative
    other_shape = HeadPose(2.0, 1.0, 0.0, x=0.52, y=0.49, width=0.41, aspect=4 / 3)
    assert pose_offset(portrait, other_shape, "auto").place == 0.0
    assert pose_offset(portrait, other_shape, "absolute").place == 0.0
    far_off = HeadPose(2.0, 1.0, 0.0, x=0.80, y=0.49, width=0.41, aspect=16 / 9)
    assert pose_offset(portrait, far_off, "auto").place == 0.0
    assert pose_offset(portrait, far_off, "absolute").place == 1.0
    smaller = HeadPose(2.0, 1.0, 0.0, x=0.50, y=0.50, width=0.25, aspect=16 / 9)
    assert pose_offset(portrait, smaller, "auto").place == 0.0
    # roll wraps: 179 against -179 is 2 degrees apart
    wrap = pose_offset(HeadPose(0, 0, 179.0), HeadPose(0, 0, -179.0), "auto")
    assert math.isclose(wrap.roll, 2.0) and wrap.weight == 1.0
    assert pose_offset(portrait, same, "relative").weight == 0


def test_place_is_compared_where_the_curves_were_measured() -> None:
    """head_x / head_y are measured at the place (the cheek points and eye corners) since
    2026-12-04: a neutral with ``place_x`` / ``place_y`` is compared with the portrait's place;
    an older file's neutral (cheek midpoint only) with the portrait's cheek midpoint."""
    portrait = HeadPose(0, 0, 0, x=0.50, y=0.50, width=0.40, aspect=1.0, place_x=0.50, place_y=0.45)
    new = HeadPose(0, 0, 0, x=0.50, y=0.50, width=0.40, aspect=1.0, place_x=0.52, place_y=0.45)
    off = pose_offset(portrait, new, "absolute")
    assert math.isclose(off.x, 0.02 / 0.40) and off.y == 0.0
    old = HeadPose(0, 0, 0, x=0.51, y=0.50, width=0.40, aspect=1.0)
    off = pose_offset(portrait, old, "absolute")
    assert math.isclose(off.x, 0.01 / 0.40) and off.y == 0.0


def test_head_pose_in_the_motion_file_is_checked_and_kept(tmp_path) -> None:
    pose = {"yaw": 1.5, "pitch": -2.0, "roll": 0.25, "x": 0.5, "y": 0.55, "width": 0.44,
            "place_x": 0.5, "place_y": 0.5}
    path = _motion(pose).save(tmp_path / "m.json")
    assert Motion.load(path).calibration["head_pose"] == pose
    old = _motion(None).save(tmp_path / "old.json")  # files from before the field
    assert "head_pose" not in Motion.load(old).calibration
    import json

    for bad, msg in (({"yaw": 1.0, "pitch": 2.0}, "lacks 'roll'"),
                     ({"yaw": float("nan"), "pitch": 0, "roll": 0}, "finite"),
                     ({"yaw": 400, "pitch": 0, "roll": 0}, "outside"),
                     ({"yaw": 0, "pitch": 0, "roll": 0, "x": "left"}, "finite"),
                     ({"yaw": 0, "pitch": 0, "roll": 0, "place_y": float("inf")}, "finite"),
                     ("front", "object")):
        doc = json.loads(path.read_text())
        doc["calibration"]["head_pose"] = bad
        p = tmp_path / "bad.json"
        p.write_text(json.dumps(doc))
        with pytest.raises(MotionError, match=msg):
            Motion.load(p)


def test_unknown_head_pose_mode_is_a_clear_error() -> None:
    with pytest.raises(RenderError, match="unknown head pose mode 'front'"):
        create_renderer("builtin", device="cpu", head_pose="front")


def test_head_pose_flag_reaches_only_the_builtin_renderer() -> None:
    import argparse

    from engine.commands.render import (
        add_renderer_arguments,
        refuse_other_renderers_options,
        renderer_options,
    )
    from engine.errors import EngineError

    p = argparse.ArgumentParser()
    p.add_argument("--renderer", default="builtin")
    add_renderer_arguments(p)
    args = p.parse_args(["--head-pose", "relative", "--rest-pose", "portrait"])
    refuse_other_renderers_options(args)
    assert renderer_options(args) == {"rest": "portrait", "head_pose": "relative"}
    with pytest.raises(EngineError, match="--head-pose.*builtin"):
        refuse_other_renderers_options(p.parse_args(["--head-pose", "auto", "--renderer", "liveportrait"]))
    with pytest.raises(SystemExit):
        p.parse_args(["--head-pose", "front"])


@pytest.mark.skipif(not DRIVING.is_dir(), reason="../shared/testdata/driving missing")
def test_capture_stores_the_neutrals_absolute_pose_and_it_matches_the_portraits() -> None:
    """The neutral frame of a capture, used as the portrait, measures the pose capture stored
    (image-mode against video-mode tracking: within 2 degrees), so auto places it absolutely
    with a near-zero offset."""
    from engine.capture import capture
    from engine.media.video import VideoReader

    clip = DRIVING / "d1_single_blink.mp4"
    m = capture(clip, stop=12, calibration_frame=3)
    hp = m.calibration["head_pose"]
    assert set(hp) == {"yaw", "pitch", "roll", "x", "y", "width", "place_x", "place_y"}
    assert 0.2 < hp["x"] < 0.8 and 0.2 < hp["y"] < 0.8 and 0.1 < hp["width"] < 1.0
    with VideoReader(clip) as reader:
        frame = next(f for i, _, f in reader.frames(3, 4))
    r = _prepared(frame, "auto", m)
    off = r.pose_offset
    assert off.weight == 1.0 and off.place == 1.0
    assert max(abs(off.yaw), abs(off.pitch), abs(off.roll)) < 2.0, off
    assert math.hypot(off.x, off.y) < 0.02, off


@pytest.mark.parametrize("yaw", [12.0, -12.0])
def test_a_turn_slides_the_face_across_a_still_head_outline(sample, yaw: float) -> None:
    """A head's outline is the silhouette of its widest part, behind the face: a turn slides the
    face's own outline (the cheek points) across the hair outline beside it by the parallax
    between the cheeks' depth and the outline's. With the hair outline at the cheeks' depth (the
    renderer before 2026-12-04's second stop) the two moved together (0.014 face widths apart at
    12°) and the hair beside a turned face smeared with it."""
    from engine.render.builtin.fitting import CHEEK_L, CHEEK_R, CONTROL_LANDMARKS
    from engine.render.builtin.geometry import target_points

    r = _prepared(sample, None, None)
    fit, cp = r.fit, r.cp
    idx = list(CONTROL_LANDMARKS)
    cheeks = [idx.index(CHEEK_L), idx.index(CHEEK_R)]
    ring = np.arange(cp.n_landmarks, cp.n_landmarks + cp.n_ring)
    u_ring = fit.to_local(cp.src[ring])[:, 0] - fit.to_local(fit.head_centre)[0]
    beside = ring[np.abs(u_ring) > 0.6 * fit.width]  # the hair outline beside the face
    assert len(beside) >= 4
    moved = (target_points(fit, cp, {"head_yaw": yaw}) - target_points(fit, cp, {})) @ fit.axis_u
    slide = float(moved[cheeks].mean() - moved[beside].mean())
    # the cheeks are this far in front of the pivot; the outline as far behind it
    parallax = 2 * abs(float(cp.cheeks_uvz[:, 2].mean())) * math.sin(math.radians(abs(yaw)))
    assert parallax > 0.02 * fit.width
    assert math.copysign(1.0, slide) == math.copysign(1.0, yaw)  # the face turns the way the curve says
    assert abs(slide) > 0.75 * parallax
