"""Registers the renderers that ship with the engine (imported lazily by base.create_renderer)."""
