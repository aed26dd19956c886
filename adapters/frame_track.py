"""Per-scene-frame arrays kept as an ID property on a portrait item (the dense track, the body):
one way to splice a new capture's range into what is stored, write it and drop a range."""

from __future__ import annotations

import numpy as np


def outside(stored: np.ndarray, frames: np.ndarray) -> np.ndarray:
    """Which ``stored`` frames lie outside [min(frames), max(frames)] (what a new range keeps)."""
    return (stored < float(np.min(frames)) - 1e-4) | (stored > float(np.max(frames)) + 1e-4)


def splice(old: tuple[np.ndarray, dict[str, np.ndarray]] | None, frames: np.ndarray,
           new: dict[str, np.ndarray]) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """``new`` (field -> (n, ...) rows of ``frames``) replacing ``old``'s frames in that range,
    the rest of ``old`` kept, in frame order; rows come back flattened to (n, width)."""
    new = {k: v.reshape(len(frames), -1) for k, v in new.items()}
    if old is None:
        return frames, new
    keep = outside(old[0], frames)
    frames = np.concatenate([old[0][keep], frames])
    new = {k: np.concatenate([old[1][k].reshape(len(keep), -1)[keep], v]) for k, v in new.items()}
    order = np.argsort(frames, kind="stable")
    return frames[order], {k: v[order] for k, v in new.items()}


def write(item, key: str, frames: np.ndarray, fields: dict[str, np.ndarray], info: str) -> None:
    group = {"frames": frames.tolist(), "info": info}
    for k, v in fields.items():
        group[k] = v.reshape(len(frames), -1).ravel().tolist()
    item[key] = group


def remove_range(item, key: str, track: tuple[np.ndarray, dict[str, np.ndarray]] | None,
                 frames: np.ndarray, info: str) -> None:
    """Drop ``track``'s frames inside ``frames``' range (the whole property when none is left)."""
    if track is None or not len(frames):
        return
    stored, fields = track
    keep = outside(stored, frames)
    if keep.all():
        return
    if not keep.any():
        del item[key]
        return
    write(item, key, stored[keep], {k: v[keep] for k, v in fields.items()}, info)
