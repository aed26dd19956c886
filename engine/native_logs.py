"""Native libraries' own log lines kept off the user's terminal.

MediaPipe's C++ core logs through absl to file descriptor 2 ("WARNING: All log messages before
absl::InitializeLog()...", "W0000 ... Feedback manager requires...", "INFO: Created TensorFlow Lite
XNNPACK delegate") and offers no switch for it: neither GLOG_minloglevel nor TF_CPP_MIN_LOG_LEVEL
reach it, and its C API has no log call. So the calls that log (creating a landmarker, its first
detections, closing it) run inside ``quiet()``, which points fd 2 at a temporary file and, when the
call returns, writes back every line that is not one of those native log lines: nothing anyone else
wrote in that moment (Blender, Python, another thread) is lost, only delayed. With ``--debug`` (or
$TALKING_HEAD_DEBUG) nothing is filtered.
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
import tempfile
import threading
from collections.abc import Iterator

# absl/glog prefix "W0000 00:00:1796161554.115689   15072 file.cc:174] ", and TFLite's own INFO lines.
_NATIVE_LINE = re.compile(
    rb"^(?:[IWEF]\d{4} [\d:.]+\s+\d+ [\w./+-]+:\d+\] "
    rb"|INFO: Created TensorFlow Lite"
    rb"|INFO: Initialized TensorFlow Lite"
    rb"|WARNING: All log messages before absl::InitializeLog\(\) is called"
    rb"|WARNING: Logging before InitGoogle\(\) is written to STDERR)"
)
_MAX_REPLAY = 1 << 20  # what others wrote during one call: replayed up to 1 MB

_lock = threading.RLock()
_depth = 0
DEBUG_ENV = bool(os.environ.get("TALKING_HEAD_DEBUG"))
_show = DEBUG_ENV


def show(enabled: bool) -> None:
    """Let native log lines through (the CLI's --debug)."""
    global _show
    _show = enabled


def is_native_log_line(line: bytes) -> bool:
    return _NATIVE_LINE.match(line) is not None


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """Run the block with native log lines on fd 2 dropped (see the module docstring). Nested and
    concurrent uses share one redirection."""
    global _depth
    if _show:
        yield
        return
    with _lock:
        _depth += 1
        if _depth > 1:
            try:
                yield
            finally:
                _depth -= 1
            return
        try:
            _flush()
            saved = os.dup(2)
        except OSError:  # no fd 2 to redirect (a detached process): nothing reaches a terminal anyway
            _depth -= 1
            yield
            return
        tmp = tempfile.TemporaryFile()
        try:
            os.dup2(tmp.fileno(), 2)
            try:
                yield
            finally:
                _flush()
                os.dup2(saved, 2)
                tmp.seek(0)
                kept = [line for line in tmp.read(_MAX_REPLAY).splitlines(keepends=True)
                        if not is_native_log_line(line)]
                if kept:
                    os.write(2, b"".join(kept))
        finally:
            os.close(saved)
            tmp.close()
            _depth -= 1


def _flush() -> None:
    """Python's and the C library's buffered stderr output, written out now (native code writes
    through C stdio, which holds output back when stderr is not a terminal)."""
    with contextlib.suppress(Exception):
        sys.stderr.flush()
    with contextlib.suppress(Exception):
        _libc().fflush(None)


_LIBC = None


def _libc():  # noqa: ANN202 - a ctypes library handle
    global _LIBC
    if _LIBC is None:
        import ctypes
        import ctypes.util

        _LIBC = ctypes.CDLL(ctypes.util.find_library("c") if os.name != "nt" else "msvcrt")
    return _LIBC
