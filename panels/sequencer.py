"""Video Sequencer sidebar tab "Talking Head"."""

from __future__ import annotations

import bpy

from ..adapters import compat, strips
from ._draw import draw_controls, draw_item


def _item(context: bpy.types.Context):
    scene = context.scene
    strip = compat.active_strip(scene)
    item = strips.item_for_strip(scene, strip)
    if item is None and strip is not None and strip.type in {"MOVIE", "SOUND"}:
        driven = [it for it in strips.items(scene) if it.driving_strip == strip.name]
        item = driven[0] if len(driven) == 1 else None
    if item is None and strip is None:
        alive = [it for it in strips.items(scene) if it.kind == "SEQUENCER"]
        item = alive[0] if len(alive) == 1 else None
    return item


class SEQUENCER_PT_talking_head(bpy.types.Panel):
    bl_space_type = "SEQUENCE_EDITOR"
    bl_region_type = "UI"
    bl_category = "Talking Head"
    bl_label = "Talking Head"

    @classmethod
    def poll(cls, context: bpy.types.Context) -> bool:
        return context.scene is not None and context.space_data.view_type in {"SEQUENCER",
                                                                                "SEQUENCER_PREVIEW"}

    def draw(self, context: bpy.types.Context) -> None:
        layout = self.layout
        item = _item(context)
        if item is None:
            strip = compat.active_strip(context.scene)
            if strip is not None and strip.type == "IMAGE":
                layout.operator("talking_head.add_portrait", icon="ADD")
            else:
                layout.label(text="Select the portrait's image strip", icon="INFO")
            return
        layout.label(text=item.name, icon="USER")
        draw_item(layout, context, item)


class SEQUENCER_PT_talking_head_controls(bpy.types.Panel):
    bl_space_type = "SEQUENCE_EDITOR"
    bl_region_type = "UI"
    bl_category = "Talking Head"
    bl_label = "Expression Controls"
    bl_parent_id = "SEQUENCER_PT_talking_head"
    bl_options = {"DEFAULT_CLOSED"}

    @classmethod
    def poll(cls, context: bpy.types.Context) -> bool:
        return _item(context) is not None

    def draw(self, context: bpy.types.Context) -> None:
        draw_controls(self.layout, _item(context), context.scene)


CLASSES = (SEQUENCER_PT_talking_head, SEQUENCER_PT_talking_head_controls)
