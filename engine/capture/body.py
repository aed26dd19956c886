"""Capture of the body: per-frame pose observations → the motion's BodyTrack (engine/body.py).

Runs in the same pass over the video as the face (capture/video.py hands each decoded frame to
both trackers). Lost frames get joints interpolated from their tracked neighbours (held at the
ends), confidence 0 and ``tracked=False``, like the face. Joints are smoothed with the face's One
Euro filter (capture/smoothing.py; zero-phase: the file is known) at the same strength, and the
body controls are computed from the smoothed joints, so the curves a user sees and the joints a
pose video draws agree.
"""

from __future__ import annotations

import numpy as np

from ..body import JOINT_COUNT, BodyTrack, body_controls, neutral_body_frame
from ..body_tracker import BodyObservation, BodyTracker, pick_main_body
from ..face_tracker import FaceObservation, FaceTracker
from .smoothing import one_euro_params, smooth_series

#: the pose runs on every POSE_EVERY-th decoded frame; the frames between get joints, world and
#: confidence interpolated from their two neighbours (docs/body.md, "Speed": the body landmark
#: network is the capture's largest cost, and the interpolated joints differ from the full-rate
#: ones by far less than the tracker's own jitter once smoothed)
POSE_EVERY = 2


class BodyCapture:
    """Collects the main body of the frames: ``submit`` once per decoded frame index; ``result``
    (only where the caller needs it: a frame without a face) waits for that frame's body. The pose
    runs on a worker thread while the caller decodes and tracks the face: MediaPipe's graphs work
    outside the GIL, so on two cores face + body take about as long as the slower of the two
    instead of their sum (docs/body.md, "Speed"). It runs on every ``every``-th frame (default
    POSE_EVERY), one job in flight: ``submit`` waits for the previous one, which had the frames
    since to run beside the face. ``result`` on a skipped frame is the last body seen."""

    def __init__(self, every: int | None = None) -> None:
        from concurrent.futures import ThreadPoolExecutor

        self.tracker = BodyTracker(video=True)
        self.every = max(1, int(POSE_EVERY if every is None else every))
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="body")
        self._pending = None
        self._seen: dict[int, BodyObservation | None] = {}
        self._skipped: set[int] = set()  # decoded frames the pose did not run on (interpolated)
        self._submitted = 0
        self._last: BodyObservation | None = None
        self._error: BaseException | None = None
        self._prev: np.ndarray | None = None
        self.size = (1, 1)

    def close(self) -> None:
        if self._pending is not None:  # never close the landmarker under a running detection
            self._error = self._pending.exception()  # raised by track(), not in a cleanup
            self._pending = None
        self._pool.shutdown(wait=True)
        self.tracker.close()

    def submit(self, index: int, rgb: np.ndarray, timestamp_ms: int) -> None:
        k, self._submitted = self._submitted, self._submitted + 1
        if k % self.every:
            self._skipped.add(index)
            return
        self.result()  # one job in flight (and its error, if any, surfaces here)
        self._pending = self._pool.submit(self.add, index, rgb, timestamp_ms)

    def result(self) -> BodyObservation | None:
        """The body of the frame last submitted (on a frame the pose skipped: the last one seen)."""
        pending, self._pending = self._pending, None
        if pending is not None:
            pending.result()
        return self._last

    def add(self, index: int, rgb: np.ndarray, timestamp_ms: int) -> BodyObservation | None:
        h, w = rgb.shape[:2]
        self.size = (w, h)
        body = pick_main_body(self.tracker.detect(rgb, timestamp_ms), (w, h), self._prev)
        self._seen[index] = body
        self._last = body
        self._prev = None if body is None else body.center
        return body

    def track(self, start: int, end: int, times_ms: np.ndarray, grid_ms: np.ndarray | None, fps: float,
              neutral: int, smoothing: float) -> BodyTrack | None:
        """The BodyTrack over frames [start, end) (None when no frame had a body). ``times_ms``:
        each frame's timestamp; ``grid_ms``: the even grid of a variable-frame-rate clip (the face's
        resampling, capture/video.py), or None; ``neutral``: the face's neutral frame, on the
        motion's frame axis."""
        if self._error is not None:
            raise self._error
        w, h = self.size
        n = end - start
        joints = np.zeros((n, JOINT_COUNT, 3), np.float32)
        world = np.zeros((n, JOINT_COUNT, 3), np.float32)
        conf = np.zeros((n, JOINT_COUNT), np.float32)
        tracked = np.zeros(n, bool)
        scale = np.array([w, h, w], np.float32)
        for k in range(n):
            obs = self._seen.get(start + k)
            if obs is None:
                continue
            joints[k] = obs.landmarks / scale
            world[k] = obs.world
            conf[k] = obs.confidence
            tracked[k] = True
        if not tracked.any():
            return None
        good = np.flatnonzero(tracked)
        frames = np.arange(n)
        for arr in (joints, world):
            flat = arr.reshape(n, -1)
            for c in range(flat.shape[1]):
                flat[:, c] = np.interp(frames, good, flat[good, c])
        skipped = np.array(sorted(i - start for i in self._skipped if start <= i < end), int)
        ran = np.array(sorted(i - start for i in self._seen if start <= i < end), int)
        if skipped.size and ran.size:
            # between two frames the pose ran on: their confidence, interpolated, and tracked when
            # both were; a skipped frame next to a lost one cannot be confirmed and counts as lost
            # (tracked False, confidence 0, like a lost frame)
            for j in range(JOINT_COUNT):
                conf[skipped, j] = np.interp(skipped, ran, conf[ran, j])
            before = ran[np.clip(np.searchsorted(ran, skipped) - 1, 0, ran.size - 1)]
            after = ran[np.clip(np.searchsorted(ran, skipped), 0, ran.size - 1)]
            tracked[skipped] = tracked[before] & tracked[after]
            conf[skipped[~tracked[skipped]]] = 0.0
        if grid_ms is not None:
            t = np.asarray(times_ms, np.float64)
            joints = _resample(joints, t, grid_ms)
            world = _resample(world, t, grid_ms)
            conf = _resample(conf, t, grid_ms)
            nearest = np.clip(np.searchsorted(t, grid_ms), 0, t.size - 1)
            tracked = tracked[nearest]
            n = grid_ms.size
        raw_joints = joints.copy()
        # jitter is measured on the frames the pose ran on: interpolated frames have no noise of
        # their own (their second difference is 0), so counting them would flatter the raw joints
        ran_only = ran if grid_ms is None and ran.size >= 3 and ran.size < n else slice(None)
        filt = one_euro_params(smoothing)
        if filt["name"] != "none":
            filt["zero_phase"] = True  # offline, as the face's controls (capture/smoothing.py)
            joints = smooth_joints(joints, fps, smoothing, filt["zero_phase"])
            world = smooth_joints(world, fps, smoothing, filt["zero_phase"])
        cal = neutral_body_frame(conf, tracked, min(max(neutral, 0), n - 1))
        controls = body_controls(joints, world, w / h, cal)
        return BodyTrack(joints, world, np.clip(conf, 0, 1), tracked, controls,
                         # an absolute clip frame, like the face's calibration.frame
                         calibration={"frame": start + cal, "method": "face_neutral" if cal == neutral
                                      else "most_confident_shoulders"},
                         filter={**filt, "pose_every": self.every,
                                 "jitter_raw": jitter(raw_joints[ran_only], conf[ran_only], w / h),
                                 "jitter_smoothed": jitter(joints[ran_only], conf[ran_only], w / h)})


