"""Render-farm jobs without Blender: the job folder contract, the Open Job Description bundle,
and the final encode (frames -> .mp4 with sound). docs/farm.md describes them for users.

A farm job owns one **job folder** (the template's OutputDir):

    <job>/.talking_head_job          the job id (claimed by the Capture step; a second job
                                      pointed at the same folder is refused)
    <job>/talking_head_job.blend     the copy of the .blend with the portrait's keys, read by the
                                      Render and Encode steps (the artist's file is never changed)
    <job>/frames/frame_NNNNNN.png    one PNG per frame, numbered by motion frame index (scene
                                      frame - the portrait's first frame), written by the chunks
    <job>/talking_head.mp4           the Encode step's movie (with the scene's sound, if any)

Every chunk writes only its own frames, each atomically, so a retried chunk rewrites exactly its
own frames and nothing else (idempotent).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import uuid
from collections.abc import Sequence
from fractions import Fraction
from pathlib import Path

from . import limits
from .errors import EngineError
from .frames import FrameSpans, chunks, parse_frames
from .outputs import atomic_output, check_outputs, write_text
from .safe_text import printable

JOB_MARKER = ".talking_head_job"
JOB_BLEND = "talking_head_job.blend"
FRAMES_DIR = "frames"
MOVIE = "talking_head.mp4"
RENDER_MARKER = ".talking_head_render"  # the add-on's "this folder is ours" marker (adapters.flows)
DEVICES = ("cpu", "cuda", "auto")
BUNDLE_FILES = ("template.yaml", "parameter_values.yaml", "asset_references.yaml", "job_params.json")


MAX_TASKS = limits.MAX_TASKS  # farm schedulers choke on more tasks per job (engine/limits.py)


class FarmError(EngineError):
    """A farm job cannot be set up or run as asked; the message says what to do."""


def template_dir() -> Path:
    """``farm/openjd`` next to ``engine/`` (in the repository and in the installed extension)."""
    return Path(__file__).resolve().parents[1] / "farm" / "openjd"


# -- the job folder ----------------------------------------------------------------------------


def new_job_id() -> str:
    return uuid.uuid4().hex[:16]


def _check_job_id(job_id: str) -> str:
    if not re.fullmatch(r"[A-Za-z0-9_.-]{1,64}", job_id or ""):
        raise FarmError(f"bad job id {job_id!r}: use letters, digits, '.', '_' or '-'")
    return job_id


def job_owner(folder: str | os.PathLike[str]) -> str | None:
    """The job id that claimed ``folder`` (None if no job did)."""
    marker = Path(folder) / JOB_MARKER
    try:
        return marker.read_text(encoding="utf-8").strip() or None
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise FarmError(f"cannot read {marker}: {exc.strerror or exc}") from exc


def claim_job_folder(folder: str | os.PathLike[str], job_id: str) -> Path:
    """Make ``folder`` this job's: create it (or take an empty one) and write the job marker.
    Claiming again with the same id is fine (a retried Capture step); a folder that another job
    claimed, or that holds anything else, is refused so that no file of anyone is overwritten."""
    folder = Path(folder)
    _check_job_id(job_id)
    if folder.exists() and not folder.is_dir():
        raise FarmError(f"job output {folder} is a file; give a folder")
    owner = job_owner(folder) if folder.is_dir() else None
    if owner is not None:
        if owner != job_id:
            raise FarmError(f"output folder {folder} belongs to another job ({owner}); give each job "
                            "its own output folder")
        return folder
    if folder.is_dir() and any(not n.startswith(".") for n in os.listdir(folder)):
        raise FarmError(f"output folder {folder} is not empty and no farm job made it; give a new or "
                        "empty folder so no file is overwritten")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise FarmError(f"cannot create output folder {folder}: {exc.strerror or exc}") from exc
    write_text(folder / JOB_MARKER, job_id + "\n", overwrite=False)
    if job_owner(folder) != job_id:  # lost a race against another job's claim
        raise FarmError(f"output folder {folder} was claimed by another job meanwhile; give each "
                        "job its own output folder")
    frames = folder / FRAMES_DIR
    frames.mkdir(exist_ok=True)
    if not (frames / RENDER_MARKER).exists():
        write_text(frames / RENDER_MARKER, "rendered by the Talking Head add-on; safe to delete\n")
    return folder


def check_job_folder(folder: str | os.PathLike[str], job_id: str) -> Path:
    """Render/Encode steps: the folder must be claimed by this job (its Capture step ran)."""
    folder = Path(folder)
    owner = job_owner(folder) if folder.is_dir() else None
    if owner is None:
        raise FarmError(f"{folder} is not a farm job folder (no {JOB_MARKER}); run the job's Capture "
                        "step first")
    if owner != _check_job_id(job_id):
        raise FarmError(f"output folder {folder} belongs to another job ({owner}); give each job "
                        "its own output folder")
    return folder


# -- encode ------------------------------------------------------------------------------------


def frame_file(folder: Path, index: int) -> Path:
    return folder / f"frame_{index:06d}.png"


def encode_frames(frames_dir: str | os.PathLike[str], indices: Sequence[int], fps: float,
                  output: str | os.PathLike[str], *, audio: str | os.PathLike[str] | None = None,
                  overwrite: bool = False) -> Path:
    """Encode the PNGs ``frame_NNNNNN.png`` of ``indices`` (in order) into an H.264 .mp4 at
    ``fps``, muxing ``audio`` (a .wav of the same length) when given. Every frame must exist:
    a missing one is named (a chunk did not finish) instead of making a short movie."""
    from .media.video import ffmpeg_exe

    folder = Path(frames_dir)
    out = Path(output)
    if out.suffix.lower() != ".mp4":
        raise FarmError(f"{out}: the movie name must end in .mp4")
    if not indices:
        raise FarmError("no frames to encode")
    missing = [i for i in indices if not frame_file(folder, i).is_file()]
    if missing:
        from .frames import format_frames

        raise FarmError(f"{len(missing)} of {len(indices)} frames are missing in {folder} (motion frames "
                        f"{format_frames(missing)}); re-run the Render chunks that make them")
    check_outputs([(out, "movie")], overwrite)
    exe = ffmpeg_exe()
    if exe is None:
        raise FarmError("no ffmpeg found to encode the movie; install imageio-ffmpeg or put ffmpeg on PATH")
    with atomic_output(out, overwrite=overwrite) as tmp:
        rate = Fraction(fps).limit_denominator(1001)  # 29.97 -> 30000/1001 exactly, no drift
        cmd = [exe, "-y", "-hide_banner", "-loglevel", "error",
               "-f", "image2pipe", "-framerate", f"{rate.numerator}/{rate.denominator}",
               "-c:v", "png", "-i", "-"]
        if audio is not None:
            cmd += ["-i", str(audio), "-map", "0:v:0", "-map", "1:a:0", "-c:a", "aac", "-b:a", "192k"]
        cmd += ["-vf", "pad=ceil(iw/2)*2:ceil(ih/2)*2", "-c:v", "libx264", "-crf", "18",
                "-preset", "veryfast", "-pix_fmt", "yuv420p", "-movflags", "+faststart", str(tmp)]
        proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stderr=subprocess.PIPE)
        assert proc.stdin is not None
        try:
            for i in indices:
                proc.stdin.write(frame_file(folder, i).read_bytes())
            proc.stdin.close()
        except BrokenPipeError:
            pass
        except BaseException:
            proc.kill()
            proc.wait()
            raise
        err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
        if proc.wait() != 0:
            raise FarmError(f"ffmpeg failed encoding {out.name}: {err.strip()[-400:]}")
    return out


# -- the Open Job Description bundle -----------------------------------------------------------


def check_chunking(frames: FrameSpans, chunk_size: int) -> list[tuple[int, int]]:
    """A farm job renders one inclusive range in chunks of ``chunk_size`` frames; returns the
    chunks (each frame exactly once)."""
    first, last = frames.span("a farm job")
    if last is None:
        raise FarmError(f"give the job's last frame too (e.g. {first}-{first + 99}); the farm "
                        "cannot see where the portrait ends")
    count = last - first + 1
    if chunk_size < 1:
        raise FarmError(f"chunk size {chunk_size} must be at least 1 frame")
    if chunk_size > count:
        raise FarmError(f"chunk size {chunk_size} is larger than the frame range {first}-{last} "
                        f"({count} frames); use at most {count}")
    tasks = -(-count // chunk_size)
    if tasks > MAX_TASKS:
        raise FarmError(f"{count} frames in chunks of {chunk_size} make {tasks} tasks; use --chunk-size "
                        f"{-(-count // MAX_TASKS)} or more (at most {MAX_TASKS} tasks per job)")
    return chunks(first, last, chunk_size)


# Characters a YAML double-quoted scalar holds as they are: its "printable" set (YAML 1.1 and
# 1.2) less the line breaks NEL, LS and PS, which YAML would fold into spaces.
_YAML_UNPRINTABLE = re.compile("[^\t\x20-\x7e\xa0-\u2027\u202a-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _yaml_str(value: str) -> str:
    """``value`` as a YAML double-quoted scalar. A JSON string is one, but with ``ensure_ascii``
    an emoji becomes a surrogate pair (``\\ud83d\\ude00``), which YAML reads as two broken
    characters: so non-ASCII stays as UTF-8 text, and only what YAML cannot hold raw is escaped."""
    text = str(value)
    bad = re.search("[\ud800-\udfff]", text)  # a file name that was not valid UTF-8
    if bad:
        raise FarmError(f"{printable(text)} is not valid Unicode text (undecodable bytes in a file "
                        "name); rename it")
    quoted = json.dumps(text, ensure_ascii=False)
    return _YAML_UNPRINTABLE.sub(lambda m: f"\\u{ord(m.group()):04x}", quoted)


def bundle_parameters(blend: str | os.PathLike[str], *, frames: str, output: str | os.PathLike[str],
                      portrait: str = "", chunk_size: int = 10, blender: str = "blender",
                      device: str = "cpu", job_id: str | None = None) -> dict[str, object]:
    """The template's parameter values, checked (paths made absolute: workers share storage)."""
    blend_path = Path(blend).expanduser().resolve()
    if blend_path.is_dir():
        raise FarmError(f".blend file {blend} is a folder; give the .blend file")
    if blend_path.suffix.lower() != ".blend":
        raise FarmError(f"{blend} is not a .blend file; give the .blend with the portrait")
    if not blend_path.is_file():
        raise FarmError(f".blend file not found: {blend}")
    spans = parse_frames(frames)
    check_chunking(spans, chunk_size)
    if device not in DEVICES:
        raise FarmError(f"unknown device {device!r}: use one of {', '.join(DEVICES)} (the same on every "
                        "worker, so chunks match bit for bit)")
    if not blender or not blender.strip():
        raise FarmError("give the Blender executable the workers run (--blender)")
    out = Path(output).expanduser().resolve()
    if out.exists() and not out.is_dir():
        raise FarmError(f"the job output {output} is a file; give a folder (frames, the .mp4 and the "
                        "keyed .blend go there)")
    if out == blend_path.parent:
        raise FarmError(f"the job output folder {out} is the .blend's own folder; give a folder of "
                        f"its own (e.g. {out / 'farm_job'})")
    owner = job_owner(out) if out.is_dir() else None
    job_id = _check_job_id(job_id or new_job_id())
    if owner is not None and owner != job_id:
        raise FarmError(f"output folder {out} belongs to another job ({owner}); give each job its own "
                        "output folder")
    return {"BlendFile": str(blend_path), "Portrait": portrait, "Frames": str(spans),
            "ChunkSize": int(chunk_size), "OutputDir": str(out), "BlenderExecutable": blender,
            "Device": device, "JobId": job_id}


