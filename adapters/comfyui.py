"""bpy-side glue of the ComfyUI renderer: which server, workflow and drive a portrait uses, and
Check Server. The work itself is engine/render/comfyui (no bpy)."""

from __future__ import annotations

import bpy
import numpy as np

from ..engine.errors import EngineError
from . import compat
from .strips import SetupError


def workflow_of(item) -> str:
    """Template name, or the absolute path of the portrait's own workflow file."""
    if item.comfy_workflow == "CUSTOM":
        if not item.comfy_workflow_path:
            raise SetupError("pick your API-format workflow .json (Workflow File) or a template")
        return bpy.path.abspath(item.comfy_workflow_path)
    return item.comfy_workflow


def client_for(server_name: str = ""):
    from ..engine.render.comfyui.client import ComfyClient
    from ..prefs import comfy_server

    url, token, ca_file = comfy_server(server_name)
    return ComfyClient(url, token, allow_network=compat.online_access(), ca_file=ca_file)


def render_setup(scene: bpy.types.Scene, item, all_frames: np.ndarray) -> tuple[dict, dict]:
    """(renderer_options, render_motion keywords) for rendering ``item`` through ComfyUI.

    Read on the main thread; the token goes to the worker thread in memory only. When the drive
    needs the driving strip, each motion frame gets the driving frame the strip shows at that
    scene frame (trim, offset and playback rate honoured, frames outside the strip clamped)."""
    from ..engine.render.comfyui.workflow import load_workflow
    from ..prefs import comfy_server

    workflow = workflow_of(item)
    wf = load_workflow(workflow)  # a broken workflow file fails now, not in the worker
    url, token, ca_file = comfy_server(item.comfy_server)
    options = {"workflow": workflow, "server": url, "token": token, "ca_file": ca_file,
               "allow_network": compat.online_access()}
    drive = None if item.comfy_drive == "DEFAULT" else item.comfy_drive
    kwargs: dict = {"drive": drive, "seed": int(item.comfy_seed)}
    if (drive or wf.drive) in ("driving", "audio") or "audio" in wf.inputs:
        from .flows import driving_range

        try:
            rng = driving_range(scene, item)
        except EngineError as exc:
            raise SetupError(f"{wf.label} is driven by the driving clip: {exc}") from exc
        src = np.interp(all_frames, rng.scene_frames, rng.source_frames)
        kwargs["driving"] = rng.path
        kwargs["driving_indices"] = [int(round(v)) for v in src]
    return options, kwargs


def body_for(item, workflow: str, all_frames: np.ndarray):
    """The portrait's captured body on its frames when ``workflow`` takes a pose video (else
    None); one sentence when it takes one and the portrait has no body."""
    from ..engine.render.comfyui.workflow import load_workflow
    from . import body_track

    wf = load_workflow(workflow)
    if not wf.inputs.get("pose"):
        return None
    body = body_track.body_at(item, np.asarray(all_frames, np.float64))
    if body is None:
        raise SetupError(f"{wf.label} takes a pose video from the body: turn on Body (under the "
                         "capture settings) and Capture the portrait again")
    return body


def check_server(server_name: str = "", workflows: list[str] | None = None) -> list[str]:
    """Check Server: one line per workflow (ready / needs pack X / missing model file Y)."""
    from ..engine.render.comfyui.check import check_workflow
    from ..engine.render.comfyui.workflow import load_workflow, shipped_templates

    client = client_for(server_name)
    info = client.object_info()
    lines = [f"{client.url}: {len(info)} node types"]
    for name in workflows or shipped_templates():
        lines.append(check_workflow(load_workflow(name), info).summary())
    return lines
