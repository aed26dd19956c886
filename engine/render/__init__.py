"""Renderers: a portrait plus per-frame controls (or a whole clip) in, full-resolution frames out."""

from .base import (
    ClipJob,
    ClipRenderer,
    Renderer,
    RenderError,
    available_renderers,
    create_renderer,
    register_renderer,
)

__all__ = ["ClipJob", "ClipRenderer", "Renderer", "RenderError", "available_renderers", "create_renderer",
           "register_renderer"]
