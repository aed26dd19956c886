"""`python -m engine COMMAND ...`: the engine's command line.

Each subcommand lives in ``engine/commands/<name>.py`` with ``add_parser(subparsers)`` and
``run(args) -> int``; they are discovered here, so adding a command touches no other file.
Errors the user can fix print one clear line and exit 2; Ctrl-C exits 130 after cleanup.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
from collections.abc import Callable, Sequence

from . import __version__, commands
from .errors import EngineError
from .progress import Cancelled


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m engine",
        description="Talking Head engine: capture expression controls from a driving video and "
                    "render a portrait animated by them. Runs without Blender.",
    )
    parser.add_argument("--version", action="version", version=f"talking_head engine {__version__}")
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
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    return exit_status(lambda: int(args.func(args) or 0))


def exit_status(run: Callable[[], int], prefix: str = "") -> int:
    """Run a command and map its outcome to the CLI exit status: its own on success, 2 with one
    ``error:`` line for problems the user can fix, 130 after a cancel or Ctrl-C. Shared by this
    CLI and the add-on's ``blender -c talking_head`` command."""
    try:
        return run()
    except Cancelled:
        print(f"{prefix}cancelled", file=sys.stderr)
        return 130
    except KeyboardInterrupt:
        print(f"{prefix}interrupted", file=sys.stderr)
        return 130
    except (EngineError, OSError) as exc:
        print(f"{prefix}error: {exc}", file=sys.stderr)
        return 2
