"""Sequencer side: portrait items, driving strip timing, and the result strip.

Timing of the driving strip: a scene frame ``f`` inside the strip's visible range shows source
frame ``(f - frame_start) * rate`` where ``rate`` = source frames / content length on the
timeline (1 when the clip plays frame for frame; other values when its playback rate was
adjusted to the scene's frame rate or it was retimed uniformly). Trimming moves the visible range,
``frame_start`` the content; reversed playback is honoured.
"""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass

import bpy
import numpy as np

from ..engine.errors import EngineError
from . import compat

RESULT_TAG = "talking_head_result"
PORTRAIT_TAG = "talking_head_portrait"


class SetupError(EngineError):
    """The scene is not set up for the requested action; the message says what to do."""


def scene_fps(scene: bpy.types.Scene) -> float:
    return scene.render.fps / scene.render.fps_base


# -- portrait items --------------------------------------------------------------------------


def items(scene: bpy.types.Scene):
    return [it for it in scene.talking_head.portraits if not it.removed]


def find_item(scene: bpy.types.Scene, name: str):
    for it in items(scene):
        if it.name == name:
            return it
    return None


def item_for_strip(scene: bpy.types.Scene, strip, create: bool = False):
    """The portrait item of an image strip (or of the result strip rendered from it)."""
    if strip is None:
        return None
    tags = {strip.get(RESULT_TAG), strip.get(PORTRAIT_TAG)} - {None}
    for it in items(scene):
        if it.portrait_strip == strip.name or it.uid in tags:
            return it
    if not create:
        return None
    if strip.type != "IMAGE":
        raise SetupError(f"{strip.name!r} is not an image strip: select the portrait's image strip")
    item = new_item(scene, strip.name, portrait_strip=strip.name)
    strip[PORTRAIT_TAG] = item.uid
    return item


def portrait_strip(scene: bpy.types.Scene, item):
    """The item's portrait strip: by name, else by the id tag set up on it (the strip was
    renamed; the link is repaired)."""
    strip = compat.get_strip(scene, item.portrait_strip)
    if strip is not None and strip.get(PORTRAIT_TAG) in (None, item.uid):
        return strip
    for s in compat.strips(scene):
        if s.get(PORTRAIT_TAG) == item.uid:
            item.portrait_strip = s.name
            return s
    return strip


def new_item(scene: bpy.types.Scene, name: str, **links: str):
    from ..prefs import get_prefs

    taken = {it.name for it in scene.talking_head.portraits}
    base, k = name, 1
    while name in taken:
        k += 1
        name = f"{base}.{k:03d}"
    it = scene.talking_head.portraits.add()
    it.name = name
    it.uid = uuid.uuid4().hex[:12]
    for key, value in links.items():
        setattr(it, key, value)
    prefs = get_prefs()
    if prefs is not None:
        it.renderer = prefs.default_renderer
    return it


# -- driving strip timing --------------------------------------------------------------------


@dataclass
class DrivingRange:
    path: str  # absolute movie (or sound) path
    scene_frames: np.ndarray  # int scene frames covered (visible part of the strip)
    source_frames: np.ndarray  # float source frame index shown at each scene frame
    rate: float
    kind: str = "movie"  # "movie" or "sound"
    fps: float = 0.0  # frame rate of the source frame grid (0: the movie's own, ask the file)
    label: str = ""  # the file's name as the user knows it (a packed sound is read from a copy)

    @property
    def source_start(self) -> int:
        return int(np.floor(self.source_frames.min()))

    @property
    def source_stop(self) -> int:
        return int(np.ceil(self.source_frames.max())) + 1


def movie_frame_count_path(path: str, fallback: int) -> int:
    """Frames in the movie at ``path`` as its container declares (``fallback`` if unknown)."""
    from ..engine.media.video import VideoReader

    try:
        with VideoReader(path) as reader:
            return int(reader.info.frame_count) or fallback
    except EngineError:
        return fallback


def movie_frame_count(strip) -> int:
    """Frames in the movie file behind ``strip`` (the strip's content length if unknown)."""
    frames = int(compat.strip_timing(strip, "content_duration"))
    return movie_frame_count_path(bpy.path.abspath(strip.filepath), frames)


