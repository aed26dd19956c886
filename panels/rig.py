""""3D Character" panels: the 3D Viewport sidebar (active mesh) and the Sequencer sidebar
(the scene's character), both in the "Talking Head" tab."""

from __future__ import annotations

import bpy

from ..adapters import rig

MAX_UNMATCHED_SHOWN = 12


class TALKINGHEAD_UL_rig_rows(bpy.types.UIList):
    """Mapping rows: shape key <- source, gain, offset."""

    def draw_item(self, context, layout, data, item, icon, active_data, active_propname, index=0):
        row = layout.row(align=True)
        row.prop(item, "enabled", text="")
        row.label(text=item.target or "(no key)", icon="SHAPEKEY_DATA")
        row.prop(item, "source", text="")
        row.prop(item, "gain", text="")
        row.prop(item, "offset", text="")


def draw_character(layout: bpy.types.UILayout, context: bpy.types.Context, obj) -> None:
    msg = rig.problem(obj)
    if msg:
        layout.label(text=msg, icon="ERROR" if obj is not None else "INFO")
        return
    st = rig.settings(obj)
    if not st.active:
        layout.operator("talking_head.rig_setup", icon="SHAPEKEY_DATA").object = obj.name
        return
    row = layout.row(align=True)
    row.prop(st, "preset", text="")
    op = row.operator("talking_head.rig_match", text="Match", icon="FILE_REFRESH")
    op.object, op.preset = obj.name, st.preset

    row = layout.row()
    row.template_list("TALKINGHEAD_UL_rig_rows", "", st, "rows", st, "row_index", rows=6)
    col = row.column(align=True)
    col.operator("talking_head.rig_row_add", text="", icon="ADD").object = obj.name
    col.operator("talking_head.rig_row_remove", text="", icon="REMOVE").object = obj.name
    if 0 <= st.row_index < len(st.rows):
        active = st.rows[st.row_index]
        col = layout.column(align=True)
        col.use_property_split = True
        col.prop_search(active, "target", obj.data.shape_keys, "key_blocks", text="Shape Key")
        col.prop(active, "source")
        col.prop(active, "gain")
        col.prop(active, "offset")
        sub = col.row(align=True)
        sub.prop(active, "clamp_min")
        sub.prop(active, "clamp_max")
    layout.prop(st, "calibrate")

    unmatched = rig.unmatched(obj)
    missing = rig.missing_targets(obj)
    if unmatched or missing:
        box = layout.box()
        if unmatched:
            box.label(text=f"{len(unmatched)} shape keys not driven:", icon="INFO")
            for name in unmatched[:MAX_UNMATCHED_SHOWN]:
                box.operator("talking_head.rig_row_add", text=name, icon="ADD").key = name
            if len(unmatched) > MAX_UNMATCHED_SHOWN:
                box.label(text=f"... and {len(unmatched) - MAX_UNMATCHED_SHOWN} more")
        for name in missing:
            box.label(text=f"Row for missing shape key {name!r}", icon="ERROR")

    col = layout.column(align=True)
    col.use_property_split = True
    col.label(text="Head", icon="BONE_DATA")
    col.prop(st, "armature")
    if st.armature is not None:
        col.prop_search(st, "head_bone", st.armature.data, "bones")
        col.prop_search(st, "neck_bone", st.armature.data, "bones")
        col.prop(st, "neck_share")
        col.prop(st, "rotation_gain")
    col.prop(st, "bake_body")
    if st.bake_body:
        col.prop(st, "body_preset")
        msg = rig.body_problem(st)
        if msg:
            col.label(text=msg, icon="ERROR")

    col = layout.column(align=True)
    col.use_property_split = True
    col.label(text="Source", icon="ANIM")
    col.prop(st, "source")
    if st.source in {"PORTRAIT", "DRIVING"}:
        col.prop_search(st, "portrait", context.scene.talking_head, "portraits")
    elif st.source == "MOTION":
        col.prop(st, "motion_path")
        col.prop(st, "frame_start")
    else:
        col.prop(st, "video_path")
        col.prop(st, "smoothing")
        col.prop(st, "frame_start")
    row = layout.row(align=True)
    row.operator("talking_head.rig_bake", icon="KEYINGSET").object = obj.name
    row.operator("talking_head.rig_clear", text="", icon="TRASH").object = obj.name


def _viewport_target(context: bpy.types.Context):
    # as the operators resolve it: selecting the body or the armature keeps the face in view
    return rig.resolve(context)


class VIEW3D_PT_talking_head_character(bpy.types.Panel):
    bl_space_type = "VIEW_3D"
    bl_region_type = "UI"
    bl_category = "Talking Head"
    bl_label = "3D Character"

    def draw(self, context: bpy.types.Context) -> None:
        obj = _viewport_target(context)
        if obj is not None:
            self.layout.label(text=obj.name, icon="OUTLINER_OB_MESH")
        draw_character(self.layout, context, obj)


class SEQUENCER_PT_talking_head_character(bpy.types.Panel):
    bl_space_type = "SEQUENCE_EDITOR"
    bl_region_type = "UI"
    bl_category = "Talking Head"
    bl_label = "3D Character"
    bl_options = {"DEFAULT_CLOSED"}

    @classmethod
    def poll(cls, context: bpy.types.Context) -> bool:
        return context.scene is not None

    def draw(self, context: bpy.types.Context) -> None:
        self.layout.prop(context.scene, "talking_head_character")
        draw_character(self.layout, context, context.scene.talking_head_character)


LISTS = (TALKINGHEAD_UL_rig_rows,)  # registered before the panels that draw them
CLASSES = (VIEW3D_PT_talking_head_character, SEQUENCER_PT_talking_head_character)