def check_blender(blender: str) -> str:
    """The Blender executable must exist here (a name on PATH or a file path)."""
    found = shutil.which(blender) if os.sep not in blender and "/" not in blender else (
        blender if os.path.isfile(blender) and os.access(blender, os.X_OK) else None)
    if found is None:
        raise FarmError(f"Blender executable {blender!r} not found on this machine; pass the path with "
                        "--blender (or --no-check-blender when it only exists on the workers)")
    return found


def write_bundle(out_dir: str | os.PathLike[str], params: dict[str, object], *,
                 inputs: Sequence[str | os.PathLike[str]] = (), overwrite: bool = False) -> list[Path]:
    """Write the job bundle into ``out_dir``: the template (as shipped in farm/openjd), Deadline
    Cloud's parameter_values.yaml and asset_references.yaml, and job_params.json (the same values
    as a mapping, for ``openjd run -p file://...``). ``inputs``: more files the job reads (the
    portrait image, the driving movie, sounds) for Deadline Cloud's job attachments."""
    src = template_dir() / "template.yaml"
    if not src.is_file():
        raise FarmError(f"the job template is missing from this installation ({src})")
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise FarmError(f"bundle folder {out} is a file; give a folder")
    for extra in inputs:  # a missing input would only fail on the workers, hours later
        p = Path(extra).expanduser()
        if p.is_dir():
            raise FarmError(f"--input {extra} is a folder; give each file the job reads")
        if not p.is_file():
            raise FarmError(f"--input file not found: {extra}")
    paths = [out / name for name in BUNDLE_FILES]
    check_outputs([(p, "bundle file") for p in paths], overwrite)
    values = "".join(f"- name: {name}\n  value: {_yaml_str(str(v))}\n" for name, v in params.items())
    files = dict.fromkeys([str(params["BlendFile"])] + [str(Path(p).resolve()) for p in inputs])
    assets = ("assetReferences:\n  inputs:\n    filenames:\n"
              + "".join(f"    - {_yaml_str(f)}\n" for f in files) + "    directories: []\n"
              f"  outputs:\n    directories:\n    - {_yaml_str(str(params['OutputDir']))}\n"
              "  referencedPaths: []\n")
    with atomic_output(paths[0], overwrite=overwrite) as tmp:
        shutil.copyfile(src, tmp)
    write_text(paths[1], "parameterValues:\n" + values, overwrite=overwrite)
    write_text(paths[2], assets, overwrite=overwrite)
    write_text(paths[3], json.dumps(params, indent=1) + "\n", overwrite=overwrite)
    return paths
