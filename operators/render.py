"""Render: evaluate the controls' curves at every frame, render, place the result."""

from __future__ import annotations

import bpy
from bpy.props import StringProperty

from ..adapters import flows
from ..engine.frames import parse_optional
from ._common import JobOperator, context_item


class TALKINGHEAD_OT_render(JobOperator, bpy.types.Operator):
    """Render the portrait from its (possibly hand-edited) control curves and put the frames above
    it as an image sequence, replacing this portrait's previous result"""

    bl_idname = "talking_head.render"
    bl_label = "Render"

    portrait: StringProperty(name="Portrait", description="Portrait item (empty: the active one)")
    frames: StringProperty(name="Frames", description="Scene frames, both ends included: A-B, A..B, N "
                                                        "or a list 1-10,20-30 (empty: all)")
    output: StringProperty(name="Output", subtype="DIR_PATH",
                           description="Write frames into this folder only (render-farm chunks): "
                                       "no result strip is placed")

    @classmethod
    def poll(cls, context: bpy.types.Context) -> bool:
        return context.scene is not None

    def make_task(self, context: bpy.types.Context) -> flows.Task:
        item = context_item(context, self.portrait)
        return flows.prepare_render(context.scene, item, parse_optional(self.frames), self.output or None)


CLASSES = (TALKINGHEAD_OT_render,)
