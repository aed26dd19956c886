"""Local edits where a smooth warp alone is wrong: eyelids, gaze and the mouth opening.

Each edit works in the portrait's face-local coordinates (u right, v down, pixels) on the map
positions that the smooth warp produced, and cuts the map along a lid or lip line. All shapes are
continuous functions of the controls (no thresholds that pop), and depend only on that frame's
controls (constant controls -> identical frames).

* Eyes: the upper lid margin moves down to ``vm``; the lower lid rises a little (LOWER_RISE of
  the opening). The lid layer above the margin is the portrait's lid (its lash band carried
  rigidly with the margin, the skin above it stretched), cross-faded as the eye closes into the
  closed-lid skin texture (appearance.LidSkin: skin spanned between the skin the lid meets, with
  the portrait's grain added per frame) over the whole lid down to the margin, so a closing lid
  is skin at every ``eye_open``, never stretched lashes or eye white; the texture fades in softly
  from the top of the lid zone and the corners (no edge). A soft shadow toward the
  margin and a thin, soft lash line in the portrait's darkest lash tone (tapering at the
  corners) sit on it. As it closes, the portrait's long lashes past the outer corner and its
  lower lid's outline give way to LidSkin.fill (``LidLayer.fill_ramp``). Wider than neutral
  stretches the opening. Gaze shifts the iris inside the
  opening.
* Mouth: the jaw moves the lower lip and chin down below the upper lip line. A portrait that
  shows its own teeth splits at the dark band between them (appearance.MouthLook.between): the
  upper teeth move with the upper lip, the lower with the jaw, and the new gap between them is
  real pixels: the actor's interior between its teeth rows (exemplars) or, without exemplars,
  the portrait's own dark band stretched. A closed-mouth portrait's opening is filled from the
  actor's mouth exemplars, else painted in the portrait's colours (appearance.MouthLook): a
  cavity darker toward the back and under the upper lip, a tongue rising from the lower lip, and
  upper teeth under the upper lip (the lower teeth stay behind the lower lip, as in relaxed
  speech); its top fades in under the upper lip over a couple of pixels, in the lip's shadow.
  Sizes are in face widths, so the look scales with the mouth. A clearly open portrait
  whose mouth shows cavity or tongue (not teeth) is opened further by stretching that real
  interior instead (appearance.MouthLook.stretchable); smiling more than it does, it gets the
  actor's teeth rows under its upper lip (``actor_over``), opening or closing, the rest of its
  interior its own.
* Closing an open portrait (``_close``): the lips meet over the teeth the way real mouths close
  (measured on the shared clips): the upper lip drops a little, the lower lip rises rigidly, the
  chin rises as one block by less than the lip, the skin between them lengthens evenly.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from .appearance import LID_NT, LID_NU, LidSkin, MouthLook
from .fitting import EyeFit, MouthFit
from .geometry import CORNER_RISE

f32 = np.float32


def _smoothstep(e0: float, e1: float, x: np.ndarray) -> np.ndarray:
    t = np.clip((x - f32(e0)) * f32(1.0 / (e1 - e0)), 0.0, 1.0)
    return t * t * (f32(3.0) - f32(2.0) * t)


# -- eyes -------------------------------------------------------------------------------------

LOWER_RISE = 0.15  # the lower lid rises by this fraction of the opening when the eye closes
LOWER_SKIN = 0.3  # eye widths of lower-lid skin below the margin that stretch up with it
LID_SHADOW = 0.14
LID_FEATHER_T, LID_FEATHER_U = 0.3, 0.12  # the lid texture fades in over this much of the lid's
# height from its top, and this many eye widths from the corners
LASH_HALF, LASH_STRENGTH = 0.022, 0.8  # the lash line: half-height (eye widths), opacity at the middle
LOWER_EVEN = (0.6, 1.0)  # closing over which the lower lid's outline is evened (LidSkin.fill): a
# half-open eye still shows its lower rim


@dataclass
class LidLayer:
    """The closing lid over one eye box: a portrait-sampled layer (``lid`` uv), cross-faded into
    the lid-skin texture (``tex_x``/``tex_y`` map into LidSkin.texture, weight ``tex_w``), times
    ``shade``, composited with ``alpha``."""
    lid: np.ndarray
    alpha: np.ndarray
    shade: np.ndarray
    tex_x: np.ndarray
    tex_y: np.ndarray
    tex_w: np.ndarray
    tex_ramp: np.ndarray | float = 0.0  # how far the texture may replace eye white in the layer
    aperture: np.ndarray | None = None  # 1 inside the (closing) opening: eye white belongs there
    lash: np.ndarray | None = None  # opacity of the lash line (LidSkin.lash_tone) over the layer
    fill_ramp: tuple[float, float] = (0.0, 0.0)  # how much of LidSkin.fill shows (its corner lashes
    # closed away, its lower outline evened), by its two masks


def eye_edit(eye: EyeFit, skin: LidSkin, uv: np.ndarray, openness: float, gaze: tuple[float, float]
             ) -> tuple[np.ndarray, LidLayer | None]:
    """Returns (eyeball/lower-lid uv, the lid layer or None when the eye is not closing)."""
    u, v = uv[..., 0], uv[..., 1]
    inside = (u > eye.u[0]) & (u < eye.u[-1])
    vu = np.interp(u, eye.u, eye.v_up).astype(f32)
    vl = np.interp(u, eye.u, eye.v_lo).astype(f32)
    gap = vl - vu
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
        w = (phi * psi * inside).astype(f32)
        base[..., 0] -= f32(gx) * w
        base[..., 1] -= f32(gy) * w
    if abs(openness - 1.0) < 1e-4:
        return base, None
    if openness > 1.0:  # wider: stretch the opening, compress the lid skin upwards
        vm = vu - f32(openness - 1.0) * gap
        opening = inside & (v >= vm) & (v <= vl)
        stretched = vl + (v - vl) * gap / np.maximum(vl - vm, f32(1e-3))
        base[..., 1] = np.where(opening, stretched, base[..., 1])
        vtop = vu - f32(eye.lid_height)
        lid = uv.copy()
        zone = inside & (v >= vtop) & (v < vm)
        lid[..., 1] = np.where(zone, vtop + (v - vtop) * (vu - vtop) / np.maximum(vm - vtop, f32(1e-3)), v)
        alpha = (np.clip(vm - v + f32(0.5), 0.0, 1.0) * inside).astype(f32)
        one = np.ones_like(alpha)
        zero = np.zeros_like(alpha)
        return base, LidLayer(lid, alpha, one, zero, zero, zero, 0.0)

    closing = f32(min(max(1.0 - openness, 0.0), 1.0))
    # The lower lid rises: its skin below the margin stretches up by ``rise``.
    rise = f32(LOWER_RISE) * closing * gap
    vl2 = vl - rise
    h_lo = f32(LOWER_SKIN * eye.width)
    lower = inside & (v >= vl2) & (v < vl + h_lo)
    np.copyto(base[..., 1], vl + (v - vl2) * h_lo / (h_lo + rise), where=lower)
    vm = vu + closing * (vl2 - vu)  # the new upper lid margin
    lash = f32(min(skin.root, 0.5 * eye.lid_height))
    vtop = vu - f32(eye.lid_height + skin.lift)
    drop = vm - vu
    # Lid uv: the lash band [vm - lash, vm] is the portrait's [vu - lash, vu], translated; above
    # it the skin [vtop, vu - lash] stretches over [vtop, vm - lash].
    band_top = vm - lash
    # Toward the eye corners the lid meets unchanged skin: its own changes fade out there.
    to_corner = np.minimum(u - f32(eye.u[0]), f32(eye.u[-1]) - u)
    ends = _smoothstep(0.0, 0.2 * eye.width, to_corner)
    # Above the lash line the lid shows skin: as the eye closes, the portrait's longer lashes
    # (between the lash line and skin.lash) are skipped instead of stretched into streaks.
    skip = f32(max(skin.lash - float(lash), 0.0)) * _smoothstep(0.0, 0.5, closing) * ends
    span_src = np.maximum(vu - lash - skip - vtop, f32(1.0))
    span_dst = np.maximum(band_top - vtop, f32(1.0))
    zone = inside & (v >= vtop)
    lid_v = np.where(v >= band_top, v - drop, vtop + (v - vtop) * (span_src / span_dst))
    lid = uv.copy()
    np.copyto(lid[..., 1], lid_v, where=zone)
    alpha = (np.clip(vm - v + f32(0.5), 0.0, 1.0) * inside).astype(f32)
    # Lid-skin texture: t = 0 at vtop, 1 at the lash band; cross-faded in as the eye closes, and
    # out again near the lash band (the portrait's own lashes take over there).
    t = np.clip((v - vtop) / span_dst, 0.0, 1.0)
    tex_y = (t * f32(LID_NT - 1)).astype(f32)
    tex_x = ((u - f32(skin.u0)) * f32((LID_NU - 1) / (skin.u1 - skin.u0))).astype(f32)
    ramp = f32(_smoothstep(0.0, 0.35, np.float32(closing)))
    ew = f32(eye.width)
    # The texture covers the whole closing lid down to its margin (the portrait's lash band too:
    # carried over a wide eye it brings long lashes and eye white along, a grey smudge); the
    # lash line is drawn on it. Only at the very corners does the portrait's own lid show.
    corner = _smoothstep(0.0, LID_FEATHER_U * eye.width, to_corner)
    # The texture's top row is the portrait's own row at vtop; it also fades in softly over the
    # upper part of the lid (and toward the corners) from the portrait's own, barely stretched
    # skin there: a lid ending at once read as an oval with a rim in shadowed sockets and a
    # pale patch's straight edge on light skin.
    in_zone = _smoothstep(-0.05, LID_FEATHER_T, (v - vtop) / span_dst)
    tex_w = (ramp * corner * in_zone).astype(f32)
    # Shading: the lid's own shadow toward the margin.
    above = np.maximum(vm - v, f32(0.0))
    shade = f32(1.0) - f32(LID_SHADOW) * closing * np.exp(-above / (f32(0.07) * ew))
    # The lash line: the portrait's darkest lash tone in a thin soft band along the margin,
    # thinnest and faintest at the corners (the lid layer's alpha cuts it at the margin itself).
    x = np.clip((u - f32(eye.u[0])) / ew, 0.0, 1.0)
    taper = np.sqrt(f32(4.0) * x * (f32(1.0) - x))
    half = np.maximum(f32(LASH_HALF * eye.width), f32(0.7)) * (f32(0.5) + f32(0.5) * taper)
    lash_a = (f32(LASH_STRENGTH) * ramp * (f32(0.35) + f32(0.65) * taper)
              * np.exp(-np.square((vm - v - f32(0.5) * half) / half)) * inside).astype(f32)
    aperture = inside * np.clip(v - vm + f32(0.5), 0.0, 1.0) * np.clip(vl2 - v + f32(0.5), 0.0, 1.0)
    aperture = aperture.astype(f32)
    fill_ramp = (float(ramp), float(_smoothstep(*LOWER_EVEN, np.float32(closing))))
    return base, LidLayer(lid, alpha, shade.astype(f32), tex_x, tex_y, tex_w, ramp, aperture, lash_a,
                          fill_ramp)


# -- mouth ------------------------------------------------------------------------------------

# Sizes in face widths: upper teeth visible height, tongue height cap.
TEETH_H, TEETH_SMILE, TONGUE_H = 0.015, 0.045, 0.09
SMILE_LIGHT = 0.15  # a full smile lights the cavity and tongue this much more (0.3 lit it pink)
INNER_LIP = 0.045  # face widths of the lower lip's inner surface showing in an opening
LOWER_TEETH_H = 0.012  # lower teeth showing above the lower lip in wide openings
TEETH_FADE = (0.0, 0.03)  # jaw drop (face widths) over which the synthetic teeth fade in
# Tooth boundaries from the mouth centre, face widths (incisors, laterals, canines, premolars).
_SEP_AT = np.array([0.0, 0.046, 0.083, 0.112])
_SEP_X = np.linspace(-0.25, 0.25, 501)


def mouth_x(mouth: MouthFit, u: np.ndarray) -> np.ndarray:
    """-1..1 from one mouth corner to the other at portrait columns ``u`` (clamped)."""
    return np.clip((u - f32(mouth.u_centre)) * f32(1.0 / max(mouth.half_width, 1e-6)), -1, 1)


def opening_bounds(mouth: MouthFit, u: np.ndarray, jaw: float, lift: float,
                   vu: np.ndarray | None = None, vl: np.ndarray | None = None,
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The opening at portrait columns ``u``: (x: -1..1 from corner to corner, lens: the oval's
    profile sqrt(1 - x^2), the upper and the lower lip's new row) when the lower lip drops ``jaw``
    and the upper rises ``lift`` pixels at the centre. ``vu``/``vl``: the lips' rows at ``u`` when
    already interpolated. One definition for the edit and for what measures it."""
    if vu is None:
        vu = np.interp(u, mouth.u, mouth.v_up).astype(f32)
    if vl is None:
        vl = np.interp(u, mouth.u, mouth.v_lo).astype(f32)
    x = mouth_x(mouth, u)
    lens = np.sqrt(f32(1.0) - x * x)  # an oval opening (an ellipse's profile)
    upper = vu - f32(lift) * lens
    return x, lens, upper, np.maximum(vl + f32(jaw) * lens, upper)