def playback_rate(scene: bpy.types.Scene, strip, count: int) -> float:
    """Source frames per scene frame of a movie strip with ``count`` source frames."""
    duration = float(compat.strip_timing(strip, "content_duration"))
    if duration <= 0 or abs(duration - count) <= 1:
        return 1.0  # frame for frame (Blender's default for strips made through Python)
    media_fps, fps = float(getattr(strip, "fps", 0.0) or 0.0), scene_fps(scene)
    if media_fps > 0 and abs(duration - count * fps / media_fps) <= 1:
        return media_fps / fps  # playback rate adjusted to the scene's frame rate
    return count / duration  # uniformly retimed


def driving_range(scene: bpy.types.Scene, strip, frames: tuple[int, int] | None = None) -> DrivingRange:
    """Which source frame of the driving ``strip`` each visible scene frame shows."""
    if strip is None:
        raise SetupError("pick the driving movie strip first")
    if strip.type != "MOVIE":
        raise SetupError(f"{strip.name!r} is not a movie strip: the driving clip must be a movie")
    path = bpy.path.abspath(strip.filepath)
    if not os.path.isfile(path):
        raise SetupError(f"driving movie not found: {path}")
    a, b = compat.strip_handles(strip)
    if frames is not None:
        a, b = max(a, frames[0]), min(b, frames[1])
    if b <= a:
        raise SetupError(f"the driving strip {strip.name!r} is not visible in the chosen frames")
    count = movie_frame_count(strip)
    rate = playback_rate(scene, strip, count)
    scene_frames = np.arange(a, b)
    src = (scene_frames - float(compat.strip_timing(strip, "content_start"))) * rate
    if getattr(strip, "use_reverse_frames", False):
        src = (count - 1) - src
    src = np.clip(src, 0, count - 1)
    return DrivingRange(path, scene_frames, src, rate)


def sound_duration(path: str) -> float | None:
    """Seconds of sound in ``path`` as its container declares (None if unknown)."""
    from ..engine.media.audio import probe_audio

    try:
        return probe_audio(path).duration
    except EngineError:
        return None


def sound_file(sound) -> str:
    """A file holding ``sound``: its own, or for a sound packed into the .blend a copy of the
    packed bytes in Blender's session temp folder (named by content, written once)."""
    packed = getattr(sound, "packed_file", None)
    if packed is not None:
        import hashlib
        import tempfile

        data = bytes(packed.data)
        ext = os.path.splitext(sound.filepath)[1] or ".wav"
        folder = bpy.app.tempdir or tempfile.gettempdir()
        path = os.path.join(folder, f"talking_head_{hashlib.sha256(data).hexdigest()[:16]}{ext}")
        if not os.path.isfile(path):
            from ..engine.outputs import write_bytes

            write_bytes(path, data)
        return path
    path = bpy.path.abspath(sound.filepath)
    if not os.path.isfile(path):
        raise SetupError(f"sound file not found: {path}")
    return path


def sound_range(scene: bpy.types.Scene, strip, frames: tuple[int, int] | None = None) -> DrivingRange:
    """Which moment of a sound strip's file each visible scene frame plays, as fractional frame
    indices on a grid at the scene's frame rate from the start of the sound.

    Scene frame ``f`` plays second ``(f - frame_start) * rate / fps + sound_offset`` of the file:
    ``frame_start`` places the sound's start (trimming only hides part of it), ``sound_offset``
    shifts the sound inside the strip, and ``rate`` is 1 unless the strip was retimed uniformly
    (its content then lasts ``frame_duration`` frames instead of the sound's own length)."""
    if strip.type != "SOUND" or strip.sound is None:
        raise SetupError(f"{strip.name!r} is not a sound strip")
    path = sound_file(strip.sound)
    a, b = compat.strip_handles(strip)
    if frames is not None:
        a, b = max(a, frames[0]), min(b, frames[1])
    if b <= a:
        raise SetupError(f"the sound strip {strip.name!r} is not heard in the chosen frames")
    fps = scene_fps(scene)
    rate = 1.0
    seconds = sound_duration(path)
    duration = float(compat.strip_timing(strip, "content_duration"))
    if seconds and duration > 0 and abs(seconds * fps - duration) > 1:
        rate = seconds * fps / duration
    scene_frames = np.arange(a, b)
    offset = float(getattr(strip, "sound_offset", 0.0) or 0.0)
    src = (scene_frames - float(compat.strip_timing(strip, "content_start"))) * rate + offset * fps
    return DrivingRange(path, scene_frames, np.maximum(src, 0.0), rate, kind="sound", fps=fps,
                        label=os.path.basename(strip.sound.filepath) or strip.sound.name)


