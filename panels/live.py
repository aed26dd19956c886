"""The *Live* section, in the Sequencer's and the 3D Viewport's "Talking Head" tab: pick a source,
see where it listens, Preview / Record / Stop (adapters/live.py, operators/live.py)."""

from __future__ import annotations

import bpy

from ..adapters import compat, live
from ..engine.net_policy import is_loopback
from .sequencer import _item


def draw_live(layout: bpy.types.UILayout, context: bpy.types.Context, item) -> None:  # noqa: ANN001
    scene = context.scene
    st = live.settings(scene)
    running = live.session(scene)
    col = layout.column(align=True)
    col.use_property_split = True
    col.use_property_decorate = False
    col.enabled = running is None
    col.prop(st, "source")
    if st.source == "CAMERA":
        col.prop(st, "camera")
    elif st.source == "STREAM":
        col.prop(st, "url")
    else:
        col.prop(st, "port")
        col.prop(st, "listen")
        if st.listen == "ADDRESS":
            col.prop(st, "listen_address")
        if st.source == "IFACIALMOCAP":
            col.prop(st, "phone_address")
            phone = st.phone_address.strip()
            if phone and not is_loopback(phone) and not compat.online_access():
                col.label(text="Sending the start request to the phone needs Online Access", icon="ERROR")
    text, icon = live.where(st)
    layout.label(text=text, icon=icon)
    col = layout.column(align=True)
    col.use_property_split = True
    col.use_property_decorate = False
    col.enabled = running is None
    col.prop(st, "preview_size")
    col.prop(st, "drive_character")
    row = col.row(align=True, heading="Punch In")
    row.prop(st, "use_punch", text="")
    sub = row.row(align=True)
    sub.active = st.use_punch
    sub.prop(st, "punch_start")
    sub.prop(st, "punch_end")
    if item is None and live.scene_character(scene) is None:
        layout.label(text="Select a portrait strip or set up a 3D character to drive", icon="INFO")
    if running is not None:
        box = layout.box()
        box.label(text=running.status(), icon="REC" if running.take is not None else "PLAY")
        box.operator("talking_head.live_stop", icon="SNAP_FACE")
        return
    row = layout.row(align=True)
    name = item.name if item is not None else ""
    op = row.operator("talking_head.live", text="Preview", icon="PLAY")
    op.mode, op.portrait = "PREVIEW", name
    op = row.operator("talking_head.live", text="Record", icon="REC")
    op.mode, op.portrait = "RECORD", name
    layout.label(text=f"Preview image: {live.IMAGE_NAME} (Image Editor)", icon="IMAGE_DATA")


class SEQUENCER_PT_talking_head_live(bpy.types.Panel):
    bl_space_type = "SEQUENCE_EDITOR"
    bl_region_type = "UI"
    bl_category = "Talking Head"
    bl_label = "Live"
    bl_parent_id = "SEQUENCER_PT_talking_head"
    bl_options = {"DEFAULT_CLOSED"}

    def draw(self, context: bpy.types.Context) -> None:
        draw_live(self.layout, context, _item(context))


class VIEW3D_PT_talking_head_live(bpy.types.Panel):
    bl_space_type = "VIEW_3D"
    bl_region_type = "UI"
    bl_category = "Talking Head"
    bl_label = "Live"
    bl_options = {"DEFAULT_CLOSED"}

    @classmethod
    def poll(cls, context: bpy.types.Context) -> bool:
        return context.scene is not None

    def draw(self, context: bpy.types.Context) -> None:
        from ..operators._common import panel_item

        draw_live(self.layout, context, panel_item(context))


CLASSES = (SEQUENCER_PT_talking_head_live, VIEW3D_PT_talking_head_live)
