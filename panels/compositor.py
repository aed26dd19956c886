"""Compositor (Node Editor sidebar) tab "Talking Head": the same flow on Image/Movie Clip nodes."""

from __future__ import annotations

import bpy

from ..adapters import nodes
from ._draw import draw_controls, draw_item


def _item(context: bpy.types.Context):
    return nodes.item_for_node(context.scene, getattr(context, "active_node", None))


class NODE_PT_talking_head(bpy.types.Panel):
    bl_space_type = "NODE_EDITOR"
    bl_region_type = "UI"
    bl_category = "Talking Head"
    bl_label = "Talking Head"

    @classmethod
    def poll(cls, context: bpy.types.Context) -> bool:
        space = context.space_data
        return space is not None and getattr(space, "tree_type", "") == "CompositorNodeTree"

    def draw(self, context: bpy.types.Context) -> None:
        layout = self.layout
        item = _item(context)
        if item is None:
            node = getattr(context, "active_node", None)
            if node is not None and node.bl_idname == "CompositorNodeImage" and node.image is not None:
                layout.operator("talking_head.add_portrait", icon="ADD")
            else:
                layout.label(text="Select the portrait's Image node", icon="INFO")
            return
        layout.label(text=item.name, icon="USER")
        draw_item(layout, context, item)


class NODE_PT_talking_head_controls(bpy.types.Panel):
    bl_space_type = "NODE_EDITOR"
    bl_region_type = "UI"
    bl_category = "Talking Head"
    bl_label = "Expression Controls"
    bl_parent_id = "NODE_PT_talking_head"
    bl_options = {"DEFAULT_CLOSED"}

    @classmethod
    def poll(cls, context: bpy.types.Context) -> bool:
        return _item(context) is not None

    def draw(self, context: bpy.types.Context) -> None:
        draw_controls(self.layout, _item(context), context.scene)


CLASSES = (NODE_PT_talking_head, NODE_PT_talking_head_controls)
