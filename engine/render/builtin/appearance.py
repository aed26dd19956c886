"""Portrait -> the colours and textures the local edits paint with, once per portrait.

Everything the eyelid and mouth edits add comes from the portrait itself, so photos, paintings
and drawings keep their own palette and lighting:

* ``LidSkin`` (per eye): the closed lid's skin on a small (t, u) grid (t = 0 at the top of the
  lid zone, 1 at the margin): half the lid zone's lit skin, half the skin under the eye (what
  the closed lid meets), bent to the portrait's own pixels at the top of the lid zone and at
  the corners, so it joins the face without an edge; lashes, brow hair, eye white and iris are
  kept out of it, lit as a bulge over the eyeball (brighter over the middle than toward the
  corners, a soft crease line). Also the portrait's darkest lash tone (the lash line's colour),
  and what a closed eye shows around the lid (closed_eye_fill: long lashes past the outer corner
  closed away, the lower lid's outline evened). A closing lid is drawn from it, with the skin's
  own grain (SkinGrain) added per frame. Lighting
  continuity (the lid zone against the skin under the eye and the brow bone above it) tells a
  shadowed socket (the lid takes the surrounding light and reaches over the crease shadow) from
  hair over the eye (the lid takes the hair's shade and goes under the hair's pixels).
* ``MouthLook``: lip colour, a cavity colour (the darkest lip-line tones), tongue colour (lips
  toward the cavity), teeth colour (the portrait's eye whites, i.e. its own light on a white surface; the
  skin brightened when no sclera is visible), and whether the portrait shows its own teeth.
  The cavity is the portrait's own darkest lip-line tone, the tongue between it and the lips.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

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
    white: np.ndarray | None = None  # (h, w) uint8: how much each portrait pixel around the eye
    # looks like eye white (255 = surely); a closing lid never shows eye white, so where the lid
    # layer samples such a pixel it shows the lid-skin texture instead
    white_xy: tuple[int, int] = (0, 0)  # image position of white[0, 0]
    under: np.ndarray | None = None  # (3,) the skin under the eye: what covers eye white that
    # the drawn eye shows outside the closing opening (beyond the tracked contour)
    lash_tone: np.ndarray | None = None  # (3,) the portrait's darkest lash / lid-edge tone: the
    # closing lid's lash line
    hair: np.ndarray | None = None  # (h, w) uint8: how much each portrait pixel above the eye is
    # hair hanging over it (255 = surely): the closing lid goes under it, the hair stays on top;
    # None where no hair covers the lid zone
    hair_xy: tuple[int, int] = (0, 0)  # image position of hair[0, 0]
    lift: float = 0.0  # pixels: a shadowed socket's closing lid starts this much above the lid zone
    fill: np.ndarray | None = None  # (h, w, 4) uint8: the portrait around the eye as a closed eye
    # shows it (closed_eye_fill: long lashes past the outer corner closed away, the lower lid's
    # drawn outline and rim evened into the skin under the eye), and in channel 3 how much of it
    # a closed eye shows at the corner's lashes (255 = all); one remap per frame gets both
    fill_lower: np.ndarray | None = None  # (h, w) uint8: the same for the lower lid's outline
    fill_xy: tuple[int, int] = (0, 0)  # image position of fill[0, 0]


@dataclass
class MouthLook:
    lip: np.ndarray  # (3,) float32 RGB
    cavity: np.ndarray
    tongue: np.ndarray
    teeth: np.ndarray
    own_teeth: bool  # the portrait's own interior shows teeth (kept; none synthesized)
    stretchable: bool = False  # a clearly open mouth whose middle is cavity or tongue, not teeth:
    # opening it further stretches that real interior (synthesis.mouth_edit) instead of painting
    between: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None = None  # own teeth
    # only: (u samples across the mouth, top and bottom of the dark band between the teeth rows
    # as shares of the own inner-lip gap, that band's pixels (BAND_ROWS, len(u), 3) RGB, low-
    # passed across): opened further, the rows above the band move with the upper lip, those
    # below with the jaw, and the band (the portrait's darkest interior) fills the new gap


def _sample_local(rgb: np.ndarray, fit: PortraitFit, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    import cv2

    xy = fit.to_image(np.stack([u, v], axis=-1)).astype(np.float32)
    return cv2.remap(rgb, xy[..., 0], xy[..., 1], cv2.INTER_LINEAR,
                     borderMode=cv2.BORDER_REPLICATE).astype(np.float32)


def lid_skin(rgb: np.ndarray, fit: PortraitFit, eye: EyeFit) -> LidSkin:
    """The closed lid's texture: a smooth skin surface spanned between the skin it meets (a
    Coons patch): the portrait's lid skin at the top of the lid zone and at both eye corners, and
    toward the lashes the skin the lid closes onto (under the eye, and beside it). Nothing of
    what an open eye shows between brow and lashes (crease, socket shadow, long lashes, eye
    white) is stretched over the eye: that read as a grey or dark smudge on wide-open eyes and
    as a flat patch with a hard outline on paintings. Skin grain is added per frame (SkinGrain),
    the lash line by the eye edit."""
    import cv2

    pad = 0.1 * eye.width
    u0, u1 = float(eye.u[0] - pad), float(eye.u[-1] + pad)
    lash = lash_height(rgb, fit, eye)  # the texture stays above all of it
    u = np.linspace(u0, u1, LID_NU)
    vu = np.interp(u, eye.u, eye.v_up)
    under_row = _under_eye_row(rgb, fit, eye, u)
    under = np.median(under_row, axis=0)
    # Lighting continuity: a lid zone darker than the skin both above it (brow bone) and below
    # it (cheek) is a shadowed socket; the closed lid bulges out of it into that light, so the
    # socket's own tone counts the less the deeper the dip (a deep-set eye closed to a dark oval),
    # and the lid reaches a little further up over the socket's crease shadow (unfolded, the lid
    # covers it: left above the lid it was a dark rim). Darkness that goes on up past the brow is
    # not a socket but something over it (hair).
    zone_l, far_l = _socket_levels(rgb, fit, eye, u, under)
    dip = _socket_dip(zone_l, far_l)
    lift = _socket_lift(dip, eye)
    top = vu - eye.lid_height - lift
    bottom = np.maximum(vu - lash, top + 1.0)
    t = np.linspace(0.0, 1.0, LID_NT)[:, None]
    v = top[None, :] + t * (bottom - top)[None, :]
    zone = _sample_local(rgb, fit, np.broadcast_to(u, v.shape), v)
    # Only skin makes the lid: lashes, brow hairs, eye white, iris in the lid zone (wide eyes
    # show all of them there) are filled in from the skin pixels around them. Skin is judged
    # against the skin under the eye (no lashes, brow or hair there; beside the eye hair may
    # hang, and a wide eye's lid zone is mostly lashes).
    clean = _skin_only(zone, under)
    lo = _skin_only(under_row[None], under)[0]  # what the closed lid meets at its margin
    i0, i1 = int(np.argmin(np.abs(u - eye.u[0]))), int(np.argmin(np.abs(u - eye.u[-1])))
    # the top row is the portrait's own (where the lid meets it), the sides its skin at the corners
    # The lid's own skin, as lit as the lid zone's brighter half: a lid in a shadowed socket
    # stays in part of that shadow, a lit one is not darkened by its crease.
    y = _luma(clean)
    bright = (y >= np.median(y, axis=0, keepdims=True))[..., None]
    lit = (clean * bright).sum(axis=0) / np.maximum(bright.sum(axis=0), 1)
    own = LID_OWN * float(np.exp(-dip / SOCKET_DIP))
    lid = (1.0 - own) * lo + own * lit
    # Under hair hanging over the eye the closed lid takes the hair's shade (its tone over the
    # lid zone): skin there was a pale patch; the hair's own pixels stay on top of it (hair).
    occl = _occlusion(zone_l, far_l)
    lid = lid + (np.median(zone, axis=0) - lid) * occl[:, None]
    # in a shadowed socket the socket's dark top row reaches less far into the lid (the lid's
    # texture fades in from it anyway: synthesis.LID_FEATHER_T)
    join_t = LID_JOIN_T * max(float(np.exp(-dip / SOCKET_DIP)), 0.5)
    # Across the eye the lid's colour follows the light's trend only (a line through its columns:
    # bumps of the skin under the eye, lash or crease remnants carried over made it lumpy), and
    # is lit as the bulge over the eyeball that it is (hair over it keeps the hair's shade).
    lid = _light_trend(lid, u, i0, i1, 1.0 - occl)[None] * _lid_relief(u, eye, occl)[..., None]
    tex = _lid_surface(lid, zone[0], zone[:, i0], zone[:, i1], u, i0, i1, eye.width, join_t)
    tex = cv2.GaussianBlur(tex.astype(np.float32), (0, 0), sigmaX=LID_BLUR_U, sigmaY=LID_BLUR_T,
                           borderType=cv2.BORDER_REPLICATE)
    white, white_xy = _eye_white(rgb, fit, eye, under)
    hair, hair_xy = _hair_over_lid(rgb, fit, eye, u, occl, under, lash)
    fill, fill_lower, fill_xy = closed_eye_fill(rgb, fit, eye, under)
    return LidSkin(np.ascontiguousarray(tex, np.float32), u0, u1, lash, min(lash, LASH_ROOT * eye.width),
                   white, white_xy, under.astype(np.float32), _lash_tone(rgb, fit, eye, tex[-1].mean(axis=0)),
                   hair, hair_xy, lift, fill, fill_lower, fill_xy)


SOCKET_LIFT = (0.4, 1.0)  # log-luma dips over which the lid zone's top rises from 0 to LIFT_MAX
LIFT_MAX = 0.15  # eye widths (lid_room grows the eye box by it)
SOCKET_DIP = 0.5  # log luma: a socket this much darker than the skin around it keeps 1/e of its tone
FAR_ABOVE = (0.3, 0.45)  # eye widths above the lid zone: the brow bone's skin (or hair over it)
HAIR_DARK = (0.5, 0.9)  # log luma under the skin under the eye: from no hair to surely hair (lid zone)
HAIR_FAR = (0.8, 1.1)  # the same FAR_ABOVE the lid zone (a brow there is not as dark as hair)


def _socket_dip(zone: np.ndarray, far: np.ndarray) -> float:
    """How much (log luma, median over the columns) the lid zone is darker than both the skin
    under the eye and the brow bone's skin above it: a shadowed socket's depth."""
    return float(np.median(np.maximum(np.minimum(far, 0.0) - zone, 0.0)))


def _socket_lift(dip: float, eye: EyeFit) -> float:
    lo, hi = SOCKET_LIFT
    return float(np.clip((dip - lo) / (hi - lo), 0.0, 1.0)) * LIFT_MAX * eye.width


def lid_room(rgb: np.ndarray, fit: PortraitFit, eye: EyeFit) -> EyeFit:
    """The eye with its box grown upward by the shadowed socket's lid lift (lid_skin: the
    closing lid reaches that far above the lid zone), so the eye edit's region holds it."""
    u = np.linspace(eye.u[0] - 0.1 * eye.width, eye.u[-1] + 0.1 * eye.width, LID_NU)
    under = np.median(_under_eye_row(rgb, fit, eye, u), axis=0)
    lift = _socket_lift(_socket_dip(*_socket_levels(rgb, fit, eye, u, under)), eye)
    u0, v0, u1, v1 = eye.box
    # long lashes past the outer corner: the edit's region holds them (closed_eye_fill), the
    # renderer's margin around the box (~0.1 eye widths) included: only as far as they reach
    big = replace(eye, box=_fill_box(eye))
    crop = _crop_local(rgb, fit, big)
    m = None if crop is None else _corner_lashes(crop, fit, big, under)[0]
    if m is not None:
        lu = crop[1]
        o = _outer(eye)
        out = (lu - float(eye.u[o])) * (1.0 if o == -1 else -1.0)
        reach = float(out[m > 0.05].max(initial=0.0)) - 0.1 * eye.width
        if o == -1:
            u1 = max(u1, float(eye.u[-1]) + reach)
        else:
            u0 = min(u0, float(eye.u[0]) - reach)
    return replace(eye, box=(u0, v0 - lift, u1, v1))


