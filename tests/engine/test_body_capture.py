"""Body capture on the shared clips: the vendored pose bundle (sha256, layout), the tracker on every
frame, face + body capture in one pass (head-turn clip: the chest turns with the head), jitter
before/after smoothing, the CLI, and faces found through the body when too small for the face
detector."""

from __future__ import annotations

import hashlib
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pytest

from engine import body_tracker, cli
from engine.body import J
from engine.body_tracker import MODEL_PATH, MODEL_SHA256, BodyTracker, check_model
from engine.face_tracker import FaceTracker, TrackerError

ROOT = Path(__file__).resolve().parents[2]
TESTDATA = ROOT.parent / "shared" / "testdata"
DRIVING = TESTDATA / "driving"
needs_clips = pytest.mark.skipif(not DRIVING.is_dir(), reason="../shared/testdata/driving not present")
CLIPS = ["d1_single_blink.mp4", "d0_smile_blink.mp4", "d18_mouth_open.mp4", "d3_expressive_turns.mp4",
         "tps_interview.mp4", "lp_d6_expressive_talk.mp4", "lp_d10_talk.mp4"]
MAX_FRAMES = 400  # per clip: enough of the long ones, and the suite stays short on 2 cores


def test_bundle_sha256_and_layout() -> None:
    data = MODEL_PATH.read_bytes()
    assert hashlib.sha256(data).hexdigest() == MODEL_SHA256
    with zipfile.ZipFile(MODEL_PATH) as zf:  # a Tasks bundle: two networks, stored uncompressed
        infos = {i.filename: i for i in zf.infolist()}
        assert set(infos) == {"pose_detector.tflite", "pose_landmarks_detector.tflite"}
        assert all(i.compress_type == zipfile.ZIP_STORED for i in infos.values())
    notice = (MODEL_PATH.parent / "NOTICE.md").read_text()
    assert MODEL_SHA256 in notice and "Apache" in notice and "make_pose_bundle.py" in notice


