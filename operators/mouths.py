"""Mouth Source: learn the actor's real mouth interiors from any movie, or forget them."""

from __future__ import annotations

import bpy
from bpy.props import StringProperty

from ..adapters import flows, mouths
from ._common import JobOperator, PortraitAction, context_item


class TALKINGHEAD_OT_learn_mouths(JobOperator, bpy.types.Operator):
    """Keep the real mouth interiors (teeth, tongue) of the Mouth Source movie's actor on this
    portrait: its renders fill open mouths from them (e.g. for a voice capture); no keys change"""

    bl_idname = "talking_head.learn_mouths"
    bl_label = "Learn Mouths From Movie"

    portrait: StringProperty(name="Portrait", description="Portrait item (empty: the active one)")

    def make_task(self, context: bpy.types.Context) -> flows.Task:
        return mouths.prepare_learn(context.scene, context_item(context, self.portrait))


class TALKINGHEAD_OT_clear_mouths(PortraitAction, bpy.types.Operator):
    """Forget the portrait's mouth exemplars (open mouths get the procedural interior until the
    next video capture or Learn Mouths From Movie)"""

    bl_idname = "talking_head.clear_mouths"
    bl_label = "Forget Mouths"
    bl_options = {"REGISTER", "UNDO"}

    portrait: StringProperty(name="Portrait")

    def act(self, context: bpy.types.Context, item) -> str:  # noqa: ANN001
        if not mouths.clear(item):
            return f"nothing: {item.name} has no mouth exemplars"
        return f"mouth exemplars of {item.name} forgotten"


CLASSES = (TALKINGHEAD_OT_learn_mouths, TALKINGHEAD_OT_clear_mouths)
