"""numpy's OpenBLAS thread pool, limited while the live preview runs.

Why: the built-in renderer's small matrix products a frame (warp.SmoothWarp.forward_grid, a few
hundred thousand flops) go to OpenBLAS, which splits each over its own threads. Alone that is
harmless; in the live pipeline the tracker (MediaPipe, its own threads) and the stream reader
already keep both cores busy, so the BLAS helper thread waits for a time slice (and then spins),
and the product took 5-10 ms instead of ~1.4 ms, slowing the tracker too (measured:
docs/live.md). One thread computes the same numbers (the split is over output blocks, each
summed in the same order; the preview test checks frames are identical).

Best effort and process-wide: it finds numpy's bundled OpenBLAS (the Linux/Windows/macOS wheels,
numpy 1.x ``openblas64_`` and 2.x ``scipy_openblas64_`` builds) among the libraries next to
numpy and calls its ``*_set_num_threads``; a numpy built on another BLAS (Accelerate, MKL) is
left alone. ``limit()`` returns the previous count so the caller restores it when done.
"""

from __future__ import annotations

import ctypes
import glob
import os
import threading

_PREFIXES = ("scipy_openblas", "openblas")
_SUFFIXES = ("64_", "_64_", "")
_lock = threading.Lock()
_api: tuple | None | bool = False  # False: not looked for yet; None: no OpenBLAS found


def _find() -> tuple | None:
    import numpy as np

    root = os.path.dirname(os.path.dirname(np.__file__))
    here = os.path.dirname(np.__file__)
    patterns = [os.path.join(root, "numpy.libs", "*openblas*"), os.path.join(here, ".dylibs", "*openblas*"),
                os.path.join(root, "numpy.libs", "*.dll"), os.path.join(here, ".libs", "*openblas*")]
    for path in sorted({p for pat in patterns for p in glob.glob(pat)}):
        if "openblas" not in os.path.basename(path).lower():
            continue
        try:
            lib = ctypes.CDLL(path)  # already loaded by numpy: the same library, not a second copy
        except OSError:
            continue
        for prefix in _PREFIXES:
            for suffix in _SUFFIXES:
                get = getattr(lib, f"{prefix}_get_num_threads{suffix}", None)
                put = getattr(lib, f"{prefix}_set_num_threads{suffix}", None)
                if get is not None and put is not None:
                    get.restype, put.argtypes = ctypes.c_int, [ctypes.c_int]
                    return get, put
    return None


def _functions() -> tuple | None:
    global _api
    with _lock:
        if _api is False:
            try:
                _api = _find()
            except (OSError, AttributeError, ValueError):
                _api = None
        return _api  # type: ignore[return-value]


def get() -> int | None:
    """numpy's OpenBLAS threads now, or None when it is not an OpenBLAS this finds."""
    api = _functions()
    return None if api is None else int(api[0]())


def limit(threads: int) -> int | None:
    """Set numpy's OpenBLAS to ``threads`` threads; returns the previous count (None: nothing
    was changed)."""
    api = _functions()
    if api is None:
        return None
    before = int(api[0]())
    api[1](max(1, int(threads)))
    return before
