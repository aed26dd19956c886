"""Progress reporting and cancellation shared by every long engine job.

The engine never prints progress itself: callers pass a `Progress` whose callback drives a CLI
bar, Blender's status bar, or nothing. Cancelling (ESC in Blender, Ctrl-C on the CLI) sets the
event; the job raises `Cancelled` at its next check and cleans up what it had started.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TextIO


class Cancelled(Exception):
    """The user cancelled the job; whatever it had written is removed or left consistent."""


ProgressCallback = Callable[[int, int, str], None]


@dataclass
class Progress:
    callback: ProgressCallback | None = None
    cancel_event: threading.Event = field(default_factory=threading.Event)

    def update(self, done: int, total: int, message: str = "") -> None:
        if self.callback is not None:
            self.callback(done, total, message)
        self.check()

    def check(self) -> None:
        if self.cancel_event.is_set():
            raise Cancelled("cancelled")

    def cancel(self) -> None:
        self.cancel_event.set()

    @property
    def cancelled(self) -> bool:
        return self.cancel_event.is_set()


def console_bar(label: str, stream: TextIO | None = None) -> ProgressCallback:
    """A compact text progress bar (redrawn in place on a terminal, one line per 10% otherwise)."""
    out = stream or sys.stderr
    tty = hasattr(out, "isatty") and out.isatty()
    start = time.monotonic()
    last = [-1]

    def callback(done: int, total: int, message: str = "") -> None:
        total = max(total, 1)
        frac = min(max(done / total, 0.0), 1.0)
        elapsed = time.monotonic() - start
        rate = done / elapsed if elapsed > 0 else 0.0
        bar = "#" * int(frac * 30)
        line = f"{label} [{bar:<30}] {done}/{total} {rate:5.1f}/s {message}"
        if tty:
            out.write("\r" + line[:120])
            if done >= total:
                out.write("\n")
        else:
            step = int(frac * 10)
            if step != last[0] or done >= total:
                last[0] = step
                out.write(line + "\n")
        out.flush()

    return callback
