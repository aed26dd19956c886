"""Mouth cues in Blender: the portrait's captured mouth curves -> Rhubarb shapes
(engine/mouth_cues.py) -> constant keys on any number property a 2D mouth reads.

The target is an ID (an object, material, Grease Pencil, scene, ...) and a data path on it:
an integer custom property (``["mouth"]``) that drivers read, a Grease Pencil layer or material
index, or an image user's ``frame_offset`` (an image-sequence mouth on a plane, an image empty
or a Grease Pencil texture). Each frame gets the index of its shape in the chart's shape set
(A = 0, B = 1, ... in the order A-H, X of the shapes the chart has) plus ``offset``; keys sit
where the shape changes, with constant interpolation (a chart never blends two drawings).
Keys inside the keyed range are replaced; keys outside it are kept.
"""

from __future__ import annotations

import re

import bpy
import numpy as np

from ..engine import mouth_cues
from . import compat, keyframes
from .strips import SetupError

# ID kinds a mouth can be keyed on -> the bpy.data collection holding them
ID_COLLECTIONS = {
    "OBJECT": "objects", "MATERIAL": "materials", "GREASEPENCIL": "grease_pencils",
    "SCENE": "scenes", "MESH": "meshes", "NODETREE": "node_groups", "WORLD": "worlds",
}
_INDEXED = re.compile(r"^(.*)\[(\d+)\]$")  # location[1]: an array element, not a custom property


def target_id(kind: str, name: str) -> bpy.types.ID:
    coll_name = ID_COLLECTIONS.get(kind)
    coll = getattr(bpy.data, coll_name, None) if coll_name else None
    if coll is None:
        raise SetupError(f"cannot key mouth shapes on a {kind.lower()} in this Blender")
    if not name:
        raise SetupError(f"choose the {kind.lower()} whose property shows the mouth shape")
    target = coll.get(name)
    if target is None:
        raise SetupError(f"no {kind.lower()} named {name!r}")
    return target


def split_path(target: bpy.types.ID, data_path: str) -> tuple[str, int, type]:
    """(F-curve data path, array index, int or float) of a number property on ``target``;
    SetupError in one sentence when the path is not one."""
    path = (data_path or "").strip()
    if not path:
        raise SetupError("give the data path of the property to key (e.g. [\"mouth\"] or "
                         "active_material_index)")
    index = 0
    m = _INDEXED.match(path)
    if m and not path.endswith('"]') and not path.endswith("']"):
        path, index = m.group(1), int(m.group(2))
    custom = re.match(r'^\["(.+)"\]$', path)
    if custom and custom.group(1) not in target:
        target[custom.group(1)] = 0  # a new integer custom property: drivers can read it
    try:
        value = target.path_resolve(path)
    except ValueError:
        raise SetupError(f"{target.name} has no property {data_path!r}") from None
    if m and not isinstance(value, (int, float)):
        try:
            value = value[index]
        except (TypeError, IndexError):
            raise SetupError(f"{data_path!r} on {target.name} is not an element of an array") from None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise SetupError(f"{data_path!r} on {target.name} is not a number property "
                         f"(it is {type(value).__name__}); key an integer or float property")
    return path, index, type(value)


def keyed_range(scene: bpy.types.Scene, item) -> tuple[int, int]:
    """First and last scene frame of the portrait's captured control keys."""
    curves = [fc for fc in keyframes.control_fcurves(scene, item).values() if len(fc.keyframe_points)]
    if not curves:
        raise SetupError(f"{item.name} has no captured curves yet: capture a voice or a video first")
    lo = min(fc.keyframe_points[0].co[0] for fc in curves)
    hi = max(fc.keyframe_points[-1].co[0] for fc in curves)
    return int(round(lo)), int(round(hi))


def portrait_cues(scene: bpy.types.Scene, item, shapes: str | None = None
                  ) -> tuple[np.ndarray, list[str], list[mouth_cues.Cue]]:
    """Scene frames of the captured range, the shape each shows, and the cues."""
    target = mouth_cues.target_shapes(shapes)
    first, last = keyed_range(scene, item)
    frames = np.arange(first, last + 1)
    motion = keyframes.motion_from_scene(scene, item, frames)
    cue_list = mouth_cues.cues(motion, target)
    return frames, mouth_cues.cue_at_frames(cue_list, motion.fps, frames.size), cue_list


def key_shapes(scene: bpy.types.Scene, item, kind: str, name: str, data_path: str, *,
               shapes: str | None = None, offset: int = 0) -> str:
    """Key the target property from the portrait's mouth; returns the report line."""
    chart = mouth_cues.target_shapes(shapes)
    target = target_id(kind, name)
    path, index, number = split_path(target, data_path)
    frames, shown, _cues = portrait_cues(scene, item, chart)
    values = np.array([chart.index(s) + int(offset) for s in shown], np.float32)
    change = np.flatnonzero(np.concatenate([[True], values[1:] != values[:-1]]))
    fc = compat.ensure_fcurve(target, path, index, "Mouth Shapes")
    keyframes.replace_keys(fc, frames[change], values[change], "CONSTANT",
                           float(frames[0]), float(frames[-1]))
    _show(target, path, index, number(fc.evaluate(scene.frame_current)))
    share = ", ".join(f"{s} {100 * shown.count(s) / len(shown):.0f}%" for s in chart if s in shown)
    return (f"keyed {change.size} mouth shapes on {target.name} {data_path} from {item.name}, "
            f"frames {int(frames[0])}-{int(frames[-1])} ({share}; {chart} = "
            f"{int(offset)}..{len(chart) - 1 + int(offset)})")


