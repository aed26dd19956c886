"""talking_head engine: capture expression controls from video and render talking portraits.

A plain Python package: it never imports bpy, so it runs and is tested outside Blender, and the
add-on imports it relatively (``from . import engine``) under whatever package name Blender gives
the extension. All imports inside are relative for the same reason.
"""

__version__ = "0.1.0"
