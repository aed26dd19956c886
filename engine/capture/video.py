"""Capture: driving video -> Motion (per-frame expression controls).

Streams frames (never holds the video), tracks the main face with MediaPipe in VIDEO mode,
measures raw features per frame, calibrates against a neutral frame, interpolates frames where
the face was lost (flagged ``tracked=False``) and smooths with a One Euro filter.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

import numpy as np

from ..controls import CONTROL_NAMES
from ..errors import EngineError
from ..face_tracker import FaceTracker, pick_main_face
from ..file_hash import file_sha256 as _sha256
from ..media.video import VideoReader
from ..motion import Motion
from ..notices import warn
from ..progress import Progress
from .body import BodyCapture, face_in_head_crop
from .creases import CreaseCollector
from .expression import RAW_NAMES, controls_from_raw, neutrality, raw_measures
from .head_size import jaw_free_head_scale
from .liveportrait_dense import DenseCapture
from .mouth_exemplars import MouthCollector, MouthExemplars
from .smoothing import smooth_controls


class CaptureError(EngineError):
    """Capture could not produce motion (no face, no frames); the message says what to do."""



def uniform_grid(times_ms: np.ndarray) -> tuple[np.ndarray, float] | None:
    """For frame timestamps that are unevenly spaced (variable frame rate), an even time grid at
    the clip's typical rate (the median frame interval) covering the same span, and that rate;
    None when the timestamps are already even to within half a frame."""
    if times_ms.size < 3:
        return None
    dt = float(np.median(np.diff(times_ms)))
    if dt <= 0:
        return None
    even = times_ms[0] + dt * np.arange(times_ms.size)
    if np.max(np.abs(times_ms - even)) <= 0.5 * dt:
        return None
    count = int(np.floor((times_ms[-1] - times_ms[0]) / dt + 1e-6)) + 1
    return times_ms[0] + dt * np.arange(count), 1000.0 / dt


def expected_end(decoded_end: int, declared: int, stop: int | None) -> int:
    """Where the captured range ends: ``stop`` when given (but not past the container's declared
    frame count), else that count, unless it is only an estimate a frame or two (under 1 %)
    past what decodes."""
    if stop is not None:
        # a range past the clip's end is not damage: it ends where the clip says it ends
        return min(stop, max(declared, decoded_end)) if declared > 0 else decoded_end
    if declared > decoded_end and (declared - decoded_end > 2 or declared - decoded_end > 0.01 * declared):
        from ..limits import MAX_UNDECODED_FRAMES  # a corrupt header must not size the arrays

        return min(declared, decoded_end + MAX_UNDECODED_FRAMES)
    return decoded_end


def _fill_missing(seen: dict, start: int, end: int, fps: float
                  ) -> tuple[list[np.ndarray | None], list[float], list[np.ndarray]]:
    """Per-frame lists over [start, end): frames never decoded count as face lost (None), with
    timestamps interpolated between their decoded neighbours."""
    known = np.array(sorted(seen))
    known_t = np.array([seen[i][0] for i in known])
    idx = np.arange(start, end)
    if known.size > 1:
        times = np.interp(idx, known, known_t, left=np.nan, right=np.nan)
    else:
        times = np.full(idx.size, np.nan)
    step = 1000.0 / fps
    lo_mask, hi_mask = idx < known[0], idx > known[-1]
    times[lo_mask] = known_t[0] + (idx[lo_mask] - known[0]) * step
    times[hi_mask] = known_t[-1] + (idx[hi_mask] - known[-1]) * step
    times[np.isin(idx, known)] = known_t[np.isin(known, idx)]
    raws = [seen[i][1] if i in seen else None for i in idx]
    blends = [seen[i][2] if i in seen else np.zeros(52, np.float32) for i in idx]
    return raws, [float(t) for t in times], blends


def spans(indices: list[int]) -> list[tuple[int, int]]:
    """Sorted frame indices -> inclusive (first, last) runs."""
    out: list[tuple[int, int]] = []
    for i in indices:
        if out and i == out[-1][1] + 1:
            out[-1] = (out[-1][0], i)
        else:
            out.append((i, i))
    return out


def missing_frames_warning(name: str, missing: list[int]) -> str:
    runs = spans(missing)
    shown = ", ".join(f"{a}" if a == b else f"{a}-{b}" for a, b in runs[:5])
    more = f" and {len(runs) - 5} more runs" if len(runs) > 5 else ""
    return (f"{name}: {len(missing)} frame(s) could not be decoded (damaged or truncated file): "
            f"frames {shown}{more}; they are marked untracked and interpolated from their neighbours")


def absolute_pose(raw: np.ndarray, width: int, height: int) -> dict[str, float]:
    """A raw row's absolute head pose as the motion file stores it (``calibration.head_pose``,
    MOTION_SPEC.md): yaw and pitch from MediaPipe's facial transformation matrix, roll from the
    eye line (degrees, the contract's signs), and where the face is in the frame (cheek midpoint,
    and the place head_x / head_y are measured at (expression.PLACE), over the image's width /
    height; face width over the image's width)."""
    i = {n: k for k, n in enumerate(RAW_NAMES)}
    w, h = max(int(width or 0), 1), max(int(height or 0), 1)
    return {"yaw": float(raw[i["yaw"]]), "pitch": float(raw[i["pitch"]]), "roll": float(raw[i["roll"]]),
            "x": float(raw[i["cx"]]) / w, "y": float(raw[i["cy"]]) / h, "width": float(raw[i["width"]]) / w,
            "place_x": float(raw[i["place_x"]]) / w, "place_y": float(raw[i["place_y"]]) / h}


def capture(video: str | os.PathLike, *, start: int = 0, stop: int | None = None,
            calibration_frame: int | None = None, smoothing: float = 0.5,
            progress: Progress | None = None, dense: DenseCapture | None = None,
            body: bool = False, mouths: bool = False, creases: bool | None = None) -> Motion:
    """Capture expression controls from ``video`` frames [start, stop). ``dense``: also run
    LivePortrait's motion extractor on every frame (capture/liveportrait_dense.py) and store
    its track in the motion's extras. ``body``: also track the body in the same pass
    (capture/body.py) and store it as the motion's ``body``. ``mouths``: also keep the actor's
    mouth interiors as exemplars (capture/mouth_exemplars.py) in the motion's ``mouths``.
    ``creases``: also keep the actor's expression creases (capture/creases.py) in the motion's
    ``creases``; default: whenever ``mouths`` (both are the actor's own detail for a renderer)."""
    path = Path(video)
    if start < 0 or (stop is not None and stop <= start):
        raise CaptureError(f"empty frame range {start}-{'' if stop is None else stop - 1}: video frames "
                           "start at 0 and a range A-B needs A <= B (both ends included)")
    with VideoReader(path) as reader:
        info = reader.info
        total = (stop if stop is not None else info.frame_count) - start
        end = stop if stop is not None else (info.frame_count or None)
        if calibration_frame is not None and (calibration_frame < start or
                                              (end is not None and calibration_frame >= end)):
            # known before any frame is tracked: fail now, not after the whole clip
            raise CaptureError(f"neutral frame {calibration_frame} is outside the captured range "
                               f"{start}-{(end or start + 1) - 1}")
        seen: dict[int, tuple[float, np.ndarray | None, np.ndarray]] = {}  # index -> ts, raw, blend
        names: list[str] = []
        prev = None
        head_crops = 0
        bodies = BodyCapture() if body else None
        mouth_crops = MouthCollector() if mouths else None
        crease_crops = CreaseCollector() if (mouths if creases is None else creases) else None
        with FaceTracker(video=True) as tracker, contextlib.ExitStack() as stack:
            if bodies is not None:
                stack.callback(bodies.close)
            head_faces = None  # IMAGE-mode tracker for head crops, made on first need
            for idx, ts, rgb in reader.frames(start, stop):
                if bodies is not None:
                    bodies.submit(idx, rgb, int(round(ts)))
                faces = tracker.detect(rgb, int(round(ts)))
                face = pick_main_face(faces, (rgb.shape[1], rgb.shape[0]), prev)
                # the body is waited for only where the face needs it: elsewhere it runs on beside
                # the next frames' decoding and face tracking (capture/body.py)
                person = bodies.result() if bodies is not None and face is None else None
                if face is None and person is not None:
                    if head_faces is None:
                        head_faces = stack.enter_context(FaceTracker(video=False, max_faces=1))
                    face = face_in_head_crop(head_faces, rgb, person)
                    if face is not None:
                        head_crops += 1
                if face is None:
                    seen[idx] = (ts, None, np.zeros(52, np.float32))
                    prev = None
                else:
                    bs = np.zeros(52, np.float32)
                    bs[: min(52, face.blendshapes.size)] = face.blendshapes[:52]
                    seen[idx] = (ts, raw_measures(face), bs)
                    names = names or list(face.blendshape_names)
                    prev = face.center
                if mouth_crops is not None and face is not None:
                    mouth_crops.add(idx, rgb, face.landmarks)
                if crease_crops is not None and face is not None:
                    crease_crops.add(idx, rgb, face.landmarks)
                if dense is not None:
                    dense.add(rgb, None if face is None else face.landmarks)
                if progress is not None:
                    progress.update(idx - start + 1, max(total, idx - start + 1), "tracking")
    if not seen:
        last = "" if stop is None else stop - 1
        raise CaptureError(f"{path.name}: no frames decoded in range {start}-{last}; "
                           "check the file and the frame range")
    end = expected_end(max(seen) + 1, info.frame_count, stop)
    missing = [i for i in range(start, end) if i not in seen]
    raws, times, blends = _fill_missing(seen, start, end, info.fps)
    n = len(raws)
    if missing:
        warn(missing_frames_warning(path.name, missing))
    tracked = np.array([r is not None for r in raws])
    if not tracked.any():
        raise CaptureError(f"no face found in {path.name} (frames {start}-{start + n - 1}); "
                           "use a clip with a clearly visible, roughly frontal face"
                           + ("" if body else " (a performer filmed head to toe has a face too "
                              "small to find: capture with the body (CLI --body) to find it "
                              "through the body)"))
    raw = np.full((n, len(RAW_NAMES)), np.nan)
    for k, r in enumerate(raws):
        if r is not None:
            raw[k] = r
    good = np.flatnonzero(tracked)
    for j in range(raw.shape[1]):
        raw[:, j] = np.interp(np.arange(n), good, raw[good, j])
    if calibration_frame is None:
        scores = neutrality(raw)
        scores[~tracked] = np.inf
        cal = int(np.argmin(scores))
        method = "auto_most_neutral"
    else:
        cal = int(calibration_frame) - start
        if not 0 <= cal < n:
            raise CaptureError(f"neutral frame {calibration_frame} is outside the captured range "
                               f"{start}-{start + n - 1}")
        if not tracked[cal]:
            raise CaptureError(f"no face in neutral frame {calibration_frame}; choose another frame")
        method = "given"
    ctl = controls_from_raw(raw, raw[cal])
    # the neutral's own absolute head pose (the curves are relative to it): a renderer can
    # then place the head absolutely on a portrait that faces the camera as the actor did
    neutral_pose = absolute_pose(raw[cal], info.width, info.height)
    blend_arr = np.stack(blends)
    fps = info.fps
    grid = uniform_grid(np.asarray(times))
    vfr = grid is not None
    grid_t = None
    if grid is not None:
        # Variable frame rate: the frames are not evenly spaced in time, so per-frame keys would
        # play back too fast or too slow. Resample everything onto an even grid in time.
        t = np.asarray(times)
        grid_t, fps = grid
        ctl = np.stack([np.interp(grid_t, t, ctl[:, k]) for k in range(ctl.shape[1])], axis=1)
        blend_arr = np.stack([np.interp(grid_t, t, blend_arr[:, k]) for k in range(52)], axis=1)
        nearest = np.clip(np.searchsorted(t, grid_t), 0, len(t) - 1)
        prev_i = np.clip(nearest - 1, 0, len(t) - 1)
        nearest = np.where(np.abs(t[prev_i] - grid_t) < np.abs(t[nearest] - grid_t), prev_i, nearest)
        tracked = tracked[nearest]
        cal = int(np.argmin(np.abs(grid_t - t[cal])))
    controls = {name: ctl[:, k].astype(np.float32) for k, name in enumerate(CONTROL_NAMES)}
    # a file: the whole series is known, so the filter may look ahead (no lag at blinks and jaw drops)
    controls, filt = smooth_controls(controls, fps, smoothing, zero_phase=True)
    # the tracker's head swells with an open jaw, the pixels do not (capture/head_size.py)
    swell = jaw_free_head_scale(controls, fps, tracked)
    extras = dense.extras(np.asarray(times), grid_t, cal, controls) if dense is not None else {}
    body_track = None
    if bodies is not None:
        body_track = bodies.track(start, end, np.asarray(times), grid_t, fps, cal, smoothing)
        if body_track is None:
            warn(f"no body found in {path.name}: the motion has no body track (the face is kept)")
    t_all = np.asarray(times)

    def frame_of(video_index: int) -> int:
        k = video_index - start
        return k if grid_t is None else int(np.argmin(np.abs(grid_t - t_all[k])))

    mouth_set = None if mouth_crops is None else mouth_crops.select(controls, frame_of)
    crease_set = None if crease_crops is None else crease_crops.select(controls, frame_of)
    confidence = np.where(tracked, 1.0, 0.0).astype(np.float32)
    return Motion(
        fps=fps, controls=controls, confidence=confidence, tracked=tracked,
        blendshapes=blend_arr.astype(np.float32) if names else None, blendshape_names=names,
        source={"kind": "video", "path": str(path), "sha256": _sha256(path), "width": info.width,
                "height": info.height,
                "fps": info.fps, "frame_count": info.frame_count, "rotation": info.rotation,
                "start": start, "variable_frame_rate": vfr, "decoded_frames": len(seen),
                "missing_frames": [list(r) for r in spans(missing)],
                **({"face_from_head_crop": head_crops} if body else {})},
        calibration={"frame": start + cal, "method": method, "head_pose": neutral_pose,
                     "head_scale_jaw_swell": swell},
        filter=filt, extras=extras, body=body_track, mouths=mouth_set, creases=crease_set,
    )


def capture_mouths(video: str | os.PathLike, *, start: int = 0, stop: int | None = None,
                   progress: Progress | None = None) -> MouthExemplars:
    """Only the actor's mouth exemplars of ``video`` frames [start, stop) (a movie picked as
    the mouth source of a voice capture): the same tracking pass and selection as ``capture``
    with ``mouths=True`` and its default smoothing, so the set equals the one a video capture
    of the same frames keeps beside its motion (``capture`` -> ``<stem>.mouths.npz``); the
    controls are only the selection's measure and are dropped. CaptureError (no face) and
    MediaError (not a video) as ``capture``; a clip whose actor never opens the mouth is a
    CaptureError too: it has nothing to keep."""
    motion = capture(video, start=start, stop=stop, progress=progress, mouths=True, creases=False)
    if motion.mouths is None:
        last = start + motion.frame_count - 1
        raise CaptureError(f"the mouth never opens in {Path(video).name} (frames {start}-{last}): pick "
                           "a clip where the actor speaks or opens the mouth")
    return motion.mouths
