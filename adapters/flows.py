"""The capture and render flows shared by the operators, the panels and the CLI command.

Each ``prepare_*`` runs on the main thread: it reads the scene, checks the setup (raising
``SetupError`` with what to do) and returns a ``Task``: ``work(progress)`` is pure engine code
that may run in a worker thread; ``finish(result)`` and ``abort()`` run on the main thread again
and re-find the scene and portrait by name/id (undo may have replaced them meanwhile).
"""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import bpy
import numpy as np

from ..engine.controls import CONTROL_NAMES
from ..engine.errors import EngineError
from ..engine.frames import FrameSpans
from ..engine.notices import collect as collect_warnings
from ..engine.output_claim import is_claim_name, refuse_if_claimed
from ..engine.outputs import check_output, is_temporary_name, write_text
from ..engine.progress import Progress
from . import body_track, compat, dense, keyframes, mouths, nodes, strips
from .strips import SetupError

MARKER = ".talking_head_render"


@dataclass
class Task:
    label: str
    work: Callable[[Progress], Any]
    finish: Callable[[Any], str]
    abort: Callable[[], None] = field(default=lambda: None)


def _scene(name: str) -> bpy.types.Scene:
    scene = bpy.data.scenes.get(name)
    if scene is None:
        raise SetupError(f"scene {name!r} is gone")
    return scene


def _item(scene: bpy.types.Scene, uid: str):
    for it in strips.items(scene):
        if it.uid == uid:
            return it
    raise SetupError("the portrait was removed while the job ran")


def _smoothing(item) -> float:
    from ..prefs import default_smoothing

    return float(item.smoothing) if item.use_own_smoothing else default_smoothing()


def _device(item) -> str:
    from ..prefs import default_device

    return default_device() if item.device == "DEFAULT" else item.device


def with_warnings(message: str, warnings: list[str]) -> str:
    """The report of a job that succeeded with warnings: they come first, never dropped."""
    if not warnings:
        return message
    return "; ".join(f"warning: {w}" for w in warnings) + f" -- {message}"


# -- capture ---------------------------------------------------------------------------------


def scene_span(frames: FrameSpans | None, what: str) -> tuple[int, int] | None:
    """Inclusive user frames -> the half-open ``(a, b)`` scene span the timing code works in."""
    if frames is None:
        return None
    first, last = frames.span(what)
    return first, (2**31 - 1 if last is None else last + 1)


def driving_range(scene: bpy.types.Scene, item, frames: FrameSpans | None = None):
    frames = scene_span(frames, "capture")
    if item.kind == "COMPOSITOR":
        return nodes.driving_range(scene, item, frames)
    strip = compat.get_strip(scene, item.driving_strip)
    if strip is None:
        raise SetupError(f"driving strip {item.driving_strip!r} not found: pick the movie or sound "
                         "strip that drives this portrait" if item.driving_strip else
                         "pick the driving movie or sound strip first")
    if strip.type == "SOUND":
        return strips.sound_range(scene, strip, frames)
    return strips.driving_range(scene, strip, frames)


def _dense_model(item) -> str | None:
    """LivePortrait's motion extractor when the portrait wants a dense track and it is installed."""
    if not item.use_dense:
        return None
    from ..engine.capture.liveportrait_dense import find_motion_extractor
    from ..prefs import models_dir

    path = find_motion_extractor(models_dir())
    return str(path) if path else None


def _source_fps(rng) -> float:
    """Frame rate of the source frame grid: the sound grid's, else the movie's own."""
    if rng.fps > 0:
        return float(rng.fps)
    from ..engine.media.video import VideoReader

    with VideoReader(rng.path) as reader:
        return float(reader.info.fps)


def _idle(item) -> dict:
    return {"blinks": float(item.idle_blinks), "head_motion": float(item.idle_head_motion),
            "seed": int(item.idle_seed)}


MOUTH_COLUMNS = [CONTROL_NAMES.index(k) for k in ("mouth_open", "mouth_smile", "mouth_wide",
                                                  "mouth_pucker")]