CORNER_IN, CORNER_OUT = (0.15, 0.05), (0.3, 0.36)  # eye widths inside / past the outer corner over which
# the corner's long lashes are looked for (fading in, full from / full to, gone at)
CORNER_UP = (0.3, 0.36)  # eye widths above the lid line (full to, gone at)
LASH_DARK = (0.3, 0.6)  # log luma under the skin under the eye: from no lash to surely lash
LASH_THIN = (0.1, 0.25)  # black-hat depth (share of the skin's luma): from no lash to surely a lash
LASH_KERNEL = 0.25  # eye widths: structures thinner than this are lashes (thicker: hair, shadow)
LOWER_BAND = (-0.03, -0.01, 0.08, 0.14)  # eye widths under the lower margin: the band whose drawn
# outline and rim a closed eye evens into the skin under it (fading in, full, fading out, gone)
LOWER_CONTRAST = (0.06, 0.18)  # |log luma| against the skin under the eye: from kept to evened
LOWER_MAX = 0.85  # at most this much evened (real lower lashes stay faintly)


def _outer(eye: EyeFit) -> int:
    """Index (0 or -1) into eye.u of the eye's outer corner (the one farther from the face's middle)."""
    return -1 if abs(float(eye.u[-1])) > abs(float(eye.u[0])) else 0


