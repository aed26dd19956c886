"""Controls <-> F-curves: bulk keyframe writing and per-frame evaluation back into a Motion.

Writing uses ``keyframe_points.add`` + ``foreach_set`` (one call per curve, not one
``keyframe_insert`` per key). Reading evaluates exactly what the Graph Editor shows: each
control's F-curve at each frame (with its modifiers and extrapolation), the property's static
value where it has no curve, and a full scene evaluation where a driver is involved.
"""

from __future__ import annotations

import bpy
import numpy as np

from ..engine.body import BODY_CONTROL_NAMES, BODY_CONTROLS
from ..engine.controls import CONTROL_NAMES, CONTROLS, NEUTRAL
from ..engine.motion import Motion
from . import compat


def data_path(item: bpy.types.PropertyGroup, control: str) -> str:
    return item.path_from_id(control)


def group_name(item: bpy.types.PropertyGroup, group: str) -> str:
    return f"{group} ({item.name})"


KEY_ATTRS = (("co", 2, np.float32), ("handle_left", 2, np.float32), ("handle_right", 2, np.float32),
             ("interpolation", 1, np.int32), ("handle_left_type", 1, np.int32),
             ("handle_right_type", 1, np.int32))


def read_keys(points, attrs: tuple = KEY_ATTRS) -> dict[str, np.ndarray]:
    """Every keyframe's ``attrs`` in bulk (foreach_get), for rewriting curves in place."""
    n = len(points)
    out = {}
    for attr, width, dtype in attrs:
        buf = np.empty(n * width, dtype=dtype)
        points.foreach_get(attr, buf)
        out[attr] = buf.reshape(n, width) if width > 1 else buf
    return out


def write_controls(scene: bpy.types.Scene, item: bpy.types.PropertyGroup, frames: np.ndarray,
                   values: np.ndarray, interpolation: str = "LINEAR", specs: tuple = CONTROLS) -> int:
    """Key ``values`` (n, len(specs)) at ``frames`` (n,) on the item's curves of ``specs`` (the 16
    controls; BODY_CONTROLS for the body curves).

    Keys inside [frames.min(), frames.max()] are replaced; keys outside are kept as they were
    (so capturing a frame range only touches that range). Returns the number of keys written."""
    frames = np.asarray(frames, dtype=np.float32)
    values = np.asarray(values, dtype=np.float32)
    n = frames.shape[0]
    if values.shape != (n, len(specs)):
        raise ValueError(f"values must be ({n}, {len(specs)}), got {values.shape}")
    if n == 0:
        return 0
    lo, hi = float(frames.min()), float(frames.max())
    for col, spec in enumerate(specs):
        fc = compat.ensure_fcurve(scene, data_path(item, spec.name), 0, group_name(item, spec.group))
        replace_keys(fc, frames, values[:, col], interpolation, lo, hi)
        # the current value follows the curve at once (the UI shows the keyed value)
        setattr(item, spec.name, float(fc.evaluate(scene.frame_current)))
    _fix_groups(scene, item)
    return n * len(specs)


def write_body(scene: bpy.types.Scene, item: bpy.types.PropertyGroup, frames: np.ndarray,
               controls: dict[str, np.ndarray]) -> int:
    """Key a body track's 4 controls (name -> (n,)) at scene ``frames``, like write_controls."""
    values = np.stack([np.asarray(controls[k], np.float32) for k in BODY_CONTROL_NAMES], axis=1)
    return write_controls(scene, item, frames, values, specs=BODY_CONTROLS)