def prepare_capture(scene: bpy.types.Scene, item, frames: FrameSpans | None = None) -> Task:
    """Capture keys from the driving strip over its visible scene frames (or the part of them
    inside ``frames``, one inclusive range): a movie's face (optionally its voice for the mouth),
    a movie's voice, or a sound strip's voice (mouth plus idle life)."""
    from ..engine.capture import capture
    from ..engine.capture.audio import capture_audio
    from . import voice_profile  # it builds on this module's Task

    rng = driving_range(scene, item, frames)
    voice = rng.kind == "sound" or item.drive_source == "AUDIO"
    mouth_from_voice = not voice and item.mouth_from_audio
    neutral = item.neutral_frame if item.neutral_frame >= 0 and not voice else None
    if neutral is not None and not rng.source_start <= neutral < rng.source_stop:
        raise SetupError(f"neutral frame {neutral} is outside the driving frames used "
                         f"({rng.source_start}-{rng.source_stop - 1}); pick one inside or -1")
    smoothing = _smoothing(item)
    audio_fps = _source_fps(rng) if voice or mouth_from_voice else 0.0
    idle = _idle(item)
    profile = voice_profile.profile_of(item) if voice or mouth_from_voice else None
    scene_name, uid = scene.name, item.uid
    dense_file = _dense_model(item)
    region, reference, device = item.dense_region, item.dense_reference, _device(item)
    want_body = bool(getattr(item, "capture_body", False)) and not voice

    def listen(progress: Progress, **kw) -> np.ndarray:
        motion = capture_audio(rng.path, fps=audio_fps, start=rng.source_start,
                               stop=rng.source_stop, progress=progress, profile=profile, **kw)
        return strips.resample(motion.to_array(), rng.source_start, rng.source_frames)

    kept: dict = {}  # the actor's mouth exemplars of a video capture (adapters/mouths.py)

    def work(progress: Progress) -> tuple[np.ndarray, dict, str, list[str], str, object]:
        from ..engine.capture.liveportrait_dense import DenseCapture, without_region
        from .body_rig import resampled

        with collect_warnings() as warnings:
            if voice:
                return listen(progress, **idle), {}, "", warnings, "", None
            tracker = (DenseCapture(dense_file, region=region, reference=reference, device=device)
                       if dense_file else None)
            motion = capture(rng.path, start=rng.source_start, stop=rng.source_stop,
                             calibration_frame=neutral, smoothing=smoothing, progress=progress,
                             dense=tracker, mouths=True, body=want_body,
                             creases=False)  # Blender keeps no crease set (off by default)
            kept["mouths"] = motion.mouths
            values = strips.resample(motion.to_array(), rng.source_start, rng.source_frames)
            extras = dict(motion.extras)
            if mouth_from_voice:
                # video for head, eyes and brows; the voice for the mouth (so the dense track
                # leaves the lips to the voice's mouth controls)
                heard = listen(progress, blinks=0.0, head_motion=0.0)
                values[:, MOUTH_COLUMNS] = heard[:, MOUTH_COLUMNS]
                extras = without_region(extras, "lips")
        # the dense track on the same scene frames, resampled the same way as the keys
        extras = {k: strips.resample(v, rng.source_start, rng.source_frames) for k, v in extras.items()}
        # the body on the same scene frames too (kept in the .blend for the bake and the pose video)
        body = None if motion.body is None else \
            resampled(motion.body, lambda v: strips.resample(v, rng.source_start, rng.source_frames))
        return (values, extras, tracker.provider if tracker is not None else "", warnings,
                neutral_pose_text(motion), body)

    def finish(result: tuple[np.ndarray, dict, str, list[str], str, object]) -> str:
        values, extras, provider, warnings, pose_text, body = result
        sc = _scene(scene_name)
        it = _item(sc, uid)
        n = keyframes.write_controls(sc, it, rng.scene_frames, values)
        it.neutral_head_pose = pose_text  # what the new keys' head pose is relative to
        name = rng.label or os.path.basename(rng.path)
        what = "voice of " if voice else ("face + voice (mouth) of " if mouth_from_voice else "")
        if rng.kind == "sound":
            secs = rng.source_frames / rng.fps
            it.captured_from = f"voice of {name} {secs.min():.2f}-{secs.max() + 1 / rng.fps:.2f} s"
        else:
            it.captured_from = f"{what}{name} frames {rng.source_start}-{rng.source_stop - 1}"
        note = ""
        if extras:
            dense.store(it, rng.scene_frames, extras, f"{region}, reference {reference}")
            note = f"; dense expression ({region}) by the motion extractor on {provider}"
        else:
            # these keys replace the range: so does the (absent) dense track
            dense.remove_range(it, rng.scene_frames)
        if kept.get("mouths") is not None:  # a voice capture keeps an earlier video's set
            mouths.store(it, kept["mouths"], source=f"{name} frames {rng.source_start}-"
                                                   f"{rng.source_stop - 1}")
            note += f"; {kept['mouths'].count} mouth exemplars"
        if body is not None:
            found = int(np.count_nonzero(body.tracked))
            body_track.store(it, rng.scene_frames, body,
                             f"{name} frames {rng.source_start}-{rng.source_stop - 1}")
            # the 4 body curves next to the face's: editable, and what the render moves the torso by
            n += keyframes.write_body(sc, it, rng.scene_frames, body.controls)
            note += f"; body on {found} of {len(rng.scene_frames)} frames"
        else:
            body_track.remove_range(it, rng.scene_frames)
            keyframes.remove_body_range(sc, it, rng.scene_frames)
        return with_warnings(f"captured {len(rng.scene_frames)} frames ({n} keys) from "
                             f"{what}{name}{note}", warnings)

    return Task(f"capture {item.name}", work, finish)


