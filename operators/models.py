"""Renderer models: download (only with Blender's online access on) or install from a file."""

from __future__ import annotations

import bpy
from bpy.props import StringProperty

from ..adapters import compat, flows
from ..engine.progress import Progress
from ._common import JobOperator


class TALKINGHEAD_OT_models_download(JobOperator, bpy.types.Operator):
    """Download and verify the LivePortrait model files (needs Allow Online Access)"""

    bl_idname = "talking_head.models_download"
    bl_label = "Download Models"
    bl_options = {"REGISTER"}

    set_name: StringProperty(name="Model Set", default="liveportrait")

    def make_task(self, context: bpy.types.Context) -> flows.Task:
        from ..engine.models.store import ModelStore
        from ..prefs import models_dir

        store = ModelStore(models_dir())
        allow = compat.online_access()
        name = self.set_name

        def work(progress: Progress) -> None:
            store.download(name, allow_network=allow, progress=progress)

        return flows.Task(f"download {name}", work, lambda _r: f"{name} models installed in {store.root}")


class TALKINGHEAD_OT_models_install(bpy.types.Operator):
    """Install model files from a folder or .zip you downloaded yourself (offline)"""

    bl_idname = "talking_head.models_install"
    bl_label = "Install Models from File"

    filepath: StringProperty(subtype="FILE_PATH")
    set_name: StringProperty(name="Model Set", default="liveportrait")

    def execute(self, context: bpy.types.Context):
        from ..engine.errors import EngineError
        from ..engine.models.store import ModelStore
        from ..prefs import models_dir

        try:
            names = ModelStore(models_dir()).install_from(bpy.path.abspath(self.filepath), self.set_name)
        except EngineError as exc:
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
        self.report({"INFO"}, f"installed {len(names)} file(s)")
        return {"FINISHED"}

    def invoke(self, context: bpy.types.Context, event: bpy.types.Event):
        context.window_manager.fileselect_add(self)
        return {"RUNNING_MODAL"}


CLASSES = (TALKINGHEAD_OT_models_download, TALKINGHEAD_OT_models_install)
