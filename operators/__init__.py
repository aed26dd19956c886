"""Blender operators of the add-on (thin: the work happens in adapters/ and engine/)."""

from __future__ import annotations

import bpy

from . import capture, clear, models, render

CLASSES = (*capture.CLASSES, *render.CLASSES, *clear.CLASSES, *models.CLASSES)


def register() -> None:
    for cls in CLASSES:
        bpy.utils.register_class(cls)
    models.activate_gpu_runtime()


def unregister() -> None:
    for cls in reversed(CLASSES):
        bpy.utils.unregister_class(cls)
