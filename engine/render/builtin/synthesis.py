"""Local edits where a smooth warp alone is wrong: eyelids, gaze and the mouth opening.

Each edit works in the portrait's face-local coordinates (u right, v down, pixels) on the map
positions that the smooth warp produced, and cuts the map along a lid or lip line:

* Eyes: the lid skin between the brow and the lid margin slides down over the eye (the eyeball is
  occluded, never squashed); the portrait's own dark lash line travels with the margin, and a
  light shading is added there. Wider than neutral stretches the opening. Gaze shifts the iris
  inside the opening (the shift tapers to zero at the corners and the lids).
* Mouth: below the upper inner lip the jaw region samples from above (the lower lip and chin
  move down); between the lips a synthetic interior is painted: dark cavity, an upper-teeth hint
  and a tongue tint, shaded towards the corners, blended at the lip lines with soft edges. A
  negative opening moves the lower lip up, closing an open-mouthed portrait.
"""

from __future__ import annotations

import numpy as np

from .fitting import EyeFit, MouthFit


def _smoothstep(e0: float, e1: float, x: np.ndarray) -> np.ndarray:
    t = np.clip((x - np.float32(e0)) * np.float32(1.0 / (e1 - e0)), 0.0, 1.0)
    return t * t * (np.float32(3.0) - np.float32(2.0) * t)


def eye_edit(eye: EyeFit, uv: np.ndarray, openness: float, gaze: tuple[float, float]
             ) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None, np.ndarray | None]:
    """Returns (eyeball uv, lid uv or None, lid alpha or None, lid shading or None)."""
    u, v = uv[..., 0], uv[..., 1]
    inside = (u > eye.u[0]) & (u < eye.u[-1])
    vu = np.interp(u, eye.u, eye.v_up)
    vl = np.interp(u, eye.u, eye.v_lo)
    gap = vl - vu
    vm = vu + (1.0 - openness) * gap  # the new lid margin
    base = uv.copy()
    # Gaze: shift inside the source opening, tapering to the corners and the lids.
    gx, gy = gaze
    if gx or gy:
        # The iris moves rigidly (phi = 1 over the moved iris); the sclera between it and each
        # corner is stretched or compressed (phi falls linearly to 0 at the corner).
        u0, u1 = float(eye.u[0]), float(eye.u[-1])
        room = (u1 - eye.iris_u - eye.iris_r) if gx > 0 else (eye.iris_u - eye.iris_r - u0)
        gx = float(np.clip(gx, -0.7 * max(room, 0.0), 0.7 * max(room, 0.0)))
        c = eye.iris_u + gx
        lo_edge, hi_edge = c - eye.iris_r, c + eye.iris_r
        phi = np.where(u < lo_edge, (u - u0) / max(lo_edge - u0, 1e-3),
                       np.where(u > hi_edge, (u1 - u) / max(u1 - hi_edge, 1e-3), 1.0))
        phi = np.clip(phi, 0, 1)
        psi = np.clip(np.minimum(v - vu, vl - v) / np.maximum(0.12 * gap, 1e-3), 0, 1)
        w = phi * psi * inside
        base[..., 0] -= gx * w
        base[..., 1] -= gy * w
    if abs(openness - 1.0) < 1e-4:
        return base, None, None, None
    vtop = vu - eye.lid_height
    if openness > 1.0:  # wider: stretch the opening, compress the lid skin upwards
        opening = inside & (v >= vm) & (v <= vl)
        stretched = vl + (v - vl) * gap / np.maximum(vl - vm, 1e-3)
        base[..., 1] = np.where(opening, stretched, base[..., 1])
    lid = uv.copy()
    zone = inside & (v >= vtop) & (v < vm)
    lid_v = vtop + (v - vtop) * (vu - vtop) / np.maximum(vm - vtop, 1e-3)
    lid[..., 1] = np.where(zone, lid_v, v)
    alpha = (np.clip(vm - v + 0.5, 0.0, 1.0) * inside).astype(np.float32)
    closing = max(0.0, 1.0 - openness)
    shade = 1.0 - 0.18 * closing * np.exp(-np.maximum(vm - v, 0) / max(0.05 * eye.width, 0.5)) * inside
    return base, lid, alpha, shade.astype(np.float32)


