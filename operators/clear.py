"""Clear a portrait's keys and result; setting up and forgetting portraits."""

from __future__ import annotations

import bpy
from bpy.props import BoolProperty, StringProperty

from ..adapters import flows, keyframes, nodes, strips
from ..engine.errors import EngineError
from ._common import context_item, in_node_editor


class TALKINGHEAD_OT_clear(bpy.types.Operator):
    """Remove the portrait's control keys and its result strip/node (rendered files stay on disk)"""

    bl_idname = "talking_head.clear"
    bl_label = "Clear"
    bl_options = {"REGISTER", "UNDO"}

    portrait: StringProperty(name="Portrait")
    keys: BoolProperty(name="Keys", default=True, description="Remove the control keyframes")
    result: BoolProperty(name="Result", default=True, description="Remove the result strip/node")

    def execute(self, context: bpy.types.Context):
        try:
            item = context_item(context, self.portrait)
            self.report({"INFO"}, flows.clear(context.scene, item, self.keys, self.result))
        except EngineError as exc:
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
        return {"FINISHED"}


class TALKINGHEAD_OT_add_portrait(bpy.types.Operator):
    """Make the active image strip (or Image node) a talking portrait with its own controls"""

    bl_idname = "talking_head.add_portrait"
    bl_label = "Set Up Portrait"
    bl_options = {"REGISTER", "UNDO"}

    def execute(self, context: bpy.types.Context):
        scene = context.scene
        try:
            if in_node_editor(context):
                item = nodes.item_for_node(scene, context.active_node, create=True)
            else:
                from ..adapters import compat

                item = strips.item_for_strip(scene, compat.active_strip(scene), create=True)
            if item is None:
                raise strips.SetupError("select the portrait's image strip (or Image node) first")
        except EngineError as exc:
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
        self.report({"INFO"}, f"portrait {item.name!r} ready: pick its driving clip, then Capture")
        return {"FINISHED"}


class TALKINGHEAD_OT_remove_portrait(bpy.types.Operator):
    """Forget this portrait: its keys and result are removed (files stay on disk)"""

    bl_idname = "talking_head.remove_portrait"
    bl_label = "Remove Portrait"
    bl_options = {"REGISTER", "UNDO"}

    portrait: StringProperty(name="Portrait")

    def execute(self, context: bpy.types.Context):
        try:
            item = context_item(context, self.portrait)
        except EngineError as exc:
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
        flows.clear(context.scene, item)
        keyframes.clear_controls(context.scene, item)
        # keep the slot (other portraits' animation paths index into the collection)
        item.removed = True
        item.portrait_strip = item.portrait_node = item.driving_strip = item.driving_node = ""
        return {"FINISHED"}


CLASSES = (TALKINGHEAD_OT_clear, TALKINGHEAD_OT_add_portrait, TALKINGHEAD_OT_remove_portrait)