def mouth_edit(mouth: MouthFit, look: MouthLook, uv: np.ndarray, jaw: float, lift: float, width: float,
               smile: float = 0.0, pixel: float = 1.0, exemplar=None,  # noqa: ANN001
               over: float = 0.0) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
    """Returns (uv with the lips and jaw moved, interior RGB float32 premultiplied by its alpha,
    or None, and that alpha or None).

    ``jaw``: pixels the lower inner lip moves down at the centre (negative closes an open
    portrait); ``lift``: pixels the upper lip rises at the centre. Both taper to zero at the
    corners (an oval opening). ``smile`` (0..1) shows more of the upper teeth. ``pixel``:
    portrait pixels per row/column of ``uv`` (> 1 when the edit runs on a downscaled map).
    ``exemplar``: ``colours(a, g, x)`` of a painted opening without own teeth (the actor's real
    mouth, exemplars.MouthBank.interior) instead of the procedural one. ``over`` (0..1, with an
    exemplar, on a stretchable portrait): how much of the exemplar's teeth rows are laid over the
    portrait's own interior (``actor_over``), in the opening whichever way it moves."""
    if abs(jaw) < 0.05 and lift < 0.05:
        if over > 0 and exemplar is not None:  # the portrait's own opening, unmoved
            u, v = uv[..., 0], uv[..., 1]
            vu = np.interp(u, mouth.u, mouth.v_up).astype(f32)
            vl = np.interp(u, mouth.u, mouth.v_lo).astype(f32)
            rgb, alpha = _actor_teeth(exemplar, over, v - vu, vl - vu, mouth_x(mouth, u), width, pixel)
            return uv, rgb, alpha
        return uv, None, None
    # contiguous planes: the many whole-map operations below run ~2x faster than on the
    # interleaved (u, v) pairs
    u, v = np.ascontiguousarray(uv[..., 0]), np.ascontiguousarray(uv[..., 1])
    vu = np.interp(u, mouth.u, mouth.v_up).astype(f32)
    if jaw <= 0 and lift < 0.05:  # closing an open portrait
        out = uv.copy()
        out[..., 1], seam, (slit, left) = _close(mouth, u, v, vu, -jaw, width, pixel)
        teeth = teeth_alpha = None
        if over > 0 and exemplar is not None:  # in what is left of the opening
            teeth, teeth_alpha = _actor_teeth(exemplar, over, v - slit, left, mouth_x(mouth, u), width, pixel)
        if seam is None:
            return out, teeth, teeth_alpha
        # the lip line: the portrait's own darkest lip-line tone in the seam between the lips
        rgb = np.zeros(seam.shape + (3,), f32)
        rows, cols = np.nonzero(seam.any(axis=1))[0], np.nonzero(seam.any(axis=0))[0]
        box = np.s_[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]
        rgb[box] = seam[box][..., None] * np.asarray(look.cavity, f32)
        if teeth is not None:  # the seam over the teeth (both premultiplied)
            rgb += teeth * (f32(1.0) - seam[..., None])
            seam = seam + teeth_alpha * (f32(1.0) - seam)
        return out, rgb, seam
    du = u - f32(mouth.u_centre)
    vl = np.interp(u, mouth.u, mouth.v_lo).astype(f32)
    x, lens, upper_dst, lower_dst = opening_bounds(mouth, u, jaw, lift, vu, vl)
    rise = f32(lift) * lens
    gap = lower_dst - upper_dst
    own = vl - vu
    # Below the upper lip line: the jaw (lower lip, chin) moves down, tapering into the neck.
    # The lower lip moves as a whole with the opening (jaw * lens); below it the skin blends to
    # the chin's drop (wider than the lens: the jaw moves as a block). Written as a backward map
    # from the output rows, with a blend ramp long enough that it never folds.
    chin = f32(1.0) - _smoothstep(0.15 * width, 0.5 * width, np.abs(du))
    lip_bottom = vl if mouth.v_lo_out is None else np.interp(u, mouth.u, mouth.v_lo_out).astype(f32)
    drop_lip = f32(jaw) * lens
    extra = f32(max(jaw, 0.0)) * np.maximum(chin - lens, f32(0.0))
    ramp = np.maximum(f32(0.35 * width), f32(1.6) * extra)
    t = np.clip((v - lip_bottom - drop_lip) / ramp, 0.0, 1.0)
    t = t * t * (f32(3.0) - f32(2.0) * t)
    neck = f32(1.0) - _smoothstep(mouth.v_chin, mouth.v_chin + 0.45 * width, v)
    new_v = v - (drop_lip + f32(jaw) * (chin - lens) * t) * neck
    # Above it: the upper lip rises, compressing the skin up to the nose.
    above = upper_dst - v
    np.copyto(new_v, v + rise * (f32(1.0) - _smoothstep(0.0, 0.12 * width, above)), where=above > 0)
    interior = (above <= 0) & (v < lower_dst)
    out = uv.copy()
    if jaw <= 0:  # closing with a rising upper lip (UPPER_LIP_RAISE > 0): the interior is
        # compressed between the lips
        np.copyto(new_v, vu + (v - upper_dst) * own / np.maximum(gap, f32(1e-3)), where=interior)
        out[..., 1] = new_v
        return out, None, None
    # Opening: the portrait's own interior splits at its middle; each half moves with its lip.
    a = v - upper_dst  # below the upper lip
    b = lower_dst - v  # above the lower lip
    aa = f32(1.0 / max(pixel, 1.0))  # edges soft over one working pixel (no stairs when upsampled)
    if look.stretchable:
        # An open portrait's own interior (cavity, tongue, teeth) is stretched to the new gap:
        # the quarter under each lip moves rigidly with it (teeth keep their shape), the middle
        # (the dark back of the mouth) stretches. Real pixels, nothing painted.
        q = f32(INTERIOR_RIGID) * own
        mid = np.maximum(gap - 2 * q, f32(1e-3))
        src = np.where(a < q, vu + a, np.where(b < q, vl - b, vu + q + (a - q) * (own - 2 * q) / mid))
        np.copyto(new_v, src, where=interior)
        out[..., 1] = new_v
        if over > 0 and exemplar is not None:
            rgb, alpha = _actor_teeth(exemplar, over, a, gap, x, width, pixel, b)  # its opening
            return out, rgb, alpha
        return out, None, None
    if look.own_teeth:
        # Its own teeth stay: the rows above the dark band between its teeth (upper teeth) move
        # with the upper lip, those below it (lower teeth) with the jaw, and the band, the
        # portrait's own darkest interior, stretches over the new gap (real pixels). With the
        # actor's exemplars the grown band is painted with the actor's real interior between
        # its teeth (cavity, tongue); without, with the band's own pixels low-passed across the
        # mouth (stretched tall, column detail would streak), deepening in its middle.
        bu, b_top, b_bot, _ = look.between  # set with own_teeth (appearance.mouth_look)
        up = np.interp(u, bu, b_top).astype(f32) * own  # rows that move with the upper lip
        lo = (f32(1.0) - np.interp(u, bu, b_bot).astype(f32)) * own  # ... with the lower lip
        band_src = own - up - lo
        band = np.maximum(gap - up - lo, f32(1e-3))
        t = np.clip((a - up) / band, 0.0, 1.0)
        np.copyto(new_v, np.where(a < up, vu + a, np.where(b < lo, vl - b, vu + up + t * band_src)),
                  where=interior)
        out[..., 1] = new_v
        grow = np.clip((gap - own) / np.maximum(band_src, f32(pixel)), 0, 1)  # 0 at the own opening
        top = np.clip((a - up) * aa + f32(0.5), 0, 1)
        bottom = np.clip((b - lo) * aa + f32(0.5), 0, 1) * interior
        # the own band shows while the gap is at most ~5x its own height (BAND_STRETCH); stretched
        # further (a thin band, or none where the teeth rows touch) its rows smear into streaks
        own_band = f32(1.0) - _smoothstep(BAND_STRETCH[0], BAND_STRETCH[1],
                                          band / np.maximum(band_src, f32(BAND_MIN_PX)))
        alpha = grow * bottom
        if exemplar is not None:  # toward the corners the actor's crop holds its lip corners:
            # there the portrait's own band shows instead where it stretches little, else the
            # painted cavity
            corner = _smoothstep(BETWEEN_CORNER[0], BETWEEN_CORNER[1], np.abs(x))
            alpha = alpha * (f32(1.0) - corner * own_band)
            painted = corner * (f32(1.0) - own_band)
        # where the painted cavity shows, its top fades in softly under the upper teeth (as a
        # painted opening's under the upper lip); the band's own pixels keep the sharp edge
        cavity = (f32(1.0) - own_band) if exemplar is None else painted
        alpha = alpha * (top + cavity * (_top_edge(a - up, width, pixel) - top))
        alpha = alpha.astype(f32)
        sel = alpha > 0
        if not sel.any():
            return out, None, None
        rgb = np.zeros(uv.shape[:2] + (3,), f32)
        ts = t[sel]
        if exemplar is None:  # the band's own pixels, low-passed across, deepening in its middle;
            # where it would streak the painted cavity (the last fallback)
            import cv2

            colours = _interior(look, (a - up)[sel], band[sel], x[sel], lens[sel], du[sel], jaw, width,
                                smile, pixel)
            own_band = own_band[sel]
            if own_band.any():
                col = ((u[sel] - bu[0]) * f32((len(bu) - 1) / max(float(bu[-1] - bu[0]), 1e-3))).astype(f32)
                rows = look.between[3]
                stretched = cv2.remap(rows, col[None], (ts * f32(rows.shape[0] - 1))[None], cv2.INTER_LINEAR,
                                      borderMode=cv2.BORDER_REPLICATE).reshape(-1, 3)
                stretched *= (f32(1.0) - f32(BETWEEN_DEEPEN) * f32(4.0) * ts * (f32(1.0) - ts))[:, None]
                colours += (stretched - colours) * own_band[:, None]
        else:
            colours = exemplar(ts, band[sel], x[sel], middle=True)
            # an exemplar whose teeth rows touch has no interior between them: the cavity
            teeth = f32(getattr(exemplar, "middle_teeth", 0.0))
            w = painted[sel] + (f32(1.0) - painted[sel]) * teeth
            if w.any():
                cavity = _interior(look, (a - up)[sel], band[sel], x[sel], lens[sel], du[sel], jaw, width,
                                   smile, pixel)
                colours = colours + (cavity - colours) * w[:, None]
        rgb[sel] = alpha[sel][:, None] * colours
        return out, rgb, alpha
    # No teeth to keep: the portrait's own lip-line shadow stays under the upper lip, the lower
    # lip moves with the jaw from its own edge, and the whole opening is painted once the new
    # gap outgrows that shadow (fading in with it, so nothing pops).
    src = np.where(a < own, vu + a, vl)
    alpha = (_top_edge(a, width, pixel) * np.clip(b * aa + f32(0.5), 0, 1)
             * np.clip((gap - own) / np.maximum(own, f32(pixel)), 0, 1))
    np.copyto(new_v, src, where=interior)
    out[..., 1] = new_v
    sel = alpha > 0
    if not sel.any():
        return out, None, None
    rgb = np.zeros(uv.shape[:2] + (3,), f32)  # premultiplied by alpha (resampling-safe)
    if exemplar is not None:
        colours = exemplar(a[sel], gap[sel], x[sel])
    else:
        colours = _interior(look, a[sel], gap[sel], x[sel], lens[sel], du[sel], jaw, width, smile, pixel)
    rgb[sel] = alpha[sel][:, None] * colours
    return out, rgb, alpha.astype(f32)


