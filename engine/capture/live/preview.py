"""The live preview: a source's newest sample -> controls -> the built-in renderer's frame, on a
worker thread, stamped at every stage.

Blender's timer must never wait for tracking or rendering: this worker takes whatever sample is
newest (older ones are skipped, never queued), maps it to the 16 controls, renders the portrait
at a preview size and leaves the result in a one-slot hand-off the main thread drains with
``newest()``. The pixels are already in Blender's layout (RGBA float32, bottom row first), so the
main thread only copies them into an Image. Each frame carries its stage times (capture, tracked,
picked up by this worker, controls, rendered; the main thread adds the hand-off) for the latency
breakdown.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

import numpy as np

from ... import blas_threads
from .recorder import LiveControls
from .samples import Sample, SampleBuffer

WAIT_S = 0.05  # the worker checks for stop this often while no sample arrives
#: numpy's OpenBLAS threads while a preview runs (blas_threads.py: on the cores the tracker keeps
#: busy a second BLAS thread only waits; restored when the preview stops)
BLAS_THREADS = 1


@dataclass
class PreviewFrame:
    sample: Sample
    controls: dict[str, float] | None  # None: no face in this sample
    rgba: np.ndarray | None  # (h, w, 4) float32, bottom row first; None without a portrait
    stamps: dict[str, float] = field(default_factory=dict)  # stage -> time.monotonic()


def fit_size(shape: tuple[int, ...], size: int) -> tuple[int, int]:
    """(w, h) of an image scaled so its longer side is ``size`` (never enlarged)."""
    h, w = shape[:2]
    s = min(1.0, size / max(h, w))
    return max(1, round(w * s)), max(1, round(h * s))


#: byte -> Blender float (value / 255 in float32, as ``rgb * (1 / 255)`` rounds it): one table
#: look-up per channel instead of a float multiply over a strided view (4-5 ms -> ~0.8 ms at 512²)
BYTE_TO_FLOAT = (np.arange(256) * (1.0 / 255.0)).astype(np.float32)


def to_blender_rgba(rgb: np.ndarray) -> np.ndarray:
    """RGB uint8 (top row first) -> RGBA float32 0..1, bottom row first (Image.pixels order).
    The flip and the alpha byte (255 -> exactly 1.0) are done on bytes by OpenCV, then one
    cv2.LUT turns the bytes into floats: the same values as ``rgb[::-1] / 255`` in float32."""
    import cv2

    rgba = cv2.cvtColor(cv2.flip(np.ascontiguousarray(rgb), 0), cv2.COLOR_RGB2RGBA)
    return cv2.LUT(rgba, BYTE_TO_FLOAT)


class LivePreview:
    """``buffer``: the source's SampleBuffer. ``portrait``: RGB uint8, an image file's path (read
    on the worker) or None (drive a character only). ``options``: the built-in renderer's (rest,
    face). Use as a context manager, or start()/stop(); ``error`` holds what stopped the worker
    (the main thread words it)."""

    def __init__(self, buffer: SampleBuffer, portrait: np.ndarray | str | None, *, size: int = 512,
                 device: str = "cpu", **options: object):
        self.buffer = buffer
        self.portrait = portrait
        self.size = int(size)
        self.device = device
        self.options = options
        self.error: BaseException | None = None
        self.ready = threading.Event()  # the portrait is fitted (face found), frames can come
        self.rendered = 0
        self.skipped = 0  # newer frames replaced one the main thread had not taken yet
        self._controls: LiveControls | None = None
        self._slot: PreviewFrame | None = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> LivePreview:
        self._thread = threading.Thread(target=self._run, name="live-preview", daemon=True)
        self._thread.start()
        return self

    def _renderer(self):  # noqa: ANN202 - a BuiltinRenderer, or None without a portrait
        if self.portrait is None:
            return None
        import cv2

        from ...render.base import create_renderer

        if isinstance(self.portrait, str):  # a file: read here, not on Blender's main thread
            from ...media.images import check_image, load_image

            check_image(self.portrait)
            self.portrait = load_image(self.portrait)

        w, h = fit_size(self.portrait.shape, self.size)
        small = self.portrait if (w, h) == self.portrait.shape[1::-1] else \
            cv2.resize(self.portrait, (w, h), interpolation=cv2.INTER_AREA)
        renderer = create_renderer("builtin", device=self.device, **self.options)
        renderer.prepare(np.ascontiguousarray(small))  # finds the face: seconds, here not in the UI
        return renderer

    def _run(self) -> None:
        blas_before = blas_threads.limit(BLAS_THREADS)
        try:
            renderer = self._renderer()
            self.ready.set()
            while not self._stop.is_set():
                sample = self.buffer.wait_newest(WAIT_S)
                if sample is None:
                    continue
                self._hand_off(self._frame(sample, renderer))
        except BaseException as exc:  # noqa: BLE001 - handed to the main thread, which words it
            self.error = exc
        finally:
            if blas_before is not None:
                blas_threads.limit(blas_before)
            self.ready.set()

    def _frame(self, sample: Sample, renderer) -> PreviewFrame:  # noqa: ANN001
        if self._controls is None:  # a camera's blendshape names are known from its first face
            self._controls = LiveControls(self.buffer.names)
        stamps = {"capture": sample.t, "tracked": sample.t_done, "picked": time.monotonic()}
        controls = self._controls.controls(sample)
        stamps["controls"] = time.monotonic()
        rgba = None
        if renderer is not None and controls is not None:
            rgba = to_blender_rgba(renderer.render_frame(controls))
            self.rendered += 1
        stamps["rendered"] = time.monotonic()
        return PreviewFrame(sample, controls, rgba, stamps)

    def _hand_off(self, frame: PreviewFrame) -> None:
        with self._lock:
            if self._slot is not None:
                self.skipped += 1
            self._slot = frame

    def newest(self) -> PreviewFrame | None:
        """The latest finished frame once (None when nothing new): the main thread's timer calls
        this every tick and never waits."""
        with self._lock:
            frame, self._slot = self._slot, None
        return frame

    def calibrate(self, sample: Sample) -> None:
        """Use ``sample`` (the actor at rest) as the neutral from now on."""
        if self._controls is None:
            self._controls = LiveControls(self.buffer.names)
        self._controls.calibrate(sample)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> LivePreview:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
