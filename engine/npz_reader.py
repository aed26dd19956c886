"""Reading an untrusted ``.npz`` (the motion sidecar) within a size cap, never a pickle.

A .npz is a zip of .npy files. Deflate inflates ~1000:1, so a 2 MB file can hold 2 GB of zeros,
and a .npy header can claim any shape: numpy allocates the whole array from the header before it
reads a byte of data. So everything is checked on what the archive *declares* before anything is
decompressed: the member count, each member's uncompressed size in the zip directory, and each
.npy header's shape x item size, which must match that member size and fit in what is left of the
cap. Only then ``np.load(allow_pickle=False)`` reads the data (zipfile never inflates a member
past its declared size, so the check holds for the data too).
"""

from __future__ import annotations

import math
import os
import zipfile

import numpy as np

from .errors import EngineError
from .limits import MAX_NPY_HEADER_BYTES, MAX_SIDECAR_BYTES, MAX_SIDECAR_MEMBERS


class ArchiveLimitError(EngineError):
    """The archive declares more data than the cap allows (or declares it inconsistently)."""


def _mb(n: int) -> str:
    return f"{n / 1e6:,.0f} MB" if n >= 1e6 else f"{n:,} bytes"


def check_npz(path: str | os.PathLike[str], max_bytes: int = MAX_SIDECAR_BYTES,
              max_members: int = MAX_SIDECAR_MEMBERS) -> int:
    """Raise ArchiveLimitError unless the arrays of ``path`` declare at most ``max_bytes`` in all
    (and at most ``max_members`` arrays, no object arrays); returns the declared total. Reads only
    the zip directory and the .npy headers. A damaged archive raises zipfile/zlib/ValueError."""
    total = 0
    with zipfile.ZipFile(path) as zf:
        members = zf.infolist()
        if len(members) > max_members:
            raise ArchiveLimitError(f"holds {len(members)} arrays, more than the {max_members} a "
                                    "motion sidecar can have")
        declared = sum(m.file_size for m in members)
        if declared > max_bytes:
            raise ArchiveLimitError(f"would inflate to {_mb(declared)}, above the limit of "
                                    f"{_mb(max_bytes)} for a motion sidecar")
        for m in members:
            if not m.filename.endswith(".npy"):
                raise ArchiveLimitError(f"holds {m.filename[:60]!r}, which is not a .npy array")
            with zf.open(m) as fh:
                version = np.lib.format.read_magic(fh)
                if version == (1, 0):
                    shape, _fortran, dtype = np.lib.format.read_array_header_1_0(
                        fh, max_header_size=MAX_NPY_HEADER_BYTES)
                elif version in ((2, 0), (3, 0)):
                    shape, _fortran, dtype = np.lib.format.read_array_header_2_0(
                        fh, max_header_size=MAX_NPY_HEADER_BYTES)
                else:
                    raise ValueError(f"unsupported .npy version {version}")
                header_len = fh.tell()
            if dtype.hasobject:
                raise ArchiveLimitError(f"array {m.filename[:60]!r} holds Python objects (a pickle); "
                                        "a motion sidecar holds numbers only")
            nbytes = math.prod(shape) * dtype.itemsize  # Python ints: no overflow on 2^63 claims
            if nbytes != m.file_size - header_len:
                raise ArchiveLimitError(f"array {m.filename[:60]!r} claims shape {shape[:4]} "
                                        f"({_mb(nbytes)}) but holds {_mb(max(m.file_size - header_len, 0))}")
            total += nbytes
            if total > max_bytes:
                raise ArchiveLimitError(f"arrays would take {_mb(total)}, above the limit of "
                                        f"{_mb(max_bytes)} for a motion sidecar")
    return total


def load_npz(path: str | os.PathLike[str], max_bytes: int = MAX_SIDECAR_BYTES,
             max_members: int = MAX_SIDECAR_MEMBERS) -> dict[str, np.ndarray]:
    """Every array of ``path`` by name, after ``check_npz``; pickles are refused."""
    check_npz(path, max_bytes, max_members)
    with np.load(path, allow_pickle=False) as data:
        return {k: data[k] for k in data.files}


def load_versioned(path: str | os.PathLike[str], *, what: str, names: tuple[str, ...], version: int,
                   error: type[Exception], sha256: str | None = None, max_bytes: int = MAX_SIDECAR_BYTES,
                   max_members: int = 8) -> dict[str, np.ndarray]:
    """The arrays ``names`` of a versioned .npz a motion names beside it (the mouth exemplars, the
    crease details), with every check such a file needs before its arrays are trusted: present,
    the sha256 the motion recorded, the size caps above, exactly ``names`` plus
    ``format_version`` (an int64 [1] within 1..``version``). Each failure raises ``error`` with
    one sentence that starts with ``what`` ("mouth exemplar file") and the file's name."""
    from pathlib import Path

    from .file_hash import file_sha256

    path = Path(path)
    if not path.is_file():
        raise error(f"{what} {path.name} is missing")
    if sha256 is not None and file_sha256(path) != sha256:
        raise error(f"{what} {path.name} does not match the motion that names it "
                    "(sha256 differs): it was replaced or damaged")
    try:
        arrays = load_npz(path, max_bytes=max_bytes, max_members=max_members)
    except ArchiveLimitError as exc:
        raise error(f"{what} {path.name} {exc}") from None
    except Exception as exc:  # noqa: BLE001 - zipfile.BadZipFile, zlib.error, ValueError, OSError
        raise error(f"{what} {path.name} is unreadable ({type(exc).__name__}: {exc})") from None
    expected = {"format_version", *names}
    if set(arrays) != expected:
        raise error(f"{what} {path.name} holds {sorted(arrays)[:8]}, expected {sorted(expected)}")
    ver = arrays.pop("format_version")
    if ver.shape != (1,) or ver.dtype != np.int64 or not 1 <= int(ver[0]) <= version:
        raise error(f"{what} {path.name}: unknown version (this engine reads version {version})")
    return arrays
