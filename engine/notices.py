"""Warnings the user must see although the work succeeded (frames missing from a damaged video,
a second face in the portrait): one logger, printed as ``warning: ...`` by the CLI and collected
into the operator's report in Blender (``collect``)."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator

LOGGER = logging.getLogger("talking_head")


def warn(message: str) -> None:
    LOGGER.warning(message)


class _ListHandler(logging.Handler):
    def __init__(self, sink: list[str]):
        super().__init__(logging.WARNING)
        self.sink = sink

    def emit(self, record: logging.LogRecord) -> None:
        self.sink.append(record.getMessage())


@contextlib.contextmanager
def collect() -> Iterator[list[str]]:
    """Collect the warnings issued inside the block (any thread) into a list."""
    sink: list[str] = []
    handler = _ListHandler(sink)
    LOGGER.addHandler(handler)
    try:
        yield sink
    finally:
        LOGGER.removeHandler(handler)


class _StderrHandler(logging.Handler):
    """Writes to whatever ``sys.stderr`` is at the time (tests capture it per test)."""

    def __init__(self, prefix: str):
        super().__init__(logging.WARNING)
        self.prefix = prefix

    def emit(self, record: logging.LogRecord) -> None:
        import sys

        from .safe_text import printable  # warnings name files and quote data

        print(f"{self.prefix}warning: {printable(record.getMessage(), limit=2000)}", file=sys.stderr)


def print_to_stderr(prefix: str = "") -> None:
    """Command-line processes: print warnings as ``warning: ...`` lines on stderr (once)."""
    if not any(isinstance(h, _StderrHandler) for h in LOGGER.handlers):
        LOGGER.addHandler(_StderrHandler(prefix))
    LOGGER.propagate = False