def _fill_box(eye: EyeFit) -> tuple[float, float, float, float]:
    """The eye's box grown by what closed_eye_fill looks at (its corner lashes, its lower band)."""
    ew = eye.width
    u0, v0, u1, v1 = eye.box
    side, up, down = CORNER_OUT[1] * ew, CORNER_UP[1] * ew, LOWER_BAND[3] * ew
    return (min(u0, float(eye.u[0]) - side), min(v0, float(eye.v_up.min()) - up),
            max(u1, float(eye.u[-1]) + side), max(v1, float(eye.v_lo.max()) + down))


def _ramp(x: np.ndarray, lo: float, hi: float) -> np.ndarray:
    return np.clip((x - lo) / (hi - lo), 0.0, 1.0)


Crop = tuple[np.ndarray, np.ndarray, np.ndarray, tuple[int, int]]  # pixels, local u, v, image position


def _crop_local(rgb: np.ndarray, fit: PortraitFit, eye: EyeFit) -> Crop | None:
    """The image crop of the eye's box, its pixels' local (u, v) and the crop's position; None
    when the box is under 4 pixels."""
    x0, y0, x1, y1 = _eye_box_in_image(fit, eye, rgb.shape)
    if x1 - x0 < 4 or y1 - y0 < 4:
        return None
    gx, gy = np.meshgrid(np.arange(x0, x1, dtype=np.float64), np.arange(y0, y1, dtype=np.float64))
    local = fit.to_local(np.stack([gx, gy], axis=-1))
    return rgb[y0:y1, x0:x1], local[..., 0], local[..., 1], (x0, y0)


def _corner_lashes(crop: Crop, fit: PortraitFit, eye: EyeFit, under: np.ndarray
                   ) -> tuple[np.ndarray | None, np.ndarray | None]:
    """(soft mask (float32, 0..1) of the long lashes at and past the eye's outer corner over the
    eye box's image crop, that crop with them closed away (a grey-level closing: the skin around
    each thin dark stroke)); (None, None) when there are none. Lashes are thin (LASH_KERNEL) and
    dark (LASH_DARK) strokes above the lid line near the outer corner: a closed eye's lashes
    hang from its lid edge, those left standing past the corner floated over the face."""
    import cv2

    px, lu, lv, xy = crop
    ew = eye.width
    # the open eye (eye white, iris) is no skin to close the lashes with: the skin under the eye there
    opening = np.zeros(px.shape[:2], np.uint8)
    contour = np.vstack([np.stack([eye.u, eye.v_up], 1), np.stack([eye.u, eye.v_lo], 1)[::-1]])
    cv2.fillPoly(opening, [np.round(fit.to_image(contour) - np.asarray(xy)).astype(np.int32)], 1)
    opening = cv2.dilate(opening, np.ones((3, 3), np.uint8))
    px = np.where(opening[..., None] > 0, np.asarray(under, np.float32), px.astype(np.float32))
    o = _outer(eye)
    uc, vc = float(eye.u[o]), float(eye.v_up[o])
    out = (lu - uc) * (1.0 if o == -1 else -1.0) / ew  # eye widths past the corner (outward)
    region = _ramp(out, -CORNER_IN[0], -CORNER_IN[1]) * (1.0 - _ramp(out, *CORNER_OUT))
    line = np.minimum(np.interp(lu, eye.u, eye.v_up), vc)  # past the corner: the corner's height
    up = (line - lv) / ew
    region = region * _ramp(up, -0.03, 0.0) * (1.0 - _ramp(up, *CORNER_UP))
    if region.max() <= 0:
        return None, None
    pxf = px.astype(np.float32)
    y = _luma(pxf)
    ref = max(float(_luma(np.asarray(under, np.float32))), 1.0)
    dark = _ramp(-np.log(np.maximum(y, 1.0) / ref), *LASH_DARK)
    k = max(3, int(round(LASH_KERNEL * ew)) | 1)
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k))
    thin = _ramp((cv2.morphologyEx(y, cv2.MORPH_CLOSE, kernel) - y) / ref, *LASH_THIN)
    m = (region * dark * thin).astype(np.float32)
    if (m > 0.5).sum() < max(3, 0.0005 * m.size):
        return None, None
    m = cv2.GaussianBlur(cv2.dilate(m, np.ones((3, 3), np.uint8)), (3, 3), 0)
    closed = cv2.GaussianBlur(cv2.morphologyEx(pxf, cv2.MORPH_CLOSE, kernel), (0, 0), max(0.2 * k, 0.7))
    return m, closed


def _lower_outline(crop: Crop, rgb: np.ndarray, fit: PortraitFit, eye: EyeFit
                   ) -> tuple[np.ndarray | None, np.ndarray | None]:
    """(soft mask (float32, 0..1) over the eye box's image crop of the lower lid's outline and
    rim (a band just under the lower margin, where it differs in brightness from the skin under
    the eye), that skin per column (the fill)); (None, None) when the band is plain skin. A
    closing lid meets the lower lid; a drawn or lined lower lid left under it read as a second,
    lower lid line (the 3D cartoon's outline and pale rim under the closed lid)."""
    px, lu, lv, _ = crop
    ew = eye.width
    ug = np.linspace(eye.u[0], eye.u[-1], LID_NU)
    row = _under_eye_row(rgb, fit, eye, ug)
    skin = np.stack([np.interp(lu, ug, row[:, c]) for c in range(3)], axis=-1).astype(np.float32)
    x = (lu - eye.u[0]) / ew
    s = (lv - np.interp(lu, eye.u, eye.v_lo)) / ew
    a, b, c, d = LOWER_BAND
    band = (_ramp(x, 0.0, 0.08) * _ramp(1.0 - x, 0.0, 0.08) * _ramp(s, a, b) * (1.0 - _ramp(s, c, d)))
    dl = np.abs(np.log(np.maximum(_luma(px.astype(np.float32)), 1.0) / np.maximum(_luma(skin), 1.0)))
    m = (LOWER_MAX * band * _ramp(dl, *LOWER_CONTRAST)).astype(np.float32)
    if (m > 0.3).sum() < max(3, 0.0005 * m.size):
        return None, None
    return m, skin


