"""A webcam (device index) or network stream (URL) -> tracked faces -> samples.

Two worker threads: a reader that pulls frames as fast as the source delivers them and keeps
only the newest (stamped with time.monotonic() when it arrives), and a tracker that runs the
FaceTracker in VIDEO mode on whatever is newest. When tracking is slower than the camera, frames
are skipped, never queued: latency stays one frame, and the recording, keyed by time, is not
shifted. The main thread only drains the newest sample.
"""

from __future__ import annotations

import sys
import threading
import time
import urllib.parse

import numpy as np

from ...face_tracker import FaceTracker, pick_main_face
from ...net_policy import CONSENT_HINT, is_loopback
from ...safe_text import printable
from ..expression import raw_measures
from .samples import LiveError, Sample, SampleBuffer

STREAM_SCHEMES = ("rtsp", "rtsps", "rtmp", "http", "https", "udp", "rtp", "tcp", "srt")
MAX_FAILED_READS = 30  # a camera: this many failed reads in a row = it is gone
READ_TIMEOUT_S = 2.0  # a stream: no frame for this long = it stopped (one failed read ends it)
MAX_SIDE = 1280  # frames are scaled down to this before tracking (the tracker needs ~256 px faces)


def _backend(index: bool) -> int:
    import cv2

    if not index:
        return cv2.CAP_FFMPEG
    # the platform's fast camera API (OpenCV's default probing may pick a slow one)
    if sys.platform == "win32":
        return cv2.CAP_MSMF
    if sys.platform == "darwin":
        return cv2.CAP_AVFOUNDATION
    return cv2.CAP_V4L2


def check_stream_url(url: str, allow_network: bool) -> None:
    """A stream off loopback needs the user's consent, as every other connection does."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme.lower() not in STREAM_SCHEMES:
        raise LiveError(f"{printable(url, 120)}: not a stream address (use one of "
                        f"{', '.join(s + '://' for s in STREAM_SCHEMES)})")
    host = parts.hostname or ""
    if not host:
        raise LiveError(f"{printable(url, 120)} names no host; give one, e.g. udp://127.0.0.1:1234")
    if not allow_network and not is_loopback(host):
        raise LiveError(f"stream host {printable(host, 120)} is not this machine: allow network access "
                        f"to use it {CONSENT_HINT}")


def stream_url(url: str) -> str:
    """The URL handed to ffmpeg. A udp:// stream is received by binding a local port: ffmpeg
    binds every interface unless told, so the URL's own host becomes the bind address
    (``localaddr``) unless the user gave one -- listening only where asked."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme.lower() != "udp" or "localaddr=" in parts.query:
        return url
    query = (parts.query + "&" if parts.query else "") + f"localaddr={parts.hostname}"
    return urllib.parse.urlunsplit(parts._replace(query=query))


