"""Rendering orchestration: a renderer + a portrait + a Motion -> frames on disk.

``output`` is either a folder, which receives one PNG per motion frame named by the MOTION FRAME
INDEX (``frame_000042.png``, so render-farm chunks fill one folder), or a path ending in ``.mp4``
(one H.264 file through ``media.video.Mp4Writer``).

Safety: every target is checked before anything is written; an existing target is never
overwritten unless ``overwrite=True``. Cancelling (``Progress`` raises ``Cancelled``) removes a
partial ``.mp4``; PNGs already finished stay (each one is written atomically, so there is never a
half-written frame) and a re-run with ``frames=`` can fill the rest.

Per-frame renderers (``kind == "frame"``): frames are independent, each depends only on the
portrait and that frame's controls, so any subset renders on its own and chunks equal a whole
render bit for bit. Clip renderers (``kind == "clip"``, e.g. ComfyUI workflows): ``frames`` must
be contiguous and is rendered as ONE job; separate chunks are separate generations with possible
seams at their boundaries (see engine/render/base.py).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import numpy as np

from .errors import EngineError
from .frames import format_frames
from .media.video import Mp4Writer, load_image, save_image
from .motion import Motion
from .output_claim import FolderClaim, claim
from .outputs import check_output
from .progress import Progress
from .render.base import ClipJob, Renderer, create_renderer


def frame_path(out_dir: Path, index: int) -> Path:
    """The PNG of motion frame ``index`` inside ``out_dir``."""
    return Path(out_dir) / f"frame_{index:06d}.png"


def _check_frames(frames: Sequence[int], frame_count: int) -> list[int]:
    """Motion frame indices to render (any order, no repeats), all inside the motion."""
    frames = [int(f) for f in frames]
    if not frames:
        raise EngineError("no frames to render: give a frame range such as 0-99 (both ends included)")
    if len(set(frames)) != len(frames):
        raise EngineError("a frame is given twice: each frame must be named once")
    outside = [f for f in frames if not 0 <= f < frame_count]
    if outside:
        raise EngineError(f"frames {format_frames(outside)} are outside the motion "
                          f"(frames 0-{frame_count - 1}, both ends included)")
    return frames


def _contiguous_runs(frames: Sequence[int]) -> list[range]:
    """``[3, 4, 5, 9, 10]`` -> ``[range(3, 6), range(9, 11)]`` (in the given order)."""
    runs: list[range] = []
    for f in frames:
        if runs and f == runs[-1].stop:
            runs[-1] = range(runs[-1].start, f + 1)
        else:
            runs.append(range(f, f + 1))
    return runs


def _check_writable(folder: Path) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise EngineError(f"cannot create output folder {folder}: {exc.strerror or exc}; "
                          "choose a folder you can write to") from exc
    if not folder.is_dir():
        raise EngineError(f"output folder {folder} is a file; choose a folder")
    try:
        fd, probe = tempfile.mkstemp(prefix=".write_test_", dir=folder)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise EngineError(f"cannot write to {folder}: {exc.strerror or exc}; "
                          "choose a folder you can write to") from exc


def _check_targets(out: Path, mp4: bool, frames: Sequence[int], overwrite: bool) -> None:
    """Raise EngineError if a target exists (and not ``overwrite``) or cannot be written."""
    if mp4:
        check_output(out, overwrite, what="video")
    else:
        if out.exists() and not out.is_dir():
            raise EngineError(f"{out} is a file; give a folder for PNG frames or a name ending in .mp4")
        if out.is_dir() and not overwrite:
            existing = [frame_path(out, i) for i in frames if frame_path(out, i).exists()]
            if existing:
                raise EngineError(f"{existing[0]} exists ({len(existing)} of {len(frames)} target frames "
                                  "already rendered); pass overwrite (--overwrite) to replace them "
                                  "or choose another folder")
        _check_writable(out)


def _clip_frames(renderer: Renderer, rgb: np.ndarray, motion: Motion, frames: Sequence[int],
                 progress: Progress | None, *, driving: str | None, drive: str | None, seed: int,
                 driving_indices: list[int] | None) -> Iterator[tuple[int, np.ndarray]]:
    """(index, frame) from a clip renderer: one job per contiguous run of frames (see
    render/base.py: what a range means); "0-49,100-149" is two independent generations."""
    for run in _contiguous_runs(frames):
        job = ClipJob(portrait=rgb, motion=motion, frames=run, driving=driving,
                      driving_start=int(motion.source.get("start") or 0), drive=drive, seed=seed,
                      driving_indices=None if driving_indices is None
                      else [int(driving_indices[i]) for i in run])
        yield from zip(run, renderer.render_clip(job, progress), strict=True)


def _frame_frames(renderer: Renderer, motion: Motion,
                  frames: Sequence[int]) -> Iterator[tuple[int, np.ndarray]]:
    """(index, frame) from a per-frame renderer; those with render_frames (LivePortrait) take
    several frames per call (GPU batches), giving the same frames as one by one."""
    batch = int(getattr(renderer, "batch_size", 1)) if hasattr(renderer, "render_frames") else 1
    indices = list(frames)
    # Per-frame extras a renderer derives from the WHOLE motion (the built-in's mouth exemplar
    # schedule): the same for any frame subset, so chunks stay bit-identical to a whole render.
    bound = renderer.bind_motion(motion) if hasattr(renderer, "bind_motion") else {}
    arrays = {**motion.extras, **bound}
    for c in range(0, len(indices), batch):
        chunk = indices[c:c + batch]
        items = [(motion.frame(i), {n: a[i] for n, a in arrays.items()} or None) for i in chunk]
        rendered = renderer.render_frames(items) if batch > 1 else [renderer.render_frame(*items[0])]
        yield from zip(chunk, rendered, strict=True)


def render_motion(renderer_name: str, portrait: str | Path | np.ndarray, motion: Motion,
                  output: str | Path, *, frames: Sequence[int] | None = None, device: str = "auto",
                  overwrite: bool = False, progress: Progress | None = None,
                  renderer_options: dict | None = None, log: Callable[[str], None] | None = None,
                  driving: str | None = None, drive: str | None = None, seed: int = 0,
                  driving_indices: list[int] | None = None, job: str | None = None) -> Path:
    """Render ``motion`` (all frames or the subset ``frames``) on ``portrait`` to ``output``.

    ``frames`` are motion frame indices (any subset, e.g. one farm chunk; parse user text with
    ``engine.frames.parse_frames(...).resolve(0, motion.frame_count - 1)``).
    Returns the output path (the folder, or the .mp4). Raises EngineError on bad input or an
    existing target without ``overwrite``; ``progress.update`` may raise ``Cancelled``.
    ``driving`` / ``drive`` / ``seed`` only matter to clip renderers (``ClipJob``); ``driving``
    defaults to the motion's captured source clip when that file still exists;
    ``driving_indices`` (one per motion frame) says which driving-clip frame each motion frame
    shows when that is not 1:1 from ``motion.source["start"]`` (re-timed strips in Blender).
    A frame folder is claimed for the whole render (engine/output_claim.py): another job writing
    there is refused with one sentence; ``job`` (a farm job's id) lets that job's chunks share it.
    """
    frames = _check_frames(range(motion.frame_count) if frames is None else frames, motion.frame_count)
    rgb = portrait if isinstance(portrait, np.ndarray) else load_image(portrait)
    if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3:
        raise EngineError("the portrait must be an RGB uint8 image of shape (H, W, 3)")
    from .limits import MAX_IMAGE_PIXELS, MAX_IMAGE_SIDE  # arrays skip load_image's check

    if rgb.shape[0] * rgb.shape[1] > MAX_IMAGE_PIXELS or max(rgb.shape[:2]) > MAX_IMAGE_SIDE:
        raise EngineError(f"the portrait ({rgb.shape[1]}x{rgb.shape[0]}) is above the size limit "
                          f"({MAX_IMAGE_PIXELS // 1_000_000} megapixels, {MAX_IMAGE_SIDE} a side); "
                          "scale it down")
    out = Path(output)
    mp4 = out.suffix.lower() == ".mp4"
    # An unknown renderer or unavailable device fails here, before any folder is created.
    renderer = create_renderer(renderer_name, device=device, **(renderer_options or {}))

    # 1. Claim the frame folder (one job at a time), then check every target before rendering or
    # writing anything. (An .mp4 is one atomic rename: two jobs can never mix into it.)
    held: FolderClaim | None = None
    try:
        if not mp4 and not (out.exists() and not out.is_dir()):  # a file in the way: said below
            held = claim(out, job)
        _check_targets(out, mp4, frames, overwrite)
    except BaseException:
        if held is not None:
            held.release()
        renderer.close()
        raise

    # 2. Render.
    writer: Mp4Writer | None = None
    try:
        if progress is not None:
            progress.check()
        if hasattr(renderer, "use_motion"):  # Renderer's hook (duck-typed renderers may lack it)
            renderer.use_motion(motion)
        renderer.prepare(rgb)
        if log is not None and hasattr(renderer, "provider"):
            log(f"{renderer_name} renderer runs on {renderer.provider}")
        if mp4:
            writer = Mp4Writer(out, motion.fps, (rgb.shape[1], rgb.shape[0]), overwrite=overwrite)
        total = len(frames)
        if renderer.kind == "clip":
            source = str(motion.source.get("path") or "")
            if driving is None and source and Path(source).is_file():
                driving = source
            produced = _clip_frames(renderer, rgb, motion, frames, progress, driving=driving, drive=drive,
                                    seed=seed, driving_indices=driving_indices)
        else:
            produced = _frame_frames(renderer, motion, frames)
        for done, (index, frame) in enumerate(produced, 1):
            if writer is not None:
                writer.write(frame)
            else:
                save_image(frame_path(out, index), frame)
            if progress is not None:
                progress.update(done, total, f"frame {index}")
        if writer is not None:
            writer.close(keep=True)
            writer = None
    finally:
        if writer is not None:  # cancelled or failed: never leave a partial .mp4
            writer.close(keep=False)
        renderer.close()
        if held is not None:
            held.release()
    return out
