"""Frames in and out: streaming video decode, image loading, PNG sequences and .mp4 writing.

Everything streams one frame at a time so memory stays flat in clip length. Paths go through
Python file I/O (``np.fromfile``/``imencode``) where OpenCV's own path handling would break on
non-ASCII names.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import EngineError


class MediaError(EngineError):
    """Unreadable, corrupt or unsupported media; the message names the file."""


@dataclass
class VideoInfo:
    path: str
    width: int  # after rotation
    height: int
    fps: float
    frame_count: int  # as declared by the container; decoding may yield fewer
    rotation: int  # degrees the decoder applied (0, 90, 180, 270)


def load_image(path: str | os.PathLike[str]) -> np.ndarray:
    """An image file as RGB uint8 (H, W, 3); alpha is composited over black."""
    import cv2

    p = Path(path)
    if not p.is_file():
        raise MediaError(f"image not found: {p}")
    data = np.fromfile(str(p), dtype=np.uint8)
    img = cv2.imdecode(data, cv2.IMREAD_UNCHANGED) if data.size else None
    if img is None:
        raise MediaError(f"cannot read image {p.name}: not an image or corrupt")
    if img.dtype != np.uint8:
        img = (img / (256 if img.dtype == np.uint16 else 1)).clip(0, 255).astype(np.uint8)
    if img.ndim == 2:
        img = cv2.cvtColor(img, cv2.COLOR_GRAY2RGB)
    elif img.shape[2] == 4:
        alpha = img[:, :, 3:4].astype(np.float32) / 255.0
        img = (cv2.cvtColor(img[:, :, :3], cv2.COLOR_BGR2RGB) * alpha).astype(np.uint8)
    else:
        img = cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
    return img


def save_image(path: str | os.PathLike[str], rgb: np.ndarray) -> None:
    """Write RGB uint8 as PNG/JPEG by extension, atomically (never a half-written frame)."""
    import cv2

    p = Path(path)
    ok, buf = cv2.imencode(p.suffix or ".png", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    if not ok:
        raise MediaError(f"cannot encode {p.name}")
    tmp = p.with_name(p.name + ".part")
    buf.tofile(str(tmp))
    os.replace(tmp, p)


class VideoReader:
    """Decode a video file frame by frame as RGB uint8, with each frame's timestamp (ms).

    Rotation metadata of phone videos is applied by the decoder (OpenCV's orientation auto).
    Variable frame rate: timestamps come from the container, so callers can resample.
    """

    def __init__(self, path: str | os.PathLike[str]):
        import cv2

        p = Path(path)
        if not p.is_file():
            raise MediaError(f"video not found: {p}")
        if p.stat().st_size == 0:
            raise MediaError(f"video {p.name} is empty (0 bytes)")
        self.path = p
        self._cap = cv2.VideoCapture(str(p), cv2.CAP_FFMPEG)
        if not self._cap.isOpened():
            raise MediaError(f"cannot open video {p.name}: no video stream (audio-only?), corrupt, "
                             "or an unsupported codec")
        self._cap.set(cv2.CAP_PROP_ORIENTATION_AUTO, 1)
        fps = float(self._cap.get(cv2.CAP_PROP_FPS) or 0.0)
        w = int(self._cap.get(cv2.CAP_PROP_FRAME_WIDTH))
        h = int(self._cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
        rotation = int(self._cap.get(cv2.CAP_PROP_ORIENTATION_META) or 0) % 360
        if rotation in (90, 270):
            w, h = h, w
        if w <= 0 or h <= 0:
            self.close()
            raise MediaError(f"{p.name} has no video stream (audio-only or corrupt file?)")
        self.info = VideoInfo(str(p), w, h, fps if 0 < fps < 1000 else 25.0,
                              max(int(self._cap.get(cv2.CAP_PROP_FRAME_COUNT)), 0), rotation)

    def __enter__(self) -> VideoReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._cap is not None:
            self._cap.release()
            self._cap = None

    def frames(self, start: int = 0, stop: int | None = None) -> Iterator[tuple[int, float, np.ndarray]]:
        """Yield (index, timestamp_ms, rgb) for decoded frames start <= index < stop."""
        import cv2

        if self._cap is None:
            raise MediaError("reader is closed")
        if start > 0:
            self._cap.set(cv2.CAP_PROP_POS_FRAMES, start)
        index = start
        last_ts = -1.0
        while stop is None or index < stop:
            ok, bgr = self._cap.read()
            if not ok or bgr is None:
                break
            ts = float(self._cap.get(cv2.CAP_PROP_POS_MSEC))
            if not np.isfinite(ts) or ts <= last_ts:
                ts = last_ts + 1000.0 / self.info.fps if last_ts >= 0 else index * 1000.0 / self.info.fps
            last_ts = ts
            yield index, ts, cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
            index += 1


def _restore_bundled_ffmpeg_mode() -> None:
    """Blender extracts an extension's wheels without their file modes, so imageio-ffmpeg's bundled binary
    lands non-executable (and get_ffmpeg_exe() then ignores it): give it its executable bit back."""
    if os.name == "nt":
        return
    try:
        import importlib.resources

        for entry in importlib.resources.files("imageio_ffmpeg.binaries").iterdir():
            path = Path(str(entry))
            if path.name.startswith("ffmpeg") and path.is_file() and not os.access(path, os.X_OK):
                path.chmod(path.stat().st_mode | 0o111)
    except Exception:  # noqa: BLE001 - read-only or unusual install: fall through to the normal lookup
        pass


def ffmpeg_exe() -> str | None:
    """An ffmpeg binary: imageio-ffmpeg's bundled one, else one on PATH, else None."""
    try:
        import imageio_ffmpeg

        _restore_bundled_ffmpeg_mode()
        return imageio_ffmpeg.get_ffmpeg_exe()
    except Exception:  # noqa: BLE001 - any failure means "not available"
        return shutil.which("ffmpeg")


class Mp4Writer:
    """Stream RGB frames into an H.264 .mp4 (yuv420p, plays everywhere) through ffmpeg;
    falls back to OpenCV's mp4v encoder when no ffmpeg is available. Writes to a temporary
    name and moves into place on close, so a cancelled or failed write leaves nothing behind."""

    def __init__(self, path: str | os.PathLike[str], fps: float, size: tuple[int, int], crf: int = 18):
        self.path = Path(path)
        self._tmp = self.path.with_name(self.path.stem + ".part" + self.path.suffix)
        self.size = size  # (width, height)
        self._proc: subprocess.Popen[bytes] | None = None
        self._cv = None
        exe = ffmpeg_exe()
        w, h = size
        if exe:
            # yuv420p needs even dimensions; pad by one pixel where needed.
            cmd = [exe, "-y", "-loglevel", "error", "-f", "rawvideo", "-pix_fmt", "rgb24",
                   "-s", f"{w}x{h}", "-r", f"{fps:.6g}", "-i", "-",
                   "-vf", "pad=ceil(iw/2)*2:ceil(ih/2)*2", "-c:v", "libx264", "-crf", str(crf),
                   "-preset", "veryfast", "-pix_fmt", "yuv420p", "-movflags", "+faststart",
                   str(self._tmp)]
            self._proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stderr=subprocess.PIPE)
        else:
            import cv2

            self._cv = cv2.VideoWriter(str(self._tmp), cv2.VideoWriter_fourcc(*"mp4v"), fps, (w, h))
            if not self._cv.isOpened():
                raise MediaError(f"cannot write {self.path}")

    def write(self, rgb: np.ndarray) -> None:
        if rgb.shape[1] != self.size[0] or rgb.shape[0] != self.size[1]:
            raise ValueError(f"frame size {rgb.shape[1]}x{rgb.shape[0]} != {self.size}")
        if self._proc is not None:
            assert self._proc.stdin is not None
            try:
                self._proc.stdin.write(np.ascontiguousarray(rgb, dtype=np.uint8).tobytes())
            except BrokenPipeError as exc:
                err = self._proc.stderr.read().decode(errors="replace") if self._proc.stderr else ""
                raise MediaError(f"ffmpeg failed writing {self.path.name}: {err.strip()}") from exc
        else:
            import cv2

            self._cv.write(cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))

    def close(self, keep: bool = True) -> None:
        """Finish the file; ``keep=False`` discards it (cancel)."""
        if self._proc is not None:
            assert self._proc.stdin is not None
            self._proc.stdin.close()
            rc = self._proc.wait()
            err = self._proc.stderr.read().decode(errors="replace") if self._proc.stderr else ""
            self._proc = None
            if rc != 0 and keep:
                self._tmp.unlink(missing_ok=True)
                raise MediaError(f"ffmpeg failed writing {self.path.name}: {err.strip()}")
        elif self._cv is not None:
            self._cv.release()
            self._cv = None
        if keep and self._tmp.exists():
            os.replace(self._tmp, self.path)
        else:
            self._tmp.unlink(missing_ok=True)

    def __enter__(self) -> Mp4Writer:
        return self

    def __exit__(self, exc_type: object, *rest: object) -> None:
        self.close(keep=exc_type is None)