def smooth_joints(values: np.ndarray, fps: float, strength: float, zero_phase: bool = True) -> np.ndarray:
    """One Euro per coordinate of (n, joints, 3), the face's parameters for positional controls;
    zero-phase (forward and backward) by default: a body track is captured from a file."""
    p = {**one_euro_params(strength), "zero_phase": zero_phase}
    flat = values.reshape(values.shape[0], -1)
    out = np.empty_like(flat)
    for c in range(flat.shape[1]):
        out[:, c] = smooth_series(flat[:, c], fps, p)
    return out.reshape(values.shape)


def jitter(joints: np.ndarray, conf: np.ndarray, aspect: float, min_conf: float = 0.5) -> float:
    """Frame-to-frame jitter of the confident upper-body joints: the median length of the second
    difference of their image positions (which is ~0 for steady motion and grows with noise), in
    shoulder widths. NaN-free: 0 when nothing qualifies."""
    if joints.shape[0] < 3:
        return 0.0
    xy = joints[..., :2] * np.array([aspect, 1.0], np.float32)
    width = np.median(np.linalg.norm(xy[:, 11] - xy[:, 12], axis=1))
    acc = np.linalg.norm(xy[2:] - 2 * xy[1:-1] + xy[:-2], axis=2)  # (n-2, 33)
    ok = (conf[2:] >= min_conf) & (conf[1:-1] >= min_conf) & (conf[:-2] >= min_conf)
    ok[:, 23:] = False  # hips and legs: off screen in most clips, their guesses would dominate
    if not ok.any() or width <= 0:
        return 0.0
    return round(float(np.median(acc[ok]) / width), 6)


def _resample(values: np.ndarray, t: np.ndarray, grid: np.ndarray) -> np.ndarray:
    flat = values.reshape(values.shape[0], -1)
    out = np.stack([np.interp(grid, t, flat[:, c]) for c in range(flat.shape[1])], axis=1)
    return out.reshape((grid.size,) + values.shape[1:]).astype(np.float32)


HEAD_CROP_SIDE = 384  # head crops are scaled to this: the face detector's range starts near 20 % of it


def face_in_head_crop(tracker: FaceTracker, rgb: np.ndarray,
                      person: BodyObservation) -> FaceObservation | None:
    """The face of a performer filmed head to toe, whose face is too small in the whole frame for
    the face detector: the body's head points give a square around the head, which is scaled up
    and tracked on its own (IMAGE mode: the crop moves, so VIDEO-mode tracking would not help).
    Landmarks come back in full-frame pixels; the facial transformation matrix is the crop's (its
    rotation is the head's; its distance is the crop's, so head_scale compares crops)."""
    import cv2

    h, w = rgb.shape[:2]
    box = person.head_box((w, h))
    if box is None:
        return None
    x0, y0, x1, y1 = box
    side = max(x1 - x0, y1 - y0)
    scale = HEAD_CROP_SIDE / side
    if scale <= 1.0:
        return None  # the head is already large: the whole-frame detector saw what there is to see
    # square, black where the box leaves the frame: MediaPipe's landmark projection wants a
    # square region in IMAGE mode, and the scale stays the same on both axes
    crop = np.zeros((side, side, 3), np.uint8)
    crop[: y1 - y0, : x1 - x0] = rgb[y0:y1, x0:x1]
    big = cv2.resize(crop, (HEAD_CROP_SIDE, HEAD_CROP_SIDE), interpolation=cv2.INTER_CUBIC)
    faces = tracker.detect(big)
    if not faces:
        return None
    face = max(faces, key=lambda f: f.size)
    pts = face.landmarks.copy()
    pts[:, :2] = pts[:, :2] / scale + np.array([x0, y0], np.float32)
    pts[:, 2] /= scale
    return FaceObservation(pts, face.blendshapes, face.blendshape_names, face.matrix)