class CameraSource:
    """``source``: a camera index (int) or a stream URL. Use as a context manager."""

    def __init__(self, source: int | str, *, allow_network: bool = False, open_timeout: float = 10.0):
        if isinstance(source, str):
            check_stream_url(source, allow_network)
        self.source = source
        self.open_timeout = open_timeout
        self.buffer = SampleBuffer()
        self.error: BaseException | None = None
        self.frames_read = 0
        self.frames_tracked = 0
        self.ended = threading.Event()
        self.opened = threading.Event()
        self._stop = threading.Event()
        self._frame_lock = threading.Condition()
        self._frame: tuple[float, np.ndarray] | None = None
        self._cap = None
        self._threads: list[threading.Thread] = []
        self.size: tuple[int, int] = (0, 0)

    def describe(self) -> str:
        if isinstance(self.source, int):
            return f"camera {self.source}"
        return f"stream {printable(self.source, 120)}"

    def start(self) -> CameraSource:
        """Start the worker threads; opening the camera or stream happens on the reader thread
        (it can take seconds), so this returns at once and ``wait_first`` reports failures."""
        self._threads = [threading.Thread(target=self._guard(fn), name=f"live-camera-{fn.__name__[1:]}",
                                          daemon=True) for fn in (self._read, self._track)]
        for th in self._threads:
            th.start()
        return self

    def _open(self):  # noqa: ANN202 - a cv2.VideoCapture
        import cv2

        index = isinstance(self.source, int)
        # a stream that stalls must end a read, not hang the worker (and Ctrl-C) forever
        ms = int(self.open_timeout * 1000)
        params = [] if index else [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, ms,
                                   cv2.CAP_PROP_READ_TIMEOUT_MSEC, int(READ_TIMEOUT_S * 1000)]
        cap = cv2.VideoCapture(self.source if index else stream_url(self.source), _backend(index), params)
        if not cap.isOpened():
            cap.release()
            if index:
                hint = (" (macOS: allow camera access for the app that runs this -- Terminal or Blender -- "
                        "in System Settings > Privacy & Security > Camera)" if sys.platform == "darwin" else
                        " (is it connected, and not in use by another program?)")
                raise LiveError(f"camera {self.source} could not be opened{hint}")
            raise LiveError(f"{self.describe()} could not be opened: is it streaming, and is the "
                            "address right?")
        return cap

    def _guard(self, fn):  # noqa: ANN001, ANN202
        def run() -> None:
            try:
                fn()
            except BaseException as exc:  # noqa: BLE001 - the main thread words it
                self.error = self.error or exc
            finally:
                self.ended.set()
                with self._frame_lock:
                    self._frame_lock.notify_all()
        return run

    def _read(self) -> None:
        self._cap = self._open()
        self.opened.set()
        try:
            self._read_frames()
        finally:
            self._cap.release()  # here, never under a read in progress on this thread

    def _read_frames(self) -> None:
        failed = 0
        # a stream's failed read is its end (or READ_TIMEOUT_S of silence); a camera may hiccup
        limit = MAX_FAILED_READS if isinstance(self.source, int) else 1
        while not self._stop.is_set():
            ok, bgr = self._cap.read()
            t = time.monotonic()  # capture time of this frame (its arrival here)
            if not ok or bgr is None:
                failed += 1
                if failed >= limit:
                    return  # the source stopped: what was recorded stays
                time.sleep(0.01)
                continue
            failed = 0
            self.frames_read += 1
            with self._frame_lock:
                self._frame = (t, bgr)
                self._frame_lock.notify_all()

    def _track(self) -> None:
        import cv2

        prev = None
        with FaceTracker(video=True) as tracker:
            while True:
                with self._frame_lock:
                    while self._frame is None and not self._stop.is_set() and not self.ended.is_set():
                        self._frame_lock.wait(0.1)
                    if self._frame is None:
                        return
                    t, bgr = self._frame
                    self._frame = None
                h, w = bgr.shape[:2]
                if max(h, w) > MAX_SIDE:
                    s = MAX_SIDE / max(h, w)
                    bgr = cv2.resize(bgr, (round(w * s), round(h * s)), interpolation=cv2.INTER_AREA)
                rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
                self.size = (rgb.shape[1], rgb.shape[0])
                faces = tracker.detect(rgb, int(round(t * 1000)))
                face = pick_main_face(faces, self.size, prev)
                bs = np.zeros(52, np.float32)
                if face is None:
                    prev = None
                    self.buffer.add(Sample(t, None, bs))
                    continue
                if not self.buffer.names:
                    self.buffer.names = list(face.blendshape_names)[:52]
                bs[: min(52, face.blendshapes.size)] = face.blendshapes[:52]
                prev = face.center
                self.frames_tracked += 1
                self.buffer.add(Sample(t, raw_measures(face), bs))

    def wait_first(self, timeout: float) -> None:
        """Block until the first tracked frame: the open may take up to ``open_timeout`` first,
        then ``timeout`` seconds for a frame; LiveError (or the worker's error) otherwise."""
        opening = time.monotonic() + self.open_timeout + 1.0
        deadline = None
        while not self.buffer.first.wait(0.05):
            if self.error is not None:
                raise self.error
            now = time.monotonic()
            if deadline is None and self.opened.is_set():
                deadline = now + timeout
            if self.ended.is_set() or (deadline is not None and now > deadline) or now > opening:
                if self.error is not None:
                    raise self.error
                raise LiveError(f"no frames from {self.describe()} after {timeout:g} s")

    def stop(self) -> None:
        self._stop.set()
        with self._frame_lock:
            self._frame_lock.notify_all()
        for th in self._threads:
            th.join(timeout=self.open_timeout + 5)

    def __enter__(self) -> CameraSource:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
