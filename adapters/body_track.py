"""The captured body of a portrait, kept inside the .blend (like the dense track, adapters/dense.py).

Capture with "Body" on stores, per keyed scene frame, the driving clip's 33 body joints in image
coordinates (for the pose video), in metres (for the armature bake) and their confidence, as an
ID property on the portrait item (``item["talking_head_body"]``): it is saved with the .blend,
follows undo, and lets a bake or a Wan-Animate send run later without the video. 232 floats a
frame (about 1.8 KB as the ID property's doubles; 33 MB for 10 minutes at 30 fps).
"""

from __future__ import annotations

import numpy as np

from ..engine.body import BODY_CONTROL_NAMES, JOINT_COUNT, BodyTrack
from . import frame_track

KEY = "talking_head_body"
FIELDS = {"joints": (JOINT_COUNT, 3), "world": (JOINT_COUNT, 3), "confidence": (JOINT_COUNT,),
          "tracked": ()}


def store(item, frames: np.ndarray, body: BodyTrack, info: str = "") -> None:
    """Keep ``body`` (one row per scene frame of ``frames``), replacing what was stored in that range."""
    frames = np.asarray(frames, np.float64)
    new = {k: np.asarray(getattr(body, k), np.float64).reshape(len(frames), -1) for k in FIELDS}
    frame_track.write(item, KEY, *frame_track.splice(load(item), frames, new), info)


def load(item) -> tuple[np.ndarray, dict[str, np.ndarray]] | None:
    """(scene frames (n,), field -> (n, ...)) or None."""
    data = item.get(KEY)
    if data is None:
        return None
    # copies: np.asarray would view the ID property's buffer, which dies with the .blend data
    frames = np.array(data["frames"], np.float64, copy=True)
    n = len(frames)
    try:
        out = {k: np.array(data[k], np.float64, copy=True).reshape((n, *shape))
               for k, shape in FIELDS.items()}
    except (KeyError, ValueError):
        return None  # damaged by hand (a Python console edit): treated as no body
    return (frames, out) if n else None


def has_body(item) -> bool:
    """Cheap (panels call it on every redraw): no copy of the arrays."""
    data = item.get(KEY)
    return data is not None and len(data.get("frames", ())) > 0


def info(item) -> str:
    data = item.get(KEY)
    return str(data.get("info", "")) if data is not None else ""


def body_at(item, frames: np.ndarray) -> BodyTrack | None:
    """The stored body at scene ``frames`` (n,): positions and confidence linear between stored
    frames, held outside (as the curves' constant extrapolation); None when none is stored."""
    track = load(item)
    if track is None:
        return None
    stored, fields = track
    f = np.asarray(frames, np.float64)

    def interp(v: np.ndarray) -> np.ndarray:
        flat = v.reshape(len(stored), -1)
        cols = [np.interp(f, stored, flat[:, j]) for j in range(flat.shape[1])]
        return np.stack(cols, axis=1).reshape((len(f), *v.shape[1:]))

    zeros = {k: np.zeros(len(f), np.float32) for k in BODY_CONTROL_NAMES}  # curves live as F-curves
    return BodyTrack(interp(fields["joints"]), interp(fields["world"]),
                     np.clip(interp(fields["confidence"]), 0, 1), interp(fields["tracked"]) > 0.5, zeros)


def with_curves(item, frames: np.ndarray, controls: dict[str, np.ndarray]) -> BodyTrack:
    """A body for a motion built from the curves: the stored joints at ``frames`` (or, for body
    curves keyed by hand without a captured body, no joints: confidence 0, not tracked) carrying
    the body curves' values ``controls`` (name -> (n,)), which the built-in renderer moves the
    torso with."""
    n = len(frames)
    body = body_at(item, frames)
    if body is None:
        zeros = np.zeros((n, JOINT_COUNT, 3), np.float32)
        body = BodyTrack(zeros, zeros, np.zeros((n, JOINT_COUNT), np.float32), np.zeros(n, bool),
                         {k: np.zeros(n, np.float32) for k in BODY_CONTROL_NAMES})
    body.controls = {k: np.asarray(controls[k], np.float32) for k in BODY_CONTROL_NAMES}
    body.validate()
    return body


def remove_range(item, frames: np.ndarray) -> None:
    """Drop the stored frames inside [min(frames), max(frames)] (a capture there without the body)."""
    frame_track.remove_range(item, KEY, load(item), frames, info(item))


def clear(item) -> bool:
    if item.get(KEY) is None:
        return False
    del item[KEY]
    return True
