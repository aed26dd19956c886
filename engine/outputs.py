"""Output safety: every file the engine writes goes through here.

Rules (docs/files.md states them for users):
- A command checks *all* its outputs before any work (``check_outputs``): an existing file is
  refused without ``overwrite``, a folder where a file is wanted is refused, the parent folder
  must be writable.
- A file is written under a temporary name created exclusively in the same folder (never an
  existing path: ``.<name>.<random>.tmp<suffix>``), then moved into place with one atomic rename.
  A failure, a cancel, Ctrl-C or SIGTERM removes the temporary; the user's files are untouched.
- OS errors (disk full, permission, read-only file system) become one sentence naming the file.
"""

from __future__ import annotations

import contextlib
import errno
import os
import signal
import tempfile
import threading
from collections.abc import Iterable, Iterator
from pathlib import Path

from .errors import EngineError

TEMP_MARK = ".tmp"  # every temporary is named ".<name>.<random>.tmp<suffix>"

# mkstemp creates 0600 files; outputs get the usual permissions (0666 less the umask), read once
# here because os.umask can only be read by setting it.
_UMASK = os.umask(0o022)
os.umask(_UMASK)
_FILE_MODE = 0o666 & ~_UMASK

_live: set[Path] = set()  # temporaries not yet moved into place (removed on signals)
# re-entrant: the signal handler (remove_live_temporaries) runs in the main thread between two
# bytecodes, possibly while that thread holds the lock (adding or forgetting a temporary); a
# plain lock would deadlock the process there
_live_lock = threading.RLock()
# the signals a command-line process cleans up on (install_signal_cleanup), held back while a
# temporary is created (_cleanup_signals_held); those this platform has
_CLEANUP_SIGNALS = tuple(s for s in (getattr(signal, "SIGTERM", None), getattr(signal, "SIGHUP", None))
                         if s is not None)
_held = 0  # main-thread depth inside _cleanup_signals_held
_pending: int | None = None  # a cleanup signal that arrived there, acted on when it is left


class OutputError(EngineError):
    """An output cannot be written (exists, not writable, disk full); names the file."""


def is_temporary_name(name: str) -> bool:
    """True for names this module gives its temporaries (so folder checks can ignore leftovers)."""
    if not name.startswith("."):
        return False
    stem = name[1:]
    return TEMP_MARK + "." in stem or stem.endswith(TEMP_MARK)


def describe_os_error(exc: OSError, path: str | os.PathLike[str]) -> str:
    """One sentence for an OS error while writing ``path``."""
    p = Path(path)
    code = exc.errno
    if code == errno.ENOSPC:
        return f"no space left on device while writing {p}; free some space and try again"
    if code == errno.EDQUOT:
        return f"disk quota exceeded while writing {p}"
    if code in (errno.EACCES, errno.EPERM):
        return f"permission denied: cannot write {p}; choose a folder you can write to"
    if code == errno.EROFS:
        return f"read-only file system: cannot write {p}"
    if code == errno.ENAMETOOLONG:
        return f"file name too long: {p}"
    if code == errno.ENOENT:
        return f"folder does not exist: {p.parent}"
    if code == errno.EISDIR:
        return f"{p} is a folder, not a file"
    reason = exc.strerror or str(exc)
    return f"cannot write {p}: {reason}"


def check_output(path: str | os.PathLike[str], overwrite: bool, *, what: str = "output",
                 make_parent: bool = True) -> Path:
    """Refuse an output that exists (without ``overwrite``), is a folder, or whose folder cannot
    be written. Creates the parent folder when ``make_parent``. Returns the path."""
    p = Path(path)
    try:
        return _check_output(p, overwrite, what, make_parent)
    except OSError as exc:  # a name too long, a path through a file, a loop of links...
        raise OutputError(describe_os_error(exc, p)) from exc


def _check_output(p: Path, overwrite: bool, what: str, make_parent: bool) -> Path:
    if p.is_dir():
        raise OutputError(f"{what} {p} is a folder; give a file name")
    if (p.exists() or p.is_symlink()) and not overwrite:
        raise OutputError(f"{what} {p} already exists; use --overwrite to replace it")
    parent = p.parent if str(p.parent) else Path(".")
    if parent.exists() and not parent.is_dir():
        raise OutputError(f"cannot write {what} {p}: {parent} is a file, not a folder")
    if not parent.exists():
        if not make_parent:
            raise OutputError(f"folder does not exist: {parent}")
        try:
            parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise OutputError(describe_os_error(exc, p)) from exc
    # Probe with a real file: os.access says yes to root on read-only places such as /proc.
    try:
        discard_temporary(_new_temporary(p))
    except OSError as exc:
        raise OutputError(describe_os_error(exc, p)) from exc
    return p


def check_outputs(paths: Iterable[tuple[str | os.PathLike[str] | None, str]], overwrite: bool) -> None:
    """Check every output of a command before any work: ``[(path, what), ...]`` (None skipped).
    Also refuses two outputs that are the same file."""
    seen: dict[Path, str] = {}
    for path, what in paths:
        if path is None:
            continue
        p = check_output(path, overwrite, what=what)
        key = p.resolve()
        if key in seen:
            raise OutputError(f"{what} and {seen[key]} are the same file ({p}); give different names")
        seen[key] = what


