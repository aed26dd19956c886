"""Files a ComfyUI server returned, decoded only as the formats we expect.

A server's output is untrusted input. A "video" that is really an HLS or concat playlist naming a
local file would, probed by a demuxer, decode *that* file; so:

- the first bytes (magic) must be those of the format the file's suffix names (mp4/mov, webm/mkv,
  avi, png, jpeg, gif, webp), checked before any native decoder sees the file;
- videos are decoded by ffmpeg with that demuxer forced (``-f``, never probed) and a protocol
  whitelist of ``file`` only, for the one downloaded temporary file (mov's external data
  references off as well); images by Pillow / OpenCV image decoders, which know no protocols;
- every frame's decoded size (width x height x 3, from the header) is charged to a budget
  *before* it is decoded, so a few small files claiming huge pictures cannot take gigabytes.
"""

from __future__ import annotations

import re
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ... import limits
from ...errors import EngineError
from ...media.video import MediaError, ffmpeg_exe
from ...safe_text import printable

#: suffix -> (kind, format): the only formats a returned file is decoded as
FORMATS = {
    ".mp4": ("video", "mov"), ".mov": ("video", "mov"), ".m4v": ("video", "mov"),
    ".webm": ("video", "matroska"), ".mkv": ("video", "matroska"), ".avi": ("video", "avi"),
    ".png": ("image", "png"), ".jpg": ("image", "jpeg"), ".jpeg": ("image", "jpeg"),
    ".gif": ("image", "gif"), ".webp": ("image", "webp"),
}
_MOV_BOXES = (b"ftyp", b"moov", b"mdat", b"free", b"wide", b"skip")


class ServerMediaError(MediaError):
    """A returned file is not what it claims, too large, or cannot be decoded; names the file."""


def sniff(head: bytes) -> str | None:
    """The format of a file from its first bytes (one of FORMATS' formats), else None."""
    if head[4:8] in _MOV_BOXES:
        return "mov"
    if head[:4] == b"\x1a\x45\xdf\xa3":
        return "matroska"
    if head[:4] == b"RIFF" and head[8:12] == b"AVI ":
        return "avi"
    if head[:8] == b"\x89PNG\r\n\x1a\n":
        return "png"
    if head[:3] == b"\xff\xd8\xff":
        return "jpeg"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "gif"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "webp"
    return None


def _looks_like(head: bytes) -> str:
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if text.startswith(b"#extm3u") or b"#ext-x-" in text:
        return "an HLS playlist"
    if text.startswith(b"ffconcat") or text.startswith(b"file "):
        return "an ffmpeg concat list"
    if text.startswith((b"<", b"{", b"[", b"#")) or all(32 <= c < 127 or c in (9, 10, 13) for c in head[:64]):
        return "text"
    return "something else"


@dataclass
class DecodeBudget:
    """Decoded bytes left for a job's returned frames; charged before each frame is decoded."""
    left: int = field(default_factory=lambda: limits.OUTPUT_DECODED_MAX_BYTES)

    def take(self, width: int, height: int, name: str) -> None:
        need = width * height * 3
        if need > self.left:
            raise ServerMediaError(
                f"ComfyUI output {name} would decode to more than the limit of "
                f"{limits.OUTPUT_DECODED_MAX_BYTES >> 20} MB of frames ({width}x{height} pixels a "
                "frame); refused before decoding it -- check the workflow's output size and length")
        self.left -= need


def decode_file(path: Path, name: str, max_frames: int,
                budget: DecodeBudget | None = None) -> tuple[list[np.ndarray], float | None]:
    """A downloaded output file -> (RGB frames, fps or None for stills), at most ``max_frames``."""
    budget = budget if budget is not None else DecodeBudget()
    shown = printable(name, 80)
    suffix = Path(name).suffix.lower()
    if suffix not in FORMATS:
        raise ServerMediaError(f"ComfyUI output {shown} is not a file type this product reads back "
                               f"(use one of {', '.join(sorted(FORMATS))})")
    kind, fmt = FORMATS[suffix]
    with open(path, "rb") as fh:
        head = fh.read(64)
    if not head:
        raise ServerMediaError(f"ComfyUI output {shown} is empty (0 bytes); check the workflow's output node")
    if sniff(head) != fmt:
        raise ServerMediaError(f"ComfyUI output {shown} is not a {suffix[1:]} file (it is "
                               f"{_looks_like(head)}); refused, it is only decoded as what it claims")
    if kind == "video":
        return _decode_video(path, shown, fmt, max_frames, budget)
    return _decode_image(path, shown, max_frames, budget)


