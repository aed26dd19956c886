"""The renderer interface every backend implements (built-in warp, LivePortrait, ...).

A renderer is prepared once per portrait (fitting, features) and then renders any frame from
that frame's controls alone: stateless per frame, so any frame range renders on its own and
render-farm chunks concatenate bit for bit.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from ..errors import EngineError


class RenderError(EngineError):
    """Rendering cannot proceed (no face in the portrait, missing model, ...)."""


class Renderer(ABC):
    #: registry key, e.g. "builtin", "liveportrait"
    name: str = ""
    #: human label for menus
    label: str = ""
    #: does this renderer need downloaded model files?
    needs_models: bool = False

    def __init__(self, device: str = "auto", **options: Any):
        self.device = device
        self.options = options

    @abstractmethod
    def prepare(self, portrait: np.ndarray) -> None:
        """Fit the portrait (RGB uint8, full resolution). Raises RenderError if unusable."""

    @abstractmethod
    def render_frame(self, controls: Mapping[str, float],
                     extras: Mapping[str, np.ndarray] | None = None) -> np.ndarray:
        """One frame (RGB uint8, the portrait's size) from one frame's controls."""

    def close(self) -> None:  # noqa: B027 - optional hook, most renderers hold nothing
        """Release models and device memory."""


_REGISTRY: dict[str, Callable[..., Renderer]] = {}


def register_renderer(name: str, factory: Callable[..., Renderer]) -> None:
    _REGISTRY[name] = factory


def available_renderers() -> list[str]:
    _load_builtin_backends()
    return sorted(_REGISTRY)


def create_renderer(name: str, device: str = "auto", **options: Any) -> Renderer:
    _load_builtin_backends()
    if name not in _REGISTRY:
        raise RenderError(f"unknown renderer {name!r}; available: {', '.join(sorted(_REGISTRY))}")
    return _REGISTRY[name](device=device, **options)


def _load_builtin_backends() -> None:
    # Imported lazily: backends pull in torch/onnxruntime, which the CLI's --help must not need.
    from . import backends  # noqa: F401