def neutral_pose_text(motion) -> str:  # noqa: ANN001 - Motion
    """A capture's neutral absolute head pose and frame size as the item keeps it (JSON)."""
    pose = motion.calibration.get("head_pose")
    if not pose:
        return ""
    return json.dumps({"head_pose": pose, "width": motion.source.get("width"),
                       "height": motion.source.get("height")})


def with_neutral_pose(motion, text: str) -> None:  # noqa: ANN001 - Motion
    """Put the item's stored neutral pose (neutral_pose_text) back into a motion built from the
    curves; unreadable text (a hand-edited property) is ignored: the pose renders relative."""
    from ..engine.motion import MotionError, check_head_pose

    if not text:
        return
    try:
        doc = json.loads(text)
        pose = check_head_pose(doc.get("head_pose"))
        w, h = int(doc.get("width") or 0), int(doc.get("height") or 0)
    except (ValueError, TypeError, AttributeError, MotionError):
        return
    motion.calibration["head_pose"] = pose
    if w > 0 and h > 0:
        motion.source["width"], motion.source["height"] = w, h


# -- render ----------------------------------------------------------------------------------


def safe_name(name: str) -> str:
    return re.sub(r"[^\w.-]+", "_", name).strip("._") or "portrait"


def output_root(scene: bpy.types.Scene, item) -> Path:
    """Folder holding this portrait's renders: the item's output folder or //talking_head/<name>."""
    if item.output_dir:
        raw = item.output_dir
    else:
        raw = f"//talking_head/{safe_name(item.name)}"
    if raw.startswith("//") and not bpy.data.filepath:
        raise SetupError("save the .blend first (renders go next to it, in //talking_head/) or set "
                         "an output folder for this portrait")
    return Path(bpy.path.abspath(raw))


def next_version_dir(root: Path) -> Path:
    """A new ``rNNN`` folder under ``root`` (never an existing one)."""
    taken = [int(m.group(1)) for p in (root.iterdir() if root.is_dir() else [])
             if (m := re.fullmatch(r"r(\d{3,})", p.name))]
    k = max(taken, default=0) + 1
    return root / f"r{k:03d}"


def is_ours(folder: Path) -> bool:
    return (folder / MARKER).is_file()


def remove_ours(folder: str | Path) -> bool:
    """Delete a render folder only if this add-on made it (marker file) and it holds nothing
    but our frames; anything else is left alone."""
    folder = Path(folder)
    if not folder.is_dir() or not is_ours(folder):
        return False
    names = os.listdir(folder)
    if any(not (n == MARKER or re.fullmatch(r"frame_\d{6}\.png", n) or is_temporary_name(n)
                or is_claim_name(n)) for n in names):
        return False
    try:
        refuse_if_claimed(folder)  # a leftover claim of a crash may go; a job writing there may not
    except EngineError:
        return False
    shutil.rmtree(folder)
    return True