def _check_size(w: int, h: int, shown: str) -> None:
    from ...media.images import MAX_IMAGE_PIXELS, MAX_IMAGE_SIDE

    if w <= 0 or h <= 0 or w * h > MAX_IMAGE_PIXELS or max(w, h) > MAX_IMAGE_SIDE:
        raise ServerMediaError(f"ComfyUI output {shown} is {w}x{h} pixels, outside the limit of "
                               f"{MAX_IMAGE_PIXELS // 1_000_000} megapixels or {MAX_IMAGE_SIDE} "
                               "pixels a side; refused")


def _decode_image(path: Path, shown: str, max_frames: int,
                  budget: DecodeBudget) -> tuple[list[np.ndarray], float | None]:
    from PIL import Image, UnidentifiedImageError

    from ...media.images import image_size, load_image

    try:
        w, h = image_size(path)
        _check_size(w, h, shown)
        with Image.open(path) as im:
            n = int(getattr(im, "n_frames", 1) or 1)
            if n <= 1:
                budget.take(w, h, shown)
                return [load_image(path)], None
            # animated gif / webp: frame by frame, each charged before it is decoded
            frames = []
            for k in range(min(n, max_frames)):
                budget.take(w, h, shown)
                im.seek(k)
                frames.append(np.asarray(im.convert("RGB")).copy())
            ms = im.info.get("duration") or 0
            fps = 1000.0 / ms if isinstance(ms, (int, float)) and 0 < ms < 10_000 else None
            return frames, fps
    except ServerMediaError:
        raise
    except EngineError as exc:
        raise ServerMediaError(f"ComfyUI output {shown} cannot be used: {exc}") from None
    except (OSError, ValueError, UnidentifiedImageError, EOFError) as exc:
        raise ServerMediaError(f"ComfyUI output {shown} cannot be decoded "
                               f"({printable(exc, 120)}); check the workflow's output node") from None


def _input_args(fmt: str, path: Path) -> list[str]:
    # forced demuxer, no protocol but file for the one temporary file, no external references
    extra = ["-enable_drefs", "0"] if fmt == "mov" else []
    return ["-noautorotate", "-protocol_whitelist", "file", "-f", fmt, *extra, "-i", f"file:{path}"]


_VIDEO_LINE = re.compile(r"Stream #0:\d+.*?: Video: .*?, (\d{1,6})x(\d{1,6})")
_FPS = re.compile(r", (\d+(?:\.\d+)?) (?:fps|tbr)")


def _probe(exe: str, path: Path, fmt: str, shown: str) -> tuple[int, int, float | None]:
    proc = subprocess.run([exe, "-hide_banner", "-nostdin", *_input_args(fmt, path)],
                          stdin=subprocess.DEVNULL, capture_output=True, timeout=60)
    err = proc.stderr.decode(errors="replace")
    for line in err.splitlines():
        m = _VIDEO_LINE.search(line)
        if m:
            fps = _FPS.search(line)
            rate = float(fps.group(1)) if fps else None
            return int(m.group(1)), int(m.group(2)), rate if rate and 0 < rate < 1000 else None
    last = [s for s in err.strip().splitlines() if s.strip()][-1:] or ["no video stream"]
    raise ServerMediaError(f"ComfyUI output {shown} has no readable video ({printable(last[0], 120)}); "
                           "check the workflow's output node")


def _decode_video(path: Path, shown: str, fmt: str, max_frames: int,
                  budget: DecodeBudget) -> tuple[list[np.ndarray], float | None]:
    exe = ffmpeg_exe()
    if exe is None:
        raise ServerMediaError(f"ffmpeg is needed to read ComfyUI output {shown} and was not found")
    w, h, fps = _probe(exe, path, fmt, shown)
    _check_size(w, h, shown)
    cmd = [exe, "-hide_banner", "-nostdin", "-loglevel", "error", *_input_args(fmt, path),
           "-map", "0:v:0", "-an", "-sn", "-dn", "-fps_mode", "passthrough", "-frames:v", str(max_frames),
           "-f", "rawvideo", "-pix_fmt", "rgb24", "-"]
    frames: list[np.ndarray] = []
    size = w * h * 3
    with tempfile.TemporaryFile() as log:  # a file, not a pipe: ffmpeg can never block on it
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=log)
        try:
            assert proc.stdout is not None
            while len(frames) < max_frames:
                budget.take(w, h, shown)
                buf = proc.stdout.read(size)
                if len(buf) < size:
                    budget.left += size  # not decoded after all
                    break
                frames.append(np.frombuffer(buf, np.uint8).reshape(h, w, 3).copy())
        finally:
            if proc.poll() is None:
                proc.kill()
            proc.wait()
            proc.stdout.close()  # type: ignore[union-attr]
        log.seek(0)
        err = log.read(4000).decode(errors="replace").strip()
    if not frames:
        raise ServerMediaError(f"ComfyUI output {shown} holds no frame ffmpeg can decode "
                               f"({printable(err.splitlines()[-1] if err else 'empty', 120)})")
    return frames, fps
