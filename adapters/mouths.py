"""The actor's mouth exemplars of a portrait, kept inside the .blend.

A video capture keeps up to 24 of the actor's real mouth interiors (engine/capture/
mouth_exemplars.py); they live as an ID property on the portrait item
(``item["talking_head_mouths"]``) like the dense track (adapters/dense.py): saved with the .blend,
undone/redone with the keys, sent to farm nodes with the file, nothing written beside it. The
built-in renderer fills open mouths from them (engine/render/builtin/exemplars.py). A voice
capture keeps the set of an earlier video capture of the portrait, so a movie captured once is
the mouth source of any later voice take; or the artist picks any movie as the portrait's Mouth
Source (a movie strip of the scene, or a file) and Learn Mouths From Movie keeps that movie's set
(``prepare_learn``: a modal job, no keys changed). The set remembers where it came from (``source``,
shown in the panel). Size: ~0.5 MB of ID property for 24 exemplars.
"""

from __future__ import annotations

import os

import bpy
import numpy as np

from .strips import SetupError

KEY = "talking_head_mouths"
_FIELDS = ("patches", "masks", "controls", "lips", "gaps", "frames")


def store(item, exemplars, source: str = "") -> None:  # noqa: ANN001 - MouthExemplars
    """Replace the portrait's set with ``exemplars`` (a MouthExemplars) taken from ``source``
    (the movie's name and frames, for the panel)."""
    group: dict = {"count": int(exemplars.count), "source": str(source)}
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


def info(item) -> str:  # noqa: ANN001
    """The panel's line: "24 from lp_d6.mp4 frames 55-65" ("" when there is no set)."""
    data = item.get(KEY)
    if data is None:
        return ""
    try:
        count, source = int(data["count"]), str(data.get("source", "") or "")
    except (KeyError, TypeError, ValueError):
        return "damaged (learn them again)"
    return f"{count} from {source}" if source else str(count)


def movie_source(scene: bpy.types.Scene, item) -> tuple[str, int, int | None, str]:  # noqa: ANN001
    """(absolute path, first frame, stop frame or None, label) of the portrait's Mouth Source:
    its movie strip (the source frames the strip shows, like a driving strip), else its movie
    file (all frames; "//" is relative to the .blend as everywhere in Blender)."""
    from . import compat, strips

    if item.kind == "SEQUENCER" and item.mouth_strip:
        strip = compat.get_strip(scene, item.mouth_strip)
        if strip is None:
            raise SetupError(f"mouth source strip {item.mouth_strip!r} not found: pick a movie strip "
                             "of this scene (or a movie file)")
        if strip.type != "MOVIE":
            raise SetupError(f"mouth source {strip.name!r} is not a movie strip: mouths are learned "
                             "from a movie that shows the actor's face")
        if not os.path.isfile(bpy.path.abspath(strip.filepath)):
            raise SetupError(f"mouth source movie not found: {bpy.path.abspath(strip.filepath)}")
        rng = strips.driving_range(scene, strip)
        a, b = rng.source_start, rng.source_stop
        return rng.path, a, b, f"{os.path.basename(rng.path)} frames {a}-{b - 1}"
    if item.mouth_movie:
        path = bpy.path.abspath(item.mouth_movie)
        if not os.path.isfile(path):
            raise SetupError(f"mouth source movie not found: {path}")
        return path, 0, None, os.path.basename(path)
    raise SetupError("pick the Mouth Source movie first (a movie strip of the scene, or a file)")


def prepare_learn(scene: bpy.types.Scene, item):  # noqa: ANN001, ANN201 - -> flows.Task
    """Learn Mouths From Movie: the Mouth Source movie's exemplars (engine capture_mouths, in
    the job's worker), stored on the portrait when done; keys, dense track and body untouched."""
    from ..engine.capture import capture_mouths
    from .flows import Task, _item, _scene  # flows imports this module

    path, start, stop, label = movie_source(scene, item)
    scene_name, uid = scene.name, item.uid

    def work(progress):  # noqa: ANN001, ANN202 - Progress -> MouthExemplars
        return capture_mouths(path, start=start, stop=stop, progress=progress)

    def finish(exemplars) -> str:  # noqa: ANN001
        it = _item(_scene(scene_name), uid)
        store(it, exemplars, source=label)
        return (f"{exemplars.count} mouth exemplars of {label} kept on {it.name}: its renders fill "
                "open mouths from them (keys unchanged)")

    return Task(f"learn mouths {item.name}", work, finish)


def clear(item) -> bool:  # noqa: ANN001
    if item.get(KEY) is None:
        return False
    del item[KEY]
    return True
