"""Media going to and coming from a ComfyUI workflow, as this product's frames.

Going: the portrait (whole, or a square face crop), the drive video (a guide rendered from the
curves by the built-in renderer, or the driving clip as it is, cut to the frame range), the
driving clip's audio. Coming: the workflow's video or images, conformed to the range's frame
count and fps and to the portrait's size, a face crop pasted back with a feathered edge.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ...errors import EngineError
from ...media.video import MediaError, Mp4Writer, VideoReader, ffmpeg_exe


@dataclass
class CropBox:
    x: int
    y: int
    size: int  # square side in portrait pixels

    def cut(self, rgb: np.ndarray, out_size: int) -> np.ndarray:
        import cv2

        crop = rgb[self.y:self.y + self.size, self.x:self.x + self.size]
        interp = cv2.INTER_AREA if out_size < self.size else cv2.INTER_CUBIC
        return cv2.resize(crop, (out_size, out_size), interpolation=interp)


def face_box(portrait: np.ndarray, scale: float = 2.0, face: int | None = None) -> CropBox:
    """A square around the portrait's face (``scale`` x the landmarks' extent), inside the image:
    shifted to fit, shrunk only when the image is smaller than the square. ``face`` picks a face
    of a group portrait (0 = leftmost), exactly as the built-in renderer that draws the guide
    does (same detector, same numbering), so the crop and the guide show the same face; None
    = the main face."""
    from ..builtin.fitting import detect_face

    h, w = portrait.shape[:2]
    landmarks = detect_face(portrait, face)  # one sentence when there is none / no face N
    (x0, y0), (x1, y1) = landmarks[:, :2].min(axis=0), landmarks[:, :2].max(axis=0)
    side = int(min(max(x1 - x0, y1 - y0) * scale, w, h))
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    x = int(round(min(max(cx - side / 2, 0), w - side)))
    y = int(round(min(max(cy - side / 2, 0), h - side)))
    return CropBox(x, y, side)


def paste_back(portrait: np.ndarray, box: CropBox, crop: np.ndarray, feather: float = 0.08) -> np.ndarray:
    """``crop`` (any size) resized into ``box`` of ``portrait`` with a feathered edge, so the
    generated face region blends into the untouched full-resolution portrait."""
    import cv2

    patch = cv2.resize(crop, (box.size, box.size),
                       interpolation=cv2.INTER_CUBIC if crop.shape[0] < box.size else cv2.INTER_AREA)
    ramp = max(1, int(box.size * feather))
    t = np.minimum(np.arange(box.size), np.arange(box.size)[::-1]).astype(np.float32)
    edge = np.clip(t / ramp, 0.0, 1.0)
    alpha = (edge[:, None] * edge[None, :])[..., None]
    out = portrait.copy()
    region = out[box.y:box.y + box.size, box.x:box.x + box.size].astype(np.float32)
    out[box.y:box.y + box.size, box.x:box.x + box.size] = np.clip(
        region * (1 - alpha) + patch.astype(np.float32) * alpha + 0.5, 0, 255).astype(np.uint8)
    return out


def encode_png(rgb: np.ndarray) -> bytes:
    import cv2

    ok, buf = cv2.imencode(".png", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    if not ok:
        raise MediaError("cannot encode the portrait as PNG")
    return buf.tobytes()


def encode_mp4(frames: Iterable[np.ndarray], fps: float, folder: str) -> bytes:
    """Frames -> H.264 mp4 bytes (through a temporary file in ``folder``)."""
    path = Path(folder) / "drive.mp4"
    writer = None
    try:
        for rgb in frames:
            if writer is None:
                # near-lossless: the drive video is an input to a generator, not a deliverable
                writer = Mp4Writer(path, fps, (rgb.shape[1], rgb.shape[0]), crf=10)
            writer.write(rgb)
        if writer is None:
            raise MediaError("no frames to send to ComfyUI")
        writer.close(keep=True)
        writer = None
        return path.read_bytes()
    finally:
        if writer is not None:
            writer.close(keep=False)
        path.unlink(missing_ok=True)


def driving_frames(path: str, indices: list[int],
                   size: tuple[int, int] | None = None) -> Iterator[np.ndarray]:
    """The driving clip's frames ``indices`` (in any order, repeats allowed: a re-timed strip),
    resized to ``size`` = (w, h)."""
    import cv2

    lo, hi = min(indices), max(indices) + 1
    wanted = set(indices)
    frames: dict[int, np.ndarray] = {}
    with VideoReader(path) as reader:
        for index, _, rgb in reader.frames(lo, hi):
            if index in wanted:
                frames[index] = rgb if size is None else cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)
    missing = [i for i in indices if i not in frames]
    if missing:
        raise MediaError(f"driving clip {Path(path).name} has no frame {missing[0]} "
                         f"({len(frames)} of frames {lo}-{hi - 1} decoded); render a shorter range")
    for i in indices:
        yield frames[i]


def extract_audio(path: str, start_s: float, duration_s: float, folder: str) -> bytes:
    """The driving clip's audio from ``start_s`` for ``duration_s`` as 16 kHz mono WAV bytes."""
    exe = ffmpeg_exe()
    if exe is None:
        raise MediaError("ffmpeg is needed to cut the driving clip's audio and was not found")
    out = Path(folder) / "audio.wav"
    cmd = [exe, "-y", "-loglevel", "error", "-ss", f"{start_s:.6f}", "-t", f"{duration_s:.6f}",
           "-i", str(path), "-vn", "-ac", "1", "-ar", "16000", str(out)]
    proc = subprocess.run(cmd, capture_output=True)
    if proc.returncode != 0 or not out.is_file() or out.stat().st_size <= 44:
        raise MediaError(f"{Path(path).name} has no audio track to drive this workflow "
                         f"({proc.stderr.decode(errors='replace').strip()[:120]})")
    try:
        return out.read_bytes()
    finally:
        out.unlink(missing_ok=True)


