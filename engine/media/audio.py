"""Sound in: probe a file's audio track and stream it as mono float PCM at a fixed rate.

Decoding goes through the ffmpeg binary that imageio-ffmpeg bundles (the same one that writes
.mp4), so every format ffmpeg reads works -- wav (any bit depth), mp3, m4a/aac, flac, ogg, the
audio track of a video -- on every platform, without a Python audio library. ffmpeg downmixes
(5.1 -> mono included) and resamples (8 kHz telephone audio up, 96 kHz down) to one rate; we read
its output in fixed-size blocks so memory stays flat in clip length.
"""

from __future__ import annotations

import os
import re
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .video import MediaError, ffmpeg_exe

# Suffixes that are audio-only containers: `capture` picks audio capture for these on its own.
AUDIO_SUFFIXES = frozenset({".wav", ".wave", ".mp3", ".m4a", ".aac", ".flac", ".ogg", ".oga",
                            ".opus", ".wma", ".aif", ".aiff", ".aifc", ".caf", ".ac3", ".amr"})


@dataclass
class AudioInfo:
    path: str
    sample_rate: int  # of the file's first audio stream (0 if ffmpeg did not say)
    channels: int
    codec: str
    duration: float | None  # seconds, as the container declares (None if unknown)
    has_video: bool  # a real video stream (not an embedded cover picture)
    # Seconds the file's header promises, to tell a truncated file from a short one: a WAV's
    # data chunk size (ffmpeg sizes a cut WAV by what is left), else the container's duration;
    # None when only estimated (an mp3 without a frame index) or unknown.
    declared: float | None = None


def _exe() -> str:
    exe = ffmpeg_exe()
    if not exe:
        raise MediaError("no ffmpeg found to decode audio; reinstall the extension (it bundles one)")
    return exe


_CHANNELS = {"mono": 1, "stereo": 2, "2.1": 3, "quad": 4, "4.0": 4, "5.0": 5, "5.1": 6,
             "5.1(side)": 6, "6.1": 7, "7.1": 8, "7.1(wide)": 8}


