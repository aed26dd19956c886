"""The renderer interface every backend implements: two kinds, one registry.

* ``kind == "frame"`` (``Renderer``: built-in warp, LivePortrait): prepared once per portrait,
  then renders any frame from that frame's controls alone. Stateless per frame, so any frame
  range renders on its own and render-farm chunks concatenate bit for bit.
* ``kind == "clip"`` (``ClipRenderer``: ComfyUI workflows with diffusion / video models): renders
  a whole contiguous frame range as ONE job from a ``ClipJob`` (portrait, motion, range, driving
  clip). What a frame range means for a clip backend: the range is the clip. Frames inside one
  range are temporally consistent; two ranges (farm chunks) are two independent generations,
  so the frame at a chunk boundary can jump (a seam) and a chunked render is not bit-identical to
  a whole one. Render a clip backend in one range, or chunks that cut at shot boundaries. A
  frame list with gaps is rendered as one job per contiguous run (engine/pipeline.py).

The pipeline (engine/pipeline.py), the operators and the CLI call ``render_motion`` for both; it
looks at ``kind`` and calls ``render_frame`` per frame or ``render_clip`` once.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import EngineError

if TYPE_CHECKING:
    from ..motion import Motion
    from ..progress import Progress


class RenderError(EngineError):
    """Rendering cannot proceed (no face in the portrait, missing model, ...)."""


class Renderer(ABC):
    #: "frame": render_frame per frame; "clip": render_clip per contiguous range (ClipRenderer)
    kind: str = "frame"
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

    def use_motion(self, motion: Motion) -> None:  # noqa: B027 - optional hook
        """Per-motion facts the frames may depend on (the built-in renderer: the neutral's
        absolute head pose); called once before ``prepare``, frames stay a pure function of
        (portrait, motion, frame)."""

    def close(self) -> None:  # noqa: B027 - optional hook, most renderers hold nothing
        """Release models and device memory."""


@dataclass
class ClipJob:
    """Everything a clip renderer may use for one contiguous range of motion frames."""

    portrait: np.ndarray  # RGB uint8, full resolution
    motion: Motion  # the whole motion; ``frames`` says which part this job renders
    frames: range  # contiguous motion frame indices (step 1)
    #: the driving clip (for workflows driven by it or its audio) and the driving-video frame
    #: of motion frame 0 (``motion.source["start"]`` after a capture)
    driving: str | None = None
    driving_start: int = 0
    #: optional driving-clip frame for each frame of ``frames`` (a re-timed strip in Blender);
    #: None: frame ``driving_start + index``, 1:1
    driving_indices: list[int] | None = None
    #: "guide" (a video rendered from the curves by the built-in renderer), "driving" (the clip
    #: as it is) or "audio" (its sound); None: the backend's default
    drive: str | None = None
    seed: int = 0

    @property
    def fps(self) -> float:
        return float(self.motion.fps)


class ClipRenderer(Renderer):
    """A backend that renders a whole clip at once (see the module docstring for ranges)."""

    kind = "clip"

    def prepare(self, portrait: np.ndarray) -> None:
        self.portrait = portrait

    def render_frame(self, controls: Mapping[str, float],
                     extras: Mapping[str, np.ndarray] | None = None) -> np.ndarray:
        raise RenderError(f"the {self.label or self.name} renderer renders whole clips, not single "
                          "frames; render a frame range")

    @abstractmethod
    def render_clip(self, job: ClipJob, progress: Progress | None = None) -> list[np.ndarray]:
        """``len(job.frames)`` frames (RGB uint8, the portrait's size) for ``job.frames``."""


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
