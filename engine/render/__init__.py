"""Renderers: a portrait plus per-frame controls in, full-resolution frames out."""

from .base import Renderer, RenderError, available_renderers, create_renderer, register_renderer

__all__ = ["Renderer", "RenderError", "available_renderers", "create_renderer", "register_renderer"]
