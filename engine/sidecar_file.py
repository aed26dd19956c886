"""A set of arrays kept beside a motion file in its own versioned .npz (the actor's mouth
exemplars, the crease details): one way to write it and one way to read it back, so every such
file gets the same checks (sha256 named by the motion, size caps, exact member names, version;
engine/npz_reader.load_versioned) and is never a pickle."""

from __future__ import annotations

import os
from pathlib import Path
from typing import ClassVar

import numpy as np

from .file_hash import file_sha256


class SidecarArrays:
    """Mixin for a dataclass of arrays: ``FIELDS`` (the arrays, in file order), ``VERSION``,
    ``WHAT`` ("mouth exemplar file"), ``ERROR`` (its exception) and ``MAX_BYTES`` (the cap on
    what the file may declare). The dataclass's own ``__post_init__`` checks the values."""

    FIELDS: ClassVar[tuple[str, ...]]
    VERSION: ClassVar[int]
    WHAT: ClassVar[str]
    ERROR: ClassVar[type[Exception]]
    MAX_BYTES: ClassVar[int]

    def save(self, path: str | os.PathLike[str], *, overwrite: bool = True) -> str:
        """Write the .npz atomically; returns its sha256 (the motion JSON records it)."""
        from .outputs import atomic_output

        path = Path(path)
        with atomic_output(path, overwrite=overwrite) as tmp, open(tmp, "wb") as fh:
            np.savez_compressed(fh, format_version=np.array([self.VERSION], np.int64),
                                **{name: getattr(self, name) for name in self.FIELDS})
        return file_sha256(path)

    @classmethod
    def load(cls, path: str | os.PathLike[str], sha256: str | None = None):  # noqa: ANN206 - cls
        """Read and check a file written by ``save``; ``ERROR`` says what is wrong."""
        from .npz_reader import load_versioned

        path = Path(path)
        arrays = load_versioned(path, what=cls.WHAT, names=cls.FIELDS, version=cls.VERSION,
                                error=cls.ERROR, sha256=sha256, max_bytes=cls.MAX_BYTES)
        try:
            return cls(**arrays)
        except cls.ERROR as exc:
            raise cls.ERROR(f"{path.name}: {exc}") from None