def closed_eye_fill(rgb: np.ndarray, fit: PortraitFit, eye: EyeFit, under: np.ndarray
                    ) -> tuple[np.ndarray | None, np.ndarray | None, tuple[int, int]]:
    """What a closed eye shows around its lid and how much of it at the corner's lashes (uint8
    (h, w, 4): RGB and that mask), how much at the lower lid's outline (uint8 (h, w); None where
    it has none), over the image crop of the eye's grown box, and the crop's position; (None,
    None, (0, 0)) when neither is there. The eye edit shows it as the lid closes
    (synthesis.LidLayer.fill_ramp)."""
    big = replace(eye, box=_fill_box(eye))
    crop = _crop_local(rgb, fit, big)
    if crop is None:
        return None, None, (0, 0)
    px, _, _, xy = crop
    mc, closed = _corner_lashes(crop, fit, big, under)
    ml, skin = _lower_outline(crop, rgb, fit, big)
    if mc is None and ml is None:
        return None, None, (0, 0)
    zero = np.zeros(px.shape[:2], np.float32)
    mc, ml = (zero if mc is None else mc), (zero if ml is None else ml)
    fill = px.astype(np.float32)
    if closed is not None:
        fill = np.where((mc > 0)[..., None], closed, fill)
    if skin is not None:  # where both reach (at the corner) the stronger one's fill
        fill = np.where((ml > mc)[..., None], skin, fill)
    rgba = np.dstack([np.clip(fill + 0.5, 0, 255), np.round(mc * 255)]).astype(np.uint8)
    return rgba, (None if skin is None else np.round(ml * 255).astype(np.uint8)), xy


def _socket_levels(rgb: np.ndarray, fit: PortraitFit, eye: EyeFit, u: np.ndarray, under: np.ndarray
                   ) -> tuple[np.ndarray, np.ndarray]:
    """Per column (u) the log luma, relative to the skin under the eye, of the lid zone's
    upper 80 % and of the band FAR_ABOVE it (medians)."""
    vt = np.interp(np.clip(u, eye.u[0], eye.u[-1]), eye.u, eye.v_up) - eye.lid_height
    ref = max(float(_luma(under)), 1.0)

    def level(v: np.ndarray) -> np.ndarray:
        px = _sample_local(rgb, fit, np.broadcast_to(u, v.shape), v)
        return np.median(np.log(np.maximum(_luma(px), 1.0) / ref), axis=0)

    zone = level(vt[None] + np.linspace(0.0, 0.8, 8)[:, None] * eye.lid_height)
    far = level(vt[None] - np.linspace(*FAR_ABOVE, 5)[:, None] * eye.width)
    return zone, far


def _occlusion(zone: np.ndarray, far: np.ndarray) -> np.ndarray:
    """Per column how surely hair covers the lid zone. Hair is told from a shadowed socket by
    lighting continuity: a socket is dark with lit skin above it (the brow bone), hair stays dark
    from the lid zone on up past the brow (both HAIR_DARK under the skin under the eye)."""
    (lo, hi), (flo, fhi) = HAIR_DARK, HAIR_FAR
    occl = np.clip((-zone - lo) / (hi - lo), 0, 1) * np.clip((-far - flo) / (fhi - flo), 0, 1)
    return np.convolve(np.pad(occl, 2, mode="edge"), np.full(5, 0.2), mode="valid").astype(np.float32)


def _eye_box_in_image(fit: PortraitFit, eye: EyeFit, shape: tuple[int, ...]) -> tuple[int, int, int, int]:
    """The image pixels (x0, y0, x1, y1; end exclusive, clipped to the image) that hold the
    eye's face-local box: where the per-portrait eye masks (hair, eye white) are made."""
    u0, v0, u1, v1 = eye.box
    corners = fit.to_image(np.array([[u0, v0], [u1, v0], [u0, v1], [u1, v1]]))
    h, w = shape[:2]
    x0, y0 = (int(max(np.floor(c), 0)) for c in corners.min(axis=0))
    x1, y1 = int(min(np.ceil(corners[:, 0].max()) + 1, w)), int(min(np.ceil(corners[:, 1].max()) + 1, h))
    return x0, y0, x1, y1


def _hair_over_lid(rgb: np.ndarray, fit: PortraitFit, eye: EyeFit, u: np.ndarray, occl: np.ndarray,
                   skin: np.ndarray, lash: float) -> tuple[np.ndarray | None, tuple[int, int]]:
    """Soft hair mask (uint8) over the eye's box in the image, and its top-left corner; None
    when no hair hangs over the lid zone (``occl``: _occlusion per column ``u``). In hair
    columns the dark pixels above the lash band are hair."""
    import cv2

    lo, hi = HAIR_DARK
    if occl.max() < 0.25:
        return None, (0, 0)
    x0, y0, x1, y1 = _eye_box_in_image(fit, eye, rgb.shape)
    if x1 <= x0 or y1 <= y0:
        return None, (x0, y0)
    gx, gy = np.meshgrid(np.arange(x0, x1, dtype=np.float64), np.arange(y0, y1, dtype=np.float64))
    local = fit.to_local(np.stack([gx, gy], axis=-1))
    lu, lv = local[..., 0], local[..., 1]
    col = np.interp(lu, u, occl)
    above = np.clip((np.interp(lu, eye.u, eye.v_up) - lash - lv) / max(0.02 * eye.width, 0.5), 0, 1)
    px = rgb[y0:y1, x0:x1].astype(np.float32)
    dl = np.log(np.maximum(_luma(px), 1.0) / max(float(_luma(skin)), 1.0))
    dark = np.clip((-dl - lo) / (hi - lo), 0, 1)
    m = cv2.GaussianBlur((col * above * dark).astype(np.float32), (3, 3), 0)
    if (m > 0.5).sum() < max(4, 0.001 * m.size):
        return None, (x0, y0)
    return np.round(m * 255).astype(np.uint8), (x0, y0)


LID_OWN = 0.5  # the closed lid's colour: this much the lid zone's lit skin, the rest the skin under the eye
LID_JOIN_T, LID_JOIN_U = 0.45, 0.12  # how far (lid heights, eye widths) the closed lid's skin
# bends toward the portrait it meets at its top and at the corners


RELIEF = 0.3  # the closed lid's shading over the eyeball: how much darker its corners are than
# its middle (a parabola: light from the front). Down the lid the crease, the portrait's own skin
# at the lid's top and the shadow toward the margin shade it (a relief along the lid too, packed
# into a half-closed lid, read as streaks on small faces: the grain test's measure 2.3 -> 2.8).
CREASE_T, CREASE_W, CREASE_DEPTH = 0.3, 0.07, 0.12  # the closed lid's soft crease: where (share of the
# lid's height), its half-width, and how much darker it is over the middle of the eye