def remove_body_range(scene: bpy.types.Scene, item: bpy.types.PropertyGroup,
                      frames: np.ndarray) -> None:
    """Drop the body keys inside [min(frames), max(frames)] (a capture there without the body
    replaces that range, as its joints are: adapters/body_track.remove_range)."""
    if not len(frames):
        return
    lo, hi = float(np.min(frames)), float(np.max(frames))
    curves = compat.fcurves(scene)
    for fc in body_fcurves(scene, item).values():
        points = fc.keyframe_points
        if not len(points):
            continue
        old = read_keys(points)
        keep = (old["co"][:, 0] < lo - 1e-4) | (old["co"][:, 0] > hi + 1e-4)
        if keep.all():
            continue
        if not keep.any():
            curves.remove(fc)
            continue
        points.clear()
        points.add(int(keep.sum()))
        for attr, _width, dtype in KEY_ATTRS:
            points.foreach_set(attr, np.ascontiguousarray(old[attr][keep], dtype=dtype).ravel())
        fc.update()
    _drop_empty_groups(scene, item)
    if not body_fcurves(scene, item):
        for spec in BODY_CONTROLS:
            setattr(item, spec.name, spec.neutral)


def _drop_empty_groups(scene: bpy.types.Scene, item: bpy.types.PropertyGroup) -> None:
    groups = compat.groups(scene)
    if groups is not None:
        for g in list(groups):
            if g.name.endswith(f"({item.name})") and not len(g.channels):
                groups.remove(g)


def replace_keys(fc, frames: np.ndarray, values: np.ndarray, interpolation: str, lo: float,
                 hi: float) -> None:
    """Key ``values`` at ``frames`` on one F-curve with vector handles: its keys inside
    [lo, hi] are replaced, those outside kept (one bulk write, not a key_insert per key)."""
    n = frames.shape[0]
    interp = bpy.types.Keyframe.bl_rna.properties["interpolation"].enum_items[interpolation].value
    vector = bpy.types.Keyframe.bl_rna.properties["handle_left_type"].enum_items["VECTOR"].value
    points = fc.keyframe_points
    co = np.stack([np.asarray(frames, np.float32), np.asarray(values, np.float32)], axis=1)
    new = {"co": co, "handle_left": co, "handle_right": co,
           "interpolation": np.full(n, interp, np.int32),
           "handle_left_type": np.full(n, vector, np.int32),
           "handle_right_type": np.full(n, vector, np.int32)}
    if len(points):
        old = read_keys(points)
        keep = (old["co"][:, 0] < lo - 1e-4) | (old["co"][:, 0] > hi + 1e-4)
        merged = {k: np.concatenate([old[k][keep], new[k]]) for k in new}
        order = np.argsort(merged["co"][:, 0], kind="stable")
        new = {k: v[order] for k, v in merged.items()}
        points.clear()
    points.add(new["co"].shape[0])
    for attr, _width, dtype in KEY_ATTRS:
        points.foreach_set(attr, np.ascontiguousarray(new[attr], dtype=dtype).ravel())
    fc.update()


def write_motion(scene: bpy.types.Scene, item: bpy.types.PropertyGroup, motion: Motion,
                 start: int) -> int:
    """Key a Motion's frames on scene frames ``start``, ``start + 1``, ... (frame for frame); a
    motion with a body also keys its 4 body curves."""
    frames = np.arange(start, start + motion.frame_count)
    n = write_controls(scene, item, frames, motion.to_array())
    if motion.body is not None:
        n += write_body(scene, item, frames, motion.body.controls)
    return n


def _fix_groups(scene: bpy.types.Scene, item: bpy.types.PropertyGroup) -> None:
    groups = compat.groups(scene)
    if groups is None:
        return
    for g in groups:
        if g.name.endswith(f"({item.name})"):
            g.show_expanded = True
            g.show_expanded_graph = True


def control_fcurves(scene: bpy.types.Scene, item: bpy.types.PropertyGroup,
                   names: tuple = CONTROL_NAMES) -> dict:
    curves = compat.fcurves(scene)
    out = {}
    if curves is None:
        return out
    for name in names:
        fc = curves.find(data_path(item, name), index=0)
        if fc is not None:
            out[name] = fc
    return out


