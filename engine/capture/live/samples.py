"""What every live source hands on: time-stamped samples, the newest one for preview and all of
them for a recording.

A sample is stamped on arrival (packets) or at capture (camera frames) with ``time.monotonic()``
and carries the capture's raw measures (expression.RAW_NAMES), so a recording is keyed by time
and mapped to controls by the same ``controls_from_raw`` as a video file.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from dataclasses import dataclass, field

import numpy as np

from ...errors import EngineError

MAX_TAKE_SAMPLES = 200_000  # ~55 min at 60 Hz: a stuck stop must not fill the memory


class LiveError(EngineError):
    """A live source could not start or broke off; the message says what to do."""


@dataclass
class Sample:
    t: float  # time.monotonic() seconds at arrival / capture
    raw: np.ndarray | None  # RAW_NAMES row, None where no face was seen
    blendshapes: np.ndarray  # (52,) float32 in the source's blendshape_names order
    t_done: float = 0.0  # when the sample was ready (decoded / tracked): latency = t_done - t


@dataclass
class SampleBuffer:
    """Thread-safe: the worker appends, the main thread drains the newest or takes them all."""

    names: list[str] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _samples: list[Sample] = field(default_factory=list)
    _newest: Sample | None = None
    _fresh: bool = False
    dropped: Counter = field(default_factory=Counter)
    received: int = 0
    first: threading.Event = field(default_factory=threading.Event)
    _arrived: threading.Condition = field(default_factory=threading.Condition)

    def add(self, sample: Sample) -> None:
        sample.t_done = sample.t_done or time.monotonic()
        with self._lock:
            self.received += 1
            if len(self._samples) < MAX_TAKE_SAMPLES:
                self._samples.append(sample)
            else:
                self.dropped["take full"] += 1
            self._newest, self._fresh = sample, True
        self.first.set()
        with self._arrived:
            self._arrived.notify_all()

    def drop(self, reason: str) -> None:
        with self._lock:
            self.dropped[reason] += 1

    def newest(self) -> Sample | None:
        """The latest sample once (None when nothing new arrived since the last call): a preview
        timer calls this every tick and never waits."""
        with self._lock:
            if not self._fresh:
                return None
            self._fresh = False
            return self._newest

    def wait_newest(self, timeout: float) -> Sample | None:
        """Like ``newest``, but a worker (the live preview) may wait up to ``timeout`` seconds
        for one; never called on Blender's main thread."""
        # Checked under the condition: a sample added between a check outside it and the wait
        # would notify nobody, and the worker would sleep the whole timeout with a frame waiting.
        with self._arrived:
            sample = self.newest()
            if sample is None:
                self._arrived.wait(timeout)
        return sample if sample is not None else self.newest()

    def last_time(self) -> float | None:
        """Arrival time of the newest sample (a stream that went silent shows here)."""
        with self._lock:
            return None if self._newest is None else self._newest.t

    def take(self) -> list[Sample]:
        with self._lock:
            return list(self._samples)

    def dropped_total(self) -> int:
        with self._lock:
            return sum(self.dropped.values())