def _light_trend(lid: np.ndarray, u: np.ndarray, i0: int, i1: int, weight: np.ndarray) -> np.ndarray:
    """``lid`` (columns, 3) replaced by its least-squares line over the columns i0..i1 (the eye's
    span) in those columns ``weight`` keeps (0: as it is; hair columns keep the hair's own)."""
    x = (u - u[i0]) / max(u[i1] - u[i0], 1e-6)
    a = np.stack([np.ones_like(x), x], axis=1)
    coef, *_ = np.linalg.lstsq(a[i0:i1 + 1], lid[i0:i1 + 1], rcond=None)
    w = np.clip(weight, 0.0, 1.0)[:, None]
    return (w * (a @ coef) + (1.0 - w) * lid).astype(np.float32)


def _lid_relief(u: np.ndarray, eye: EyeFit, occl: np.ndarray) -> np.ndarray:
    """(LID_NT, len(u)) brightness factors that light the closed lid like the surface it is: a
    bulge over the eyeball, brightest over the middle of the eye and falling off toward the
    corners, with a soft crease line across its top. The lid's colour, set from the portrait's
    skin, is its mean over the eye (the relief averages to 1 there); the flat lid read as a
    pasted patch. Hair
    over the lid (``occl`` per column) keeps the hair's flat shade."""
    x = np.clip((u - eye.u[0]) / max(eye.width, 1e-6), 0.0, 1.0)[None, :]
    t = np.linspace(0.0, 1.0, LID_NT)[:, None]
    relief = -RELIEF * np.square(2.0 * x - 1.0)
    relief = relief - relief[np.abs(x - 0.5) <= 0.35].mean()
    crease = (CREASE_DEPTH * np.sqrt(1.0 - np.square(2.0 * x - 1.0))
              * np.exp(-np.square((t - CREASE_T) / CREASE_W)))
    return (1.0 + (relief - crease) * (1.0 - np.clip(occl, 0.0, 1.0))[None, :]).astype(np.float32)


def _lid_surface(lid: np.ndarray, top: np.ndarray, left: np.ndarray, right: np.ndarray, u: np.ndarray,
                 i0: int, i1: int, ew: float, join_t: float = LID_JOIN_T) -> np.ndarray:
    """(rows, columns, 3): the lid skin ``lid`` ((rows, columns, 3)) over the whole closed lid, bent
    toward the portrait's own pixels where it meets them (its ``top`` row, and the ``left`` and
    ``right`` columns at the eye corners i0, i1), the bend fading over ``join_t`` / LID_JOIN_U:
    no edge where the lid joins the face, and no crease or socket shadow from the open eye
    spread over the lid (a plain interpolation between the boundaries would carry them inward)."""
    n = len(left)
    t = np.linspace(0.0, 1.0, n, dtype=np.float32)[:, None, None]
    tex = lid.astype(np.float32)
    tex = tex + (top - tex[0])[None] * np.exp(-t / join_t)
    d0 = np.maximum(u - u[i0], 0.0)[None, :, None] / (LID_JOIN_U * ew)
    d1 = np.maximum(u[i1] - u, 0.0)[None, :, None] / (LID_JOIN_U * ew)
    tex = (tex + (left[:, None] - tex[:, i0:i0 + 1]) * np.exp(-d0)
           + (right[:, None] - tex[:, i1:i1 + 1]) * np.exp(-d1))
    return tex.astype(np.float32)


SKIN_LUMA, SKIN_CHROMA = 0.3, 0.035  # how far (log luma, rg chromaticity) a pixel may be from skin


def _skin_only(tex: np.ndarray, skin: np.ndarray) -> np.ndarray:
    """``tex`` with its pixels that are not skin-like (far in brightness or hue from ``skin``:
    lashes, brow hair, eye white, iris, hair strands) replaced by the skin-like pixels around them
    (normalised convolution; where there are none, halfway to ``skin``). Shading keeps its weight: a
    crease at 0.75 of the skin's brightness still counts as skin at ~0.4."""
    import cv2

    def chroma(c: np.ndarray) -> np.ndarray:
        return c[..., :2] / np.maximum(c.sum(axis=-1, keepdims=True), 1.0)

    skin = np.asarray(skin, np.float32)
    dl = np.log(np.maximum(_luma(tex), 1.0) / max(float(_luma(skin)), 1.0))
    dc = np.linalg.norm(chroma(tex) - chroma(skin), axis=-1)
    w = (np.exp(-np.square(dl / SKIN_LUMA)) * np.exp(-np.square(dc / SKIN_CHROMA))).astype(np.float32)
    sig_t, sig_u = 0.25 * tex.shape[0], 0.08 * tex.shape[1]
    num = cv2.GaussianBlur(tex * w[..., None], (0, 0), sigmaX=sig_u, sigmaY=sig_t,
                           borderType=cv2.BORDER_REPLICATE)
    den = cv2.GaussianBlur(w, (0, 0), sigmaX=sig_u, sigmaY=sig_t, borderType=cv2.BORDER_REPLICATE)[..., None]
    # Few skin pixels nearby: half the skin colour, half what is there. Hair hanging over the
    # eye and a deep socket shadow look alike here; the lid stays partly in either (a lid
    # under hair all skin-coloured was a pale patch, a shadowed socket's lid left dark a smudge).
    trust = np.clip(den / 0.2, 0.0, 1.0)
    fill = trust * num / np.maximum(den, 1e-4) + (1.0 - trust) * (0.5 * tex + 0.5 * skin)
    return (tex * w[..., None] + fill * (1.0 - w[..., None])).astype(np.float32)


LASH_TONE_MAX = 0.55  # the lash line is at most this bright, relative to the lid skin


def _lash_tone(rgb: np.ndarray, fit: PortraitFit, eye: EyeFit, lid: np.ndarray) -> np.ndarray:
    """The portrait's own darkest lash / lid-edge tone: the mean colour of the darkest tenth of
    the band just above the upper lid margin (its middle 70 %), at most LASH_TONE_MAX of the lid
    skin's brightness (a soft or small face whose lashes blur into the lid still gets a line)."""
    k = len(eye.u)
    u = np.linspace(eye.u[int(0.15 * k)], eye.u[int(0.85 * k) - 1], 24)
    vu = np.interp(u, eye.u, eye.v_up)
    s = np.linspace(0.01, 0.1, 10)[:, None] * eye.width  # above the margin: never the iris
    px = _sample_local(rgb, fit, np.broadcast_to(u, (10, 24)), vu[None, :] - s).reshape(-1, 3)
    y = _luma(px)
    tone = px[y <= np.percentile(y, 10)].mean(axis=0)
    cap = LASH_TONE_MAX * float(_luma(np.asarray(lid, np.float32)))
    return (tone * min(1.0, cap / max(float(_luma(tone)), 1.0))).astype(np.float32)


GRAIN_SIGMA = 0.04  # eye widths: finer than this is the skin's grain (pores, canvas, brushwork)


