"""Renderer models: download (only with Blender's online access on) or install from a file."""

from __future__ import annotations

import bpy
from bpy.props import BoolProperty, EnumProperty, StringProperty

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
    """The extension-owned folder of the PyTorch runtime an earlier version installed."""
    from ..prefs import addon_package

    try:
        return bpy.utils.extension_path_user(addon_package(), path="gpu", create=False)
    except (ValueError, AttributeError, OSError):
        return None


def gpu_runtime_root() -> str | None:
    """The extension-owned folder of the GPU runtime (onnxruntime/ first on sys.path, torch/
    last; engine/gpu_runtime.py). None outside an installed extension."""
    from ..prefs import addon_package

    try:
        return bpy.utils.extension_path_user(addon_package(), path="gpu_runtime", create=True)
    except (ValueError, AttributeError, OSError):
        return None


class TALKINGHEAD_OT_gpu_runtime_install(JobOperator, bpy.types.Operator):
    """Install the GPU runtime beside the extension: onnxruntime-gpu with its CUDA libraries on
    NVIDIA (Linux/Windows), onnxruntime-directml on other Windows GPUs; PyTorch optionally. A
    large download; needs Allow Online Access. macOS needs nothing (CoreML is built in)"""

    bl_idname = "talking_head.gpu_runtime_install"
    bl_label = "Install GPU Runtime"
    bl_options = {"REGISTER"}

    flavor: EnumProperty(name="Flavor", items=(
        ("auto", "Auto", "CUDA with an NVIDIA driver, DirectML on other Windows GPUs"),
        ("cuda", "CUDA", "onnxruntime-gpu (CUDA 12) and its nvidia-* libraries"),
        ("directml", "DirectML", "onnxruntime-directml (Windows)"),
    ), default="auto")
    with_torch: BoolProperty(name="Also PyTorch", default=False,
                             description="The built-in renderer's GPU sampler and the GPU paste-back")
    index_url: StringProperty(name="Index URL", default="",
                              description="pip index (empty: PyPI)")
    find_links: StringProperty(name="Wheel Folder", default="", subtype="DIR_PATH",
                               description="Install from this folder of wheels only (offline)")

    def make_task(self, context: bpy.types.Context) -> flows.Task:
        from ..engine import gpu_runtime
        from ..engine.errors import EngineError

        offline = bool(self.find_links)
        if not offline and not compat.online_access():
            raise EngineError("installing the GPU runtime downloads it: turn on Preferences > System > "
                              "Allow Online Access first, or give a wheel folder")
        root = gpu_runtime_root()
        if root is None:
            raise EngineError("the GPU runtime can only be installed into an installed extension")
        flavor, with_torch = self.flavor, self.with_torch
        index = self.index_url or None
        links = None
        if offline:  # a wheel URL stays as typed; a folder is made absolute
            links = self.find_links if "://" in self.find_links else bpy.path.abspath(self.find_links)
        allow = compat.online_access()
        # a wrong wheel folder, or a wheel URL off this machine without online access, fails at once
        gpu_runtime.check_install_arguments(root, (), links, index_url=index, no_index=offline,
                                            allow_network=allow)

        def work(progress: Progress) -> str:
            # overwrite: the root is the extension's own user folder (installs made before the
            # ownership marker existed have none), never a folder the user picked
            names = gpu_runtime.install_runtime(root, flavor, with_torch=with_torch, index_url=index,
                                                find_links=links, no_index=offline, progress=progress,
                                                overwrite=True, allow_network=allow)
            state = gpu_runtime.activate_runtime(root, load=True)
            providers = ", ".join(p.replace("ExecutionProvider", "") for p in state.providers)
            note = " (restart Blender to use it)" if state.restart_needed else f"; providers: {providers}"
            return "installed " + ", ".join(names) + note

        return flows.Task("install GPU runtime", work, lambda msg: msg)


def activate_gpu_runtime() -> None:
    """Make a previously installed GPU runtime importable (called at register, before anything
    imports onnxruntime)."""
    from ..engine import gpu_runtime

    root = gpu_runtime_root()
    if root:
        gpu_runtime.activate_runtime(root)
    legacy = gpu_runtime_dir()
    if legacy:
        gpu_runtime.activate(legacy)


CLASSES = (TALKINGHEAD_OT_models_download, TALKINGHEAD_OT_models_install,
           TALKINGHEAD_OT_gpu_runtime_install)