# smile beyond the portrait's own over which the actor's teeth rows come in on a portrait whose
# own open interior shows none (d18 88, mouth wide open, no teeth, driven by its own clip's
# laughing smile: the real frames show a row of upper teeth, the render stretched the dark back
# of the mouth; mouth box +2.16 -> +2.61 dB over the static frame)
OVER_SMILE = (0.2, 0.7)


def actor_over(smile: float, own_smile: float) -> float:
    """How much (0..1) of the actor's teeth rows (exemplars) are laid over a stretchable
    portrait's own interior: a smile beyond the portrait's own shows teeth its interior lacks."""
    return float(_smoothstep(OVER_SMILE[0], OVER_SMILE[1], np.float32(smile - max(own_smile, 0.0))))


def _actor_teeth(exemplar, over: float, a: np.ndarray, g: np.ndarray, x: np.ndarray, width: float,  # noqa: ANN001
                 pixel: float, b: np.ndarray | None = None) -> tuple[np.ndarray | None, np.ndarray | None]:
    """The exemplar's teeth rows in an opening (``a`` below its top edge, gap ``g``, ``b`` above
    its bottom edge, ``x`` across), at most ``over``, edges soft: premultiplied RGB and alpha,
    or (None, None) where they do not reach. The rest of the opening stays the portrait's own
    (laying the actor's whole lit interior over d3 320's dark mouth read as a pink lens)."""
    if b is None:
        b = g - a
    aa = f32(1.0 / max(pixel, 1.0))
    alpha = (f32(over) * _top_edge(a, width, pixel) * np.clip(b * aa + f32(0.5), 0, 1)).astype(f32)
    alpha[(a < -pixel) | (g <= f32(0.5 * pixel))] = 0
    sel = alpha > 1e-3
    if not sel.any():
        return None, None
    teeth: list = []
    colours = exemplar(a[sel], g[sel], x[sel], teeth_out=teeth)
    alpha[sel] *= teeth[0]  # only its teeth: the portrait's own interior stays around them
    alpha[~sel] = 0
    rgb = np.zeros(a.shape + (3,), f32)
    rgb[sel] = alpha[sel][:, None] * colours
    return rgb, alpha