@dataclass
class SkinGrain:
    """The fine grain (high-pass, float32 RGB around 0) of the skin under one eye, and the image
    offset that carries a point of the closing lid onto that skin: a closed lid, drawn from the
    low-passed lid texture, gets the portrait's own grain back (unstretched, real pixels) instead
    of reading as a flat patch."""
    grain: np.ndarray
    xy0: tuple[int, int]  # image position of grain[0, 0]
    offset: np.ndarray  # (2,) image pixels from the lid to the skin whose grain it takes

    def at(self, xy: np.ndarray) -> np.ndarray:
        import cv2

        x = xy[..., 0] + np.float32(self.offset[0] - self.xy0[0])
        y = xy[..., 1] + np.float32(self.offset[1] - self.xy0[1])
        return cv2.remap(self.grain, x, y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)


def skin_grain(rgb: np.ndarray, fit: PortraitFit, eye: EyeFit) -> SkinGrain | None:
    """The grain of the skin below the eye (its lower lid and cheek: no lashes, no crease), moved
    up by the eye's height plus its lid zone, so the whole closing lid finds skin there."""
    import cv2

    ew = eye.width
    shift = float(eye.v_lo.max() - eye.v_up.min()) + eye.lid_height + 0.1 * ew  # local v, down
    u0, v0, u1, v1 = eye.box
    corners = fit.to_image(np.array([[u0, v0 + shift], [u1, v0 + shift], [u0, v1 + shift], [u1, v1 + shift]]))
    h, w = rgb.shape[:2]
    pad = int(np.ceil(0.1 * ew)) + 2
    x0, y0 = (int(max(np.floor(c) - pad, 0)) for c in corners.min(axis=0))
    x1 = int(min(np.ceil(corners[:, 0].max()) + pad, w))
    y1 = int(min(np.ceil(corners[:, 1].max()) + pad, h))
    if x1 - x0 < 4 or y1 - y0 < 4:
        return None
    px = rgb[y0:y1, x0:x1].astype(np.float32)
    sigma = max(GRAIN_SIGMA * ew, 0.7)
    grain = px - cv2.GaussianBlur(px, (0, 0), sigmaX=sigma, sigmaY=sigma, borderType=cv2.BORDER_REFLECT)
    return SkinGrain(np.ascontiguousarray(grain), (x0, y0), (shift * fit.axis_v).astype(np.float32))


def _under_eye_row(rgb: np.ndarray, fit: PortraitFit, eye: EyeFit, u: np.ndarray) -> np.ndarray:
    """(len(u), 3): per column the median skin 0.12-0.3 eye widths under the lower lid margin
    (below the lower lashes, above the cheek), the columns past the corners at the corners'."""
    uu = np.clip(u, eye.u[0], eye.u[-1])
    vl = np.interp(uu, eye.u, eye.v_lo)
    px = _sample_local(rgb, fit, np.broadcast_to(uu, (6, len(u))),
                       vl[None, :] + np.linspace(0.12, 0.3, 6)[:, None] * eye.width)
    return np.median(px, axis=0)


def _under_eye_skin(rgb: np.ndarray, fit: PortraitFit, eye: EyeFit) -> np.ndarray:
    u = np.linspace(eye.u[0], eye.u[-1], 26)[1:-1]
    vl = np.interp(u, eye.u, eye.v_lo)
    under = _sample_local(rgb, fit, np.broadcast_to(u, (4, len(u))),
                          vl[None, :] + np.linspace(0.35, 0.45, 4)[:, None] * eye.width)
    return np.median(under.reshape(-1, 3), axis=0)


def _white_thresholds(skin: np.ndarray) -> tuple[float, float]:
    """Eye white: clearly less saturated than the skin under the eye, and not a dark line."""
    return 0.65 * float(_sat(skin)), 0.7 * float(_luma(skin))


NEAR_CONTOUR = 0.12  # eye widths: drawn eye white extends at most this far past the tracked contour


def _eye_white(rgb: np.ndarray, fit: PortraitFit, eye: EyeFit, skin: np.ndarray
               ) -> tuple[np.ndarray | None, tuple[int, int]]:
    """Soft eye-white mask (uint8) over the eye's box in the image, and its top-left corner; None
    when (nearly) all the eye white lies inside the tracked contour (photos, most paintings):
    the closing lid covers it anyway, and the renderer skips the per-frame work."""
    import cv2

    x0, y0, x1, y1 = _eye_box_in_image(fit, eye, rgb.shape)
    if x1 <= x0 or y1 <= y0:
        return None, (0, 0)
    px = rgb[y0:y1, x0:x1].astype(np.float32)
    sat_max, luma_min = _white_thresholds(skin)
    m = (np.clip((sat_max - _sat(px)) / max(0.3 * sat_max, 1e-3), 0, 1)
         * np.clip((_luma(px) - luma_min) / max(0.15 * luma_min, 1.0), 0, 1))
    m = cv2.GaussianBlur(m.astype(np.float32), (3, 3), 0)
    contour = np.vstack([np.stack([eye.u, eye.v_up], 1), np.stack([eye.u, eye.v_lo], 1)[::-1]])
    inside = np.zeros(m.shape, np.uint8)
    cv2.fillPoly(inside, [np.round(fit.to_image(contour) - [x0, y0]).astype(np.int32)], 1)
    inside = cv2.dilate(inside, np.ones((3, 3), np.uint8))  # the contour may be a pixel off
    # Drawn eye white lies next to the contour; pale unsaturated skin further out (paintings'
    # lit faces) is not eye white: covered by the skin under the eye it made a flat patch.
    r = max(int(round(NEAR_CONTOUR * eye.width)), 1)
    near = cv2.dilate(inside, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1)))
    m = m * cv2.GaussianBlur(near.astype(np.float32), (0, 0), max(0.3 * r, 0.5))
    if ((m > 0.5) & (inside == 0)).sum() < max(4, 0.001 * m.size):
        return None, (x0, y0)
    return np.round(m * 255).astype(np.uint8), (x0, y0)


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


