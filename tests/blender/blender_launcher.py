"""A `blender` executable for tests, over the `bpy` module (these machines have no Blender binary).

The farm tests write this file as ``bin/blender`` with the test's Python as its interpreter, so a
job template runs it exactly as it would run Blender. It reads the part of Blender's command line
the product uses, in Blender's order:

    blender [--disable-autoexec|-y] [-b] [FILE.blend] [--python-exit-code N] [--python-expr EXPR ...]
            [-c ID ARGS...]

``-b`` is accepted (the bpy module is always in background mode), FILE is opened, each
``--python-expr`` runs in order (an exception exits with the ``--python-exit-code`` value, 0 =
ignore, as in Blender), and ``-c ID ARGS`` calls the command that the extension registered
under ID through ``bpy.utils.register_cli_command`` -- the very function Blender would call --
and exits with its return value. Any other argument is refused, so a template cannot rely on
something this launcher does not check.

The extension module to enable comes from TALKING_HEAD_ADDON_MODULE (default: the one the test
installed, ``bl_ext.user_default.talking_head``); BLENDER_USER_RESOURCES must point at the test's
user folder that holds it.
"""

from __future__ import annotations

import os
import sys
import traceback

ADDON = os.environ.get("TALKING_HEAD_ADDON_MODULE", "bl_ext.user_default.talking_head")
IGNORED = {"-b", "--background", "--factory-startup", "-noaudio"}
AUTOEXEC = {"-y": True, "--enable-autoexec": True, "-Y": False, "--disable-autoexec": False}
# Set by the farm tests: a file opened while Auto Run may be on fails, so a template that forgets
# --disable-autoexec (or puts it after the .blend) fails its test.
REQUIRE_NO_AUTOEXEC = bool(os.environ.get("TALKING_HEAD_REQUIRE_NO_AUTOEXEC"))


def parse(argv: list[str]) -> tuple[list[tuple[str, str]], list[str] | None]:
    """Blender's arguments -> ordered actions (("open", FILE) / ("expr", CODE) / ("exit-code", N))
    and the ``-c`` command's argv (None if no command)."""
    actions: list[tuple[str, str]] = []
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg in ("-c", "--command"):
            if i + 1 >= len(argv):
                raise SystemExit("blender: -c needs a command id")
            return actions, argv[i + 1:]  # the command consumes every remaining argument
        if arg in IGNORED:
            pass
        elif arg in AUTOEXEC:
            actions.append(("autoexec", "on" if AUTOEXEC[arg] else "off"))
        elif arg in ("--python-expr", "--python-exit-code"):
            if i + 1 >= len(argv):
                raise SystemExit(f"blender: {arg} needs a value")
            actions.append(("expr" if arg == "--python-expr" else "exit-code", argv[i + 1]))
            i += 1
        elif arg.startswith("-"):
            raise SystemExit(f"blender (test launcher): unsupported argument {arg!r}")
        else:
            actions.append(("open", arg))
        i += 1
    return actions, None


def enable_addon(bpy) -> dict:
    """Enable the extension and return the CLI commands it registered ({id: function})."""
    import addon_utils

    commands: dict = {}
    register = bpy.utils.register_cli_command

    def record(command_id, function):
        commands[command_id] = function
        return register(command_id, function)

    bpy.utils.register_cli_command = record
    try:
        if ADDON in bpy.context.preferences.addons:  # enabled from saved preferences: register again
            addon_utils.disable(ADDON, default_set=False)
        module = addon_utils.enable(ADDON, default_set=True, handle_error=None)
    finally:
        bpy.utils.register_cli_command = register
    if module is None:
        raise SystemExit(f"blender (test launcher): could not enable {ADDON}")
    return commands


def main(argv: list[str]) -> int:
    actions, command = parse(argv)
    import bpy

    commands = enable_addon(bpy)
    exit_code = 0
    autoexec = None  # None: the preferences decide (may be on)
    for kind, value in actions:
        if kind == "autoexec":
            autoexec = value == "on"
        elif kind == "open":
            if REQUIRE_NO_AUTOEXEC and autoexec is not False:
                print(f"blender (test launcher): {value} opened without --disable-autoexec before it",
                      file=sys.stderr)
                return 3
            if not os.path.isfile(value):  # Blender reports and goes on without the file
                print(f"Error: Cannot read file \"{value}\": No such file or directory", file=sys.stderr)
                continue
            trust = {} if autoexec is None else {"use_scripts": autoexec}
            bpy.ops.wm.open_mainfile(filepath=value, **trust)
        elif kind == "exit-code":
            exit_code = int(value)
        else:
            try:
                exec(compile(value, "<string>", "exec"), {"__name__": "__main__"})
            except Exception:
                traceback.print_exc()
                if exit_code:
                    return exit_code
    if command is None:
        return 0
    if command[0] not in commands:
        print(f"Unrecognized command: {command[0]!r} (registered: {', '.join(commands) or 'none'})",
              file=sys.stderr)
        return 1
    return int(commands[command[0]](command[1:]) or 0)


if __name__ == "__main__":
    code = main(sys.argv[1:])
    sys.stdout.flush()
    sys.stderr.flush()
    sys.exit(code)
