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

from ..errors import EngineError
from ..outputs import (
    OutputError,
    commit_temporary,
    describe_os_error,
    discard_temporary,
    new_temporary,
    write_bytes,
)
from .images import ImageError, load_image  # noqa: F401 - the image input layer, re-exported


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


# Image formats the product writes (frames, contact sheets, plots), by suffix.
IMAGE_WRITE_SUFFIXES = (".png", ".jpg", ".jpeg")


def check_image_suffix(path: str | os.PathLike[str], what: str, extra: tuple[str, ...] = ()) -> None:
    """Refuse an output name whose suffix no writer here can encode, before any work."""
    p = Path(path)
    allowed = IMAGE_WRITE_SUFFIXES + extra
    if p.suffix.lower() not in allowed:
        raise MediaError(f"{what} {p.name}: unsupported file type {p.suffix or '(none)'!r}; "
                         f"use one of {', '.join(allowed)}")


def save_image(path: str | os.PathLike[str], rgb: np.ndarray) -> None:
    """Write RGB uint8 as PNG/JPEG by extension, atomically (never a half-written frame, never
    a user file under a temporary name: see engine.outputs)."""
    import cv2

    p = Path(path)
    check_image_suffix(p, "image")
    try:
        ok, buf = cv2.imencode(p.suffix.lower(), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    except cv2.error as exc:
        raise MediaError(f"cannot encode {p.name}: {str(exc).strip().splitlines()[-1]}") from None
    if not ok:
        raise MediaError(f"cannot encode {p.name}")
    write_bytes(p, buf.tobytes())


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
        self.used_fallback = False  # True once frames() had to continue through ffmpeg
        # OpenCV prints a "[ WARN ...] can't be used to capture by name" line of its own for a file
        # that is no video: our one-line error says it better.
        level = cv2.getLogLevel()
        cv2.setLogLevel(2)  # LOG_LEVEL_ERROR
        try:
            self._cap = cv2.VideoCapture(str(p), cv2.CAP_FFMPEG)
        finally:
            cv2.setLogLevel(level)
        if not self._cap.isOpened():
            raise MediaError(f"cannot open video {p.name}: not a video, no video stream (audio only?), "
                             "truncated (an unfinished download or copy?) or an unsupported codec")
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
        from ..limits import MAX_IMAGE_PIXELS, MAX_IMAGE_SIDE

        if w * h > MAX_IMAGE_PIXELS or max(w, h) > MAX_IMAGE_SIDE:
            self.close()  # refused before a frame is decoded or reaches the tracker
            raise MediaError(f"video {p.name} is {w}x{h} pixels, above the limit of "
                             f"{MAX_IMAGE_PIXELS // 1_000_000} megapixels or {MAX_IMAGE_SIDE} pixels a "
                             "side; scale it down (a driving video needs about 512-1080 pixels)")
        self.info = VideoInfo(str(p), w, h, fps if 0 < fps < 1000 else 25.0,
                              max(int(self._cap.get(cv2.CAP_PROP_FRAME_COUNT)), 0), rotation)
        if self.info.frame_count <= 1 and _is_still_image(p):
            self.close()
            raise MediaError(f"{p.name} is a still image, not a video; give a driving video "
                             "(mp4, mov, webm, ...)")

    def __enter__(self) -> VideoReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._cap is not None:
            self._cap.release()
            self._cap = None

    def frames(self, start: int = 0, stop: int | None = None) -> Iterator[tuple[int, float, np.ndarray]]:
        """Yield (index, timestamp_ms, rgb) for decoded frames start <= index < stop.

        OpenCV stops at the first packet it cannot decode; when that happens before the end the
        container declares (or before ``stop``), decoding goes on through an ffmpeg pipe, which
        skips damaged packets, and frames are numbered by their timestamps. Frames that neither
        decoder can read are simply absent from the yielded indices; the caller sees the gap
        (capture marks those frames untracked and says how many are missing).
        """
        import cv2

        if self._cap is None:
            raise MediaError("reader is closed")
        if start > 0:
            self._cap.set(cv2.CAP_PROP_POS_FRAMES, start)
        index = start
        last_ts = -1.0
        self.used_fallback = False
        while stop is None or index < stop:
            ok, bgr = self._cap.read()
            if not ok or bgr is None:
                break
            ts = float(self._cap.get(cv2.CAP_PROP_POS_MSEC))
            if not np.isfinite(ts) or ts <= last_ts:
                ts = last_ts + 1000.0 / self.info.fps if last_ts >= 0 else index * 1000.0 / self.info.fps
            last_ts = ts
            if bgr.ndim != 3 or bgr.shape[2] != 3 or bgr.dtype != np.uint8:
                raise MediaError(f"{self.path.name}: unsupported pixel format {bgr.dtype} {bgr.shape}")
            yield index, ts, cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
            index += 1
        end = stop if stop is not None else self.info.frame_count
        if index >= end:
            return
        exe = ffmpeg_exe()
        if exe is None:
            return
        self.used_fallback = True
        for k, ts, rgb in _ffmpeg_frames(exe, self.path, self.info):
            if k < index:
                continue  # already delivered by OpenCV (or a duplicate timestamp)
            if stop is not None and k >= stop:
                break
            index = k + 1
            yield k, ts, rgb


def _ffmpeg_frames(exe: str, path: Path, info: VideoInfo) -> Iterator[tuple[int, float, np.ndarray]]:
    """Decode through ffmpeg (which skips damaged packets); yield (index by timestamp, ms, rgb)."""
    import queue
    import re
    import threading

    w, h = info.width, info.height
    cmd = [exe, "-nostdin", "-hide_banner", "-loglevel", "info", "-err_detect", "ignore_err",
           "-i", str(path), "-map", "0:v:0", "-an", "-sn", "-fps_mode", "passthrough",
           "-vf", f"showinfo,scale={w}:{h}", "-f", "rawvideo", "-pix_fmt", "rgb24", "-"]
    try:
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE)
    except OSError:
        return
    times: queue.Queue[float | None] = queue.Queue()
    pattern = re.compile(rb"\bn:\s*\d+.*?\bpts_time:\s*(-?[0-9.]+(?:e-?\d+)?)")

    def read_times() -> None:
        assert proc.stderr is not None
        try:
            for line in proc.stderr:
                m = pattern.search(line)
                if m:
                    times.put(float(m.group(1)))
        except (OSError, ValueError):  # the pipe closed under us (the reader stopped early): done
            pass
        finally:
            times.put(None)

    reader = threading.Thread(target=read_times, daemon=True)
    reader.start()
    size = w * h * 3
    first: float | None = None
    last = -1
    try:
        assert proc.stdout is not None
        while True:
            buf = proc.stdout.read(size)
            if len(buf) < size:
                break
            try:
                t = times.get(timeout=30)
            except queue.Empty:
                break
            if t is None:
                break
            first = t if first is None else first
            k = int(round((t - first) * info.fps))
            if k <= last:
                continue
            last = k
            yield k, (t - first) * 1000.0, np.frombuffer(buf, np.uint8).reshape(h, w, 3).copy()
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        # ffmpeg is gone, so its stderr ends and the thread stops; closing the pipe before that
        # would raise inside the thread (printed as a thread traceback)
        reader.join(timeout=5)
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()


