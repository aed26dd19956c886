"""The actor's mouth exemplars of a portrait, kept inside the .blend.

A video capture keeps up to 24 of the actor's real mouth interiors (engine/capture/
mouth_exemplars.py); they live as an ID property on the portrait item
(``item["talking_head_mouths"]``) like the dense track (adapters/dense.py): saved with the .blend,
undone/redone with the keys, sent to farm nodes with the file, nothing written beside it. The
built-in renderer fills open mouths from them (engine/render/builtin/exemplars.py). A voice
capture keeps the set of an earlier video capture of the portrait, so a movie captured once is
the mouth source of any later voice take. Size: ~0.5 MB of ID property for 24 exemplars.
"""

from __future__ import annotations

import numpy as np

KEY = "talking_head_mouths"
_FIELDS = ("patches", "masks", "controls", "lips", "gaps", "frames")


def store(item, exemplars) -> None:  # noqa: ANN001 - MouthExemplars
    """Replace the portrait's set with ``exemplars`` (a MouthExemplars)."""
    group: dict = {"count": int(exemplars.count)}
    for name in _FIELDS:
        arr = getattr(exemplars, name)
        # ints as ints (ID property int arrays), floats as floats; shapes are fixed by the format
        flat = arr.astype(np.int64) if arr.dtype.kind in "ui" else arr.astype(np.float64)
        group[name] = flat.ravel().tolist()
    item[KEY] = group


def load(item):  # noqa: ANN001, ANN201 - the portrait item -> MouthExemplars | None
    """The stored set, checked like a file (MouthExemplars validates dtypes, shapes, values), or
    None when there is none or it does not check out (a hand-edited property)."""
    from ..engine.capture.mouth_exemplars import PATCH_H, PATCH_W, MouthExemplarError, MouthExemplars

    data = item.get(KEY)
    if data is None:
        return None
    try:
        k = int(data["count"])
        shapes = {"patches": (k, PATCH_H, PATCH_W, 3), "masks": (k, PATCH_H, PATCH_W), "controls": (k, 4),
                  "lips": (k, 3, 3), "gaps": (k, PATCH_W), "frames": (k,)}
        arrays = {}
        for name, shape in shapes.items():
            # a copy: a view of the ID property's buffer dies with the .blend data
            raw = np.array(data[name], copy=True)
            if raw.size != int(np.prod(shape)):
                return None
            raw = raw.reshape(shape)
            if name in ("patches", "masks"):
                if raw.min() < 0 or raw.max() > 255:
                    return None
                raw = raw.astype(np.uint8)
            elif name == "frames":
                raw = raw.astype(np.int64)
            else:
                raw = raw.astype(np.float32)
            arrays[name] = raw
        return MouthExemplars(**arrays)
    except (KeyError, TypeError, ValueError, MouthExemplarError):
        return None


def has_mouths(item) -> bool:  # noqa: ANN001
    return item.get(KEY) is not None


def clear(item) -> bool:  # noqa: ANN001
    if item.get(KEY) is None:
        return False
    del item[KEY]
    return True