def decode_output(data: bytes, filename: str,
                  max_frames: int = 100_000) -> tuple[list[np.ndarray], float | None]:
    """A downloaded output file (bytes) -> (RGB frames, its fps or None for still images).

    What a server sends is checked like any user file before it reaches a decoder, and only as
    the format its name claims (engine/render/comfyui/server_media.py); at most ``max_frames``
    frames are kept (a server cannot exhaust our memory with an endless clip)."""
    from .server_media import decode_file

    fd, tmp = tempfile.mkstemp(suffix=".bin", prefix="th_comfy_")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        return decode_file(Path(tmp), filename, max_frames)
    finally:
        os.unlink(tmp)


def conform(frames: list[np.ndarray], fps: float | None, count: int, target_fps: float,
            size: tuple[int, int]) -> tuple[list[np.ndarray], list[str]]:
    """``count`` frames at ``target_fps`` and ``size`` (w, h) from what the workflow returned.

    Timing: output frame k is at k / fps (fps None: the workflow kept ours), target frame i
    takes the output frame nearest to i / target_fps. Extra frames (Wan's 4n+1 lengths) are
    dropped; a short result holds its last frame, which the returned notes say."""
    import cv2

    if not frames:
        raise EngineError("the ComfyUI workflow returned no frames; check its output node")
    src_fps = fps or target_fps
    notes = []
    picks = [min(int(round(i / target_fps * src_fps)), len(frames) - 1) for i in range(count)]
    covered = len(frames) / src_fps
    if covered + 0.5 / target_fps < count / target_fps:
        notes.append(f"the workflow returned {len(frames)} frames at {src_fps:g} fps for "
                     f"{count} at {target_fps:g} fps; the last frame is held")
    out = []
    cache: dict[int, np.ndarray] = {}
    for k in picks:
        if k not in cache:
            f = frames[k]
            if f.shape[1] != size[0] or f.shape[0] != size[1]:
                interp = cv2.INTER_AREA if f.shape[1] > size[0] else cv2.INTER_CUBIC
                f = _fit(f, size, interp)
            cache[k] = f
        out.append(cache[k])
    return out, notes


def _fit(rgb: np.ndarray, size: tuple[int, int], interp: int) -> np.ndarray:
    """Resize to ``size`` keeping the aspect (centre-crop the excess), since workflows round
    sizes to multiples of 16 or 8."""
    import cv2

    w, h = size
    fh, fw = rgb.shape[:2]
    s = max(w / fw, h / fh)
    nw, nh = max(w, round(fw * s)), max(h, round(fh * s))
    big = cv2.resize(rgb, (nw, nh), interpolation=interp)
    x, y = (nw - w) // 2, (nh - h) // 2
    return np.ascontiguousarray(big[y:y + h, x:x + w])
