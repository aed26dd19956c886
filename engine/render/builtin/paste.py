"""The head region: where motion is allowed, its feathered falloff, and paste-back.

Motion is full inside the head ellipse (face, hair, top of the neck) and fades smoothly to zero
between radii FALLOFF (head-ellipse units): the feathered mask of the paste-back. The working box
is the bounding box of everything that can move; pixels whose motion is exactly zero are copied
from the portrait, so the background outside the dilated head region is bit-identical.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from .fitting import PortraitFit
from .geometry import ANCHOR_SCALE, FALLOFF


def head_radius(fit: PortraitFit) -> Callable[[np.ndarray], np.ndarray]:
    """Points (..., 2) in pixels -> radius in head-ellipse units (1 = the head ellipse)."""
    a, b = fit.head_axes
    c = fit.head_centre

    def radius(xy: np.ndarray) -> np.ndarray:
        d = np.asarray(xy, np.float64) - c
        u = d @ fit.axis_u
        v = d @ fit.axis_v
        return np.sqrt((u / a) ** 2 + (v / b) ** 2)

    return radius


def falloff(fit: PortraitFit) -> Callable[[np.ndarray], np.ndarray]:
    radius = head_radius(fit)
    r0, r1 = FALLOFF

    def weight(xy: np.ndarray) -> np.ndarray:
        t = np.clip((radius(xy) - r0) / (r1 - r0), 0.0, 1.0)
        return 1.0 - t * t * (3 - 2 * t)

    return weight


def region_box(fit: PortraitFit, image_size: tuple[int, int], extra_uv_boxes: list[tuple] = ()
               ) -> tuple[int, int, int, int]:
    """Integer (x0, y0, x1, y1) box covering the moving region, clipped to the image."""
    w, h = image_size
    a, b = fit.head_axes
    c_uv = fit.to_local(fit.head_centre)
    r = ANCHOR_SCALE
    corners = [(c_uv[0] + sx * r * a, c_uv[1] + sy * r * b) for sx in (-1, 1) for sy in (-1, 1)]
    for u0, v0, u1, v1 in extra_uv_boxes:
        corners += [(u0, v0), (u0, v1), (u1, v0), (u1, v1)]
    xy = fit.to_image(np.array(corners))
    x0 = int(max(np.floor(xy[:, 0].min()) - 2, 0))
    y0 = int(max(np.floor(xy[:, 1].min()) - 2, 0))
    x1 = int(min(np.ceil(xy[:, 0].max()) + 3, w))
    y1 = int(min(np.ceil(xy[:, 1].max()) + 3, h))
    return x0, y0, x1, y1


def uv_box_corners(fit: PortraitFit, box: tuple[float, float, float, float]) -> np.ndarray:
    u0, v0, u1, v1 = box
    return fit.to_image(np.array([(u0, v0), (u1, v0), (u0, v1), (u1, v1)]))


def composite(portrait: np.ndarray, box: tuple[int, int, int, int], warped: np.ndarray,
              moving: np.ndarray) -> np.ndarray:
    """The full frame: the portrait with ``warped`` pasted into ``box`` where ``moving``
    (uint8 mask, 1 = moving)."""
    import cv2

    x0, y0, x1, y1 = box
    out = portrait.copy()
    region = out[y0:y1, x0:x1]
    cv2.copyTo(warped, moving, region)  # in place: ``region`` is a view into ``out``
    return out