def test_damaged_bundle_is_refused_before_mediapipe(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bad = tmp_path / "pose_landmarker_full.task"
    shutil.copyfile(MODEL_PATH, bad)
    with open(bad, "r+b") as fh:
        fh.seek(5_000_000)
        fh.write(b"\x00\x01\x02\x03")
    monkeypatch.setattr(body_tracker, "MODEL_PATH", bad)
    with pytest.raises(TrackerError, match="sha256"):
        check_model(bad)
    with pytest.raises(TrackerError, match="sha256"):
        BodyTracker()
    with pytest.raises(TrackerError, match="not found"):
        check_model(tmp_path / "missing.task")


def test_bad_images_refused_before_native_code() -> None:
    with BodyTracker() as tracker:
        with pytest.raises(ValueError):
            tracker.detect(np.zeros((10, 10, 3), np.float32))
        with pytest.raises(ValueError):
            tracker.detect(np.zeros((10, 10), np.uint8))
        with pytest.raises(TrackerError, match="outside"):
            tracker.detect(np.zeros((1, 20_000, 3), np.uint8))
        assert tracker.detect(np.zeros((64, 64, 3), np.uint8)) == []  # nobody in a black frame


@needs_clips
@pytest.mark.parametrize("clip", CLIPS)
def test_pose_found_on_every_frame(clip: str) -> None:
    from engine.media.video import VideoReader

    found = n = 0
    with VideoReader(DRIVING / clip) as reader, BodyTracker(video=True) as tracker:
        for _idx, ts, rgb in reader.frames(0, MAX_FRAMES):
            bodies = tracker.detect(rgb, int(round(ts)))
            n += 1
            if bodies:
                found += 1
                b = bodies[0]
                h, w = rgb.shape[:2]
                # the head is where a head is: inside the frame, nose between the eyes' sides
                nose = b.landmarks[J["nose"], :2]
                assert 0 <= nose[0] <= w and 0 <= nose[1] <= h
                assert b.landmarks[J["right_eye"], 0] < nose[0] < b.landmarks[J["left_eye"], 0]
                assert b.visibility[J["nose"]] > 0.5
    # every clip shows a person from the chest up on every frame
    assert found == n, f"{clip}: pose found on {found} of {n} frames"


@pytest.fixture(scope="module")
def d3():
    from engine.capture import capture

    if not DRIVING.is_dir():
        pytest.skip("../shared/testdata/driving not present")
    return capture(DRIVING / "d3_expressive_turns.mp4", body=True)


@needs_clips
def test_d3_face_and_body_in_one_pass(d3) -> None:
    body = d3.body
    assert body is not None and body.frame_count == d3.frame_count == 354
    assert body.tracked.all() and d3.tracked.all()
    assert body.calibration["frame"] in range(354)
    assert np.all((body.confidence >= 0) & (body.confidence <= 1))


@needs_clips
def test_d3_chest_turns_with_the_head(d3) -> None:
    # d3's head turns −13.6…+17.3 degrees; the shoulders sit at the frame's bottom edge (their
    # visibility is low), so what can be checked is the direction: the torso turn follows head_yaw
    yaw, turn = d3.controls["head_yaw"], d3.body.controls["torso_turn"]
    assert np.corrcoef(yaw, turn)[0, 1] > 0.7
    right, left = yaw > 10, yaw < -8
    assert right.sum() > 10 and left.sum() > 10
    assert turn[right].mean() > turn[left].mean() + 5
    # and in the joints themselves: turning toward the viewer's right takes the subject's left
    # shoulder away from the camera (MediaPipe z grows away)
    depth = d3.body.world[:, J["left_shoulder"], 2] - d3.body.world[:, J["right_shoulder"], 2]
    assert depth[right].mean() > depth[left].mean()


@needs_clips
def test_d3_smoothing_lowers_jitter(d3) -> None:
    f = d3.body.filter
    assert f["name"] == "one_euro"
    assert 0 < f["jitter_smoothed"] < 0.6 * f["jitter_raw"], f


@needs_clips
def test_capture_cli_body_and_refusals(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    from engine.motion import Motion

    out = tmp_path / "m.json"
    rc = cli.main(["capture", str(DRIVING / "d1_single_blink.mp4"), "--body", "--frames", "2-15",
                   "-o", str(out)])
    assert rc == 0, capsys.readouterr().err
    assert "body lost in 0 frames" in capsys.readouterr().out
    m = Motion.load(out)
    assert m.body is not None and m.body.tracked.all() and m.frame_count == 14
    # d1's shoulders are never clearly seen: the body shares the face's neutral (absolute) frame
    assert m.body.calibration == {"frame": m.calibration["frame"], "method": "face_neutral"}
    rc = cli.main(["capture", str(DRIVING / "d1_single_blink.mp4"), "-o", str(tmp_path / "f.json")])
    assert rc == 0 and Motion.load(tmp_path / "f.json").body is None
    capsys.readouterr()
    audio = TESTDATA / "audio" / "en_vowels.wav"
    rc = cli.main(["capture", str(audio), "--body", "-o", str(tmp_path / "a.json")])
    err = capsys.readouterr().err
    assert rc == 2 and err.count("error:") == 1 and "--body" in err and "Traceback" not in err
    assert not (tmp_path / "a.json").exists()


def small_portrait(scale: float) -> tuple[np.ndarray, np.ndarray]:
    """mona_lisa.jpg shrunk by ``scale`` in the middle of a black frame of the same size, and where
    its face centre lands (from the face tracked on the full-size painting)."""
    import cv2

    from engine.media.images import load_image

    img = load_image(TESTDATA / "portraits" / "mona_lisa.jpg")
    h, w = img.shape[:2]
    with FaceTracker() as ft:
        centre = ft.detect(img)[0].center
    small = cv2.resize(img, (int(w * scale), int(h * scale)), interpolation=cv2.INTER_AREA)
    y0, x0 = (h - small.shape[0]) // 2, (w - small.shape[1]) // 2
    frame = np.zeros_like(img)
    frame[y0:y0 + small.shape[0], x0:x0 + small.shape[1]] = small
    return frame, centre * scale + np.array([x0, y0], np.float32)


@pytest.mark.skipif(not (TESTDATA / "portraits").is_dir(), reason="../shared/testdata not present")
@pytest.mark.parametrize("scale", [0.5, 0.3])
def test_small_face_found_through_the_body(scale: float) -> None:
    from engine.capture.body import face_in_head_crop

    frame, expected = small_portrait(scale)
    with FaceTracker() as faces, BodyTracker() as bodies, FaceTracker(max_faces=1) as crops:
        assert faces.detect(frame) == []  # too small for the face detector on the whole frame
        people = bodies.detect(frame)
        assert len(people) == 1
        face = face_in_head_crop(crops, frame, people[0])
    assert face is not None
    size = 200 * scale  # the painting's face is about 200 px across at full size
    assert np.linalg.norm(face.center - expected) < 0.1 * size
    assert face.landmarks.shape == (478, 3)


@pytest.mark.skipif(not (TESTDATA / "portraits").is_dir(), reason="../shared/testdata not present")
def test_capture_of_a_small_face_needs_the_body(tmp_path: Path) -> None:
    from engine.capture import CaptureError, capture
    from engine.media.video import Mp4Writer

    frame, _ = small_portrait(0.4)
    clip = tmp_path / "far.mp4"
    with Mp4Writer(clip, 25.0, (frame.shape[1], frame.shape[0])) as writer:
        for k in range(8):
            writer.write(np.roll(frame, 2 * k, axis=1))  # drifting slowly to the right
    with pytest.raises(CaptureError, match="no face"):
        capture(clip)
    m = capture(clip, body=True)
    assert m.tracked.all() and m.body is not None and m.body.tracked.all()
    assert m.source["face_from_head_crop"] == 8
    assert m.controls["head_x"][-1] > m.controls["head_x"][0]  # the drift reads as head motion


@needs_clips
@pytest.mark.parametrize("every", [1, 2])
def test_body_lost_in_the_middle_is_interpolated_and_flagged(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                             every: int) -> None:
    from engine.capture import body as body_capture
    from engine.capture import capture
    from engine.media.video import Mp4Writer, VideoReader

    monkeypatch.setattr(body_capture, "POSE_EVERY", every)
    clip = tmp_path / "gap.mp4"
    with VideoReader(DRIVING / "d1_single_blink.mp4") as reader, Mp4Writer(clip, 30.0, (512, 512)) as w:
        for idx, _ts, rgb in reader.frames(0, 16):
            w.write(np.zeros_like(rgb) if 6 <= idx <= 8 else rgb)  # the performer gone for 3 frames
    m = capture(clip, body=True)
    body = m.body
    assert body.filter["pose_every"] == every
    # every frame: exactly the empty ones are flagged; every other frame (the pose runs on 0, 2,
    # 4, ...): also the unsampled frame on each side of the gap, which cannot be confirmed
    lo, hi = (6, 8) if every == 1 else (5, 9)
    assert body.tracked.tolist() == [not lo <= i <= hi for i in range(16)]
    assert np.all(body.confidence[lo:hi + 1] == 0) and body.confidence[lo - 1].max() > 0.5
    # joints in the gap lie between their neighbours (linear fill before smoothing)
    nose = body.joints[:, J["nose"], 0]
    a, b = sorted((nose[lo - 1], nose[hi + 1]))
    assert np.all((nose[lo:hi + 1] >= a - 0.01) & (nose[lo:hi + 1] <= b + 0.01))


@needs_clips
def test_capture_cli_body_sidecar(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    from engine.motion import Motion

    out = tmp_path / "m.json"
    rc = cli.main(["capture", str(DRIVING / "d1_single_blink.mp4"), "--body", "--sidecar", "-o", str(out)])
    assert rc == 0, capsys.readouterr().err
    with np.load(out.with_suffix(".npz"), allow_pickle=False) as npz:
        assert npz["body/joints"].shape == (16, 33, 3) and "body/controls/torso_turn" in npz.files
    m = Motion.load(out)
    assert m.body is not None and m.body.frame_count == 16 and "joints" not in m.to_dict(False)["body"]


def test_variable_frame_rate_resamples_the_body_like_the_face() -> None:
    from engine.body_tracker import BodyObservation
    from engine.capture.body import BodyCapture

    bodies = BodyCapture()
    try:
        bodies.size = (100, 100)
        times = np.array([0.0, 40.0, 50.0, 100.0, 140.0])  # uneven
        for k in range(5):
            pts = np.zeros((33, 3), np.float32)
            pts[:, 0] = times[k] / 2  # x moves with time: 0 .. 70 px
            pts[:, 1] = 50
            bodies._seen[k] = BodyObservation(pts, np.zeros((33, 3), np.float32),
                                              np.ones(33, np.float32), np.ones(33, np.float32))
        grid = np.array([0.0, 35.0, 70.0, 105.0, 140.0])
        track = bodies.track(0, 5, times, grid, 1000 / 35, neutral=0, smoothing=0.0)
    finally:
        bodies.close()
    assert track.frame_count == 5
    np.testing.assert_allclose(track.joints[:, 0, 0], grid / 2 / 100, atol=1e-5)  # even in time
