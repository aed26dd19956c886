"""ComfyUI servers in the preferences, and Check Server (thin: logic in adapters/comfyui.py)."""

from __future__ import annotations

import bpy
from bpy.props import IntProperty, StringProperty

from ..adapters import comfyui
from ..engine.errors import EngineError


class TALKINGHEAD_OT_comfy_server_add(bpy.types.Operator):
    """Add a ComfyUI server (name, URL, optional token)"""

    bl_idname = "talking_head.comfy_server_add"
    bl_label = "Add ComfyUI Server"
    bl_options = {"REGISTER", "INTERNAL"}

    def execute(self, context: bpy.types.Context):
        from ..prefs import get_prefs

        prefs = get_prefs()
        server = prefs.comfy_servers.add()
        n = len(prefs.comfy_servers)
        server.name = "Local ComfyUI" if n == 1 else f"Server {n}"
        context.preferences.is_dirty = True
        return {"FINISHED"}


class TALKINGHEAD_OT_comfy_server_remove(bpy.types.Operator):
    """Remove this ComfyUI server from the list"""

    bl_idname = "talking_head.comfy_server_remove"
    bl_label = "Remove ComfyUI Server"
    bl_options = {"REGISTER", "INTERNAL"}

    index: IntProperty()

    def execute(self, context: bpy.types.Context):
        from ..prefs import get_prefs

        prefs = get_prefs()
        if 0 <= self.index < len(prefs.comfy_servers):
            prefs.comfy_servers.remove(self.index)
            context.preferences.is_dirty = True
        return {"FINISHED"}


class TALKINGHEAD_OT_comfy_check(bpy.types.Operator):
    """Ask the ComfyUI server which workflows it can run: missing node packs and model files"""

    bl_idname = "talking_head.comfy_check"
    bl_label = "Check Server"
    bl_options = {"REGISTER"}

    server: StringProperty(name="Server", description="Server name (empty: the portrait's, else the first)")
    workflow: StringProperty(name="Workflow",
                             description="Template name or .json path (empty: all templates)")

    def execute(self, context: bpy.types.Context):
        server = self.server
        workflows = [self.workflow] if self.workflow else None
        if not server and context.scene is not None:
            from ._common import panel_item

            item = panel_item(context)
            if item is not None:
                server = item.comfy_server
        try:
            lines = comfyui.check_server(server, workflows)
        except EngineError as exc:
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
        for line in lines:
            print(f"talking_head: {line}")
        problems = [ln for ln in lines[1:] if not ln.endswith(": ready")]
        for line in problems:
            self.report({"WARNING"}, line)
        ready = len(lines) - 1 - len(problems)
        self.report({"INFO"}, f"{lines[0]}; {ready} of {len(lines) - 1} workflow(s) ready")
        return {"FINISHED"}


CLASSES = (TALKINGHEAD_OT_comfy_server_add, TALKINGHEAD_OT_comfy_server_remove, TALKINGHEAD_OT_comfy_check)
