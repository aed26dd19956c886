"""`python -m engine COMMAND ...`: the engine's command line.

Each subcommand lives in ``engine/commands/<name>.py`` with ``add_parser(subparsers)`` and
``run(args) -> int``; they are discovered here, so adding a command touches no other file.
Errors the user can fix print one clear line and exit 2; Ctrl-C exits 130 after cleanup.
"""

from __future__ import annotations

import argparse
import errno
import importlib
import math
import os
import pkgutil
import sys
import traceback
from collections.abc import Callable, Sequence

from . import __version__, commands, native_logs, notices
from .errors import EngineError
from .outputs import remove_live_temporaries
from .progress import Cancelled
from .safe_text import printable

BUG_HINT = ("this is a bug in Talking Head: please report it with the command line you ran "
            "(rerun with --debug to see the traceback)")


def finite_float(text: str) -> float:
    """argparse type: a finite number (``nan``/``inf`` would end up in files as non-JSON)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"must be a finite number, got {text!r}")
    return value


def unit_float(text: str) -> float:
    """argparse type: a finite number in [0, 1] (smoothing strengths)."""
    value = finite_float(text)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1, got {text!r}")
    return value


def positive_float(text: str) -> float:
    value = finite_float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be above 0, got {text!r}")
    return value


def face_index(text: str) -> int:
    """argparse type for --face: 0 = leftmost face of the portrait."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a face number: {text!r} (0 = leftmost face)") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"face numbers start at 0 (leftmost), got {text!r}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m engine",
        description="Talking Head engine: capture expression controls from a driving video and "
                    "render a portrait animated by them. Runs without Blender.",
    )
    parser.add_argument("--version", action="version", version=f"talking_head engine {__version__}")
    parser.add_argument("--debug", action="store_true",
                        help="show the Python traceback of unexpected errors and the native libraries' "
                             "own log lines (for bug reports)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda m: m.name):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{commands.__name__}.{info.name}")
        module.add_parser(sub)
    return parser


def _activate_gpu_runtime() -> None:
    """A GPU onnxruntime installed by `gpu install` must come first on sys.path before anything
    imports onnxruntime (engine/gpu_runtime.py explains the shadowing)."""
    from .gpu_runtime import activate_runtime, default_runtime_root

    root = default_runtime_root()
    if root.is_dir():
        activate_runtime(root)


def main(argv: Sequence[str] | None = None) -> int:
    _activate_gpu_runtime()
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv  # accepted anywhere on the line, not only before the command
    argv = [a for a in argv if a != "--debug"]
    native_logs.show(debug or native_logs.DEBUG_ENV)  # MediaPipe's own log lines: only with --debug
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    notices.print_to_stderr()
    return exit_status(lambda: int(args.func(args) or 0), debug=debug)


def describe_exception(exc: BaseException) -> str | None:
    """One sentence for the exception classes that bad input or a bad environment can raise
    (everything but bugs); None for the rest."""
    import json
    import zipfile
    import zlib

    if isinstance(exc, EngineError):
        return str(exc)
    if isinstance(exc, (zipfile.BadZipFile, zlib.error)):
        return f"corrupt archive ({exc}); download or copy it again"
    if isinstance(exc, RecursionError):
        return "the input is nested too deeply to be read (a damaged or hostile file?)"
    if isinstance(exc, MemoryError):
        return "out of memory; use a smaller image or video, or a shorter frame range"
    if isinstance(exc, json.JSONDecodeError):
        return f"invalid JSON: {exc}"
    if isinstance(exc, UnicodeError):
        return f"cannot decode text: {exc}"
    if isinstance(exc, OSError):
        name = exc.filename or ""
        if exc.errno is not None and name:
            from .outputs import describe_os_error

            if exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EROFS):
                return describe_os_error(exc, name)
            return f"{exc.strerror or exc}: {name}"
        return str(exc) or type(exc).__name__
    return None


def exit_status(run: Callable[[], int], prefix: str = "", debug: bool | None = None) -> int:
    """Run a command and map its outcome to the CLI exit status: its own on success, 2 with one
    ``error:`` line for anything else (problems the user can fix, and, with a hint to report it,
    bugs: their traceback only with ``debug`` or $TALKING_HEAD_DEBUG), 130 after a cancel or
    Ctrl-C. Temporaries are removed on every path. Shared by this CLI and the add-on's
    ``blender -c talking_head`` command."""
    if debug is None:
        debug = bool(os.environ.get("TALKING_HEAD_DEBUG"))
    try:
        return run()
    except Cancelled:
        print(f"{prefix}cancelled", file=sys.stderr)
        return 130
    except KeyboardInterrupt:
        print(f"{prefix}interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # noqa: BLE001 - the one place every failure becomes one line
        message = describe_exception(exc)
        if message is None:
            if debug:
                traceback.print_exc()
            detail = str(exc).strip().splitlines()[-1][:300] if str(exc).strip() else ""
            message = f"unexpected {type(exc).__name__}{': ' + detail if detail else ''}; {BUG_HINT}"
        elif debug:
            traceback.print_exc()
        # messages quote data (file names, names from motion files, server text): escaped, so
        # none of it can move the cursor or fake a line of ours
        print(f"{prefix}error: {printable(message, limit=2000)}", file=sys.stderr)
        return 2
    finally:
        remove_live_temporaries()
