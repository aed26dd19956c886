"""Add-on preferences: device, model folder, default renderer, capture smoothing, ComfyUI servers.

ComfyUI server tokens are kept here (Blender's user preferences, userpref.blend) or in the
environment variable TALKING_HEAD_COMFYUI_TOKEN, never in scene .blend files or in logs.
"""

from __future__ import annotations

import bpy
from bpy.props import CollectionProperty, EnumProperty, FloatProperty, IntProperty, StringProperty

from .props import DEVICES as ITEM_DEVICES
from .props import RENDERERS

DEVICES = tuple(d for d in ITEM_DEVICES if d[0] != "DEFAULT")


def addon_package() -> str:
    """The name Blender registered this add-on under (bl_ext.<repo>.talking_head)."""
    return __package__


def get_prefs():
    addon = bpy.context.preferences.addons.get(addon_package())
    return None if addon is None else addon.preferences


def models_dir() -> str | None:
    """The model folder: the preference, else the extension's user folder (None outside an
    installed extension, where the engine's default applies)."""
    prefs = get_prefs()
    folder = prefs.models_dir if prefs is not None else ""
    if folder:
        return bpy.path.abspath(folder)
    try:
        return bpy.utils.extension_path_user(addon_package(), path="models", create=True)
    except (ValueError, AttributeError, OSError):
        return None


def default_device() -> str:
    prefs = get_prefs()
    return prefs.device if prefs is not None else "auto"


def default_smoothing() -> float:
    prefs = get_prefs()
    return prefs.smoothing if prefs is not None else 0.5


DEFAULT_COMFY_URL = "http://127.0.0.1:8188"


def comfy_server(name: str = "") -> tuple[str, str | None, str | None]:
    """(URL, token or None, CA file or None) of the ComfyUI server ``name`` (empty or unknown:
    the first one, else a local server on the default port). The token falls back to the
    environment."""
    import os

    from .engine.render.comfyui.renderer import TOKEN_ENV

    prefs = get_prefs()
    servers = list(prefs.comfy_servers) if prefs is not None else []
    chosen = next((s for s in servers if s.name == name), servers[0] if servers else None)
    if chosen is None:
        return DEFAULT_COMFY_URL, os.environ.get(TOKEN_ENV) or None, None
    # preferences are not stored in a .blend: the CA File is an absolute path (~ expanded)
    ca_file = os.path.expanduser(chosen.ca_file) if chosen.ca_file else None
    return (chosen.url or DEFAULT_COMFY_URL, chosen.token or os.environ.get(TOKEN_ENV) or None,
            ca_file)


class TalkingHeadComfyServer(bpy.types.PropertyGroup):
    name: StringProperty(name="Name", default="Local ComfyUI")
    url: StringProperty(name="URL", default=DEFAULT_COMFY_URL,
                        description="http(s)://host:port of a ComfyUI server; a server that is not this "
                                    "machine needs Allow Online Access (Preferences > System)")
    token: StringProperty(name="Token", subtype="PASSWORD", default="",
                          description="Optional bearer token (kept in the user preferences only, never in "
                                      ".blend files; or set TALKING_HEAD_COMFYUI_TOKEN)")
    ca_file: StringProperty(name="CA File", subtype="FILE_PATH", default="",
                            description="https only: a CA certificate (.pem) to trust for this server, "
                                        "e.g. a self-signed reverse proxy; certificates are always verified")


