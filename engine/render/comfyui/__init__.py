"""ComfyUI as a render backend (a clip renderer): templates, client, media conversion.

No bpy, no ComfyUI code: only its public HTTP + websocket API. See docs/comfyui.md.
"""

from ..base import register_renderer
from .client import ComfyClient, ComfyUIError
from .renderer import ComfyUIRenderer
from .workflow import Workflow, load_workflow, shipped_templates, template_labels

register_renderer("comfyui", ComfyUIRenderer)

__all__ = ["ComfyClient", "ComfyUIError", "ComfyUIRenderer", "Workflow", "load_workflow",
           "shipped_templates", "template_labels"]
