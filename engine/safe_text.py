"""Text from data (server replies, file names, motion files) made safe to print: control
characters (ESC/OSC sequences, carriage returns, NUL) are shown escaped, so data can never move
the cursor, clear the screen or fake a line of ours."""

from __future__ import annotations

import re

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def printable(text: object, limit: int = 300) -> str:
    """``text`` as one safe line: control characters as \\xNN escapes, newlines as \\n, cut to
    ``limit`` characters."""
    s = str(text).replace("\n", "\\n")
    s = _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", s)
    return s if len(s) <= limit else s[: limit - 1] + "…"