def _show(target: bpy.types.ID, path: str, index: int, value: float) -> None:
    """The property shows the current frame's shape at once, as keying by hand does (the next
    frame change would too: a path this cannot set is left to it)."""
    owner, attr = target, path
    m = re.match(r"^(.*)\.([A-Za-z_]\w*)$", path)
    if m:
        owner, attr = target.path_resolve(m.group(1)), m.group(2)
    custom = re.match(r'^\["(.+)"\]$', path)
    if custom:
        target[custom.group(1)] = value
    elif isinstance(getattr(owner, attr, None), (int, float)):
        setattr(owner, attr, value)
    elif hasattr(owner, attr):
        getattr(owner, attr)[index] = value


def _free_channel(scene: bpy.types.Scene, strip, skip=None) -> int:  # noqa: ANN001
    """The lowest channel above ``strip`` with nothing in its frames (an effect there covers it)."""
    lo, hi = compat.strip_handles(strip)
    for channel in range(strip.channel + 1, 129):
        busy = any(s.channel == channel and s != skip and compat.strip_handles(s)[0] < hi
                   and compat.strip_handles(s)[1] > lo for s in compat.strips(scene, False))
        if not busy:
            return channel
    raise SetupError(f"no free channel above {strip.name} for its mouth-shape effect")


def key_image_strip(scene: bpy.types.Scene, item, strip_name: str, *, shapes: str | None = None,
                    offset: int = 0) -> str:
    """Make an image-sequence mouth chart strip show the portrait's mouth: image ``i`` of the
    strip is shape ``i - offset`` of the chart's set (A first). Which image a strip shows cannot be
    keyed on the strip itself in every Blender (adapters/compat.py), so a Speed effect
    "<strip> Mouth" over it, in frame-number mode, gets the constant keys; the chart strip is
    moved or lengthened when it does not span the captured frames. Returns the report line."""
    chart = mouth_cues.target_shapes(shapes)
    strip = compat.get_strip(scene, strip_name)
    if strip is None:
        raise SetupError(f"no strip named {strip_name!r} in the Sequencer")
    if strip.type != "IMAGE":
        raise SetupError(f"{strip.name} is a {strip.type.lower()} strip; choose an image strip "
                         "holding the chart's images (A, B, C, ... in order)")
    needed = len(chart) + int(offset)
    if int(offset) < 0 or len(strip.elements) < needed:
        raise SetupError(f"{strip.name} has {len(strip.elements)} images; the shapes {chart} "
                         f"from image {int(offset)} need {needed}")
    # the effect's frame number counts from the strip's left handle (4.2 - 5.3 alike): images
    # trimmed off at the start are skipped
    trim = int(round(compat.strip_timing(strip, "left_handle_offset")))
    if int(offset) < trim:
        raise SetupError(f"{strip.name} hides its first {trim} images (trimmed); set First Value "
                         f"to {trim} or more, or untrim the strip")
    frames, shown, _cues = portrait_cues(scene, item, chart)
    first, last = int(frames[0]), int(frames[-1])
    left, right = compat.strip_handles(strip)
    if left > first:  # slide the chart (content and handles) to the capture's start
        compat.set_strip_timing(strip, "content_start",
                                compat.strip_timing(strip, "content_start") - (left - first))
    if compat.strip_handles(strip)[1] <= last:  # an image strip holds its last image beyond
        compat.set_strip_timing(strip, "right_handle", last + 1)
    name = f"{strip.name} Mouth"
    effect = compat.get_strip(scene, name)
    if effect is None or effect.type != "SPEED" or effect.input_1 != strip:
        effect = compat.new_effect_over(scene, name, "SPEED", _free_channel(scene, strip), strip)
    effect.speed_control = "FRAME_NUMBER"
    values = np.array([chart.index(s) + int(offset) - trim for s in shown], np.float32)
    change = np.flatnonzero(np.concatenate([[True], values[1:] != values[:-1]]))
    fc = compat.ensure_fcurve(scene, effect.path_from_id("speed_frame_number"), 0, "Mouth Shapes")
    keyframes.replace_keys(fc, frames[change], values[change], "CONSTANT", float(first), float(last))
    effect.speed_frame_number = fc.evaluate(scene.frame_current)
    share = ", ".join(f"{s} {100 * shown.count(s) / len(shown):.0f}%" for s in chart if s in shown)
    return (f"keyed {change.size} mouth shapes on {effect.name} (images of {strip.name}) from "
            f"{item.name}, frames {first}-{last} ({share}; {chart} = images "
            f"{int(offset)}..{needed - 1})")
