"""Long engine work off Blender's main thread.

A ``Job`` runs ``work(progress)`` (plain engine code, never bpy) in a worker thread; the modal
operator polls it on a timer, shows its progress and calls ``cancel()`` on ESC. In background
mode the same job runs synchronously with progress lines on stdout. Only one job per scene at a
time: ``running(scene_name)`` tells the panels what is going on.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable
from typing import Any

from ..engine.progress import Cancelled, Progress

_RUNNING: dict[str, Job] = {}


class Job:
    def __init__(self, label: str, work: Callable[[Progress], Any], key: str = "",
                 cleanup: Callable[[], None] | None = None):
        self.label = label
        # run on the worker thread if the job is abandoned (file loaded, add-on disabled):
        # plain file cleanup only, never bpy
        self.cleanup = cleanup
        self.abandoned = False
        self.key = key
        self._work = work
        self.progress = Progress(self._on_progress)
        self.done = 0
        self.total = 0
        self.message = ""
        self.result: Any = None
        self.error: BaseException | None = None
        self.cancelled = False
        self.finished = threading.Event()
        self._thread: threading.Thread | None = None
        self._last_print = 0.0
        self.echo = False

    # progress callback (worker thread)
    def _on_progress(self, done: int, total: int, message: str = "") -> None:
        self.done, self.total, self.message = done, total, message
        if self.echo:
            now = time.monotonic()
            if now - self._last_print > 0.5 or done >= total:
                self._last_print = now
                pct = 100.0 * done / max(total, 1)
                print(f"talking_head: {self.label} {done}/{total} ({pct:.0f}%) {message}", flush=True)

    @property
    def fraction(self) -> float:
        return min(max(self.done / self.total, 0.0), 1.0) if self.total else 0.0

    def _run(self) -> None:
        try:
            self.result = self._work(self.progress)
        except Cancelled:
            self.cancelled = True
        except BaseException as exc:  # reported on the main thread
            self.error = exc
        finally:
            if self.abandoned and self.cleanup is not None:
                try:
                    self.cleanup()
                except OSError:
                    pass
            self.finished.set()

    def start(self) -> Job:
        if self.key:
            other = _RUNNING.get(self.key)
            if other is not None and not other.finished.is_set():
                raise RuntimeError(f"{other.label} is still running")
            _RUNNING[self.key] = self
        self._thread = threading.Thread(target=self._run, name=f"talking_head {self.label}", daemon=True)
        self._thread.start()
        return self

    def run_sync(self, echo: bool = True) -> Job:
        self.echo = echo
        if self.key:
            _RUNNING[self.key] = self
        try:
            self._run()
        finally:
            self.forget()
        return self

    def cancel(self) -> None:
        self.progress.cancel()

    def join(self, timeout: float | None = None) -> bool:
        return self.finished.wait(timeout)

    def forget(self) -> None:
        if self.key and _RUNNING.get(self.key) is self:
            del _RUNNING[self.key]


def running(key: str) -> Job | None:
    """The unfinished job of scene ``key``, if any."""
    job = _RUNNING.get(key)
    return job if job is not None and not job.finished.is_set() else None


def cancel_all() -> None:
    """Cancel every running job (a new file is being loaded: their operators are gone)."""
    for job in list(_RUNNING.values()):
        job.abandoned = True
        job.cancel()
    _RUNNING.clear()


def log(message: str) -> None:
    print(f"talking_head: {message}", file=sys.stdout, flush=True)