def probe_audio(path: str | os.PathLike[str]) -> AudioInfo:
    """What ffmpeg sees in ``path``; raises ``MediaError`` for a missing, unreadable or corrupt
    file and for one without an audio track."""
    p = Path(path)
    if not p.is_file():
        raise MediaError(f"audio file not found: {p}")
    if p.stat().st_size == 0:
        raise MediaError(f"{p.name} is empty; pick a file with sound")
    try:
        res = subprocess.run([_exe(), "-hide_banner", "-nostdin", "-i", str(p)],
                             stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                             stderr=subprocess.PIPE, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise MediaError(f"cannot run ffmpeg on {p.name}: {exc}") from exc
    text = res.stderr.decode("utf-8", errors="replace")
    streams = [ln for ln in text.splitlines() if re.match(r"\s*Stream #", ln)]
    if not streams:
        reason = text.strip().splitlines()[-1] if text.strip() else "no streams"
        raise MediaError(f"cannot read {p.name}: it is corrupt or not a media file ({reason.strip()})")
    audio = [ln for ln in streams if ": Audio:" in ln]
    has_video = any(": Video:" in ln and "attached pic" not in ln for ln in streams)
    if not audio:
        raise MediaError(f"{p.name} has no audio track; pick a file with sound (or capture its "
                         "face as video)")
    line = audio[0].split(": Audio:", 1)[1]
    parts = [s.strip() for s in line.split(",")]
    codec = parts[0].split()[0] if parts and parts[0] else "?"
    rate = next((int(m.group(1)) for s in parts if (m := re.fullmatch(r"(\d+) Hz", s))), 0)
    channels = 0
    for s in parts[2:4]:
        m = re.fullmatch(r"(\d+) channels?", s)
        if m:
            channels = int(m.group(1))
        elif s.split("(")[0] in _CHANNELS or s in _CHANNELS:
            channels = _CHANNELS.get(s, _CHANNELS.get(s.split("(")[0], 0))
        if channels:
            break
    m = re.search(r"Duration: (\d+):(\d+):(\d+(?:\.\d+)?)", text)
    duration = int(m.group(1)) * 3600 + int(m.group(2)) * 60 + float(m.group(3)) if m else None
    declared = wav_declared_seconds(p)
    if declared is None and "Estimating duration from bitrate" not in text:
        declared = duration
    return AudioInfo(str(p), rate, channels, codec, duration, has_video, declared)


def wav_declared_seconds(path: str | os.PathLike[str]) -> float | None:
    """Seconds of sound a RIFF/WAVE header says its data chunk holds; None for other files and
    for streamed WAVs that leave the size open (0 or 0xFFFFFFFF). Reads only the chunk headers."""
    import struct

    try:
        with open(path, "rb") as fh:
            head = fh.read(12)
            if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
                return None
            byte_rate = 0
            for _ in range(64):  # fmt and data come first in practice; a few others may precede
                chunk = fh.read(8)
                if len(chunk) < 8:
                    return None
                cid, size = chunk[:4], struct.unpack("<I", chunk[4:])[0]
                if cid == b"fmt ":
                    fmt = fh.read(min(size, 64))
                    if len(fmt) < 12:
                        return None
                    byte_rate = struct.unpack("<I", fmt[8:12])[0]
                    fh.seek(size - len(fmt) + (size & 1), os.SEEK_CUR)
                elif cid == b"data":
                    if not byte_rate or size in (0, 0xFFFFFFFF):
                        return None
                    return size / byte_rate
                else:
                    fh.seek(size + (size & 1), os.SEEK_CUR)
    except OSError:
        return None
    return None


def read_pcm(path: str | os.PathLike[str], rate: int, *, start: float = 0.0,
             duration: float | None = None, block: int = 1 << 15) -> Iterator[np.ndarray]:
    """Yield the first audio track of ``path`` from ``start`` seconds (for ``duration`` seconds,
    or to the end) as mono float32 blocks of up to ``block`` samples at ``rate`` Hz.

    Raises ``MediaError`` when ffmpeg fails (corrupt data) before any sound was decoded; a file
    whose tail is damaged yields what could be decoded. Closing the generator stops ffmpeg.
    """
    p = Path(path)
    cmd = [_exe(), "-hide_banner", "-nostdin", "-v", "error"]
    if start > 0:
        cmd += ["-ss", f"{start:.6f}"]  # input seeking: decodes and drops what comes before
    cmd += ["-i", str(p)]
    if duration is not None:
        cmd += ["-t", f"{max(duration, 0.0):.6f}"]
    cmd += ["-map", "0:a:0", "-vn", "-sn", "-dn", "-ac", "1", "-ar", str(int(rate)),
            "-c:a", "pcm_f32le", "-f", "f32le", "pipe:1"]
    # stderr to a file, not a pipe: a stream of decoder warnings must not fill a pipe and stall us.
    with tempfile.TemporaryFile() as err:
        try:
            proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=err)
        except OSError as exc:
            raise MediaError(f"cannot run ffmpeg on {p.name}: {exc}") from exc
        got = 0
        try:
            assert proc.stdout is not None
            pending = b""
            while True:
                chunk = proc.stdout.read(block * 4 - len(pending))
                if not chunk:
                    break
                pending += chunk
                usable = len(pending) - len(pending) % 4
                if usable < block * 4:
                    continue
                out = np.frombuffer(pending[:usable], dtype="<f4").astype(np.float32)
                pending = pending[usable:]
                got += out.size
                yield out
            usable = len(pending) - len(pending) % 4
            if usable:
                got += usable // 4
                yield np.frombuffer(pending[:usable], dtype="<f4").astype(np.float32)
            rc = proc.wait()
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            if proc.stdout is not None:
                proc.stdout.close()
        if rc != 0 and got == 0:
            lines = [ln for ln in _log_tail(err).splitlines() if ln.strip()]
            reason = lines[-1].strip() if lines else f"ffmpeg exit status {rc}"
            raise MediaError(f"cannot decode the audio of {p.name}: it is corrupt or unsupported "
                             f"({reason})")


def _log_tail(log) -> str:  # noqa: ANN001 - a binary file object
    """The end of an ffmpeg log file (engine/limits.py: a damaged file can make it huge)."""
    from ..limits import MAX_LOG_TAIL_BYTES

    size = log.seek(0, os.SEEK_END)
    log.seek(max(0, size - MAX_LOG_TAIL_BYTES))
    return log.read(MAX_LOG_TAIL_BYTES).decode("utf-8", errors="replace")


def mux_audio(video: str | os.PathLike[str], audio: str | os.PathLike[str], start: float = 0.0) -> None:
    """Give the .mp4 ``video`` the first audio track of ``audio`` from ``start`` seconds as its
    sound (AAC; the picture is copied, not re-encoded), in place and atomically."""
    from ..outputs import atomic_output

    v = Path(video)
    with atomic_output(v) as tmp:
        cmd = [_exe(), "-hide_banner", "-nostdin", "-v", "error", "-y", "-i", str(v)]
        if start > 0:
            cmd += ["-ss", f"{start:.6f}"]
        cmd += ["-i", str(audio), "-map", "0:v:0", "-map", "1:a:0", "-c:v", "copy", "-c:a", "aac",
                "-b:a", "160k", "-shortest", "-movflags", "+faststart", str(tmp)]
        res = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                             stderr=subprocess.PIPE)
        if res.returncode != 0:
            reason = res.stderr.decode("utf-8", errors="replace").strip().splitlines()
            raise MediaError(f"cannot add the sound to {v.name}: {reason[-1] if reason else 'ffmpeg failed'}")