def portrait_source(scene: bpy.types.Scene, item):
    if item.kind == "COMPOSITOR":
        return nodes.portrait_path(scene, item), nodes.portrait_frames(scene, item)
    strip = strips.portrait_strip(scene, item)
    if strip is None:
        raise SetupError(f"portrait strip {item.portrait_strip!r} not found")
    return strips.portrait_path(strip), strips.portrait_frames(strip)


def render_indices(scene: bpy.types.Scene, item, frames: FrameSpans | None) -> tuple[int, list[int] | None]:
    """The portrait's first scene frame and the motion frame indices of scene ``frames``.

    Scene frame ``f`` is motion frame ``f - first`` (``frame_000000.png`` is the portrait's first
    frame). Every requested frame must lie on the portrait, or SetupError names the ones outside.
    """
    _path, all_frames = portrait_source(scene, item)
    first, last = int(all_frames[0]), int(all_frames[-1])
    if frames is None:
        return first, None
    scene_frames = frames.resolve(first, last, f"the portrait {item.name!r}")
    return first, [f - first for f in scene_frames]


def prepare_render(scene: bpy.types.Scene, item, frames: FrameSpans | None = None,
                   output: str | None = None, place: bool = True, device: str | None = None,
                   job: str | None = None) -> Task:
    """Render the portrait over its whole range (or the scene ``frames``, inclusive) from the curves.

    Default: a fresh ``rNNN`` folder that replaces the previous result when done. With ``output``
    (render-farm chunks) frames go into that folder, named by their index from the portrait's
    first frame, and existing frames there are only replaced if the folder is ours. ``job``: a farm
    job's id, so its chunks share the folder's claim (engine/output_claim.py); other jobs are
    refused while one writes there."""
    from ..engine.media.images import check_image
    from ..engine.media.video import load_image
    from ..engine.pipeline import frame_path, render_motion

    path, all_frames = portrait_source(scene, item)
    check_image(path)  # header only: a missing, corrupt or huge portrait fails before any work
    motion = keyframes.motion_from_scene(scene, item, all_frames)
    first, sub = render_indices(scene, item, frames)
    if sub is not None and not output and not frames.is_contiguous:
        raise SetupError(f"a frame list ({frames}) renders only into an output folder (farm "
                         "chunks); for the result strip give one range A-B")
    if output:
        target = Path(bpy.path.abspath(output))
        created = not target.exists()
        # checked before any work: a file in the way or an unwritable place is one sentence
        if target.exists() and not target.is_dir():
            raise SetupError(f"output {output} is a file; give a folder for the frames")
        check_output(target / "frame_000000.png", True, what="output folder")
        overwrite = is_ours(target) if target.exists() else False
        place, versioned = False, False
    else:
        target = next_version_dir(output_root(scene, item))
        created, overwrite, versioned = True, False, True
    renderer, device, scale = item.renderer, device or _device(item), int(item.scale)
    options: dict[str, Any] = {} if int(getattr(item, "face", -1)) < 0 else {"face": int(item.face)}
    clip_kwargs: dict = {}  # clip renderers only (ComfyUI): drive, seed, driving clip
    if renderer == "builtin":
        options["rest"] = str(getattr(item, "rest_pose", "neutral") or "neutral")
        options["head_pose"] = str(getattr(item, "head_pose", "auto") or "auto")
        with_neutral_pose(motion, str(getattr(item, "neutral_head_pose", "") or ""))
        kept = mouths.load(item)  # the actor's real mouth interiors, kept in the .blend
        options["mouth_source"] = "none" if kept is None else kept
    elif renderer == "liveportrait":
        from ..prefs import models_dir

        if models_dir():
            options["models_dir"] = models_dir()
        options["crop_scale"] = float(item.crop_scale)
        # the dense track (if captured) under the curves; the built-in renderer never gets it
        if item.use_dense:
            motion.extras.update(dense.extras_at(item, all_frames))
    elif renderer == "comfyui":
        from . import comfyui

        comfy_options, clip_kwargs = comfyui.render_setup(scene, item, all_frames)
        options.update(comfy_options)
        # Wan-Animate's pose video comes from the body kept in the .blend: no video needed now
        motion.body = comfyui.body_for(item, comfy_options["workflow"], all_frames)
    curves = keyframes.body_values(scene, item, all_frames)
    if curves is not None:
        # the keyed body curves (edits included) ride with the motion: the built-in renderer's
        # shoulder warp moves the torso by them; no body keys, no body curves: as before
        if motion.body is not None:
            motion.body.controls = curves
        else:
            motion.body = body_track.with_curves(item, all_frames, curves)
    scene_name, uid = scene.name, item.uid
    indices = list(sub if sub is not None else range(motion.frame_count))

    def work(progress: Progress) -> tuple[tuple[list[str], str], list[str]]:
        with collect_warnings() as warnings:
            return render_files(progress), warnings

    def render_files(progress: Progress) -> tuple[list[str], str]:
        rgb = load_image(path)
        if scale < 100:
            import cv2

            h, w = rgb.shape[:2]
            size = (max(2, round(w * scale / 100)), max(2, round(h * scale / 100)))
            rgb = cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)
        target.mkdir(parents=True, exist_ok=True)
        if created:
            write_text(target / MARKER, "rendered by the Talking Head add-on; safe to delete\n")
        ran_on: list[str] = []
        render_motion(renderer, rgb, motion, target, frames=sub, device=device,
                      overwrite=overwrite, progress=progress, renderer_options=options,
                      log=ran_on.append, job=job, **clip_kwargs)
        return [frame_path(target, i).name for i in indices], (ran_on[0] if ran_on else "")

    def finish(result: tuple[tuple[list[str], str], list[str]]) -> str:
        (files, ran_on), warnings = result
        sc = _scene(scene_name)
        it = _item(sc, uid)
        if ran_on:
            # "liveportrait renderer runs on CUDA": the panel shows where it ran
            it.last_provider = ran_on.rsplit(" runs on ", 1)[-1]
        where = f" ({ran_on})" if ran_on else ""
        if not place:
            return with_warnings(f"rendered {len(files)} frames into {target}{where}", warnings)
        previous = it.result_dir
        start = first + (sub[0] if sub is not None else 0)
        if it.kind == "COMPOSITOR":
            nodes.place_result(sc, it, str(target), files, start)
        else:
            portrait = strips.portrait_strip(sc, it)
            strips.place_result(sc, it, portrait, str(target), files, start)
        it.result_dir = bpy.path.relpath(str(target)) if bpy.data.filepath else str(target)
        if previous and Path(bpy.path.abspath(previous)) != target:
            remove_ours(bpy.path.abspath(previous))
        return with_warnings(f"rendered {len(files)} frames into {target}{where}", warnings)

    def abort() -> None:
        # a new rNNN folder is ours alone: remove it. A farm folder may hold other chunks'
        # frames: keep it (every PNG is complete; a re-run of the chunk fills the rest).
        if created and versioned:
            remove_ours(target)

    return Task(f"render {item.name}", work, finish, abort)