def true_lower_lid(rgb: np.ndarray, fit: PortraitFit, eye: EyeFit) -> EyeFit:
    """The eye with its lower margin moved down to where the portrait's eye white really ends.

    On stylised portraits (big cartoon and anime eyes) the tracker's lower-lid contour can sit
    well above the drawn lower lid; a lid closing onto that contour leaves a bright crescent of
    eye white (and iris) below it. Eye white here is a pixel clearly less saturated than the
    skin under the eye and not a dark line; the contiguous run of it below the lower contour is
    measured per column, and a smooth lid-shaped profile (zero at the corners) through those
    depths moves v_lo down. On photos and paintings the contour sits on the margin: no change."""
    ew = eye.width
    k = 24
    u = np.linspace(eye.u[0], eye.u[-1], k + 2)[1:-1]
    vl = np.interp(u, eye.u, eye.v_lo)
    sat_max, luma_min = _white_thresholds(_under_eye_skin(rgb, fit, eye))

    def run_length(px: np.ndarray, step: float) -> np.ndarray:
        """Length of the eye-white run from row 0 down axis 0 (it may start a row or two in,
        past the contour's own line), pixels."""
        white = (_sat(px) < sat_max) & (_luma(px) > luma_min)
        n = white.shape[0]
        run = np.cumprod(white | (np.arange(n) < 2).reshape((n,) + (1,) * (white.ndim - 1)), axis=0) * white
        last = np.where(run.any(axis=0), n - 1 - np.argmax(run[::-1], axis=0), -1)
        return np.where(last >= 0, (last + 1) * step, 0.0)

    # Lower margin: the white run below the lower contour, per column.
    depth, n = 0.25 * ew, 20
    s = np.linspace(0.0, depth, n)[:, None]
    ext = run_length(_sample_local(rgb, fit, np.broadcast_to(u, (n, k)), vl[None, :] + s), depth / (n - 1))
    x = (u - eye.u[0]) / max(ew, 1e-6)
    shape = 4.0 * x * (1.0 - x)
    mid = shape > 0.5
    peak = float(np.percentile(ext[mid] / shape[mid], 90)) if mid.any() else 0.0
    peak = float(np.clip(peak - 0.01 * ew, 0.0, 0.2 * ew))  # a pixel is the margin itself
    if peak <= 0:
        return eye
    xx = (eye.u - eye.u[0]) / max(ew, 1e-6)
    v_lo = eye.v_lo + peak * 4.0 * xx * (1.0 - xx)
    u0, v0, u1, v1 = eye.box
    return replace(eye, v_lo=v_lo, box=(u0, v0, u1, max(v1, float(v_lo.max()) + 0.08 * ew)))


def _sat(c: np.ndarray) -> np.ndarray:
    return (c.max(axis=-1) - c.min(axis=-1)) / np.maximum(c.max(axis=-1), 1.0)


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


def _lip_shadow(rgb: np.ndarray, fit: PortraitFit, lip: np.ndarray) -> np.ndarray:
    """The cavity's colour: the portrait's own darkest tones along the lip line (the shadow
    between the lips, or the dark of a parted mouth), so a painting's brown and a drawing's red
    carry into the opening. At most 0.6 of the lips' brightness (a sealed mouth's line can be
    faint) and at least 0.15 of it (no black hole)."""
    m = fit.mouth
    W = fit.width
    u = np.linspace(m.u[0] + 0.2 * (m.u[-1] - m.u[0]), m.u[-1] - 0.2 * (m.u[-1] - m.u[0]), 16)
    mid = 0.5 * (np.interp(u, m.u, m.v_up) + np.interp(u, m.u, m.v_lo))
    s = np.linspace(-0.025 * W, 0.025 * W, 11)[:, None]
    px = _sample_local(rgb, fit, np.broadcast_to(u, (11, 16)), mid[None, :] + s).reshape(-1, 3)
    y = _luma(px)
    dark = px[y <= np.percentile(y, 12)]
    c = np.median(dark, axis=0) if len(dark) else lip * 0.5
    ly, cy = float(_luma(lip)), max(float(_luma(c)), 1.0)
    scale = np.clip(cy, 0.15 * ly, 0.6 * ly) / cy
    c = c * scale
    # a drawn lip line can be pure red; the shade inside a mouth is no more saturated than the lips
    y = float(_luma(c))
    keep = min(1.0, float(_sat(lip)) / max(float(_sat(c)), 1e-3))
    return (y + (c - y) * keep).astype(np.float32)


def mouth_look(rgb: np.ndarray, fit: PortraitFit) -> MouthLook:
    lip = lip_colour(rgb, fit)
    skin = _skin(rgb, fit)
    sclera = _sclera(rgb, fit)
    if sclera is None:
        sclera = np.minimum(skin * 1.25 + 30.0, 240.0)
    # Teeth: the portrait's own white under its own light, a touch of the lips' warmth, never
    # brighter than that white (a cartoon-white grin on a dark painting is what this avoids).
    teeth = np.clip(0.8 * sclera + 0.2 * lip, 0, 245)
    # ... no brighter than the lit skin (teeth inside a mouth are never lit more than the face),
    # and no darker than 0.9 of it: the eye whites of a small or shaded eye (a video frame) can
    # read darker than the lips, and grey teeth read as a dark band.
    y_skin = float(_luma(skin))
    y_t = max(float(_luma(teeth)), 1.0)
    teeth = teeth * float(np.clip(y_t, 0.9 * y_skin, 1.05 * y_skin)) / y_t
    # whitish: at most half the skin's saturation
    y_t, sat_t = float(_luma(teeth)), float(_sat(teeth))
    keep = min(1.0, 0.5 * float(_sat(skin)) / max(sat_t, 1e-3))
    teeth = (y_t + (teeth - y_t) * keep).astype(np.float32)
    cavity = _lip_shadow(rgb, fit, lip)
    # The tongue is in the mouth's shade: between the lips' colour and the cavity's.
    tongue = 0.6 * lip + 0.4 * cavity
    own_teeth = False
    if fit.mouth_gap > 0.02:
        xy = fit.landmarks[:, :2]
        inner = _polygon_pixels(rgb, xy[list(LIP_IN_UP) + list(LIP_IN_LO)[::-1]])
        if len(inner) >= 12:
            sat = (inner.max(axis=1) - inner.min(axis=1)) / np.maximum(inner.max(axis=1), 1.0)
            # unsaturated: under 0.4, or under most of the lips' saturation when the whole
            # portrait is warm (yellowed varnish, tungsten light: its teeth are too)
            bright = (_luma(inner) > 1.2 * float(_luma(lip))) & (sat < max(0.4, TEETH_SAT * float(_sat(lip))))
            own_teeth = bool(bright.mean() > 0.2)
    return MouthLook(lip.astype(np.float32), cavity.astype(np.float32), tongue.astype(np.float32),
                     teeth, own_teeth, _stretchable(rgb, fit, lip),
                     _between_teeth(rgb, fit, lip) if own_teeth else None)


