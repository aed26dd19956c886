"""The dense LivePortrait track of a portrait, kept inside the .blend.

Capture (when LivePortrait's motion extractor is installed) stores, per keyed scene frame, the
driving clip's relative expression (63), head motion (13) and the controls captured on that frame
(16): engine/capture/liveportrait_dense.py. It lives as an ID property on the portrait item
(``item["talking_head_dense"]``), so it is saved with the .blend, follows undo/redo like the
keys, and reaches render-farm nodes with the file; nothing is written beside the .blend.
Rendering with LivePortrait evaluates it at each frame (linear between keyed frames, held
before/after like the curves' constant extrapolation) and the 16 curves act as offsets on top.
Size: 92 floats per frame (about 0.7 KB; 13 MB for 10 minutes at 30 fps).
"""

from __future__ import annotations

import numpy as np

from . import frame_track

KEY = "talking_head_dense"
#: extras name -> width per frame
FIELDS = {"liveportrait_exp": 63, "liveportrait_pose": 13, "liveportrait_base": 16}


def store(item, frames: np.ndarray, extras: dict[str, np.ndarray], info: str = "") -> None:
    """Keep the track for scene ``frames`` (replacing the stored frames in that range)."""
    frames = np.asarray(frames, np.float64)
    old = load(item)
    new = {k: np.asarray(v, np.float64).reshape(len(frames), -1) for k, v in extras.items() if k in FIELDS}
    kept = old if old is not None and set(old[1]) == set(new) else None  # other fields: replaced
    frame_track.write(item, KEY, *frame_track.splice(kept, frames, new), info)


def load(item) -> tuple[np.ndarray, dict[str, np.ndarray]] | None:
    data = item.get(KEY)
    if data is None:
        return None
    # copies: np.asarray would VIEW the ID property's buffer, which dies with the .blend data
    frames = np.array(data["frames"], np.float64, copy=True)
    out = {}
    for k, width in FIELDS.items():
        if k in data:
            out[k] = np.array(data[k], np.float64, copy=True).reshape(len(frames), width)
    return (frames, out) if len(frames) and out else None


def has_track(item) -> bool:
    return item.get(KEY) is not None


def info(item) -> str:
    data = item.get(KEY)
    return str(data.get("info", "")) if data is not None else ""


def extras_at(item, frames: np.ndarray) -> dict[str, np.ndarray]:
    """The track at scene ``frames`` (n,): linear between stored frames, held outside."""
    track = load(item)
    if track is None:
        return {}
    stored, fields = track
    f = np.asarray(frames, np.float64)
    return {k: np.stack([np.interp(f, stored, v[:, j]) for j in range(v.shape[1])], axis=1).astype(np.float32)
            for k, v in fields.items()}


def remove_range(item, frames: np.ndarray) -> None:
    """Drop the stored frames inside [min(frames), max(frames)] (new keys without a track there)."""
    frame_track.remove_range(item, KEY, load(item), frames, info(item))


def clear(item) -> bool:
    if item.get(KEY) is None:
        return False
    del item[KEY]
    return True
