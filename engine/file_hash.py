"""The sha256 of a file, read in 1 MB blocks (never whole in memory): what a motion records of
its source video/audio and of the sidecars it names, and checks when it loads them."""

from __future__ import annotations

import hashlib
import os


def file_sha256(path: str | os.PathLike[str]) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()
