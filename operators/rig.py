"""3D character operators: set up / match a preset, edit mapping rows, bake, clear (thin)."""

from __future__ import annotations

import bpy
from bpy.props import EnumProperty, StringProperty

from ..adapters import rig
from ..engine.errors import EngineError
from ..engine.frames import parse_optional
from ..rig_props import PRESET_ITEMS
from ._common import JobOperator


class _RigOperator:
    object: StringProperty(name="Object", description="Character face mesh (empty: the active "
                                                      "mesh, else the scene's character)")

    def target(self, context: bpy.types.Context):
        obj = rig.resolve(context, self.object)
        rig.check(obj)
        return obj


class _RigAction(_RigOperator):
    """An instant operator on the character: subclasses implement ``act(context, obj)``."""

    def execute(self, context: bpy.types.Context):
        """Resolve the character, then ``act`` on it; a problem is one line in the status bar."""
        try:
            return self.act(context, self.target(context))
        except EngineError as exc:
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}


class TALKINGHEAD_OT_rig_setup(_RigAction, bpy.types.Operator):
    """Use this mesh as a 3D character: match its shape keys to the ARKit names (preset detected
    from the names)"""

    bl_idname = "talking_head.rig_setup"
    bl_label = "Set Up Character"
    bl_options = {"REGISTER", "UNDO"}

    def act(self, context: bpy.types.Context, obj: bpy.types.Object):
        mapping = rig.setup(obj)
        if context.scene.talking_head_character is None:
            context.scene.talking_head_character = obj
        self.report({"INFO"}, f"{obj.name}: {len(mapping.rows)} shape keys matched, "
                              f"{len(mapping.unmatched)} unmatched")
        return {"FINISHED"}


class TALKINGHEAD_OT_rig_match(_RigAction, bpy.types.Operator):
    """Rebuild the mapping from a preset (replaces the rows)"""

    bl_idname = "talking_head.rig_match"
    bl_label = "Match Shape Keys"
    bl_options = {"REGISTER", "UNDO"}

    preset: EnumProperty(name="Preset", items=PRESET_ITEMS, default="ARKIT")

    def act(self, context: bpy.types.Context, obj: bpy.types.Object):
        mapping = rig.setup(obj, self.preset)
        self.report({"INFO"}, f"{obj.name}: {len(mapping.rows)} matched, {len(mapping.unmatched)} unmatched")
        return {"FINISHED"}


class TALKINGHEAD_OT_rig_row_add(_RigAction, bpy.types.Operator):
    """Add a mapping row (for an unmatched shape key when one is given)"""

    bl_idname = "talking_head.rig_row_add"
    bl_label = "Add Row"
    bl_options = {"REGISTER", "UNDO"}

    key: StringProperty(name="Shape Key")

    def act(self, context: bpy.types.Context, obj: bpy.types.Object):
        st = rig.settings(obj)
        row = st.rows.add()
        row.target = self.key or (rig.unmatched(obj) or [""])[0]
        st.row_index = len(st.rows) - 1
        st.active = True
        return {"FINISHED"}


class TALKINGHEAD_OT_rig_row_remove(_RigAction, bpy.types.Operator):
    """Remove the selected mapping row (its shape key becomes unmatched)"""

    bl_idname = "talking_head.rig_row_remove"
    bl_label = "Remove Row"
    bl_options = {"REGISTER", "UNDO"}

    def act(self, context: bpy.types.Context, obj: bpy.types.Object):
        st = rig.settings(obj)
        if 0 <= st.row_index < len(st.rows):
            st.rows.remove(st.row_index)
            st.row_index = min(st.row_index, len(st.rows) - 1)
        return {"FINISHED"}


class TALKINGHEAD_OT_rig_bake(_RigOperator, JobOperator, bpy.types.Operator):
    """Key the character's shape keys (and head/neck bones) on every frame from the source"""

    bl_idname = "talking_head.rig_bake"
    bl_label = "Bake Character"
    bl_options = {"REGISTER", "UNDO"}

    frames: StringProperty(name="Frames", description="Scene frames A-B or A..B, both ends included; "
                                                      "empty: all")

    def make_task(self, context: bpy.types.Context):
        return rig.prepare_bake(context.scene, self.target(context), parse_optional(self.frames))


class TALKINGHEAD_OT_rig_clear(_RigAction, bpy.types.Operator):
    """Remove the keys the add-on baked on the character (hand-made keys stay)"""

    bl_idname = "talking_head.rig_clear"
    bl_label = "Clear Baked Keys"
    bl_options = {"REGISTER", "UNDO"}

    def act(self, context: bpy.types.Context, obj: bpy.types.Object):
        self.report({"INFO"}, f"removed {rig.clear(obj)} baked keys from {obj.name}")
        return {"FINISHED"}


CLASSES = (TALKINGHEAD_OT_rig_setup, TALKINGHEAD_OT_rig_match, TALKINGHEAD_OT_rig_row_add,
           TALKINGHEAD_OT_rig_row_remove, TALKINGHEAD_OT_rig_bake, TALKINGHEAD_OT_rig_clear)