class TalkingHeadPreferences(bpy.types.AddonPreferences):
    bl_idname = __package__

    device: EnumProperty(name="Device", items=DEVICES, default="auto",
                         description="Where renderers run unless a portrait picks its own")
    models_dir: StringProperty(name="Model Folder", subtype="DIR_PATH", default="",
                               description="Where downloaded renderer models are kept "
                                           "(empty: the extension's user folder)")
    default_renderer: EnumProperty(name="Default Renderer", items=RENDERERS, default="builtin",
                                   description="Renderer of new portraits")
    smoothing: FloatProperty(name="Smoothing", min=0.0, max=1.0, default=0.5,
                             description="Capture jitter filter for portraits that do not set their "
                                         "own, 0 off ... 1 strong")
    comfy_servers: CollectionProperty(type=TalkingHeadComfyServer, name="ComfyUI Servers")
    comfy_active: IntProperty(name="Active Server", default=0)

    def draw(self, context: bpy.types.Context) -> None:
        layout = self.layout
        layout.prop(self, "device")
        layout.prop(self, "default_renderer")
        layout.prop(self, "smoothing")
        layout.prop(self, "models_dir")
        online = bool(getattr(bpy.app, "online_access", False))
        box = layout.box()
        box.label(text=_models_summary(), icon="FILE_3D")
        row = box.row()
        sub = row.row()
        sub.enabled = online
        sub.operator("talking_head.models_download", icon="IMPORT")
        row.operator("talking_head.models_install", icon="FILE_FOLDER")
        gpu = layout.box()
        gpu.label(text="GPU runtime for LivePortrait (onnxruntime-gpu / DirectML), installed beside "
                       "the extension", icon="MEMORY")
        gpu.label(text=_runtime_summary())
        sub = gpu.row()
        sub.enabled = online
        sub.operator("talking_head.gpu_runtime_install")
        if not online:
            layout.label(text="Online access is off (Preferences > System): nothing is downloaded; "
                              "install models from a file", icon="INFO")
        _draw_comfy_servers(layout, self, online)


def _draw_comfy_servers(layout: bpy.types.UILayout, prefs, online: bool) -> None:
    from .engine.render.comfyui.client import is_loopback

    box = layout.box()
    box.label(text="ComfyUI servers (the ComfyUI renderer)", icon="NETWORK_DRIVE")
    for k, server in enumerate(prefs.comfy_servers):
        row = box.row(align=True)
        row.prop(server, "name", text="")
        row.prop(server, "url", text="")
        row.prop(server, "token", text="", icon="LOCKED")
        op = row.operator("talking_head.comfy_check", text="", icon="CHECKMARK")
        op.server = server.name
        row.operator("talking_head.comfy_server_remove", text="", icon="X").index = k
        if server.url.strip().lower().startswith("https"):
            box.prop(server, "ca_file", text=f"{server.name}: CA File")
        host = server.url.split("://", 1)[-1].split("/", 1)[0].rsplit(":", 1)[0]
        if not online and not is_loopback(host):
            box.label(text=f"{server.name}: not this machine; needs Allow Online Access", icon="ERROR")
    box.operator("talking_head.comfy_server_add", icon="ADD")


def _models_summary() -> str:
    """LivePortrait model files present (no hashing here: drawing must stay cheap)."""
    try:
        from .engine.models.registry import get_set
        from .engine.models.store import ModelStore

        store = ModelStore(models_dir())
        files = get_set("liveportrait").files
        present = sum(store.path("liveportrait", f.name).is_file() for f in files)
    except Exception as exc:  # noqa: BLE001 - a preferences panel must draw whatever happens
        return f"LivePortrait models: unknown ({exc})"
    return f"LivePortrait models: {present} of {len(files)} files in {store.root}"

def _runtime_summary() -> str:
    """Which onnxruntime providers this Blender has (cheap: reads what is already loaded)."""
    try:
        from .engine.gpu_runtime import runtime_state
        from .operators.models import gpu_runtime_root

        root = gpu_runtime_root()
        if root is None:
            return "GPU runtime: only inside an installed extension"
        st = runtime_state(root, load=True)
    except Exception as exc:  # noqa: BLE001 - a preferences panel must draw whatever happens
        return f"GPU runtime: unknown ({exc})"
    state = "installed" if st.onnxruntime_dir else "not installed"
    if st.restart_needed:
        state += ", restart Blender to use it"
    elif st.other_python:
        state += f" for Python {st.other_python} (another Blender): install it again"
    providers = ", ".join(p.replace("ExecutionProvider", "") for p in st.providers) or "none"
    return f"GPU runtime {state}; onnxruntime {st.version or '?'} providers: {providers}"


def register() -> None:
    bpy.utils.register_class(TalkingHeadComfyServer)
    bpy.utils.register_class(TalkingHeadPreferences)


def unregister() -> None:
    bpy.utils.unregister_class(TalkingHeadPreferences)
    bpy.utils.unregister_class(TalkingHeadComfyServer)