def body_fcurves(scene: bpy.types.Scene, item: bpy.types.PropertyGroup) -> dict:
    return control_fcurves(scene, item, BODY_CONTROL_NAMES)


def has_keys(scene: bpy.types.Scene, item: bpy.types.PropertyGroup) -> bool:
    return any(len(fc.keyframe_points) for fc in control_fcurves(scene, item).values())


def has_body_keys(scene: bpy.types.Scene, item: bpy.types.PropertyGroup) -> bool:
    """Any body curve keyed (panels call it on every redraw: four lookups, no copies)."""
    return any(len(fc.keyframe_points) for fc in body_fcurves(scene, item).values())


def _driven(scene: bpy.types.Scene, item: bpy.types.PropertyGroup,
            names: tuple = CONTROL_NAMES) -> bool:
    ad = scene.animation_data
    if ad is None or not ad.drivers:
        return False
    paths = {data_path(item, n) for n in names}
    return any(d.data_path in paths for d in ad.drivers)


def evaluate_controls(scene: bpy.types.Scene, item: bpy.types.PropertyGroup,
                      frames: np.ndarray, specs: tuple = CONTROLS) -> np.ndarray:
    """(n, len(specs)) values at scene ``frames``, as the Graph Editor and UI show them."""
    frames = np.asarray(frames)
    names = tuple(c.name for c in specs)
    out = np.empty((frames.shape[0], len(names)), dtype=np.float32)
    if _driven(scene, item, names):
        # drivers can read anything: step the scene (restored afterwards)
        current = scene.frame_current, scene.frame_subframe
        try:
            for i, f in enumerate(frames):
                scene.frame_set(int(f))
                out[i] = [getattr(item, n) for n in names]
        finally:
            scene.frame_set(current[0], subframe=current[1])
        return out
    curves = control_fcurves(scene, item, names)
    for col, name in enumerate(names):
        fc = curves.get(name)
        if fc is None or fc.mute or not len(fc.keyframe_points):
            out[:, col] = getattr(item, name)
        else:
            ev = fc.evaluate
            out[:, col] = [ev(float(f)) for f in frames]
    spec_min = np.array([c.hard_min for c in specs], np.float32)
    spec_max = np.array([c.hard_max for c in specs], np.float32)
    return np.clip(out, spec_min, spec_max)


def body_values(scene: bpy.types.Scene, item: bpy.types.PropertyGroup,
                frames: np.ndarray) -> dict[str, np.ndarray] | None:
    """The body curves at scene ``frames`` (name -> (n,)), or None when none is keyed (or driven):
    then the motion gets no body curves and renders as before."""
    if not has_body_keys(scene, item) and not _driven(scene, item, BODY_CONTROL_NAMES):
        return None
    values = evaluate_controls(scene, item, frames, BODY_CONTROLS)
    return {k: values[:, i] for i, k in enumerate(BODY_CONTROL_NAMES)}


def motion_from_scene(scene: bpy.types.Scene, item: bpy.types.PropertyGroup,
                      frames: np.ndarray) -> Motion:
    fps = scene.render.fps / scene.render.fps_base
    values = evaluate_controls(scene, item, frames)
    return Motion.from_array(values, fps=fps, source={
        "blender_scene": scene.name, "portrait": item.name,
        "frames": [int(frames[0]), int(frames[-1])] if len(frames) else []})


def clear_controls(scene: bpy.types.Scene, item: bpy.types.PropertyGroup) -> int:
    """Remove the item's control curves (the body curves too) and reset the controls to neutral;
    returns curves removed."""
    curves = compat.fcurves(scene)
    removed = 0
    if curves is not None:
        for fc in [*control_fcurves(scene, item).values(), *body_fcurves(scene, item).values()]:
            curves.remove(fc)
            removed += 1
        _drop_empty_groups(scene, item)
    for name, value in NEUTRAL.items():
        setattr(item, name, value)
    for spec in BODY_CONTROLS:
        setattr(item, spec.name, spec.neutral)
    return removed