# Mouth interior, in shades of the portrait's lip colour: shadow under the upper lip, tongue
# towards the lower lip, a faint upper-teeth band.
INTERIOR_DARK, INTERIOR_TONGUE, TEETH_ALPHA = 0.5, 0.9, 0.45


def mouth_edit(mouth: MouthFit, uv: np.ndarray, jaw: float, lift: float, width: float,
               lip_rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
    """Returns (uv with the lips and jaw moved, interior RGB float32 or None, its alpha or None).

    ``jaw``: pixels the lower inner lip moves down at the centre (negative closes an open
    portrait); ``lift``: pixels the upper lip rises at the centre. Both taper to zero at the
    corners (a lens-shaped opening)."""
    if abs(jaw) < 0.05 and lift < 0.05:
        return uv, None, None
    f32 = np.float32
    u, v = uv[..., 0], uv[..., 1]
    du = u - f32(mouth.u_centre)
    vu = np.interp(u, mouth.u, mouth.v_up).astype(f32)
    vl = np.interp(u, mouth.u, mouth.v_lo).astype(f32)
    x = np.clip(du * f32(1.0 / max(mouth.half_width, 1e-6)), -1, 1)
    lens = (f32(1.0) - x * x) ** f32(0.8)
    rise = f32(lift) * lens
    upper_dst = vu - rise
    lower_dst = np.maximum(vl + f32(jaw) * lens, upper_dst)
    gap = lower_dst - upper_dst
    inv_gap = f32(1.0) / np.maximum(gap, f32(1e-3))
    # Below the upper lip line: the jaw (lower lip, chin) moves down, tapering into the neck.
    chin = f32(1.0) - _smoothstep(0.15 * width, 0.5 * width, np.abs(du))
    below = v - vu
    t = _smoothstep(0.0, 0.4 * width, below)
    neck = f32(1.0) - _smoothstep(mouth.v_chin, mouth.v_chin + 0.45 * width, v)
    new_v = v - f32(jaw) * (lens + (chin - lens) * t) * neck
    # Above it: the upper lip rises, compressing the skin up to the nose.
    above = upper_dst - v
    np.copyto(new_v, v + rise * (f32(1.0) - _smoothstep(0.0, 0.12 * width, above)), where=above > 0)
    # Between the lips: the portrait's own interior, stretched (replaced by paint where new).
    interior = (above <= 0) & (v < lower_dst)
    np.copyto(new_v, vu + (v - upper_dst) * (vl - vu) * inv_gap, where=interior)
    out = uv.copy()
    out[..., 1] = new_v
    if jaw + lift <= 0:
        return out, None, None
    own = vl - vu
    paint = np.clip((gap - own) * inv_gap, 0.0, 1.0)
    edge = np.clip(f32(0.5) - above, 0, 1) * np.clip(lower_dst - v + f32(0.5), 0, 1)
    alpha = paint * edge
    f = np.clip((v - upper_dst) * inv_gap, 0.0, 1.0)  # 0 at the upper lip, 1 at the lower
    lip = np.asarray(lip_rgb, f32)
    dark, tongue_rgb = lip * f32(INTERIOR_DARK), lip * f32(INTERIOR_TONGUE)
    teeth_rgb = np.minimum(lip * f32(0.25) + f32(175.0), f32(245.0))
    rgb = dark + (tongue_rgb - dark) * (_smoothstep(0.2, 1.0, f) * f32(0.9))[..., None]
    teeth_h = np.minimum(f32(0.22), f32(0.03 * width) * inv_gap)
    teeth = (f32(1.0) - _smoothstep(0.0, 1.0, f / np.maximum(teeth_h, f32(1e-3)))) * (
        _smoothstep(0.02 * width, 0.08 * width, gap) * f32(TEETH_ALPHA))
    rgb += (teeth_rgb - rgb) * teeth[..., None]
    rgb *= (f32(0.5) + f32(0.5) * lens)[..., None]
    return out, rgb, alpha.astype(f32)