BETWEEN_CORNER = (0.75, 0.95)  # |x| over which an exemplar's fill between own teeth fades out
BETWEEN_DEEPEN = 0.2  # the own dark band between the teeth, stretched, darkens by this in its middle
BAND_STRETCH = (3.5, 5.5)  # new gap / the band's own height over which the own band gives way to
# the painted cavity: stretched further its columns streak (d0 50's mis-split band stretched ~20x
# was a column of vertical streaks; lp_d6 60's real band: column-to-column luma energy 0.2 / 0.33
# / 0.59 of the row-to-row at 4.2x / 5.3x / 6.8x)
BAND_MIN_PX = 1.0  # the band's own height counts as at least this (pixels) in that ratio
INTERIOR_RIGID = 0.3  # share of the own interior under each lip that moves rigidly with it
# How a mouth closes, measured with the face tracker on the shared clips (5 people, open frame ->
# the clip's neutral, in face widths relative to the nose): the upper lip comes down ~0.12 of the
# gap, the lower lip rises rigidly by the rest (its bottom edge as much as its inner edge), the
# chin only 0.37-0.54 of the gap (the lip-to-chin skin, bunched in the open mouth, lengthens
# again), the mouth corners rise ~0.25 of the gap (geometry.CORNER_RISE).
UPPER_SHARE = 0.12
CHIN_RISE = 0.45
CLOSE_SPREAD = 0.8  # below the slit, the lip's rise spreads sideways over +-this x the depth
RISE_LEVELS = 48  # depth samples of that spread's table
# Face widths from the mouth centre over which the jaw's lift fades out. The jaw closes as a
# hinge: the chin, farthest from it, rises most, and the rise falls along the jawline toward the
# ears (tracked on the three clips that open wide, d18 / lp_d6 / lp_d10, per unit of lip gap,
# over the chin's own: 0.9 at 0.11 face widths out, 0.5-0.65 at 0.24, 0.3-0.5 at 0.36; here
# 1, 0.81, 0.47). The chin's middle (+-0.1) rises whole, so the skin under the lower lip is not
# stretched more than the lip's own rise asks (a falloff from 0 left it 0.43 of the portrait's
# vertical detail: a smear). The old flat block out to 0.3 lifted the jaw's sides with the chin
# and dragged the collar and neck up beside it (self-reenactment face box, d18 88 / 140: +0.06 /
# +1.92 dB with it, +0.23 / +2.66 with this).
CLOSE_SIDE = (0.1, 0.6)
CLOSE_NECK = 0.5  # face widths below the chin over which the lift fades into the neck
WET_RIM = 0.02  # face widths of the lower lip's inner rim hidden when the lips press together
LIP_ROLL = 0.1  # and this share of the opening more: an open lip rolls out its inner surface
LEVEL_TPS = 0.5  # share of geometry.CORNER_RISE the smooth warp is counted on for levelling
SEAM = (0.7, 0.006)  # the closed lips' dark seam: strength, half-width (face widths)
SEAM_FADE = (0.7, 1.0)  # share of the opening closed over which the seam fades in
SLIT_SHADE = (0.9, 0.02, 0.08, 0.3)  # a narrowing opening falls into the lips' shade: at most this
# much toward the cavity tone, full below the first gap (face widths) and gone above the second,
# fading in over this first share of the closing (the portrait itself, at its own value, is kept).
# Squeezed into a slit, a teeth portrait's own teeth read as a bright line between the lips,
# where a real slit is dark: little light gets into a small opening
CLOSE_UPPER = 0.15  # face widths above the upper lip over which its drop fades out