TEETH_SAT = 0.85  # own teeth are less saturated than this share of the lips' saturation (or 0.4)
BETWEEN_SEARCH = (0.2, 0.8)  # share of the own gap where the band (or the split) is sought
BETWEEN_DARK = 0.3  # the band: rows within this share of the column's luma range above its darkest
BETWEEN_MAX = 0.2  # ... at most this share of the own gap either side of the darkest row
BETWEEN_VALLEY = 0.25  # a band: its darkest row's depth under the brighter rows on both sides, as a
# share of the column's luma range, over the central half of the mouth (median); lp_d6 60 / 237
# measure 0.33-0.47 / 0.7-1.0, d0 50 (teeth rows touching, luma falling from the upper teeth to
# the lower lip) 0
BETWEEN_BELOW = 1.15  # ... with lower teeth below it: rows brighter than this x the lips' luma
# (a valley between the lower teeth and the lower lip's inner rim is no band between the teeth)
BETWEEN_EDGE = 0.05  # no band: the upper teeth's lower edge (steepest fall of luma going down),
# where that fall per row is at least this share of the column's luma range (median over the
# central half); else the split is the gap's middle
BETWEEN_GRID = (32, 32)  # (rows, columns) the own interior is sampled on
BAND_ROWS = 12  # rows of the band's texture
BAND_BLUR = 1.5  # its low-pass across the mouth (columns): stretched tall, column detail streaks


def _between_teeth(rgb: np.ndarray, fit: PortraitFit, lip: np.ndarray
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(u, top, bottom, band): per column of the portrait's own opening, the dark band between
    its upper and lower teeth (the back of its mouth), as shares of the inner-lip gap, smoothed
    across the mouth (a split line that wanders column by column would tear the teeth), and
    that band's own pixels (what fills a wider gap when the motion has no mouth exemplars).

    The band is a valley: its darkest row lies under brighter rows on both sides, lower teeth
    below it (the darkest row alone could be the shadow between the lower teeth and the lower
    lip: splitting there carried the lower teeth with the upper lip and stretched them). Where
    the teeth rows touch there is no such valley: the split is the upper teeth's lower edge (no
    band: top = bottom), or, without a clear edge, the gap's middle."""
    import cv2

    m = fit.mouth
    nf, nu = BETWEEN_GRID
    u = np.linspace(m.u[0], m.u[-1], nu)
    vu, vl = np.interp(u, m.u, m.v_up), np.interp(u, m.u, m.v_lo)
    f = (np.arange(nf) + 0.5) / nf
    px = _sample_local(rgb, fit, np.broadcast_to(u, (nf, nu)).astype(np.float32),
                       (vu[None, :] + f[:, None] * (vl - vu)[None, :]).astype(np.float32))
    y = cv2.GaussianBlur(_luma(px).astype(np.float32), (0, 0), sigmaX=1.5, sigmaY=1.0)
    lo, hi = int(BETWEEN_SEARCH[0] * nf), int(BETWEEN_SEARCH[1] * nf)
    cols = np.arange(nu)
    span = np.maximum(y.max(axis=0) - y.min(axis=0), 1.0)
    centre = slice(nu // 4, 3 * nu // 4)
    # valley depth per row: the brighter rows above and below (lower teeth only) over it
    above = np.maximum.accumulate(y, axis=0)
    below = np.maximum.accumulate(y[::-1], axis=0)[::-1]
    below = np.where(below >= BETWEEN_BELOW * float(_luma(lip)), below, -np.inf)
    depth = np.minimum(above, below) - y
    k = lo + np.argmax(depth[lo:hi], axis=0)
    box = nu // 4 * 2 + 1

    def smooth(r: np.ndarray, box: int = box) -> np.ndarray:
        r = cv2.medianBlur(np.ascontiguousarray(r.reshape(1, -1), np.float32), 5)
        return cv2.blur(r, (box, 1), borderType=cv2.BORDER_REPLICATE).reshape(-1) / nf

    if float(np.median((depth[k, cols] / span)[centre])) >= BETWEEN_VALLEY:
        dark = y <= (y[k, cols] + BETWEEN_DARK * (y.max(axis=0) - y[k, cols]))[None, :]
        rows = np.arange(nf)[:, None]
        reach = int(round(BETWEEN_MAX * nf))
        lit_above = ~dark & (rows < k[None, :])
        lit_below = ~dark & (rows > k[None, :])
        top = np.where(lit_above.any(axis=0), nf - 1 - np.argmax(lit_above[::-1], axis=0) + 1, 0)
        bottom = np.where(lit_below.any(axis=0), np.argmax(lit_below, axis=0), nf)
        top = np.clip(top, k - reach, k).astype(np.float32)
        bottom = np.clip(bottom, k + 1, k + 1 + reach).astype(np.float32)
        top, bottom = smooth(top).astype(np.float32), smooth(bottom).astype(np.float32)
    else:
        fall = y[:-1] - y[1:]  # luma lost from row r to r + 1
        e = lo + np.argmax(fall[lo:hi], axis=0)
        if float(np.median((fall[e, cols] / span)[centre])) >= BETWEEN_EDGE:
            # between rows e and e + 1; smoothed less: the teeth's edge curves with the smile
            top = smooth((e + 1).astype(np.float32), nu // 8 * 2 - 1).astype(np.float32)
        else:
            top = np.full(nu, 0.5, np.float32)
        bottom = top.copy()
    t = np.linspace(0.0, 1.0, BAND_ROWS)[:, None]
    band = _sample_local(rgb, fit, np.broadcast_to(u, (BAND_ROWS, nu)).astype(np.float32),
                         (vu + (top + t * (bottom - top)) * (vl - vu)).astype(np.float32))
    band = cv2.GaussianBlur(band, (0, 0), sigmaX=BAND_BLUR, sigmaY=0.5, borderType=cv2.BORDER_REPLICATE)
    return u.astype(np.float32), top, bottom, band.astype(np.float32)


#: own inner-lip gap (face widths) from which an opening is stretched from the portrait's own
#: interior: at most ~3x at the widest opening; a thin parted-lips line would smear
STRETCH_GAP = 0.1


def _stretchable(rgb: np.ndarray, fit: PortraitFit, lip: np.ndarray) -> bool:
    """Whether the middle of the portrait's own mouth opening (its middle third, central half of
    the width) is dark cavity or tongue rather than teeth, and the opening clearly open."""
    m = fit.mouth
    k = len(m.u)
    u = np.linspace(m.u[k // 4], m.u[3 * k // 4], 12)
    vu, vl = np.interp(u, m.u, m.v_up), np.interp(u, m.u, m.v_lo)
    if float(np.interp(m.u_centre, m.u, m.v_lo - m.v_up)) < STRETCH_GAP * fit.width:
        return False
    t = np.linspace(1 / 3, 2 / 3, 8)[:, None]
    px = _sample_local(rgb, fit, np.broadcast_to(u, (8, 12)), vu[None, :] + t * (vl - vu)[None, :])
    return bool(np.median(_luma(px)) <= 1.1 * float(_luma(lip)))
