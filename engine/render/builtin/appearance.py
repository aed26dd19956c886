"""Portrait -> the colours and textures the local edits paint with, once per portrait.

Everything the eyelid and mouth edits add comes from the portrait itself, so photos, paintings
and drawings keep their own palette and lighting:

* ``LidSkin`` (per eye): the portrait's upper-lid skin between the brow and the lashes,
  resampled on a small (t, u) grid (t = 0 at the top of the lid zone, 1 just above the lashes)
  and low-passed along t (and mildly along u). A closing lid is drawn from it: stretching a
  low-passed texture cannot make streaks, and its top-to-bottom gradient (brow shadow -> lid)
  stays the portrait's own.
* ``MouthLook``: lip colour, a cavity colour (the lips darkened), tongue colour (lips toward
  skin), teeth colour (the portrait's eye whites, i.e. its own light on a white surface; the
  skin brightened when no sclera is visible), and whether the portrait shows its own teeth.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .fitting import LIP_IN_LO, LIP_IN_UP, EyeFit, PortraitFit, lip_colour

# Lid skin texture grid and its low-pass (grid cells)
LID_NT, LID_NU = 24, 48
LID_BLUR_T, LID_BLUR_U = 3.0, 2.5
LASH_BAND = 0.05  # the dark band above the lid margin is at least this high (eye widths)
LASH_ROOT = 0.07  # at most this much of it (eye widths) travels rigidly with the closing margin:
# the lash roots and liner make a thin dark line; longer lashes are replaced by lid skin


@dataclass
class LidSkin:
    texture: np.ndarray  # (LID_NT, LID_NU, 3) float32 RGB
    u0: float  # u of texture column 0 and of column LID_NU - 1 (face-local pixels)
    u1: float
    lash: float  # lash band height (lash_height), pixels: the texture is sampled above it
    root: float  # the lash line (lash roots, liner) that travels rigidly with the margin, pixels


@dataclass
class MouthLook:
    lip: np.ndarray  # (3,) float32 RGB
    cavity: np.ndarray
    tongue: np.ndarray
    teeth: np.ndarray
    own_teeth: bool  # the portrait's own interior shows teeth (kept; none synthesized)


def _sample_local(rgb: np.ndarray, fit: PortraitFit, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    import cv2

    xy = fit.to_image(np.stack([u, v], axis=-1)).astype(np.float32)
    return cv2.remap(rgb, xy[..., 0], xy[..., 1], cv2.INTER_LINEAR,
                     borderMode=cv2.BORDER_REPLICATE).astype(np.float32)


def lid_skin(rgb: np.ndarray, fit: PortraitFit, eye: EyeFit) -> LidSkin:
    import cv2

    pad = 0.1 * eye.width
    u0, u1 = float(eye.u[0] - pad), float(eye.u[-1] + pad)
    lash = lash_height(rgb, fit, eye)  # the texture stays above all of it
    u = np.linspace(u0, u1, LID_NU)
    vu = np.interp(u, eye.u, eye.v_up)
    top = vu - eye.lid_height
    bottom = np.maximum(vu - lash, top + 1.0)
    t = np.linspace(0.0, 1.0, LID_NT)[:, None]
    v = top[None, :] + t * (bottom - top)[None, :]
    tex = _sample_local(rgb, fit, np.broadcast_to(u, v.shape), v)
    # An open eye hides most of the lid skin in its fold; what shows (crease, socket shadow) is
    # darker than the unfolded lid. Half of each column is its brighter half's mean colour.
    y = _luma(tex)
    bright = (y >= np.median(y, axis=0, keepdims=True))[..., None]
    lit = (tex * bright).sum(axis=0) / np.maximum(bright.sum(axis=0), 1)
    tex = 0.5 * tex + 0.5 * lit[None, :, :]
    tex = cv2.GaussianBlur(tex.astype(np.float32), (0, 0), sigmaX=LID_BLUR_U, sigmaY=LID_BLUR_T,
                           borderType=cv2.BORDER_REPLICATE)
    return LidSkin(np.ascontiguousarray(tex, np.float32), u0, u1, lash, min(lash, LASH_ROOT * eye.width))


def lash_height(rgb: np.ndarray, fit: PortraitFit, eye: EyeFit) -> float:
    """Height of the dark band above the upper lid margin (lashes, liner): from the margin up to
    where the central columns are back to the lid skin's brightness. It travels rigidly with the
    closing lid; stretching it is what draws streaks across a closing eye."""
    k = len(eye.u)
    u = np.linspace(eye.u[int(0.25 * k)], eye.u[int(0.75 * k)], 12)
    vu = np.interp(u, eye.u, eye.v_up)
    top = vu - eye.lid_height
    lo, hi = LASH_BAND * eye.width, min(0.25 * eye.width, 0.6 * eye.lid_height)
    s = np.linspace(0.0, hi, 24)[:, None]
    profile = _luma(_sample_local(rgb, fit, np.broadcast_to(u, (24, 12)), vu[None, :] - s)).mean(axis=1)
    t = np.linspace(0.0, 0.5, 8)[:, None]
    skin = float(np.median(_luma(_sample_local(rgb, fit, np.broadcast_to(u, (8, 12)),
                                               top[None, :] + t * eye.lid_height))))
    dark = profile < 0.85 * skin
    if not dark[0]:
        return float(max(lo, 0.0) if lo <= hi else hi)
    first_light = int(np.argmin(dark)) if not dark.all() else len(dark) - 1
    h = float(s[first_light, 0]) + 0.02 * eye.width
    return float(np.clip(h, min(lo, hi), hi))


def _luma(c: np.ndarray) -> np.ndarray:
    return c[..., 0] * 0.299 + c[..., 1] * 0.587 + c[..., 2] * 0.114


def _polygon_pixels(rgb: np.ndarray, points: np.ndarray) -> np.ndarray:
    import cv2

    mask = np.zeros(rgb.shape[:2], np.uint8)
    cv2.fillPoly(mask, [np.round(points).astype(np.int32)], 1)
    return rgb[mask.astype(bool)].reshape(-1, 3).astype(np.float32)


def _sclera(rgb: np.ndarray, fit: PortraitFit) -> np.ndarray | None:
    """The eye whites: bright, unsaturated pixels inside the eye openings (median colour)."""
    px = []
    for eye in fit.eyes.values():
        up = np.stack([eye.u, eye.v_up], axis=1)
        lo = np.stack([eye.u, eye.v_lo], axis=1)[::-1]
        px.append(_polygon_pixels(rgb, fit.to_image(np.vstack([up, lo]))))
    p = np.vstack(px)
    if len(p) < 12:
        return None
    sat = (p.max(axis=1) - p.min(axis=1)) / np.maximum(p.max(axis=1), 1.0)
    y = _luma(p)
    white = p[(sat < 0.35) & (y >= np.percentile(y, 70))]
    if len(white) < 4:
        return None
    return np.median(white, axis=0).astype(np.float32)


def _skin(rgb: np.ndarray, fit: PortraitFit) -> np.ndarray:
    """Median colour of two cheek patches (below the eyes, beside the nose)."""
    r = max(int(0.04 * fit.width), 1)
    h, w = rgb.shape[:2]
    px = []
    for i in (50, 280, 205, 425):
        x, y = np.round(fit.landmarks[i, :2]).astype(int)
        patch = rgb[max(y - r, 0):min(y + r + 1, h), max(x - r, 0):min(x + r + 1, w)]
        if patch.size:
            px.append(patch.reshape(-1, 3))
    if not px:
        return np.array([190.0, 150.0, 130.0], np.float32)
    return np.median(np.vstack(px), axis=0).astype(np.float32)


def mouth_look(rgb: np.ndarray, fit: PortraitFit) -> MouthLook:
    lip = lip_colour(rgb, fit)
    skin = _skin(rgb, fit)
    sclera = _sclera(rgb, fit)
    if sclera is None:
        sclera = np.minimum(skin * 1.25 + 30.0, 240.0)
    # Teeth: the portrait's own white under its own light, a touch of the lips' warmth, never
    # brighter than that white (a cartoon-white grin on a dark painting is what this avoids).
    teeth = np.clip(0.8 * sclera + 0.2 * lip, 0, 245)
    # ... and no brighter than the lit skin (teeth inside a mouth are never lit more than the face)
    teeth = (teeth * min(1.0, 1.05 * float(_luma(skin)) / max(float(_luma(teeth)), 1.0))).astype(np.float32)
    tongue = (0.8 * lip + 0.2 * skin) * 0.95
    cavity = lip * np.float32(0.6)
    own_teeth = False
    if fit.mouth_gap > 0.02:
        xy = fit.landmarks[:, :2]
        inner = _polygon_pixels(rgb, xy[list(LIP_IN_UP) + list(LIP_IN_LO)[::-1]])
        if len(inner) >= 12:
            sat = (inner.max(axis=1) - inner.min(axis=1)) / np.maximum(inner.max(axis=1), 1.0)
            bright = (_luma(inner) > 1.2 * float(_luma(lip))) & (sat < 0.4)
            own_teeth = bool(bright.mean() > 0.2)
    return MouthLook(lip.astype(np.float32), cavity.astype(np.float32), tongue.astype(np.float32),
                     teeth, own_teeth)
