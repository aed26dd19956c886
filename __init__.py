"""Talking Head: make still portraits talk, from the Video Sequencer or the Compositor.

Blender installs this folder as a package under its own name (bl_ext.<repo>.talking_head), so
everything here, the engine included, is imported relatively.
"""

from __future__ import annotations

_modules: list = []


def register() -> None:
    from . import cli_command, live_props, operators, panels, prefs, props, rig_props

    _modules[:] = [props, rig_props, live_props, prefs, operators, panels, cli_command]
    for module in _modules:
        module.register()


def unregister() -> None:
    for module in reversed(_modules):
        module.unregister()
    _modules.clear()
