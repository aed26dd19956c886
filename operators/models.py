"""Renderer models: download (only with Blender's online access on) or install from a file."""

from __future__ import annotations

import bpy
from bpy.props import StringProperty

from ..adapters import compat, flows
from ..engine.progress import Progress
from ._common import JobOperator, error_message


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
        from ..engine.models.store import ModelStore
        from ..prefs import models_dir

        try:
            names = ModelStore(models_dir()).install_from(bpy.path.abspath(self.filepath), self.set_name)
        except Exception as exc:  # noqa: BLE001 - one line in the status bar, never a traceback
            self.report({"ERROR"}, error_message(exc))
            return {"CANCELLED"}
        self.report({"INFO"}, f"installed {len(names)} file(s)")
        return {"FINISHED"}

    def invoke(self, context: bpy.types.Context, event: bpy.types.Event):
        context.window_manager.fileselect_add(self)
        return {"RUNNING_MODAL"}


def gpu_runtime_dir() -> str | None:
    """The extension-owned folder for the optional PyTorch runtime (None outside an extension)."""
    from ..prefs import addon_package

    try:
        return bpy.utils.extension_path_user(addon_package(), path="gpu", create=True)
    except (ValueError, AttributeError, OSError):
        return None


class TALKINGHEAD_OT_gpu_runtime_install(JobOperator, bpy.types.Operator):
    """Install PyTorch beside the extension for the optional GPU sampler (a large download;
    needs Allow Online Access)"""

    bl_idname = "talking_head.gpu_runtime_install"
    bl_label = "Install GPU Runtime (PyTorch)"
    bl_options = {"REGISTER"}

    index_url: StringProperty(name="Index URL", default="",
                              description="pip index, e.g. a PyTorch CUDA index (empty: PyPI)")

    def make_task(self, context: bpy.types.Context) -> flows.Task:
        from ..engine import gpu_runtime
        from ..engine.errors import EngineError

        if not compat.online_access():
            raise EngineError("installing PyTorch downloads it: turn on Preferences > System > "
                              "Allow Online Access first")
        target = gpu_runtime_dir()
        if target is None:
            raise EngineError("the GPU runtime can only be installed into an installed extension")
        index = self.index_url or None

        def work(progress: Progress) -> list[str]:
            names = gpu_runtime.install(target, index_url=index, progress=progress)
            gpu_runtime.activate(target)
            return names

        return flows.Task("install PyTorch", work, lambda names: "installed " + ", ".join(names))


def activate_gpu_runtime() -> None:
    """Make a previously installed PyTorch importable (called at register)."""
    from ..engine import gpu_runtime

    target = gpu_runtime_dir()
    if target:
        gpu_runtime.activate(target)


CLASSES = (TALKINGHEAD_OT_models_download, TALKINGHEAD_OT_models_install,
           TALKINGHEAD_OT_gpu_runtime_install)