def clear(scene: bpy.types.Scene, item, keys: bool = True, result: bool = True) -> str:
    """Remove the portrait's keys and/or its result strip/node. Rendered files stay on disk."""
    done = []
    if keys:
        n = keyframes.clear_controls(scene, item)
        done.append(f"{n} curves")
        if dense.clear(item):
            done.append("the dense expression track")
        if mouths.clear(item):
            done.append("the mouth exemplars")
        if body_track.clear(item):
            done.append("the body joints")
    if result:
        if item.kind == "COMPOSITOR":
            removed = nodes.remove_result(scene, item)
        else:
            removed = strips.remove_result(scene, item)
        item.result_dir = ""
        done.append(f"{removed} result {'node' if item.kind == 'COMPOSITOR' else 'strip'}(s)")
    return "cleared " + ", ".join(done)


def run_sync(task: Task, echo: bool = True) -> str:
    """Run a task to completion on this thread (background mode, CLI, tests)."""
    from .jobs import Job

    job = Job(task.label, task.work).run_sync(echo=echo)
    return complete(task, job)


def complete(task: Task, job) -> str:
    """Finish or clean up after a job; raises what the job raised (Cancelled included)."""
    from ..engine.progress import Cancelled

    if job.cancelled:
        task.abort()
        raise Cancelled(f"{task.label} cancelled")
    if job.error is not None:
        task.abort()
        raise job.error
    try:
        return task.finish(job.result)
    except Exception:
        task.abort()
        raise