def resample(values: np.ndarray, source_start: int, source_frames: np.ndarray) -> np.ndarray:
    """Rows of ``values`` (captured from ``source_start``) at fractional source frames."""
    idx = np.clip(source_frames - source_start, 0, values.shape[0] - 1)
    lo = np.floor(idx).astype(int)
    hi = np.minimum(lo + 1, values.shape[0] - 1)
    t = (idx - lo)[:, None].astype(np.float32)
    return values[lo] * (1 - t) + values[hi] * t


# -- portrait strip --------------------------------------------------------------------------


def portrait_path(strip) -> str:
    if strip is None or strip.type != "IMAGE":
        raise SetupError("the portrait must be an image strip")
    elem = strip.elements[0] if len(strip.elements) else None
    path = bpy.path.abspath(os.path.join(strip.directory, elem.filename if elem else ""))
    if not os.path.isfile(path):
        raise SetupError(f"portrait image not found: {path}")
    return path


def portrait_frames(strip) -> np.ndarray:
    return np.arange(*compat.strip_handles(strip))


# -- result strip ----------------------------------------------------------------------------


def _overlaps(s, start: int, end: int) -> bool:
    left, right = compat.strip_handles(s)
    return left < end and start < right


def free_channel(scene: bpy.types.Scene, above: int, start: int, end: int, ignore: set) -> int:
    top = [s for s in compat.strips(scene, all_levels=False) if s.name not in ignore]
    ch = above + 1
    while any(s.channel == ch and _overlaps(s, start, end) for s in top):
        ch += 1
    if ch > 128:
        raise SetupError("no free Sequencer channel above the portrait")
    return ch


def result_strips(scene: bpy.types.Scene, item) -> list:
    return [s for s in compat.strips(scene) if s.get(RESULT_TAG) == item.uid]


def remove_result(scene: bpy.types.Scene, item) -> int:
    coll = compat.strip_collection(scene)
    found = result_strips(scene, item)
    for s in found:
        coll.remove(s)
    item.result_strip = ""
    return len(found)


def place_result(scene: bpy.types.Scene, item, portrait, directory: str, files: list[str],
                 start: int):
    """Put the rendered frames as an image-sequence strip above ``portrait``, replacing the
    item's previous result strip (never touching other strips)."""
    if not files:
        raise SetupError("nothing was rendered")
    old = {s.name for s in result_strips(scene, item)}
    end = start + len(files)
    channel = free_channel(scene, portrait.channel, start, end, ignore=old)
    remove_result(scene, item)
    coll = compat.strip_collection(scene)
    strip = coll.new_image(name=f"{item.name} talking", filepath=os.path.join(directory, files[0]),
                           channel=channel, frame_start=start)
    for name in files[1:]:
        strip.elements.append(name)
    strip[RESULT_TAG] = item.uid
    _copy_placement(portrait, strip)
    item.result_strip = strip.name
    return strip


def _copy_placement(src, dst) -> None:
    """Lay ``dst`` exactly over ``src``: same transform, crop and flips; a result rendered at a
    lower resolution (Resolution %) is scaled up to the portrait's size."""
    for attr in ("offset_x", "offset_y", "scale_x", "scale_y", "rotation"):
        if hasattr(src.transform, attr):
            setattr(dst.transform, attr, getattr(src.transform, attr))
    sw = src.elements[0].orig_width if len(src.elements) else 0
    dw = dst.elements[0].orig_width if len(dst.elements) else 0
    ratio = sw / dw if sw > 0 and dw > 0 else 1.0
    dst.transform.scale_x *= ratio
    dst.transform.scale_y *= ratio
    if hasattr(src.transform, "origin"):
        dst.transform.origin = src.transform.origin
    for attr in ("min_x", "max_x", "min_y", "max_y"):  # crop is in image pixels
        setattr(dst.crop, attr, int(round(getattr(src.crop, attr) / ratio)))
    dst.use_flip_x, dst.use_flip_y = src.use_flip_x, src.use_flip_y