@contextlib.contextmanager
def _cleanup_signals_held() -> Iterator[None]:
    """SIGTERM/SIGHUP held back while a temporary is created and registered: acted on in
    between, the cleanup found the new file unregistered and left it behind (seen in CI: a
    SIGTERM during a render left ``.frame_000002.png.<random>.tmp.png``). Held in Python, not
    with a signal mask: the kernel hands a process's signal to any thread that does not block
    it (cv2's and BLAS's workers), and Python then runs the handler in the main thread anyway."""
    global _held, _pending
    main = threading.current_thread() is threading.main_thread()  # where handlers run
    if main:
        _held += 1
    try:
        yield
    finally:
        if main:
            _held -= 1
            if _held == 0 and _pending is not None:
                signum, _pending = _pending, None
                _on_cleanup_signal(signum, None)  # the file is registered now: it is removed


def _on_cleanup_signal(signum: int, _frame: object) -> None:
    """The handler install_signal_cleanup installs: remove the temporaries, exit 128 + signal
    (as SystemExit, so every ``finally`` runs); inside _cleanup_signals_held, when it is left."""
    global _pending
    if _held:
        _pending = signum
        return
    remove_live_temporaries()
    raise SystemExit(128 + signum)


def _new_temporary(final: Path) -> Path:
    with _cleanup_signals_held():
        fd, name = tempfile.mkstemp(prefix=f".{final.name}.", suffix=f"{TEMP_MARK}{final.suffix}",
                                    dir=final.parent if str(final.parent) else ".")
        tmp = Path(name)
        with _live_lock:
            _live.add(tmp)
    try:
        if os.name != "nt":
            os.fchmod(fd, _FILE_MODE)
    except BaseException:
        discard_temporary(tmp)
        raise
    finally:
        os.close(fd)
    return tmp


def new_temporary(path: str | os.PathLike[str]) -> Path:
    """A fresh, empty temporary for ``path`` (same folder, same suffix), for writers that need a
    file name rather than a context (an encoder subprocess); finish with ``commit_temporary`` or
    ``discard_temporary``. OS errors become ``OutputError`` naming ``path``."""
    try:
        return _new_temporary(Path(path))
    except OSError as exc:
        raise OutputError(describe_os_error(exc, path)) from exc


def commit_temporary(tmp: Path, path: str | os.PathLike[str], *, overwrite: bool = True) -> Path:
    """Move a finished temporary onto ``path`` (removing it on failure)."""
    final = Path(path)
    try:
        if not overwrite and final.exists():
            raise OutputError(f"{final} appeared while it was being written; nothing was replaced")
        os.replace(tmp, final)
        _forget(tmp)
    except OSError as exc:
        discard_temporary(tmp)
        raise OutputError(describe_os_error(exc, final)) from exc
    except BaseException:
        discard_temporary(tmp)
        raise
    return final


def _forget(tmp: Path) -> None:
    with _live_lock:
        _live.discard(tmp)


def discard_temporary(tmp: Path) -> None:
    """Remove a temporary made here (on any failure path)."""
    with contextlib.suppress(OSError):
        tmp.unlink()
    _forget(tmp)


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike[str], *, overwrite: bool = True) -> Iterator[Path]:
    """Yield a fresh temporary path in ``path``'s folder (same suffix, so encoders pick the
    format); on a clean exit move it onto ``path`` atomically, on any exception remove it.

    ``overwrite=False`` re-checks at the end that nobody created ``path`` meanwhile (the rename
    would replace it). OS errors become ``OutputError`` naming ``path``.
    """
    tmp = new_temporary(path)
    try:
        yield tmp
    except OSError as exc:  # a write into the temporary failed (disk full, ...)
        discard_temporary(tmp)
        raise OutputError(describe_os_error(exc, path)) from exc
    except BaseException:
        discard_temporary(tmp)
        raise
    commit_temporary(tmp, path, overwrite=overwrite)


def write_bytes(path: str | os.PathLike[str], data: bytes, *, overwrite: bool = True) -> Path:
    """Write ``data`` to ``path`` atomically (see ``atomic_output``)."""
    with atomic_output(path, overwrite=overwrite) as tmp:
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
    return Path(path)


def write_text(path: str | os.PathLike[str], text: str, *, overwrite: bool = True) -> Path:
    return write_bytes(path, text.encode("utf-8"), overwrite=overwrite)


def remove_live_temporaries() -> None:
    """Remove every temporary not yet moved into place (signal handlers, atexit)."""
    with _live_lock:
        pending = list(_live)
        _live.clear()
    for tmp in pending:
        with contextlib.suppress(OSError):
            tmp.unlink()


def install_signal_cleanup() -> None:
    """For command-line processes (never inside Blender): SIGTERM/SIGHUP raise SystemExit so
    every ``finally`` and ``atomic_output`` cleans up, as Ctrl-C (KeyboardInterrupt) already does."""
    if threading.current_thread() is not threading.main_thread():
        return
    for sig in _CLEANUP_SIGNALS:
        with contextlib.suppress(OSError, ValueError):
            signal.signal(sig, _on_cleanup_signal)