def _is_still_image(p: Path) -> bool:
    """True for a single-picture image file (OpenCV opens those as one-frame "videos")."""
    try:
        from PIL import Image

        with Image.open(p) as im:
            return int(getattr(im, "n_frames", 1) or 1) <= 1
    except Exception:  # noqa: BLE001 - not something Pillow knows: not a still image
        return False


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


def _ffmpeg_failure(err: str, path: Path) -> str:
    """One sentence for an ffmpeg failure writing ``path`` (disk full and permissions named)."""
    import errno

    low = err.lower()
    if "no space left" in low:
        return describe_os_error(OSError(errno.ENOSPC, "No space left on device"), path)
    if "permission denied" in low:
        return describe_os_error(OSError(errno.EACCES, "Permission denied"), path)
    last = err.strip().splitlines()[-1] if err.strip() else "unknown error"
    return f"ffmpeg failed writing {path}: {last}"


class Mp4Writer:
    """Stream RGB frames into an H.264 .mp4 (yuv420p, plays everywhere) through ffmpeg;
    falls back to OpenCV's mp4v encoder when no ffmpeg is available. Writes to an exclusive
    temporary (``.<name>.<random>.tmp.mp4``, engine.outputs: never a user's file) and moves it
    into place on close, so a cancelled or failed write leaves nothing behind."""

    def __init__(self, path: str | os.PathLike[str], fps: float, size: tuple[int, int], crf: int = 18,
                 overwrite: bool = True):
        self.path = Path(path)
        self.overwrite = overwrite
        self.size = size  # (width, height)
        self._proc: subprocess.Popen[bytes] | None = None
        self._cv = None
        self._closed = False
        exe = ffmpeg_exe()
        w, h = size
        self._tmp = new_temporary(self.path)  # keeps the .mp4 suffix: ffmpeg picks the container
        try:
            if exe:
                # yuv420p needs even dimensions; pad by one pixel where needed. -y: the temporary
                # exists (created exclusively, empty); it is ours.
                cmd = [exe, "-y", "-nostdin", "-loglevel", "error", "-f", "rawvideo", "-pix_fmt", "rgb24",
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
        except OSError as exc:
            discard_temporary(self._tmp)
            raise OutputError(describe_os_error(exc, self.path)) from exc
        except BaseException:
            discard_temporary(self._tmp)
            raise

    def _stderr(self) -> str:
        proc = self._proc
        return proc.stderr.read().decode(errors="replace") if proc is not None and proc.stderr else ""

    def write(self, rgb: np.ndarray) -> None:
        if rgb.shape[1] != self.size[0] or rgb.shape[0] != self.size[1]:
            raise ValueError(f"frame size {rgb.shape[1]}x{rgb.shape[0]} != {self.size}")
        if self._proc is not None:
            assert self._proc.stdin is not None
            try:
                self._proc.stdin.write(np.ascontiguousarray(rgb, dtype=np.uint8).tobytes())
            except (BrokenPipeError, OSError) as exc:
                self._proc.wait()
                raise MediaError(_ffmpeg_failure(self._stderr(), self.path)) from exc
        else:
            import cv2

            self._cv.write(cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))

    def close(self, keep: bool = True) -> None:
        """Finish the file; ``keep=False`` discards it (cancel). Never leaves the temporary.
        A second call does nothing."""
        if self._closed:
            return
        self._closed = True
        try:
            if self._proc is not None:
                proc, self._proc = self._proc, None
                assert proc.stdin is not None
                try:
                    proc.stdin.close()
                except OSError:
                    pass  # ffmpeg already gone: its status and message tell why
                if not keep:
                    proc.kill()
                rc = proc.wait()
                err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
                if rc != 0 and keep:
                    raise MediaError(_ffmpeg_failure(err, self.path))
            elif self._cv is not None:
                self._cv.release()
                self._cv = None
            if keep:
                if self._tmp.stat().st_size == 0:
                    raise MediaError(f"the encoder wrote nothing for {self.path}")
                commit_temporary(self._tmp, self.path, overwrite=self.overwrite)
        finally:
            discard_temporary(self._tmp)

    def __enter__(self) -> Mp4Writer:
        return self

    def __exit__(self, exc_type: object, *rest: object) -> None:
        self.close(keep=exc_type is None)