class _Table:
    """Linear interpolation in a table sampled on a uniform grid (x0, x0 + step, ...), for whole
    maps at once: cv2.remap on a one-row image, several times faster than np.interp's search."""

    def __init__(self, x0: float, step: float):
        self.x0, self.inv = f32(x0), f32(1.0 / step)

    def __call__(self, values: np.ndarray, x: np.ndarray) -> np.ndarray:
        return self.many([values], x)[0]

    def many(self, tables: list[np.ndarray], x: np.ndarray) -> list[np.ndarray]:
        """Several tables on the same grid read at the same ``x``: one remap of a multi-channel
        row (the map is worked out once, not once per table)."""
        import cv2

        mx = ((x - self.x0) * self.inv).astype(f32)
        row = np.ascontiguousarray(np.stack([np.asarray(t, f32) for t in tables], axis=-1)[None])
        got = cv2.remap(row, mx, np.zeros_like(mx), cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        return [got] if got.ndim == 2 else [got[..., i] for i in range(len(tables))]

    def grid(self, values: np.ndarray, x: np.ndarray, row: np.ndarray) -> np.ndarray:
        """The same on a 2-D table: rows at ``row`` (fractional row indices), columns along x."""
        import cv2

        mx = ((x - self.x0) * self.inv).astype(f32)
        return cv2.remap(np.ascontiguousarray(values, f32), mx, np.asarray(row, f32), cv2.INTER_LINEAR,
                         borderMode=cv2.BORDER_REPLICATE)


def _close(mouth: MouthFit, u: np.ndarray, v: np.ndarray, vu: np.ndarray, close: float, width: float,
           pixel: float = 1.0) -> tuple[np.ndarray, np.ndarray | None, tuple[np.ndarray, np.ndarray]]:
    """Backward v map that closes the portrait's own opening by ``close`` pixels at its centre,
    the alpha of the dark seam between the lips (None while the opening is still wide), and what
    is left of the opening (its top row, its height) at each pixel's column.

    The lips meet over the teeth as measured on real mouths (constants above): the upper lip
    drops a little, the lower lip rises rigidly over the lower teeth by its own column's share
    of the opening (so the lips meet along the whole slit), and the chin rises less than the
    lip: the skin between them, bunched up in the open mouth, lengthens again (real pixels,
    about as much as they were compressed). The chin's rise is the same in every column of the
    jaw (no column dragged further than its neighbours: the vertical smear) and fades out toward
    the jaw's angles and, linearly, into the neck. Next to the still corners the lip's steep
    rise is averaged over a window that widens with depth, a soft fold instead of a hard line.
    Continuous everywhere except along the slit."""
    W = float(width)
    hw = max(mouth.half_width, 1e-3)
    uc = mouth.u_centre
    own_c = max(float(np.interp(uc, mouth.u, mouth.v_lo - mouth.v_up)), 0.0)
    frac = min(close / max(own_c, 1e-3), 1.0)
    # The opening per column on a fine u grid, nothing past the corners (np.interp would hold
    # the end values there: the cut would run on across the cheeks, a seam).
    ug = np.linspace(uc - 3 * hw, uc + 3 * hw, 385)
    xg = np.abs(ug - uc) / hw
    og = np.maximum(np.interp(ug, mouth.u, mouth.v_lo - mouth.v_up), 0.0) * np.clip((1.05 - xg) / 0.05, 0, 1)
    lift = frac * (1.0 - UPPER_SHARE) * own_c  # the lower lip's rise at the centre, pixels
    rise_g = frac * (1.0 - UPPER_SHARE) * og
    cum = np.concatenate([[0.0], np.cumsum(0.5 * (rise_g[1:] + rise_g[:-1]) * np.diff(ug))])
    # Corners level with the centre: the open mouth's inner contour runs down steeply to its
    # corners, and the lips meeting on it would read as a frown. The corners rise with the
    # closing (geometry.CORNER_RISE, in the smooth warp); by whatever of the slit's fall toward
    # the corners that leaves, the lips there (and the line they meet on) rise, fading out over
    # the lips' own height above and below and past the corners into the cheek.
    slit_g = np.interp(ug, mouth.u, mouth.v_up) + frac * UPPER_SHARE * og
    slit_c = float(np.interp(uc, ug, slit_g))
    inside = 1.0 - _smoothstep(1.0, 1.6, xg)
    level = frac * np.maximum(slit_g - slit_c - LEVEL_TPS * CORNER_RISE * own_c * xg * xg, 0.0) * inside
    levelled = level.max() > 0.25 * float(pixel)
    # The per-column tables this map reads (the opening, the levelling, the upper lip's top
    # edge), all on the grid ug: read at the pixels' u in one go.
    tables = [og] + ([level] if levelled else []) + (
        [np.interp(ug, mouth.u, mouth.v_up_out)] if mouth.v_up_out is not None else [])
    table = _Table(ug[0], ug[1] - ug[0])
    read = table.many(tables, u)
    own = read[0]
    down = f32(frac * UPPER_SHARE) * own  # the upper lip's drop
    slit = vu + down
    new_lo = slit + f32(1.0 - frac) * own  # where the lower inner lip lands
    if levelled:
        lv = read[1]
        lo_edge = mouth.v_lo_out if mouth.v_lo_out is not None else mouth.v_lo + 0.04 * W
        span_up = f32(float(np.median(mouth.v_up - (mouth.v_up_out if mouth.v_up_out is not None
                                                    else mouth.v_up - 0.05 * W))) + 0.08 * W)
        span_lo = f32(float(np.median(lo_edge - mouth.v_lo)) + 0.08 * W)
        dv = v - slit
        t = np.minimum(dv * np.where(dv < 0, f32(-1.0 / span_up), f32(1.0 / span_lo)), f32(1.0))
        v = v + lv * (f32(1.0) - t * t * (f32(3.0) - f32(2.0) * t))  # the closing below sees
        # the levelled rows
    depth = v - new_lo
    # The rise averaged over +-CLOSE_SPREAD x depth, tabulated over (depth, u) once per frame
    # (the same box average from the running integral) and read back with one remap; only
    # spreading outward: inside the opening each column keeps its own rise, or the lip would
    # lengthen toward the chin.
    d_max = max(float(depth.max()), 1.0)
    levels = np.linspace(0.0, d_max, RISE_LEVELS)
    r = np.maximum(CLOSE_SPREAD * levels, 0.5)[:, None]
    spread = (np.interp(ug[None, :] + r, ug, cum) - np.interp(ug[None, :] - r, ug, cum)) / (2.0 * r)
    spread = np.maximum(spread, rise_g[None, :]).astype(f32)
    rise = table.grid(spread, u, depth * f32((RISE_LEVELS - 1) / d_max))
    # From the lower lip's bottom edge to the chin (the centre's, in the output) the rise blends
    # linearly into the jaw's: the lip stays as it is, the skin below it (bunched in the open
    # mouth) lengthens evenly, a uniform stretch rather than a local smear.
    lip_bottom = mouth.v_lo_out if mouth.v_lo_out is not None else mouth.v_lo + 0.04 * W
    top = float(np.interp(uc, mouth.u, lip_bottom)) - lift
    chin = CHIN_RISE * lift
    bottom = max(mouth.v_chin - chin, top + 0.05 * W)
    block = np.clip((v - f32(top)) * f32(1.0 / (bottom - top)), 0.0, 1.0)
    side = f32(1.0) - _smoothstep(CLOSE_SIDE[0] * W, CLOSE_SIDE[1] * W, np.abs(u - f32(uc)))
    reach = max(CLOSE_NECK * W, 2.2 * chin)
    neck = f32(1.0) - np.clip((v - f32(mouth.v_chin - chin)) * f32(1.0 / reach), 0.0, 1.0)
    # Pressed together, the lips roll in: the lower lip's wet inner rim (darker, the opening's
    # edge) goes under the upper lip instead of reading as a gap.
    # The rim grows with the opening: a lip pulled open rolls out its inner surface (the pink,
    # wet band that made closed O-mouths thick), closing rolls it back in.
    wet = (f32(frac * WET_RIM * W) + f32(frac * LIP_ROLL) * own) \
        * np.clip(own * f32(1.0 / max(0.25 * own_c, 1e-3)), 0.0, 1.0)
    below = v + (rise * (f32(1.0) - block) + f32(chin) * side * block) * neck + wet * (f32(1.0) - block)
    # What is left of the opening shows the portrait's own whole interior scaled into it (its
    # teeth, tongue and cavity, real pixels), not only the dark strip under the upper lip.
    left = new_lo - slit
    interior = vu + (v - slit) * own / np.maximum(left, f32(1e-3))
    # The upper lip comes down rigidly (it keeps its thickness); the skin above its top edge
    # takes up the shift.
    lip_top = read[-1] if mouth.v_up_out is not None else vu - f32(0.05 * W)
    above = v - down * (f32(1.0) - _smoothstep(0.0, CLOSE_UPPER * W, lip_top - v))
    new_v = np.where(v >= new_lo, below, np.where(v >= slit, interior, above)).astype(f32)
    new_v = new_v.astype(f32)
    strength = SEAM[0] * float(_smoothstep(SEAM_FADE[0], SEAM_FADE[1], np.float32(frac)))
    shade = SLIT_SHADE[0] * float(_smoothstep(0.0, SLIT_SHADE[3], np.float32(frac)))
    if strength <= 0 and shade <= 0:
        return new_v, None, (slit, left)
    # The seam: a soft dark line on the lips' meeting line (centred in what is left of the
    # opening), across the mouth, fading out at the corners; at least a pixel wide.
    half = f32(max(SEAM[1] * W, 0.7 * pixel)) + f32(0.5) * left
    d = (v - (slit + f32(0.5) * left)) / half
    # only the rows and columns near the line are worked out (the rest of the map is far from it)
    near = np.abs(d) < f32(2.4)
    rows, cols = np.nonzero(near.any(axis=1))[0], np.nonzero(near.any(axis=0))[0]
    if not len(rows) or own_c <= 0:
        return new_v, None, (slit, left)  # none inside this map (e.g. a clipped box)
    box = np.s_[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]
    db = d[box]
    part = f32(strength) * np.exp(-db * db)
    if shade > 0:  # the slit's shade where what is left of the opening is small: flat over it and
        # the seam's half-width beyond (the squeezed teeth's edges lie right at the lips), soft
        # over a pixel
        lb = left[box]
        dark = f32(shade) * (f32(1.0) - _smoothstep(SLIT_SHADE[1] * W, SLIT_SHADE[2] * W, lb))
        reach = f32(0.5) * lb + f32(max(SEAM[1] * W, 0.7 * pixel))
        inside = np.clip((reach - np.abs(v[box] - (slit[box] + f32(0.5) * lb))) * f32(1.0 / pixel), 0.0, 1.0)
        part = np.maximum(part, dark * inside)
    part = part * _smoothstep(0.0, 0.2 * own_c, own[box])
    part[part < f32(1 / 255)] = 0
    if not part.any():
        return new_v, None, (slit, left)
    seam = np.zeros(v.shape, f32)
    seam[box] = part
    return new_v, seam, (slit, left)


CAVITY_DEEP = 0.38  # the back of a painted cavity: at most this x the lips' luma ...
CAVITY_SAT = 0.6  # ... and this x their saturation (a sealed mouth's lip line is only a darker lip:
# as the cavity it read as a pink lens; real openings measure L 0.05-0.3 of the skin in the middle)
CAVITY_OPEN_LIGHT = 0.3  # a gap of 0.35 face widths lights the cavity this much more
CAVITY_RIM = 1.5  # the cavity just inside the lips is this x lighter than its back (light gets in)
TONGUE_SHADE = (0.45, 0.35)  # the painted tongue moves this far toward the cavity, loses this share
# of its saturation: in the mouth's shade, a darker desaturated shape, not a second lip
TONGUE_RISE = (0.22, 0.2)  # tongue height: this share of the gap, more this x smile
TONGUE_OPEN = (0.15, 0.5)  # a wide gap (0.15-0.35 W) shows this share of it more tongue, shaded this
# share less
TOOTH_GAP = (0.005, 0.08, 0.3)  # soft gaps between teeth: half-width (face widths), darkening at the
# teeth's top, at their biting edge (the dark notches between the teeth's rounded tips)
TOOTH_TIP = 0.15  # each tooth's edge rises this share of the band's height toward its gaps


def _cavity_colour(look: MouthLook) -> np.ndarray:
    """The back of a painted mouth: the portrait's own lip-line shadow, no lighter than
    CAVITY_DEEP of the lips and desaturated (look.cavity itself stays the seam's tone)."""
    c = np.asarray(look.cavity, f32)
    lip_y = float(look.lip @ np.array([0.299, 0.587, 0.114], f32))
    y = max(float(c @ np.array([0.299, 0.587, 0.114], f32)), 1.0)
    c = c * f32(min(1.0, CAVITY_DEEP * lip_y / y))
    y = float(c @ np.array([0.299, 0.587, 0.114], f32))
    return (f32(y) + (c - f32(y)) * f32(CAVITY_SAT)).astype(f32)


def _tongue_colour(look: MouthLook, deep: np.ndarray, shade: float) -> np.ndarray:
    """The painted tongue: the portrait's tongue tone moved ``shade`` toward the cavity and
    TONGUE_SHADE[1] desaturated (in the mouth's shade, not a second lip)."""
    t = np.asarray(look.tongue, f32)
    t = t + f32(shade) * (deep - t)
    y = float(t @ np.array([0.299, 0.587, 0.114], f32))
    return (f32(y) + (t - f32(y)) * f32(1.0 - TONGUE_SHADE[1])).astype(f32)


def _teeth_light(gap: np.ndarray, t: np.ndarray, lens: np.ndarray) -> np.ndarray:
    """Brightness (~0.2..1) of painted tooth pixels ``t`` (0 under the lip .. 1 at the teeth's
    edge), ``gap`` (0..1) their nearness to a boundary between teeth: a vertical gradient (in
    the upper lip's shadow at the top, brightest just above the middle, a little greyer toward
    the translucent edge), darker toward the corners (the arch turns away from the light), soft
    gaps between teeth that deepen toward the biting edge."""
    vertical = f32(0.4) + f32(0.6) * _smoothstep(0.0, 0.6, t) - f32(0.1) * _smoothstep(0.6, 1.0, t)
    corner = f32(0.25) + f32(0.75) * lens * np.sqrt(lens)
    dark_gap = f32(1.0) - gap * (f32(TOOTH_GAP[1]) + f32(TOOTH_GAP[2] - TOOTH_GAP[1]) * t)
    return vertical * corner * dark_gap


@lru_cache(maxsize=64)
def _sep_near(half: float) -> np.ndarray:
    """0..1 nearness to a tooth boundary on _SEP_X (Gaussian of ``half`` face widths)."""
    d = np.abs(np.abs(_SEP_X)[:, None] - _SEP_AT[None, :]).min(axis=1)
    return np.exp(-np.square(d / half)).astype(np.float32)


def _sep_at(du: np.ndarray, width: float, half: float) -> np.ndarray:
    return np.interp(du / f32(width), _SEP_X, _sep_near(round(half, 5))).astype(f32)


def _interior(look: MouthLook, a: np.ndarray, g: np.ndarray, x: np.ndarray, lens: np.ndarray,
              du: np.ndarray, jaw: float, width: float, smile: float, pixel: float) -> np.ndarray:
    """Colours of painted mouth pixels (1-D arrays): ``a`` = depth below the top of the painted
    gap, ``g`` = the painted gap's height in that column, pixels.

    A real opening is dark almost to the lip edge (measured on the shared clips' open frames):
    the cavity is the portrait's lip-line shadow darkened and desaturated, a little lighter just
    inside the lips; a thin lit band of upper teeth sits right under the upper lip; the lower
    teeth stay hidden at small openings; the tongue is a darker, desaturated shape low in it."""
    W = f32(width)
    g = np.maximum(g, f32(1e-3))
    b = g - a  # above the bottom (the lower lip side)
    edge = f32(1.0) / max(0.004 * width, 0.75 * pixel)  # ~1 (working) pixel anti-aliased edges
    t_edge = f32(1.0) / max(TEETH_EDGE * width, 1.5 * pixel)  # the upper teeth's edge: soft in the shade
    deep = _cavity_colour(look)
    # Cavity: darkest at the back (the middle of the opening), lighter only a few pixels from the
    # lips (not a lens of lip colour); spread lips (a smile) let a little more light in.
    rim = max(0.012 * width, 1.0 * pixel)
    near_lip = np.exp(-np.minimum(np.maximum(a, f32(0.0)), np.maximum(b, f32(0.0))) * f32(1.0 / rim))
    lit = f32(1.0 + SMILE_LIGHT * smile)
    # A wide opening lets more light onto the tongue and the floor of the mouth (the shared clips'
    # wide-open frames: the middle at 0.5-0.65 of the skin's L, small openings 0.2-0.35)
    lit = lit * (f32(1.0) + f32(CAVITY_OPEN_LIGHT) * _smoothstep(0.15 * width, 0.35 * width, g))
    # darkest in the middle rows, rising gently toward both lips (the real openings' profile)
    f = np.clip(a / g, 0.0, 1.0)
    u_shape = f32(1.0) + f32(0.5) * np.square(f32(2.0) * f - f32(1.0))
    light = ((f32(1.0) + f32(CAVITY_RIM - 1.0) * near_lip) * u_shape
             * (f32(0.8) + f32(0.2) * (f32(1.0) - lens)) * lit)
    rgb = deep[None, :] * light[:, None]
    # Tongue: a low dome on the floor of the mouth, behind the lower lip: only its top shows, more
    # as the jaw drops or the lips spread (at most TONGUE_H), in the mouth's shade; a wide opening
    # shows more of it, lit (the clips' wide-open frames are mostly tongue and teeth)
    wide = _smoothstep(0.15 * width, 0.35 * width, g)
    tongue_dark = _tongue_colour(look, deep, TONGUE_SHADE[0])
    tongue_lit = _tongue_colour(look, deep, TONGUE_SHADE[0] * (1.0 - TONGUE_OPEN[1]))
    shape = np.clip(f32(1.0) - np.square(x * f32(1.0 / 0.8)), 0.0, 1.0)
    tg_h = (f32(TONGUE_RISE[0] + TONGUE_RISE[1] * smile) + f32(TONGUE_OPEN[0]) * wide) * g * shape \
        * _smoothstep(0.04 * width, 0.2 * width, g)
    tg_h = f32(2.0) * tg_h * f32(TONGUE_H) * W / (tg_h + f32(TONGUE_H) * W)  # soft cap
    tongue = np.clip((tg_h - b) * f32(0.35) * edge + f32(0.5), 0, 1) * _smoothstep(0.0, 2.0 * pixel, tg_h)
    top = _smoothstep(0.2, 0.9, b / np.maximum(tg_h, f32(1.0)))  # its top recedes into the dark
    t_light = (f32(0.7) + f32(0.3) * lens) * (f32(1.0) - f32(0.4) * top) * lit
    tongue_rgb = tongue_dark[None, :] + wide[:, None] * (tongue_lit - tongue_dark)[None, :]
    rgb += (tongue_rgb * t_light[:, None] - rgb) * tongue[:, None]
    teeth_col = look.teeth[None, :]
    # The lower lip's wet inner surface: a thin band of the lip's colour in shade right above its
    # edge (a share of the gap: on a small mouth a fixed band was most of the opening)
    inner_h = np.minimum(f32(INNER_LIP * width), f32(0.12) * g)
    inner = (f32(0.5) * (f32(1.0) - _smoothstep(0.0, 1.0, b / np.maximum(inner_h, f32(0.5 * pixel))))
             * _smoothstep(0.03 * width, 0.1 * width, g))
    rgb += (look.lip[None, :] * f32(0.6) - rgb) * inner[:, None]
    # Lower teeth: a thin row over the lip's inner edge in wide openings only (hidden behind the
    # lower lip in small ones); none when the portrait's own lower teeth move with the jaw.
    if not look.own_teeth:
        lo_h = (f32(LOWER_TEETH_H * (0.5 + smile)) * W * _smoothstep(0.12 * width, 0.3 * width, g)
                * (f32(1.0) - x * x))
        lower = np.clip((lo_h - b) * edge + f32(0.5), 0, 1) * _smoothstep(0.0, pixel, lo_h)
        on = np.nonzero(lower > 0)[0]  # the row is thin: shade only its pixels
        if len(on):
            lo_t = np.clip(f32(1.0) - b[on] / np.maximum(lo_h[on], f32(1e-3)), 0.0, 1.0)  # 1 at the edge
            gap = _sep_at(du[on], width, max(TOOTH_GAP[0], 0.6 * pixel / width))
            lo_light = f32(0.75) * _teeth_light(gap, lo_t, lens[on])
            rgb[on] += (teeth_col * lo_light[:, None] - rgb[on]) * lower[on, None]
    up_alpha = f32(_smoothstep(TEETH_FADE[0] * width, TEETH_FADE[1] * width, np.float32(jaw)))
    if not look.own_teeth and up_alpha > 0:
        # Right under the upper lip; they show as the gap opens (a small opening is a thin dark
        # gap with a sliver of teeth). Each tooth's edge is rounded: it rises toward its gaps.
        th = (np.minimum(f32(TEETH_H + TEETH_SMILE * smile) * W * (f32(1.0) - f32(0.5) * x * x),
                         f32(0.35) * g) * _smoothstep(0.01 * width, 0.06 * width, g))
        on = np.nonzero((a < th + f32(0.5) / t_edge) & (th > 0))[0]  # the band and its soft edge:
        # shade only its pixels
        if len(on):
            tip = _sep_at(du[on], width, max(1.2 * TOOTH_GAP[0], 1.0 * pixel / width))
            th_edge = th[on] * (f32(1.0) - f32(TOOTH_TIP) * tip)
            teeth = (np.clip((th_edge - a[on]) * t_edge + f32(0.5), 0, 1) * up_alpha
                     * _smoothstep(0.0, pixel, th[on]))
            tt = np.clip(a[on] / np.maximum(th_edge, f32(1e-3)), 0.0, 1.0)
            gap = _sep_at(du[on], width, max(TOOTH_GAP[0], 0.6 * pixel / width))
            t_light = _teeth_light(gap, tt, lens[on])
            rgb[on] += (teeth_col * t_light[:, None] - rgb[on]) * teeth[:, None]
    # The upper lip's shadow falls into the opening: darkest right under the lip, fading over a
    # few pixels (a soft gradient instead of a lit edge against the lip)
    shade = max(LIP_SHADOW[1] * width, 2.0 * pixel)
    rgb *= (f32(1.0) - f32(LIP_SHADOW[0]) * np.exp(-np.maximum(a, f32(0.0)) * f32(1.0 / shade)))[:, None]
    return rgb


LIP_SHADOW = (0.45, 0.012)  # the upper lip's shadow in a painted opening: depth, reach (face widths)
TEETH_EDGE = 0.014  # face widths (at least 2 working pixels) over which the painted upper teeth's edges fade
TOP_EDGE = 0.012  # face widths (at least 1.5 working pixels) over which a painted opening's top
# fades in under the upper lip (one anti-aliased pixel read as a hard line)


def _top_edge(a: np.ndarray, width: float, pixel: float) -> np.ndarray:
    """Alpha of a painted opening ``a`` pixels below its top edge: a smooth ramp over ~1-2 px."""
    soft = max(TOP_EDGE * width, 1.5 * pixel)
    return _smoothstep(-0.5 * pixel, soft, a)


PUCKER_LIGHT, PUCKER_RING = 0.07, 0.06  # lips lit / ring of skin shaded at a full pucker


def pucker_shade(mouth: MouthFit, uv: np.ndarray, pucker: float, width: float) -> np.ndarray:
    """Multiplicative shading (~1) of lips pushed forward: their front catches a little more
    light and a soft ring of skin around them falls into shade (the folds of a pucker). A
    continuous function of ``pucker``, attached to the portrait's lips through ``uv``."""
    u, v = uv[..., 0], uv[..., 1]
    k = len(mouth.u) // 2
    v_mid = f32(0.5 * (mouth.v_up[k] + mouth.v_lo[k]))
    below = float(mouth.v_lo_out[k]) if mouth.v_lo_out is not None else float(mouth.v_lo[k]) + 0.04 * width
    ry = f32(max(below - float(v_mid), 0.02 * width) + 0.01 * width)
    rx = f32(max(mouth.half_width, 1e-3) * 1.1)
    r = np.sqrt(np.square((u - f32(mouth.u_centre)) / rx) + np.square((v - v_mid) / ry))
    light = f32(PUCKER_LIGHT) * np.exp(-np.square(r * f32(1.0 / 0.6)))
    ring = f32(PUCKER_RING) * np.exp(-np.square((r - f32(1.3)) * f32(1.0 / 0.3)))
    return (f32(1.0) + f32(pucker) * (light - ring)).astype(f32)
