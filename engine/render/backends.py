"""Imports the renderers that ship with the engine; each module registers itself on import.

Imported lazily by base.create_renderer, so `python -m engine --help` needs neither torch nor
onnxruntime.
"""

import importlib

for _name in ("builtin", "liveportrait", "comfyui"):
    try:
        importlib.import_module(f"{__package__}.{_name}")
    except ModuleNotFoundError as _exc:  # that backend is not part of this build
        if _exc.name != f"{__package__}.{_name}":
            raise
