"""Clear a portrait's keys and result; setting up and forgetting portraits."""

from __future__ import annotations

import bpy
from bpy.props import BoolProperty, StringProperty

from ..adapters import compat, flows, keyframes, nodes, strips
from ._common import PortraitAction, context_item, error_message, in_node_editor


class TALKINGHEAD_OT_clear(PortraitAction, bpy.types.Operator):
    """Remove the portrait's control keys and its result strip/node (rendered files stay on disk)"""

    bl_idname = "talking_head.clear"
    bl_label = "Clear"
    bl_options = {"REGISTER", "UNDO"}

    portrait: StringProperty(name="Portrait")
    keys: BoolProperty(name="Keys", default=True, description="Remove the control keyframes")
    result: BoolProperty(name="Result", default=True, description="Remove the result strip/node")

    def act(self, context: bpy.types.Context, item) -> str:  # noqa: ANN001
        return flows.clear(context.scene, item, self.keys, self.result)


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
        except Exception as exc:  # noqa: BLE001 - one line in the status bar, never a traceback
            self.report({"ERROR"}, error_message(exc))
            return {"CANCELLED"}
        self.report({"INFO"}, f"portrait {item.name!r} ready: pick its driving clip, then Capture")
        return {"FINISHED"}


class TALKINGHEAD_OT_remove_portrait(PortraitAction, bpy.types.Operator):
    """Forget this portrait: its keys and result are removed (files stay on disk)"""

    bl_idname = "talking_head.remove_portrait"
    bl_label = "Remove Portrait"
    bl_options = {"REGISTER", "UNDO"}

    portrait: StringProperty(name="Portrait")

    def act(self, context: bpy.types.Context, item) -> str:  # noqa: ANN001
        flows.clear(context.scene, item)
        keyframes.clear_controls(context.scene, item)
        # keep the slot (other portraits' animation paths index into the collection)
        item.removed = True
        item.portrait_strip = item.portrait_node = item.driving_strip = item.driving_node = ""
        return ""


class TALKINGHEAD_OT_import_motion(bpy.types.Operator):
    """Key the portrait's controls from a motion file (python -m engine capture/sample output),
    frame for frame from the portrait's first frame"""

    bl_idname = "talking_head.import_motion"
    bl_label = "Import Motion File"
    bl_options = {"REGISTER", "UNDO"}

    filepath: StringProperty(subtype="FILE_PATH")
    filter_glob: StringProperty(default="*.json", options={"HIDDEN"})
    portrait: StringProperty(name="Portrait")

    def execute(self, context: bpy.types.Context):
        from ..engine.motion import Motion

        try:
            item = context_item(context, self.portrait, create=True)
            motion = Motion.load(bpy.path.abspath(self.filepath))
            if item.kind == "COMPOSITOR":
                start = context.scene.frame_start
            else:
                strip = strips.portrait_strip(context.scene, item)
                if strip is None:
                    raise strips.SetupError(f"portrait strip {item.portrait_strip!r} not found")
                start = compat.strip_handles(strip)[0]
            n = keyframes.write_motion(context.scene, item, motion, start)
        except Exception as exc:  # noqa: BLE001 - one line in the status bar, never a traceback
            self.report({"ERROR"}, error_message(exc))
            return {"CANCELLED"}
        item.captured_from = bpy.path.basename(self.filepath)
        self.report({"INFO"}, f"keyed {motion.frame_count} frames ({n} keys)")
        return {"FINISHED"}

    def invoke(self, context: bpy.types.Context, event: bpy.types.Event):
        context.window_manager.fileselect_add(self)
        return {"RUNNING_MODAL"}


CLASSES = (TALKINGHEAD_OT_clear, TALKINGHEAD_OT_add_portrait, TALKINGHEAD_OT_remove_portrait,
           TALKINGHEAD_OT_import_motion)
