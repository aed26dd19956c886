"""Model manager: known model sets (``registry``) and per-user storage with verified downloads
and offline installs (``store``). Plain Python, no bpy; network only when the caller allows it."""

from . import registry, store

__all__ = ["registry", "store"]
