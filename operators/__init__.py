"""Blender operators of the add-on (thin: the work happens in adapters/ and engine/)."""

from __future__ import annotations

import bpy

from . import capture, clear, comfyui, farm, live, models, mouth_cues, mouths, render, voice_profile
from . import rig as rig_ops  # 3D characters

CLASSES = (*capture.CLASSES, *render.CLASSES, *clear.CLASSES, *models.CLASSES, *farm.CLASSES,
           *comfyui.CLASSES, *voice_profile.CLASSES, *mouths.CLASSES, *mouth_cues.CLASSES, *live.CLASSES)
CLASSES += rig_ops.CLASSES


@bpy.app.handlers.persistent
def _cancel_jobs_on_load(*_args) -> None:
    # loading a file drops modal operators: stop their worker threads too (nothing is written)
    from ..adapters.jobs import cancel_all
    from ..adapters.live import stop_all

    cancel_all()
    stop_all()


def register() -> None:
    for cls in CLASSES:
        bpy.utils.register_class(cls)
    bpy.app.handlers.load_pre.append(_cancel_jobs_on_load)
    models.activate_gpu_runtime()


def unregister() -> None:
    if _cancel_jobs_on_load in bpy.app.handlers.load_pre:
        bpy.app.handlers.load_pre.remove(_cancel_jobs_on_load)
    from ..adapters.jobs import cancel_all
    from ..adapters.live import stop_all

    cancel_all()
    stop_all()
    for cls in reversed(CLASSES):
        bpy.utils.unregister_class(cls)
