"""Farm jobs on the Blender side: the job's keyed copy of the .blend (Capture step), the scene's
sound and the encode (Encode step), and the bundle exporter behind "Export Farm Job".

The job folder contract and the bundle itself are Blender-free: engine/farm.py.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import bpy

from ..engine import farm
from ..engine.frames import FrameSpans, parse_frames
from ..engine.outputs import atomic_output
from . import compat, flows, keyframes, nodes, strips
from .strips import SetupError


def save_job_blend(scene: bpy.types.Scene, item, job_dir: str, job_id: str, frames: FrameSpans | None,
                   keep_keys: bool) -> str:
    """Capture step: claim ``job_dir`` for ``job_id``, capture the portrait's keys unless
    ``keep_keys`` and it has some, and save a copy of the open file as the job's .blend (the
    artist's file is not changed). A retried step (same job id) redoes exactly this."""
    # check the whole setup (portrait image, driving clip) before claiming the folder
    flows.render_indices(scene, item, None)
    keep = keep_keys and keyframes.has_keys(scene, item)
    task = None if keep else flows.prepare_capture(scene, item, frames)
    folder = farm.claim_job_folder(job_dir, job_id)
    done = f"kept the keys of {item.name!r}" if task is None else flows.run_sync(task)
    target = folder / farm.JOB_BLEND
    paths = bpy.context.preferences.filepaths
    versions = paths.save_version
    with atomic_output(target) as tmp:  # same job: a retry replaces its own copy
        # copy=True: the open file keeps its path; relative paths are remapped to the copy's folder.
        # No .blend1 backup of the (empty, reserved) temporary.
        paths.save_version = 0
        try:
            result = bpy.ops.wm.save_as_mainfile(filepath=str(tmp), copy=True, relative_remap=True)
        finally:
            paths.save_version = versions
        if "FINISHED" not in result:
            raise SetupError(f"could not save {target}")
    return f"{done}; saved {target}"


def sound_strips(scene: bpy.types.Scene) -> list:
    return [s for s in compat.strips(scene) if s.type == "SOUND" and not s.mute]


def mixdown(scene: bpy.types.Scene, first: int, last: int, wav: str) -> bool:
    """Mix the scene's sound over scene frames ``first..last`` into ``wav`` (what Blender's own
    render would play); False when the scene has no sound strip."""
    if not sound_strips(scene):
        return False
    start, end = scene.frame_start, scene.frame_end
    scene.frame_start, scene.frame_end = first, last
    try:
        result = bpy.ops.sound.mixdown(filepath=wav, container="WAV", codec="PCM", format="S16",
                                       mixrate=48000, accuracy=1024)
    finally:
        scene.frame_start, scene.frame_end = start, end
    if "FINISHED" not in result or not os.path.isfile(wav):
        raise SetupError("could not mix the scene's sound down; mute the sound strips to encode "
                         "without sound")
    return True


def encode(scene: bpy.types.Scene, item, frames: FrameSpans | None, frames_dir: str, output: str,
           overwrite: bool) -> str:
    """Encode step: the portrait's rendered frames (scene ``frames``, one range; default all) at
    the scene's frame rate, with the scene's sound over the same frames."""
    if frames is not None:
        frames.span("encode")
    first, indices = flows.render_indices(scene, item, frames)
    if indices is None:
        _path, all_frames = flows.portrait_source(scene, item)
        indices = list(range(len(all_frames)))
    fps = strips.scene_fps(scene)
    with tempfile.TemporaryDirectory(prefix="talking_head_sound_") as tmp:
        wav = os.path.join(tmp, "sound.wav")
        has_sound = mixdown(scene, first + indices[0], first + indices[-1], wav)
        out = farm.encode_frames(frames_dir, indices, fps, output, audio=wav if has_sound else None,
                                 overwrite=overwrite)
    sound = "with the scene's sound" if has_sound else "no sound strips"
    return f"encoded {len(indices)} frames into {out} ({fps:g} fps, {sound})"


def job_inputs(scene: bpy.types.Scene, item) -> list[str]:
    """Files the job reads besides the .blend (for Deadline Cloud's job attachments)."""
    paths = []
    path, _frames = flows.portrait_source(scene, item)
    paths.append(path)
    if item.kind == "COMPOSITOR":
        try:
            paths.append(nodes.driving_range(scene, item).path)
        except SetupError:
            pass
    else:
        strip = compat.get_strip(scene, item.driving_strip) if item.driving_strip else None
        if strip is not None and strip.type == "MOVIE":
            paths.append(bpy.path.abspath(strip.filepath))
    paths += [bpy.path.abspath(s.sound.filepath) for s in sound_strips(scene) if s.sound]
    return [p for p in paths if p and os.path.isfile(p)]


def default_blender() -> str:
    """This Blender's executable (the bpy module has none: then ``blender`` on PATH)."""
    path = bpy.app.binary_path
    return path if path and os.path.basename(path).lower().startswith("blender") else "blender"


def export_bundle(scene: bpy.types.Scene, item, bundle_dir: str, *, job_output: str = "",
                  frames: str = "", chunk_size: int = 10, blender: str = "", device: str = "cpu",
                  overwrite: bool = False) -> str:
    """Write an Open Job Description bundle for the saved file and ``item``."""
    if not bpy.data.filepath:
        raise SetupError("save the .blend first: the farm renders the saved file")
    if bpy.data.is_dirty and not bpy.app.background:  # (the bpy module reports dirty after a save)
        raise SetupError("save the .blend first: the farm renders the file as saved on disk")
    _path, all_frames = flows.portrait_source(scene, item)
    spans = parse_frames(frames) if frames.strip() else parse_frames(
        f"{int(all_frames[0])}-{int(all_frames[-1])}")
    flows.render_indices(scene, item, spans)  # every frame on the portrait
    blend = Path(bpy.data.filepath)
    job_output = bpy.path.abspath(job_output) if job_output else str(
        blend.with_name(f"{blend.stem}_{flows.safe_name(item.name)}_farm"))
    params = farm.bundle_parameters(blend, frames=str(spans), output=job_output, portrait=item.name,
                                    chunk_size=chunk_size, blender=blender or default_blender(),
                                    device=device)
    paths = farm.write_bundle(bpy.path.abspath(bundle_dir), params, inputs=job_inputs(scene, item),
                              overwrite=overwrite)
    return (f"wrote farm job bundle {paths[0].parent} (frames {params['Frames']}, chunks of "
            f"{params['ChunkSize']}, output {params['OutputDir']})")
