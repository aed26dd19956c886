"""3D characters: the mapping on the face mesh, and baking shape keys and head/neck bones.

Shape-key curves live on the mesh's Key datablock (``key_blocks["name"].value``) in channel groups
per face region ("Eyes (Talking Head)", ...); bone rotations on the armature object in a group per
bone, in the pose bone's own rotation mode. Keys are written in bulk (``keyframe_points.add`` +
``foreach_set``, as adapters/keyframes.py does for the portrait) and typed ``GENERATED``: that
type marks the add-on's own keys, so a re-bake replaces only its own earlier keys in its range
(hand-made keys stay, and win over the baked key of their frame) and removes its own keys from
curves it no longer drives. Which curves earlier bakes wrote is kept on the object
(``baked_key_paths``/``baked_bone_paths``), so other tools' Generated keys are never touched.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import bpy
import numpy as np

from ..engine.frames import MAX_FRAME, FrameSpans
from ..engine.motion import Motion
from ..engine.progress import Progress
from ..engine.rig import (
    Mapping,
    MappingRow,
    build_mapping,
    detect_preset,
    evaluate,
    head_neck_rotations,
    matrix_to_quaternion,
    region_of_source,
    resample,
    scene_frame_count,
)
from . import body_rig, body_track, compat, keyframes, nodes, strips
from .flows import Task, scene_span
from .strips import SetupError

GROUP_SUFFIX = " (Talking Head)"
# the add-on's own keys; "Generated" is the key type Blender (4.2+) meant for tool-made keys
OWN_KEY_TYPE = "GENERATED" if "GENERATED" in \
    bpy.types.Keyframe.bl_rna.properties["type"].enum_items.keys() else "JITTER"
EULER_ORDERS = {"XYZ", "XZY", "YXZ", "YZX", "ZXY", "ZYX"}


def settings(obj: bpy.types.Object):
    return obj.talking_head_rig


# -- target checks and mapping ---------------------------------------------------------------


def shape_keys(obj: bpy.types.Object):
    data = getattr(obj, "data", None)
    return getattr(data, "shape_keys", None) if obj is not None and obj.type == "MESH" else None


def key_names(obj: bpy.types.Object) -> tuple[list[str], str | None]:
    """(names of the shape keys that can be driven, the reference key's name)."""
    key = shape_keys(obj)
    if key is None:
        return [], None
    ref = key.reference_key.name if key.use_relative and key.reference_key else None
    return [kb.name for kb in key.key_blocks if kb.name != ref], ref


def problem(obj) -> str | None:
    """Why ``obj`` cannot be a character target (one sentence), or None."""
    if obj is None:
        return "pick the character's face mesh (an object with shape keys) first"
    if obj.type != "MESH":
        return f"{obj.name!r} is a {obj.type.lower()}, not a mesh: pick the face mesh with the shape keys"
    if shape_keys(obj) is None:
        return (f"{obj.name!r} has no shape keys: add ARKit-named shape keys (eyeBlinkLeft, jawOpen, ...) "
                "or pick the mesh that has them")
    if not key_names(obj)[0]:
        return f"{obj.name!r} has only its Basis shape key: add expression shape keys to drive"
    return None


def check(obj) -> None:
    msg = problem(obj)
    if msg:
        raise SetupError(msg)


def fill_rows(st, mapping: Mapping) -> None:
    st.rows.clear()
    for r in mapping.rows:
        row = st.rows.add()
        row.target, row.source, row.gain, row.offset = r.target, r.source, r.gain, r.offset
        row.clamp_min, row.clamp_max, row.enabled = r.clamp_min, r.clamp_max, r.enabled
    st.row_index = 0


def setup(obj: bpy.types.Object, preset: str | None = None) -> Mapping:
    """Match ``obj``'s shape keys under ``preset`` (detected from the names when None) and store
    the rows on the object; returns the mapping (its ``unmatched`` keys included)."""
    check(obj)
    names, ref = key_names(obj)
    st = settings(obj)
    preset = preset or detect_preset(names)
    mapping = build_mapping(names, preset, reference=ref)
    st.preset = preset
    fill_rows(st, mapping)
    st.active = True
    return mapping


def rows_of(obj: bpy.types.Object) -> list[MappingRow]:
    """The enabled rows whose shape key exists."""
    names = set(key_names(obj)[0])
    return [MappingRow(r.target, r.source, r.gain, r.offset, r.clamp_min, r.clamp_max)
            for r in settings(obj).rows if r.enabled and r.target in names]


def unmatched(obj: bpy.types.Object) -> list[str]:
    """Shape keys no row drives (listed in the panel, never silently ignored)."""
    names, _ = key_names(obj)
    driven = {r.target for r in settings(obj).rows}
    return [n for n in names if n not in driven]


def missing_targets(obj: bpy.types.Object) -> list[str]:
    names = set(key_names(obj)[0])
    return [r.target for r in settings(obj).rows if r.target not in names]


def resolve(context: bpy.types.Context, name: str = ""):
    """The character object: by name, else the active mesh with shape keys, else the scene's
    character, else the active mesh (whose check then says what it lacks)."""
    if name:
        obj = bpy.data.objects.get(name)
        if obj is None:
            raise SetupError(f"no object named {name!r}")
        return obj
    obj = getattr(context, "object", None)
    active = obj if obj is not None and obj.type == "MESH" else None
    if active is not None and shape_keys(active) is not None:
        return active
    return getattr(context.scene, "talking_head_character", None) or active


# -- sources ---------------------------------------------------------------------------------


def _portrait_item(scene: bpy.types.Scene, name: str):
    alive = strips.items(scene)
    if name:
        item = strips.find_item(scene, name)
        if item is None:
            raise SetupError(f"no portrait named {name!r} in scene {scene.name!r}")
        return item
    if len(alive) == 1:
        return alive[0]
    raise SetupError("pick the portrait whose curves drive the character"
                     if alive else "this scene has no portrait: set one up, or use a motion file")


def portrait_motion(scene: bpy.types.Scene, name: str) -> tuple[Motion, int]:
    """The portrait's 16 curves evaluated on its frames (what its render shows), and its first
    scene frame."""
    item = _portrait_item(scene, name)
    if item.kind == "COMPOSITOR":
        frames = nodes.portrait_frames(scene, item)
    else:
        strip = strips.portrait_strip(scene, item)
        if strip is None:
            raise SetupError(f"portrait strip {item.portrait_strip!r} not found")
        frames = strips.portrait_frames(strip)
    if not keyframes.has_keys(scene, item):
        raise SetupError(f"portrait {item.name!r} has no keys yet: Capture it first")
    motion = keyframes.motion_from_scene(scene, item, frames)
    # the body captured with the portrait's keys (kept in the .blend), on the same frames
    motion.body = body_track.body_at(item, np.asarray(frames, np.float64))
    if _mouth_from_voice(scene, item):  # the vowel split reads a voice's curves differently
        motion.source["mouth"] = "voice"
    return motion, int(frames[0])


def _mouth_from_voice(scene: bpy.types.Scene, item) -> bool:
    """Whether the portrait's mouth curves were captured from a voice (a sound strip, a movie's
    sound, or the face with the mouth from the audio)."""
    if getattr(item, "drive_source", "VIDEO") == "AUDIO" or getattr(item, "mouth_from_audio", False):
        return True
    strip = compat.get_strip(scene, getattr(item, "driving_strip", ""))
    return strip is not None and strip.type == "SOUND"


# tracker blendshapes of the mouth region: dropped when the portrait takes its mouth from the
# voice, so these ARKit keys follow the voice's mouth controls (arkit.CONTROL_APPROX) instead
_MOUTH_BLENDSHAPES = ("jaw", "mouth", "cheekPuff", "tongue")


def _driving(scene: bpy.types.Scene, name: str, frames: FrameSpans | None, body: bool = False):
    """(driving range, capture(progress) -> Motion) for a portrait's driving clip, captured the
    way the portrait's own Capture does (adapters/flows.prepare_capture): a movie's face with its
    blendshapes, a sound strip's or movie's voice (mouth plus idle life), or the face with the
    mouth from the voice."""
    from ..engine.capture import capture
    from ..engine.capture.audio import capture_audio
    from ..prefs import default_smoothing
    from .flows import driving_range

    item = _portrait_item(scene, name)
    rng = driving_range(scene, item, frames)
    voice = rng.kind == "sound" or getattr(item, "drive_source", "VIDEO") == "AUDIO"
    mouth_from_voice = not voice and getattr(item, "mouth_from_audio", False)
    neutral = item.neutral_frame if not voice and rng.source_start <= item.neutral_frame < rng.source_stop \
        else None
    smoothing = float(item.smoothing) if item.use_own_smoothing else default_smoothing()
    audio_fps = 0.0
    if voice or mouth_from_voice:  # the voice on the source's own frame grid
        if rng.fps > 0:
            audio_fps = float(rng.fps)
        else:
            from ..engine.media.video import VideoReader

            with VideoReader(rng.path) as reader:
                audio_fps = float(reader.info.fps)
    idle = {"blinks": float(getattr(item, "idle_blinks", 1.0)),
            "head_motion": float(getattr(item, "idle_head_motion", 1.0)),
            "seed": int(getattr(item, "idle_seed", 0))}
    span = {"start": rng.source_start, "stop": rng.source_stop}
    if voice or mouth_from_voice:
        from .voice_profile import profile_of

        span["profile"] = profile_of(item)  # read here, on the main thread

    def run(progress: Progress) -> Motion:
        if voice:
            return capture_audio(rng.path, fps=audio_fps, progress=progress, **idle, **span)
        m = capture(rng.path, calibration_frame=neutral, smoothing=smoothing, progress=progress,
                    start=span["start"], stop=span["stop"], body=body)
        if mouth_from_voice:
            heard = capture_audio(rng.path, fps=audio_fps, progress=progress, blinks=0.0,
                                  head_motion=0.0, **span)
            n = min(m.frame_count, heard.frame_count)
            for k in ("mouth_open", "mouth_smile", "mouth_wide", "mouth_pucker"):
                m.controls[k][:n] = heard.controls[k][:n]
            if m.blendshapes is not None:
                keep = [i for i, b in enumerate(m.blendshape_names) if not b.startswith(_MOUTH_BLENDSHAPES)]
                m.blendshapes = m.blendshapes[:, keep]
                m.blendshape_names = [m.blendshape_names[i] for i in keep]
        return m

    return rng, run


def _path(raw: str, what: str) -> str:
    if not raw:
        raise SetupError(f"pick the {what} first")
    path = bpy.path.abspath(raw)
    if not os.path.isfile(path):
        raise SetupError(f"{what} not found: {path}")
    return path


# -- bake ------------------------------------------------------------------------------------


@dataclass
class BakeResult:
    frames: np.ndarray  # (n,) scene frames
    values: np.ndarray  # (n, rows)
    head: np.ndarray | None  # (n, 3, 3) local rotations
    neck: np.ndarray | None
    body: dict[str, np.ndarray] | None = None  # body bone name -> (n, 3, 3) local rotations


def bone_rest(arm: bpy.types.Object, bone: str) -> np.ndarray:
    """The bone's rest orientation in world axes: the character faces -Y in the world, so an
    armature object rotated on import (FBX/VRM Y-up rigs) still turns the right way round."""
    world = np.array(arm.matrix_world.to_3x3(), np.float64)
    world /= np.linalg.norm(world, axis=0, keepdims=True)
    return world @ np.array(arm.data.bones[bone].matrix_local.to_3x3(), np.float64)


def prepare_bake(scene: bpy.types.Scene, obj: bpy.types.Object, frames: FrameSpans | None = None,
                 motion_path: str = "", start: int | None = None) -> Task:
    """Check the setup, then return a Task: ``work`` evaluates (capturing a video first for the
    Video source), ``finish`` writes the keys. ``motion_path`` overrides the object's source;
    ``frames``: scene frames, one inclusive range (engine/frames.py)."""
    spans = frames
    frames = scene_span(spans, "bake")  # half-open (a, b) for the timing code below
    check(obj)
    st = settings(obj)
    if not st.active:
        setup(obj)
    rows = rows_of(obj)
    arm, head_bone, neck_bone = st.armature, st.head_bone, st.neck_bone
    if head_bone and arm is None:
        raise SetupError("pick the armature that has the head bone")
    for b in (head_bone, neck_bone):
        if b and b not in arm.data.bones:
            raise SetupError(f"armature {arm.name!r} has no bone {b!r}")
    head_rest = bone_rest(arm, head_bone) if head_bone else None
    neck_rest = bone_rest(arm, neck_bone) if head_bone and neck_bone else None
    body_bones: dict[str, str] = {}  # role -> bone
    if st.bake_body:
        _preset, body_bones = body_rig.resolve(arm, st.body_preset)
        # the head bone is the face's: a body preset never keys it twice
        body_bones = {r: b for r, b in body_bones.items() if b not in (head_bone, neck_bone)}
    body_rests = body_rig.rests(arm, body_bones) if body_bones else {}
    if not rows and head_rest is None and not body_bones:
        raise SetupError(f"nothing to bake on {obj.name!r}: no mapping row matches its shape keys "
                         "(pick a preset or add rows) and no head bone is set")
    fps = strips.scene_fps(scene)
    source = "MOTION" if motion_path else st.source
    motion: Motion | None = None
    video, drive, capture_drive = "", None, None
    smoothing = st.smoothing
    first = st.frame_start if start is None else start
    if source == "PORTRAIT":
        motion, first = portrait_motion(scene, st.portrait)
    elif source == "DRIVING":
        drive, capture_drive = _driving(scene, st.portrait, spans, body=bool(body_bones))
    elif source == "MOTION":
        motion = Motion.load(_path(motion_path or st.motion_path, "motion file"))
    else:
        video = _path(st.video_path, "driving video")
    if body_bones and motion is not None:
        body_rig.body_of(motion)  # no body in the motion (or on the portrait): said now, before any work
    calibrate = st.calibrate
    share, gain = st.neck_share, st.rotation_gain
    obj_name, arm_name = obj.name, arm.name if arm is not None else ""

    def work(progress: Progress) -> BakeResult:
        m = motion
        if capture_drive is not None:
            m = capture_drive(progress)
        elif m is None:
            from ..engine.capture import capture

            m = capture(video, smoothing=smoothing, progress=progress, body=bool(body_bones))
        body = body_rig.body_of(m) if body_bones else None
        values = evaluate(rows, m, calibrate)
        pose = np.stack([m.controls[k] for k in ("head_yaw", "head_pitch", "head_roll")], axis=1)
        if drive is not None:  # the strip's timing: each visible scene frame shows one source frame
            values = strips.resample(values, drive.source_start, drive.source_frames)
            pose = strips.resample(pose, drive.source_start, drive.source_frames)
            if body is not None:
                body = body_rig.resampled(body, lambda v: strips.resample(v, drive.source_start,
                                                                          drive.source_frames))
            scene_frames = drive.scene_frames
        else:
            n = scene_frame_count(m, fps)
            values, pose = resample(values, m.fps, fps, n), resample(pose, m.fps, fps, n)
            if body is not None:
                body = body_rig.resampled(body, lambda v: resample(v, m.fps, fps, n))
            scene_frames = first + np.arange(n)
        if frames is not None:
            keep = (scene_frames >= frames[0]) & (scene_frames < frames[1])
            if not keep.any():
                raise SetupError(f"frames {spans} are outside the source's scene frames "
                                 f"{scene_frames[0]}-{scene_frames[-1]} (both ends included)")
            scene_frames, values, pose = scene_frames[keep], values[keep], pose[keep]
            if body is not None:
                body = body_rig.subset(body, keep)
        _within_blender_frames(scene_frames)
        head = neck = None
        if head_rest is not None:
            head, neck = head_neck_rotations(pose[:, 0], pose[:, 1], pose[:, 2], head_rest=head_rest,
                                             neck_rest=neck_rest, neck_share=share, gain=gain)
        bones = None
        if body is not None:
            from ..engine.rig.body import bone_local_rotations

            progress.update(0, 1, "body bones")
            local = bone_local_rotations(body, body_rests)
            if not local:
                raise SetupError("the captured body shows none of the baked bones' joints confidently "
                                 "(spine, arms, legs): nothing to key on the armature")
            bones = {body_bones[role]: mats for role, mats in local.items()}
        return BakeResult(scene_frames, values, head, neck, bones)

    def finish(result: BakeResult) -> str:
        target = bpy.data.objects.get(obj_name)
        if target is None or shape_keys(target) is None:
            raise SetupError(f"the character {obj_name!r} is gone")
        n_keys = write_shape_keys(target, rows, result.frames, result.values)
        armature = bpy.data.objects.get(arm_name) if arm_name else None
        posed: dict[str, np.ndarray] = {}
        if result.head is not None:
            posed[head_bone] = result.head
            if result.neck is not None:
                posed[neck_bone] = result.neck
        posed.update(result.body or {})
        if armature is not None and posed:
            missing = [b for b in posed if b not in armature.pose.bones]
            if missing:
                raise SetupError(f"armature {arm_name!r} lost bone {missing[0]!r} while the bake ran")
            n_keys += write_bones(target, armature, result.frames, posed)
        a, b = int(result.frames[0]), int(result.frames[-1])
        parts = [f"{len(rows)} shape keys"] + (["the head"] if result.head is not None else []) \
            + ([f"{len(result.body)} body bones"] if result.body else [])
        return (f"baked {', '.join(parts[:-1]) + ' and ' + parts[-1] if len(parts) > 1 else parts[0]}"
                f" on {obj_name} over frames {a}-{b} ({n_keys} keys)")

    return Task(f"bake {obj.name}", work, finish)


def write_bones(target: bpy.types.Object, armature: bpy.types.Object, frames: np.ndarray,
                posed: dict[str, np.ndarray]) -> int:
    """Key bone rotations (bone name -> (n, 3, 3) local rotations) at ``frames`` and remember the
    curves on the character ``target`` (so Clear and later bakes find them, and a re-bake
    replaces only its own keys); the bake (head, neck, body) and the live Record (head, neck)."""
    n_keys = sum(write_bone(armature, bone, frames, mats) for bone, mats in posed.items())
    written = _bone_paths(armature, list(posed))
    st = settings(target)
    earlier = _lines(st.baked_bone_paths)
    clear_own(armature, earlier, (frames[0], frames[-1]), keep=written)
    st.baked_bone_paths = "\n".join(sorted(earlier | {p for p, _ in written}))
    return n_keys


def write_head(target: bpy.types.Object, armature: bpy.types.Object, head_bone: str, neck_bone: str,
               frames: np.ndarray, head: np.ndarray, neck: np.ndarray | None) -> int:
    """The head (and neck) bone rotations through ``write_bones`` (the live Record)."""
    posed = {head_bone: head}
    if neck is not None and neck_bone:
        posed[neck_bone] = neck
    return write_bones(target, armature, frames, posed)


def pose_bone(arm: bpy.types.Object, bone: str, mat: np.ndarray) -> None:
    """Set one local rotation on a pose bone now, in its own rotation mode (live driving)."""
    pb = arm.pose.bones[bone]
    prop, _k = _rotation_channels(pb.rotation_mode)
    setattr(pb, prop, [float(v) for v in _channels(pb.rotation_mode, mat[None])[0]])


def _within_blender_frames(scene_frames: np.ndarray) -> None:
    """Keys past Blender's frame limits would be saved at frames no timeline shows (a --start
    near the last frame): refused, saying where the bake has to start instead."""
    if not scene_frames.size:
        return
    first, last, n = int(scene_frames[0]), int(scene_frames[-1]), int(scene_frames.size)
    if last > MAX_FRAME:
        raise SetupError(f"the bake's {n} frames from scene frame {first} end at frame {last}, past "
                         f"Blender's last frame {MAX_FRAME}; start at frame {MAX_FRAME - (last - first)} "
                         "or earlier, or bake fewer frames (--frames)")
    if first < -MAX_FRAME:
        raise SetupError(f"the bake starts at scene frame {first}, before Blender's first frame "
                         f"-{MAX_FRAME}; start at frame -{MAX_FRAME} or later")


# -- bulk keyframe I/O -----------------------------------------------------------------------

# the portrait curves' attributes plus the key type (GENERATED marks the add-on's own keys)
_ATTRS = (*keyframes.KEY_ATTRS, ("type", 1, np.int32))


def _enum(prop: str, name: str) -> int:
    return bpy.types.Keyframe.bl_rna.properties[prop].enum_items[name].value


def _read(points) -> dict[str, np.ndarray]:
    return keyframes.read_keys(points, _ATTRS)


def _put(fc, keys: dict[str, np.ndarray]) -> None:
    points = fc.keyframe_points
    n = keys["co"].shape[0]
    if len(points) != n:  # same count (a re-bake of the same range): overwrite in place
        points.clear()
        points.add(n)
    if n:
        for attr, _width, dtype in _ATTRS:
            points.foreach_set(attr, np.ascontiguousarray(keys[attr], dtype=dtype).ravel())
    fc.update()


def write_curve(fc, frames: np.ndarray, values: np.ndarray) -> int:
    """Key ``values`` at ``frames`` on ``fc`` (linear, typed GENERATED). The add-on's own earlier
    keys inside the frames' range are replaced; every other key stays: outside the range, and
    hand-made keys inside it (the baked key of that frame is dropped, the artist's fix wins).
    Returns the keys written."""
    frames = np.asarray(frames, np.float32)
    values = np.asarray(values, np.float32)
    own_type = _enum("type", OWN_KEY_TYPE)
    points = fc.keyframe_points
    keep = np.zeros(0, bool)
    if len(points):
        x = np.empty(2 * len(points), np.float32)
        points.foreach_get("co", x)
        kinds = np.empty(len(points), np.int32)
        points.foreach_get("type", kinds)
        inside = (x[0::2] >= frames.min() - 1e-4) & (x[0::2] <= frames.max() + 1e-4)
        keep = ~(inside & (kinds == own_type))
        hand = np.sort(x[0::2][keep & inside])
        if hand.size:  # no baked key on a frame the artist keyed by hand
            i = np.clip(np.searchsorted(hand, frames), 1, hand.size) - 1
            near = np.minimum(np.abs(hand[i] - frames),
                              np.abs(hand[np.minimum(i + 1, hand.size - 1)] - frames))
            frames, values = frames[near >= 0.5], values[near >= 0.5]
    n = frames.shape[0]
    co = np.stack([frames, values], axis=1)
    vector = _enum("handle_left_type", "VECTOR")
    new = {"co": co, "handle_left": co, "handle_right": co,
           "interpolation": np.full(n, _enum("interpolation", "LINEAR"), np.int32),
           "handle_left_type": np.full(n, vector, np.int32),
           "handle_right_type": np.full(n, vector, np.int32),
           "type": np.full(n, own_type, np.int32)}
    if keep.any():  # other keys stay: merge them in
        old = _read(points)
        merged = {k: np.concatenate([old[k][keep], new[k]]) for k in new}
        order = np.argsort(merged["co"][:, 0], kind="stable")
        new = {k: v[order] for k, v in merged.items()}
    _put(fc, new)
    return n


def _key_path(name: str) -> str:
    return f'key_blocks["{bpy.utils.escape_identifier(name)}"].value'


def write_shape_keys(obj: bpy.types.Object, rows: list[MappingRow], frames: np.ndarray,
                     values: np.ndarray) -> int:
    key = shape_keys(obj)
    written = set()
    total = 0
    for j, row in enumerate(rows):
        path = _key_path(row.target)  # two rows on one key: the later row wins
        fc = compat.ensure_fcurve(key, path, 0, region_of_source(row.source) + GROUP_SUFFIX)
        total += write_curve(fc, frames, values[:, j])
        written.add(path)
    st = settings(obj)
    earlier = _lines(st.baked_key_paths)
    clear_own(key, earlier, (frames[0], frames[-1]), keep={(p, 0) for p in written})
    st.baked_key_paths = "\n".join(sorted(earlier | written))
    return total


def _lines(text: str) -> set[str]:
    return {line for line in text.split("\n") if line}


def _bone_paths(arm: bpy.types.Object, bones: list[str]) -> set[tuple[str, int]]:
    out = set()
    for b in bones:
        pb = arm.pose.bones[b]
        prop, k = _rotation_channels(pb.rotation_mode)
        out |= {(pb.path_from_id(prop), i) for i in range(k)}
    return out


def _rotation_channels(mode: str) -> tuple[str, int]:
    if mode == "QUATERNION":
        return "rotation_quaternion", 4
    if mode == "AXIS_ANGLE":
        return "rotation_axis_angle", 4
    return "rotation_euler", 3


def _channels(mode: str, mats: np.ndarray) -> np.ndarray:
    """(n, k) channel values of local rotations in a pose bone's rotation mode."""
    if mode in EULER_ORDERS:
        from mathutils import Matrix

        out = np.empty((mats.shape[0], 3))
        prev = None
        for i, m in enumerate(mats):
            mat = Matrix(m.tolist())
            # compatible with the previous frame's angles: no 360-degree jumps between keys
            prev = mat.to_euler(mode, prev) if prev is not None else mat.to_euler(mode)
            out[i] = prev
        return out
    q = matrix_to_quaternion(mats)
    if mode == "AXIS_ANGLE":
        angle = 2 * np.arccos(np.clip(q[:, 0], -1, 1))
        s = np.sqrt(np.maximum(1 - q[:, 0] ** 2, 0))
        axis = np.where(s[:, None] > 1e-8, q[:, 1:] / np.maximum(s, 1e-8)[:, None], [0.0, 1.0, 0.0])
        return np.column_stack([angle, axis])
    return q


def write_bone(arm: bpy.types.Object, bone: str, frames: np.ndarray, mats: np.ndarray) -> int:
    pb = arm.pose.bones[bone]
    prop, k = _rotation_channels(pb.rotation_mode)
    values = _channels(pb.rotation_mode, mats)
    path = pb.path_from_id(prop)
    total = 0
    for i in range(k):
        fc = compat.ensure_fcurve(arm, path, i, bone)
        total += write_curve(fc, frames, values[:, i])
    return total


def clear_own(id_data: bpy.types.ID, paths: set[str], span: tuple[float, float] | None = None,
              keep: set[tuple[str, int]] = frozenset()) -> int:
    """Remove the add-on's own (GENERATED) keys in ``span`` (all of them when None) from the
    curves of ``id_data`` at ``paths`` (those earlier bakes wrote) that are not in ``keep``; a
    curve left empty is removed. Returns the keys removed."""
    curves = compat.fcurves(id_data)
    if curves is None or not paths:
        return 0
    own = _enum("type", OWN_KEY_TYPE)
    removed = 0
    for fc in list(curves):
        if fc.data_path not in paths or (fc.data_path, fc.array_index) in keep \
                or not len(fc.keyframe_points):
            continue
        keys = _read(fc.keyframe_points)
        hit = keys["type"] == own
        if span is not None:
            hit &= (keys["co"][:, 0] >= span[0] - 1e-4) & (keys["co"][:, 0] <= span[1] + 1e-4)
        if not hit.any():
            continue
        removed += int(hit.sum())
        if hit.all():
            curves.remove(fc)
        else:
            _put(fc, {k: v[~hit] for k, v in keys.items()})
    return removed


def clear(obj: bpy.types.Object) -> int:
    """Remove every key the add-on baked on the character (its shape keys and bones); hand-made
    keys and other tools' keys stay."""
    st = settings(obj)
    removed = 0
    key = shape_keys(obj)
    if key is not None:
        removed += clear_own(key, _lines(st.baked_key_paths))
    if st.armature is not None:
        removed += clear_own(st.armature, _lines(st.baked_bone_paths))
    st.baked_key_paths = st.baked_bone_paths = ""
    return removed


def body_problem(st) -> str | None:
    """Why the Body bake cannot key ``st.armature`` (for the panel), or None."""
    try:
        body_rig.resolve(st.armature, st.body_preset)
    except SetupError as exc:
        return str(exc)
    return None
