"""Blender panels of the add-on (thin: the work happens in adapters/ and engine/)."""

from __future__ import annotations

import bpy

from . import compositor, live, sequencer
from . import rig as rig_panels  # 3D characters

CLASSES = (*sequencer.CLASSES, *compositor.CLASSES, *live.CLASSES)
CLASSES += rig_panels.CLASSES


def register() -> None:
    for cls in (*rig_panels.LISTS, *CLASSES):
        bpy.utils.register_class(cls)


def unregister() -> None:
    for cls in reversed((*rig_panels.LISTS, *CLASSES)):
        bpy.utils.unregister_class(cls)
