"""The actor's real mouth interiors in the portrait: retrieval, colour match, sampling.

The mouth interior comes, in this order, from (1) the portrait's own interior when it shows one
(synthesis.mouth_edit: own teeth kept, moving with their jaws, the gap between them filled
from the exemplar's interior between its teeth; an open interior stretched, with the exemplar's
teeth rows laid under its upper lip when the curves smile more than it), (2) the driving
actor's mouth exemplars kept at capture (engine/capture/mouth_exemplars.py), (3) the procedural
interior painted in the portrait's colours (a voice-only motion has no exemplars).

* **Colour and light**: each exemplar is moved in Lab from the actor's light on its frame to the
  portrait's: L scaled by the ratio of the skin around the mouth (portrait / actor, clamped; a
  ratio keeps the dark back of the mouth dark) with a soft knee so nothing gets brighter than
  the portrait's own skin there, a/b shifted by most of the lips' and skin's chroma difference,
  so teeth stay whitish but in the portrait's light and tint. Done once per (portrait, exemplar
  set).
* **Retrieval with a temporal term** (Face2Face's idea): per motion, a Viterbi path over all its
  frames minimises the control distance to the chosen exemplar plus a switch cost, charged only
  while the mouth is visibly open (a closed mouth can change exemplar unseen), then switches are
  cross-faded over a few frames (a triangle filter of the one-hot path). The result, one weight
  row per frame, depends on the motion's curves alone: frames stay a pure function of (portrait,
  motion, frame) and farm chunks equal a whole render (the pipeline hands the row to
  ``render_frame`` as the frame's extra ``mouth_exemplar``). Called without it (a single frame,
  a live preview) the nearest exemplar by controls is used.
* **Inside the actor's lips** (``inner_crop``): the tracker's inner-lip contour lies a little
  outside the real opening, so each patch's lip-coloured rows along its top and bottom edge (the
  actor's own lips) are cut per column and the rest stretched back, once per bank.
* **Teeth and tongue** (``teeth_bands``, once per bank): the lower teeth's top edge is evened
  across the mouth, the teeth lose half their (video-pink) chroma, and a tongue as light and
  pink as the lips is shaded toward the cavity where it meets the lower teeth or lip (pasted
  over a portrait's lower lip it read as a second lip); the tongue's wavy outline is smoothed
  first (``smooth_tongue``). Each column's part between its teeth rows (the middle) is what
  fills the new gap of a portrait that shows its own teeth.
* **Warp**: the patches live in the canonical inner-lip frame (x corner to corner, f upper to
  lower inner lip), which is exactly how the renderer parametrises the opening it paints, so
  sampling a patch at (x, f) puts the actor's interior inside the portrait's inner-lip contour
  at the rendered opening; the painted opening's anti-aliased alpha is the blend mask. Opened
  wider than the actor's, teeth keep their natural size under each lip and the cavity between
  them is extended (``rows``): one split row across the mouth (a per-column one notched the
  outlines near it), the repeated row low-passed across (repeated column detail streaks).
  Opened less than the actor's, the patch hangs from the upper lip at a bounded squash, its
  lower part cropped by the lower lip (``rows``: a small mouth hides tongue and lower teeth
  rather than showing the whole interior in miniature). The part between the exemplar's teeth
  filling a teeth portrait's new gap stretches up to
  MIDDLE_STRETCH x, low-passed in proportion, and is extended the same way past that.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from ...capture.mouth_exemplars import (
    CHEEK_L,
    CHEEK_R,
    FEATURES,
    PATCH_H,
    PATCH_W,
    MouthExemplars,
    from_lab,
    lip_stats,
    to_lab,
)

EXTRA = "mouth_exemplar"  # the per-frame extra the pipeline passes (one weight per exemplar)
#: control weights of the retrieval distance (FEATURES order): the opening and the smile shape the
#: interior most (how much teeth and tongue show), width and pucker less
FEATURE_WEIGHTS = np.array([1.0, 1.0, 0.7, 0.7], np.float64)
#: an exemplar shown WIDER than the actor opened costs this many times more per unit of opening
#: than one shown narrower: a wider opening extends its interior (a clenched-teeth exemplar
#: held through a voice's short peak became a white blob in a dark lens), a narrower one only
#: squeezes it
STRETCH_COST = 3.0
SWITCH_COST = 0.12  # squared control distance a switch must save (summed over frames) to happen
VISIBLE = (0.05, 0.3)  # mouth_open over which a switch becomes fully visible (and charged)
RIM_DISTANCE = 2.0  # Lab distance (in the actor's lip std) under which a patch pixel is lip skin
RIM_MAX = 0.7  # at most this share of a column is trimmed from each lip ...
RIM_KEEP = 0.2  # ... and at least this share of it is kept (the real opening, however thin)
RIM_MARGIN = 1.0  # patch rows trimmed past the detected rim (its anti-aliased edge)
SPLIT = (0.2, 0.8)  # the band of a column where its cavity row (the split) is searched
CAVITY_DARKEN = 0.2  # the filled cavity darkens by up to this share away from both teeth bands
SOFT_ACROSS = 6.0  # patch columns (of PATCH_W) the repeated cavity row is low-passed over
SOFT_RAMP = 3.0  # pixels into the repeated cavity over which that low-pass fades in
MIDDLE_STRETCH = 1.6  # the part between an exemplar's teeth stretches up to this x its height
FADE = 3  # frames each side of a switch over which the two exemplars cross-fade
LIGHT_RATIO = (0.45, 1.3)  # clamp of the skin brightness ratio (portrait / actor) applied to L
# the interior's L stays below this x the portrait's skin around the mouth (soft knee from 0.7 of
# it): the brightest real teeth measured, 99th-percentile L over the skin's on the 27 captured
# exemplars with teeth of five clips: median 0.95, 90 % 1.32, max 1.53. At 1.12 the knee (0.78)
# flattened every tooth brighter than the skin into one grey (lp_d6's own teeth, 1.46, became a
# flat 1.13 slab)
TEETH_CAP = 1.55
CHROMA_SHIFT = 0.8  # share of the lips'/skin's a/b difference moved onto the interior


class MouthBank:
    """One exemplar set prepared for one portrait (colour-matched patches)."""

    def __init__(self, exemplars: MouthExemplars, portrait: np.ndarray, landmarks: np.ndarray):
        self.controls = exemplars.controls.astype(np.float64)
        self.count = exemplars.count
        xy = np.asarray(landmarks, np.float64)[:, :2]
        width = float(np.linalg.norm(xy[CHEEK_L] - xy[CHEEK_R]))
        target = lip_stats(portrait, landmarks)
        lab = to_lab(exemplars.patches.reshape(-1, PATCH_W, 3).astype(np.float32))
        lab = lab.reshape(exemplars.count, PATCH_H, PATCH_W, 3)
        # the actor's own lip bands out, each column re-cropped to its real opening
        self.gaps, self.splits, self.middles, self.middle_teeth = [], [], [], []
        between = np.empty_like(lab)  # the same without the tongue's shade (see teeth_bands)
        for i in range(exemplars.count):
            lab[i], share, split = inner_crop(lab[i], exemplars.lips[i])
            # the lower teeth's edge evened out, a lip-pink tongue at the lower lip shaded, and
            # the part between the teeth rows found (what fills a teeth portrait's new gap)
            between[i], lab[i], middle = teeth_bands(lab[i], exemplars.lips[i], split)
            self.gaps.append(np.ascontiguousarray(exemplars.gaps[i] * share * np.float32(width), np.float32))
            # where a wider opening than the actor's parts its interior: one row across the
            # mouth (the split's median over its middle half). A row that varied by column
            # would put a feature near it (the tongue's top) above the fill in some columns and
            # below it in their neighbours: a jagged outline, jumps of the fill's height
            self.splits.append(np.full(PATCH_W, np.median(split[PATCH_W // 4:3 * PATCH_W // 4]), np.float32))
            self.middles.append(middle)
            self.middle_teeth.append(middle_teeth(between[i], exemplars.lips[i], middle))
        # each teeth-filled middle's stand-in: the exemplar nearest in the mouth controls whose
        # middle holds no teeth
        real = [j for j, m in enumerate(self.middle_teeth) if m == 0]
        self.middle_substitute = [
            None if m == 0 or not real else
            real[int(np.argmin(np.linalg.norm(self.controls[real] - self.controls[i], axis=1)))]
            for i, m in enumerate(self.middle_teeth)]
        self.patches, self.between = ([np.ascontiguousarray(np.clip(p, 0, 255))
                                       for p in self._rgb(x, exemplars, target)] for x in (lab, between))
        # the same low-passed across the mouth: what a row repeated over a wider opening than the
        # actor's shows (a row's column detail repeated over many rows is a column of streaks)
        self.soft, self.between_soft = ([_across(p) for p in x] for x in (self.patches, self.between))
        # each patch's teeth rows (0..1): above its middle (the upper teeth under the upper lip)
        # and below it (the lower teeth), the dark gaps between the teeth included. What is laid
        # over a portrait whose own interior shows no teeth when the curves smile wider than it
        # (synthesis.actor_over); the part between the rows stays the portrait's own
        self.teeth = [_teeth_rows(m) for m in self.middles]

    @staticmethod
    def _rgb(lab: np.ndarray, exemplars: MouthExemplars, target: np.ndarray | None) -> np.ndarray:
        """(K, H, W, 3) RGB of the Lab patches, in the portrait's light when it has lips."""
        if target is not None:
            lab = match_light(lab, exemplars.lips, target)
        return from_lab(lab.reshape(-1, PATCH_W, 3)).reshape(exemplars.count, PATCH_H, PATCH_W, 3)

    @staticmethod
    def lip_colour(exemplars: MouthExemplars, portrait: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
        """(K, 3) RGB 0..255: each exemplar's actor lip colour as the bank's colour match moves
        it into the portrait (what an actor lip band in the interior would look like)."""
        target = lip_stats(portrait, landmarks)
        lab = exemplars.lips[:, 0][:, None, None, :].astype(np.float32)
        if target is not None:
            lab = match_light(lab, exemplars.lips, target)
        return np.clip(from_lab(lab.reshape(-1, 1, 3)).reshape(-1, 3), 0, 255)

    # -- retrieval ------------------------------------------------------------------------------

    def _query(self, values: np.ndarray) -> np.ndarray:
        """(n, K) weighted squared control distances of (n, len(FEATURES)) query rows."""
        d = (values[:, None, :] - self.controls[None, :, :]) * FEATURE_WEIGHTS
        d[..., 0] *= np.where(d[..., 0] > 0, STRETCH_COST, 1.0)  # FEATURES[0]: mouth_open
        return np.einsum("nkf,nkf->nk", d, d)

    def nearest(self, controls: Mapping[str, float]) -> np.ndarray:
        """(K,) one-hot weights of the exemplar nearest to one frame's controls."""
        q = np.array([[float(controls.get(f, 0.0)) for f in FEATURES]])
        w = np.zeros(self.count, np.float32)
        w[int(np.argmin(self._query(q)[0]))] = 1
        return w

    def schedule(self, curves: Mapping[str, np.ndarray]) -> np.ndarray:
        """(n, K) float32 blend weights for every frame of a motion (rows sum to 1)."""
        q = np.stack([np.asarray(curves[f], np.float64) for f in FEATURES], axis=1)
        n, k = q.shape[0], self.count
        cost = self._query(q)
        op = np.clip((q[:, 0] - VISIBLE[0]) / (VISIBLE[1] - VISIBLE[0]), 0, 1)
        switch = SWITCH_COST * np.minimum(op[1:], op[:-1])  # charged while the mouth shows
        back = np.zeros((n, k), np.int32)
        acc = cost[0].copy()
        for t in range(1, n):
            j = int(np.argmin(acc))
            stay = acc <= acc[j] + switch[t - 1]  # staying is at least as cheap: ties stay
            back[t] = np.where(stay, np.arange(k), j)
            acc = np.where(stay, acc, acc[j] + switch[t - 1]) + cost[t]
        path = np.empty(n, np.int64)
        path[-1] = int(np.argmin(acc))
        for t in range(n - 1, 0, -1):
            path[t - 1] = back[t, path[t]]
        onehot = np.zeros((n + 2 * FADE, k), np.float64)
        onehot[np.arange(n) + FADE, path] = 1
        onehot[:FADE, path[0]] = 1  # the ends hold their exemplar
        onehot[n + FADE:, path[-1]] = 1
        tri = np.concatenate([np.arange(1, FADE + 2), np.arange(FADE, 0, -1)]).astype(np.float64)
        tri /= tri.sum()
        w = np.stack([np.convolve(onehot[:, i], tri, mode="valid") for i in range(k)], axis=1)
        w[w < 1e-4] = 0
        return (w / w.sum(axis=1, keepdims=True)).astype(np.float32)

    def weights(self, controls: Mapping[str, float], extras: Mapping[str, np.ndarray] | None) -> np.ndarray:
        """This frame's weights: the motion's schedule row when the pipeline passed one, else
        the nearest exemplar."""
        row = None if extras is None else extras.get(EXTRA)
        if row is not None:
            row = np.asarray(row, np.float32).reshape(-1)
            if row.shape == (self.count,) and np.all(np.isfinite(row)) and row.sum() > 0:
                return row
        return self.nearest(controls)

    # -- sampling -------------------------------------------------------------------------------

    def interior(self, weights: np.ndarray):  # noqa: ANN201 - the callable synthesis.mouth_edit takes
        """``colours(a, g, x)`` for synthesis.mouth_edit: the weighted exemplars sampled at
        depth ``a`` below the upper lip of a gap ``g`` (pixels) and x across the mouth (-1..1)."""
        import cv2

        def entry(w: float, i: int) -> tuple:
            return w, i, self.gaps[i], self.splits[i], self.middles[i]

        used = [entry(float(w), i) for i, w in enumerate(weights) if w > 1e-4]
        # between a portrait's own teeth: an exemplar whose teeth rows touch gives way, by its
        # middle's teeth share, to the nearest exemplar with a real middle (real pixels), or,
        # in a set without one, to the painted cavity (mouth_edit reads ``middle_teeth``)
        used_middle, painted = [], 0.0
        for w, i, *_ in used:
            m, sub = self.middle_teeth[i], self.middle_substitute[i]
            if m < 1:  # (a full bite adds nothing of its own: no remap for a zero weight)
                used_middle.append(entry(w * (1 - m), i))
            if m > 0 and sub is not None:
                used_middle.append(entry(w * m, sub))
            else:
                painted += w * m

        def colours(a: np.ndarray, g: np.ndarray, x: np.ndarray, middle: bool = False,
                    teeth_out: list | None = None) -> np.ndarray:
            """``middle``: ``a`` is instead the share (0..1) down the new gap between a
            portrait's own teeth rows, filled with the exemplar's part between its teeth.
            ``teeth_out``: a list that receives the exemplars' teeth mask (0..1) at the same pixels."""
            col = (x + np.float32(1)) * np.float32(0.5 * PATCH_W) - np.float32(0.5)
            mx = col.astype(np.float32)[None]
            g = np.maximum(g, np.float32(1e-3))
            # per-column values (gaps, split, teeth rows) at each pixel's column: one set of
            # linear-interpolation weights for all of them (as np.interp, clamped at the ends)
            at = np.clip(col, 0, PATCH_W - 1)
            i0 = np.minimum(at.astype(np.int64), PATCH_W - 2)
            t = (at - i0).astype(np.float32)

            def lerp(v: np.ndarray) -> np.ndarray:
                v0 = v[i0]
                return v0 + t * (v[i0 + 1] - v0)

            out = np.zeros((a.shape[0], 3), np.float32)
            mask = None if teeth_out is None else np.zeros(a.shape[0], np.float32)
            for w, i, gaps, split, mid in (used_middle if middle else used):
                # between a portrait's own teeth the tongue is not beside its lower lip: unshaded
                patch, soft = ((self.between, self.between_soft) if middle else (self.patches, self.soft))
                patch, soft = patch[i], soft[i]
                ga = lerp(gaps)
                sp = lerp(split)
                soften = np.zeros_like(a)
                if middle:  # the part between the exemplar's teeth rows as a column of its own:
                    # stretched up to MIDDLE_STRETCH x, its column detail low-passed more the
                    # more it stretches; further, its ends (below the upper teeth, the tongue
                    # above the lower teeth) stay at that size and the cavity between them is
                    # extended (as a full opening's is): stretched rows streak
                    f0 = lerp(mid[0])
                    f1 = lerp(mid[1])
                    span = np.maximum(f1 - f0, np.float32(1e-3))
                    natural = ga * span  # the middle's own height, pixels
                    grow = np.minimum(g / np.maximum(natural, np.float32(1e-3)), np.float32(MIDDLE_STRETCH))
                    soften = np.clip((grow - np.float32(1)) * np.float32(1 / (MIDDLE_STRETCH - 1)), 0, 1)
                    fl, fill = rows(a * g, g, natural * np.maximum(grow, np.float32(1)),
                                    np.clip((sp - f0) / span, 0, 1))
                    f = f0 + fl * span
                    reach = np.maximum(np.float32(0.5) * natural * grow, np.float32(1))
                else:  # (a narrower opening keeps the upper teeth, mid[0] their bottom, near size)
                    teeth = lerp(mid[0])
                    f, fill = rows(a, g, ga, sp, teeth)
                    reach = np.maximum(np.float32(0.5) * ga, np.float32(1))
                my = (f * np.float32(PATCH_H) - np.float32(0.5)).astype(np.float32)[None]
                s = cv2.remap(patch, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE).reshape(-1, 3)
                # the repeated cavity row low-passed across from a few pixels into it (one row's
                # detail repeated is a streak at once), a stretched middle in proportion
                soften = np.maximum(soften, np.clip(fill * reach * np.float32(1 / SOFT_RAMP), 0, 1))
                if np.any(soften > 0):
                    lo = cv2.remap(soft, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
                    s += soften[:, None] * (lo.reshape(-1, 3) - s)
                shade = np.float32(w) * (np.float32(1) - np.float32(CAVITY_DARKEN) * fill)
                out += shade[:, None] * s
                if mask is not None:
                    mask += np.float32(w) * cv2.remap(self.teeth[i], mx, my, cv2.INTER_LINEAR,
                                                      borderMode=cv2.BORDER_REPLICATE).reshape(-1)
            if teeth_out is not None:
                teeth_out.append(mask)
            return out

        total = sum(w for w, *_ in used)
        colours.middle_teeth = painted / total if total else 0.0
        return colours


def _across(rgb: np.ndarray) -> np.ndarray:
    """A patch low-passed across the mouth (columns), a little down it."""
    import cv2

    return np.ascontiguousarray(cv2.GaussianBlur(rgb, (0, 0), sigmaX=SOFT_ACROSS, sigmaY=1.0,
                                                 borderType=cv2.BORDER_REPLICATE))


def match_light(lab: np.ndarray, src: np.ndarray, target: np.ndarray) -> np.ndarray:
    """(K, H, W, 3) Lab of K exemplars moved from the actor's light (``src``: (K, 3, 3) lip mean,
    lip std, skin median) to the portrait's (``target``: (3, 3))."""
    lab = lab.copy()
    # light: the skin around the mouth, the actor's to the portrait's (multiplicative, so
    # the dark back stays dark); nothing brighter than the portrait's own skin (a soft knee)
    ratio = np.clip(target[2, 0] / np.maximum(src[:, 2, 0], 1.0), *LIGHT_RATIO).astype(np.float32)
    # shadows stay shadows: the ratio applies in full from the actor's skin brightness
    # up, less and less toward black (a mouth's back is dark under any light)
    share = np.clip(lab[..., 0] / np.maximum(src[:, None, None, 2, 0], 1.0), 0, 1)
    L = lab[..., 0] * np.power(ratio[:, None, None], share)
    cap = np.float32(TEETH_CAP * target[2, 0])
    knee = np.float32(0.7) * cap
    L = np.where(L > knee, knee + (cap - knee) * np.tanh((L - knee) / (cap - knee)), L)
    lab[..., 0] = L
    # tint: half the lips' and half the skin's chroma difference
    shift = 0.5 * (target[0, 1:] - src[:, 0, 1:]) + 0.5 * (target[2, 1:] - src[:, 2, 1:])
    lab[..., 1:] += np.float32(CHROMA_SHIFT) * shift[:, None, None, :].astype(np.float32)
    return lab


def inner_crop(lab: np.ndarray, lips: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One patch (Lab, (PATCH_H, PATCH_W, 3)) cropped strictly inside the actor's opening.

    The tracker's inner-lip contour sits a little outside the real opening, so the canonical
    crop holds a band of the actor's own lip under the upper and above the lower contour; pasted
    into a portrait it shows lips within lips. Per column, the run of rows from each edge whose
    colour is the actor's lip colour on that frame (``lips``: Lab mean and std between the lip
    contours) is cut, the cut smoothed across columns, and the rest stretched back to the full
    patch. Returns (the cropped patch, each column's kept share of the opening (PATCH_W,), each
    column's split row (0..1): the darkest row of its middle, where a wider opening than the
    actor's is filled with the cavity)."""
    import cv2

    std = np.maximum(lips[1], np.array([4.0, 3.0, 2.5], np.float32))
    limit = int(RIM_MAX * PATCH_H)
    centre = slice(PATCH_W // 4, 3 * PATCH_W // 4)
    top, bot = (np.zeros(PATCH_W, np.float32) for _ in range(2))
    for edge, rim in ((lab, top), (lab[::-1], bot)):
        # the lip colour just inside this contour: the edge rows of the mouth's middle, taken as
        # the actor's lip only when they match its lips on that frame (else the edge is already
        # interior: a dark slit, teeth)
        ref = np.median(edge[:2, centre].reshape(-1, 3), axis=0)
        z = (ref - lips[0]) / std
        if float(z @ z) > RIM_DISTANCE ** 2:
            continue
        # the run of rows from the edge that keep that colour or the lips' mean (the light
        # varies along a lip: a highlight is brighter and yellower, so brighter counts 2/3;
        # darker than the lip by more than its spread is the opening's shadow, not lip)
        # lip-coloured pixels past the run (a tongue behind the teeth' shadow) stay
        lip = (_lip_distance(edge[:limit], ref, std) < RIM_DISTANCE) | (
            _lip_distance(edge[:limit], lips[0], std) < RIM_DISTANCE)
        rim[:] = np.argmin(np.vstack([lip, np.zeros((1, PATCH_W), bool)]), axis=0)
    over = np.maximum(top + bot - (1 - RIM_KEEP) * PATCH_H, 0)  # both cuts shrink to keep RIM_KEEP
    top, bot = top - over * top / np.maximum(top + bot, 1), bot - over * bot / np.maximum(top + bot, 1)
    k = PATCH_W // 8 * 2 + 1  # a lip edge is smooth across the mouth: median, then box filter
    top = cv2.blur(cv2.medianBlur(top.reshape(1, -1), 5), (k, 1)).reshape(-1)
    bot = cv2.blur(cv2.medianBlur(bot.reshape(1, -1), 5), (k, 1)).reshape(-1)
    t0 = np.clip(top + np.float32(RIM_MARGIN) * (top > 0), 0, limit)
    t1 = PATCH_H - np.clip(bot + np.float32(RIM_MARGIN) * (bot > 0), 0, limit)
    f = (np.arange(PATCH_H, dtype=np.float32) + 0.5) / PATCH_H
    my = (t0[None, :] + f[:, None] * (t1 - t0)[None, :] - 0.5).astype(np.float32)
    mx = np.broadcast_to(np.arange(PATCH_W, dtype=np.float32)[None, :], my.shape).copy()
    out = cv2.remap(np.ascontiguousarray(lab, np.float32), mx, my, cv2.INTER_LINEAR,
                    borderMode=cv2.BORDER_REPLICATE)
    # the split: the darkest row of each column's middle (the back of the mouth), smoothed
    lo, hi = int(SPLIT[0] * PATCH_H), int(SPLIT[1] * PATCH_H)
    dark = cv2.GaussianBlur(out[..., 0], (0, 0), sigmaX=3, sigmaY=1.5)[lo:hi]
    split = (lo + np.argmin(dark, axis=0).astype(np.float32) + 0.5) / PATCH_H
    split = cv2.blur(split.reshape(1, -1).astype(np.float32), (k, 1)).reshape(-1)
    # around the split the cavity is smoothed across (it is what a wide opening repeats)
    soft = cv2.GaussianBlur(out, (0, 0), sigmaX=4, sigmaY=1.5)
    near = np.exp(-(((np.arange(PATCH_H)[:, None] + 0.5) / PATCH_H - split[None, :]) * PATCH_H / 3) ** 2)
    out = out + near[..., None].astype(np.float32) * (soft - out)
    return out, ((t1 - t0) / PATCH_H).astype(np.float32), split.astype(np.float32)


TEETH_OVER_LIP = 12.0  # Lab L above the actor's lips from which an unsaturated pixel is a tooth
TEETH_CHROMA = 0.75  # ... at most this share of the lips' chroma
TEETH_DESATURATE = 0.5  # share of the teeth's chroma taken out
MIDDLE_MARGIN = 2  # patch rows the middle keeps clear of each teeth band (their soft edges)
MIDDLE_MIN = 0.15  # the part between the teeth rows is at least this share of the patch high
MIDDLE_TEETH = (0.25, 0.6)  # teeth share of a middle over which it gives way to the cavity
TONGUE_SHADE = 0.75  # a lip-pink tongue at the lower lip moves this far toward the cavity tone
TONGUE_REACH = 0.5  # share of the patch above the lower lip over which that shade fades out
TONGUE_DISTANCE = (1.5, 2.5)  # lip-likeness fades out between these (L, chroma) distances (spread)


def teeth_bands(lab: np.ndarray, lips: np.ndarray, split: np.ndarray
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One cropped patch (Lab) tidied where it shows teeth and tongue, and its middle.

    * Teeth: pixels clearly brighter than the actor's lips and much less saturated. The lower
      teeth's top edge (the first tooth row below the split, per column) is wavy at 96 columns
      (blur, gaps between teeth, the tongue's tip): each column's lower part is remapped so that
      edge lies on its smoothed course across the mouth.
    * Tongue: below the split, pixels within the actor's lip spread in lightness and chroma (hue
      ignored: a wet tongue is pinker than the lips but reads as lip beside them) move toward
      the exemplar's own cavity tone, most at the lower teeth (or the lower lip where none
      show), fading out upward: pasted over a
      portrait's lower lip a tongue blob as light and pink as lips read as a second lip.
    * Middle: per column the rows between the upper and lower teeth (the cavity and tongue;
      the whole column where the exemplar shows no teeth), smoothed across: what fills the new
      gap between a teeth-showing portrait's own teeth.

    Returns (the patch with its teeth evened and whitened, the same with the tongue shaded too,
    (2, PATCH_W) top and bottom of the middle, 0..1). The tongue's shade is for a mouth opened
    from the portrait's lips; between a portrait's own teeth it would only darken a real tongue."""
    import cv2

    lab = lab.copy()
    L = lab[..., 0]
    chroma = np.hypot(lab[..., 1], lab[..., 2])
    lip_c = float(np.hypot(lips[0, 1], lips[0, 2]))
    teeth = _teeth(lab, lips)
    f = (np.arange(PATCH_H, dtype=np.float32) + 0.5) / PATCH_H
    below = f[:, None] > split[None, :]
    above = ~below
    k = PATCH_W // 8 * 2 + 1
    # the lower teeth's top edge, where a column has lower teeth
    low = teeth & below
    has_low = low.any(axis=0)
    edge = np.where(has_low, np.argmax(low, axis=0) / PATCH_H, 1.0).astype(np.float32)
    if has_low.sum() >= 3:
        w = has_low.astype(np.float32)
        smooth = (cv2.blur((edge * w).reshape(1, -1), (k, 1), borderType=cv2.BORDER_REPLICATE)
                  / np.maximum(cv2.blur(w.reshape(1, -1), (k, 1), borderType=cv2.BORDER_REPLICATE), 1e-3)
                  ).reshape(-1)
        lo_f = np.clip(split + 1.0 / PATCH_H, 0, 1)
        target = np.where(has_low, np.clip(smooth, lo_f + 1.0 / PATCH_H, 1 - 1.0 / PATCH_H), edge)
        src_e = np.clip(edge, lo_f + 0.5 / PATCH_H, 1 - 0.5 / PATCH_H)
        # backward map per column: [split, target] <- [split, edge], [target, 1] <- [edge, 1]
        fy = np.where(f[:, None] <= lo_f[None, :], f[:, None],
                      np.where(f[:, None] <= target[None, :],
                               lo_f + (f[:, None] - lo_f) * (src_e - lo_f) / np.maximum(target - lo_f, 1e-3),
                               src_e + (f[:, None] - target) * (1 - src_e) / np.maximum(1 - target, 1e-3)))
        fy = np.where(has_low[None, :], fy, f[:, None])
        my = (fy * PATCH_H - 0.5).astype(np.float32)
        mx = np.broadcast_to(np.arange(PATCH_W, dtype=np.float32)[None, :], my.shape).copy()
        lab = cv2.remap(np.ascontiguousarray(lab, np.float32), mx, my, cv2.INTER_LINEAR,
                        borderMode=cv2.BORDER_REPLICATE)
        teeth = cv2.remap(teeth.astype(np.float32), mx, my, cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_REPLICATE) > 0.5
        edge = np.where(has_low, target, 1.0).astype(np.float32)
        L, chroma = lab[..., 0], np.hypot(lab[..., 1], lab[..., 2])
    # the tongue's outline smoothed: the actor's own wavy one (blur, its tip moving, the teeth's
    # shadows) read as a crumpled shape in another face
    # (between the highest split row and the lower teeth's evened edge: the per-column split would
    # cut a tongue rising above it along a jagged line, the lower lip's rim below the lower teeth
    # is no tongue)
    tongue_zone = (f[:, None] > float(split.min())) & (f[:, None] < edge[None, :]) & ~teeth
    lab = smooth_tongue(lab, _lipish(L, chroma, lips, lip_c), tongue_zone)
    L, chroma = lab[..., 0], np.hypot(lab[..., 1], lab[..., 2])
    # the tongue at the lower lip: lip-like in lightness and chroma, not a tooth, below the split
    lipish = _lipish(L, chroma, lips, lip_c)
    # most where it meets the lower teeth (their evened edge) or, without them, the lower lip
    near = np.clip(1 - (edge[None, :] - f[:, None]) / TONGUE_REACH, 0, 1) * below
    shade = (lipish * near * ~teeth).astype(np.float32)
    shade = cv2.GaussianBlur(shade, (0, 0), sigmaX=1.0)
    # toward the exemplar's own cavity tone (its darkest tenth across the mouth's middle): the
    # tongue in the lower lip's shadow, in the actor's own colours
    centre = lab[:, PATCH_W // 4:3 * PATCH_W // 4].reshape(-1, 3)
    cavity = np.median(centre[centre[:, 0] <= np.percentile(centre[:, 0], 10)], axis=0).astype(np.float32)
    # teeth whitish: a video's white balance tints them toward the lips' pink, which reads as
    # tongue once the colour match adds the portrait's warmth
    soft = cv2.GaussianBlur(teeth.astype(np.float32), (0, 0), sigmaX=0.7)
    lab[..., 1:] *= (1 - np.float32(TEETH_DESATURATE) * soft)[..., None]
    shaded = lab + (np.float32(TONGUE_SHADE) * shade)[..., None] * (cavity - lab)
    # the middle: below the upper teeth, above the lower teeth's (evened) edge
    up = teeth & above
    has_up = up.any(axis=0)
    last_up = PATCH_H - 1 - np.argmax(up[::-1], axis=0)
    # (clear of the teeth's soft edges by MIDDLE_MARGIN rows; a running max / min before the
    # smoothing, so no column's band reaches into its neighbours' teeth)
    top = np.where(has_up, (last_up + 1 + MIDDLE_MARGIN) / PATCH_H, 0.0).astype(np.float32)
    top = np.minimum(top, split)
    bottom = np.where(has_low, edge - MIDDLE_MARGIN / PATCH_H, 1.0).astype(np.float32)
    bottom = np.maximum(bottom, split)
    reach = np.ones((1, 5), np.uint8)
    rep = cv2.BORDER_REPLICATE
    top = cv2.blur(cv2.dilate(top.reshape(1, -1), reach), (k, 1), borderType=rep).reshape(-1)
    bottom = cv2.blur(cv2.erode(bottom.reshape(1, -1), reach), (k, 1), borderType=rep).reshape(-1)
    short = np.maximum(MIDDLE_MIN - (bottom - top), 0) * 0.5
    top, bottom = np.clip(top - short, 0, 1), np.clip(bottom + short, 0, 1)
    return lab.astype(np.float32), shaded.astype(np.float32), np.stack([top, bottom]).astype(np.float32)


def _teeth_rows(middle: np.ndarray) -> np.ndarray:
    """(PATCH_H, PATCH_W) float32: 1 on a patch's teeth rows (outside its middle, ``teeth_bands``),
    0 between them, over a patch row at the edges; 0 in columns whose middle is the whole column."""
    f = (np.arange(PATCH_H, dtype=np.float32) + np.float32(0.5)) / np.float32(PATCH_H)
    edge = np.float32(1.0 / PATCH_H)
    top, bottom = middle[0][None, :].astype(np.float32), middle[1][None, :].astype(np.float32)
    upper = np.clip((top - f[:, None]) / edge + np.float32(0.5), 0, 1) * (top > edge)
    lower = np.clip((f[:, None] - bottom) / edge + np.float32(0.5), 0, 1) * (bottom < 1 - edge)
    return np.ascontiguousarray(np.maximum(upper, lower), np.float32)


def _teeth(lab: np.ndarray, lips: np.ndarray) -> np.ndarray:
    """Boolean teeth mask of a patch (Lab): clearly brighter than the actor's lips and much
    less saturated, single-row specks opened away."""
    import cv2

    chroma = np.hypot(lab[..., 1], lab[..., 2])
    lip_c = float(np.hypot(lips[0, 1], lips[0, 2]))
    teeth = (lab[..., 0] > float(lips[0, 0]) + TEETH_OVER_LIP) & (chroma < TEETH_CHROMA * lip_c)
    return cv2.morphologyEx(teeth.astype(np.uint8), cv2.MORPH_OPEN, np.ones((2, 1), np.uint8)) > 0


def middle_teeth(lab: np.ndarray, lips: np.ndarray, middle: np.ndarray) -> float:
    """0..1: how much of an exemplar's middle (``teeth_bands``' rows between its teeth, central
    half of the mouth) is teeth. High where the actor's rows touch (a bite): no real interior
    lies between them, so what fills a portrait's new gap between its own teeth is the cavity.
    Measured on the 120 exemplars of five clips: 0-0.1 for tongue and cavity, lp_d6's bite
    (frame 118) 0.72, tps' teeth-filled openings 0.29-0.40."""
    f = (np.arange(PATCH_H, dtype=np.float32) + 0.5) / PATCH_H
    inside = (f[:, None] >= middle[0][None, :]) & (f[:, None] <= middle[1][None, :])
    centre = np.s_[:, PATCH_W // 4:3 * PATCH_W // 4]
    share = float((_teeth(lab, lips) & inside)[centre].sum()) / max(int(inside[centre].sum()), 1)
    t = min(max((share - MIDDLE_TEETH[0]) / (MIDDLE_TEETH[1] - MIDDLE_TEETH[0]), 0.0), 1.0)
    return t * t * (3 - 2 * t)


TONGUE_OUTLINE = (4.0, 1.0)  # patch columns, rows (Gaussian sigmas) the tongue's outline is smoothed over


def _lipish(L: np.ndarray, chroma: np.ndarray, lips: np.ndarray, lip_c: float) -> np.ndarray:
    """0..1 likeness of patch pixels to the actor's lips in lightness and chroma (hue ignored: a
    wet tongue is pinker than the lips but reads as lip beside them)."""
    std_l = max(float(lips[1, 0]), 4.0)
    std_c = max(float(np.hypot(lips[1, 1], lips[1, 2])), 3.0)
    zl = (L - float(lips[0, 0])) / std_l
    zl = np.where(zl > 0, zl / 1.5, zl)  # a highlight counts 2/3, as in the crop
    d = np.hypot(zl, (chroma - lip_c) / std_c)
    return 1 - np.clip((d - TONGUE_DISTANCE[0]) / (TONGUE_DISTANCE[1] - TONGUE_DISTANCE[0]), 0, 1)


def smooth_tongue(lab: np.ndarray, lipish: np.ndarray, zone: np.ndarray) -> np.ndarray:
    """One patch (Lab) with its tongue's outline smoothed.

    The tongue is the lip-like part of ``zone`` (below the split, no teeth), a soft mask T. Its
    outline is T blurred (more across the mouth than down it) and sharpened again around 0.5:
    T_s. Where T_s exceeds T (a notch in the actor's outline) the pixel moves toward the
    tongue's local colour (T-weighted blur of the patch), where T exceeds T_s (a bump) toward
    the local colour around it, by the difference: the same shading, a smoother shape."""
    import cv2

    T = (lipish * zone).astype(np.float32)
    if float(T.sum()) < 0.05 * T.size:
        return lab
    sx, sy = TONGUE_OUTLINE
    rep = cv2.BORDER_REPLICATE

    def blur(a: np.ndarray) -> np.ndarray:
        return cv2.GaussianBlur(a, (0, 0), sigmaX=sx, sigmaY=sy, borderType=rep)

    smooth = np.clip((blur(T) - 0.5) * 3.0 + 0.5, 0, 1) * zone
    other = (1 - T) * zone
    wt, wo = blur(T), blur(other)
    tongue_col = blur(lab * T[..., None]) / np.maximum(wt, np.float32(1e-3))[..., None]
    other_col = blur(lab * other[..., None]) / np.maximum(wo, np.float32(1e-3))[..., None]
    # (only where that local colour has support: a near-empty weighted mean is noise)
    grow = (np.clip(smooth - T, 0, 1) * np.clip(wt * 10.0, 0, 1))[..., None]
    cut = (np.clip(T - smooth, 0, 1) * np.clip(wo * 10.0, 0, 1))[..., None]
    return (lab + grow * (tongue_col - lab) + cut * (other_col - lab)).astype(np.float32)


def _lip_distance(lab: np.ndarray, ref: np.ndarray, std: np.ndarray) -> np.ndarray:
    """Lab distance to a lip colour in units of the lips' spread, brighter counting 2/3."""
    z = (lab - ref) / std
    z[..., 0] *= np.where(z[..., 0] > 0, np.float32(1 / 1.5), np.float32(1))
    return np.sqrt(np.einsum("...z,...z->...", z, z))


NARROW_SQUASH = 0.6  # an opening narrower than the exemplar's squashes it at most to this x ...
NARROW_UPPER = 0.6  # ... unless its upper teeth (teeth_bands' middle top) would fill more of it than this


def rows(a: np.ndarray, g: np.ndarray, ga: np.ndarray, split: np.ndarray,
         teeth: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(patch row f (0..1), cavity fill 0..1) of a pixel ``a`` below the upper lip in a rendered
    gap ``g`` whose exemplar column was ``ga`` high (pixels, at the portrait's scale) and splits
    at row ``split``. Opened wider than the actor's, the part above the split (upper teeth)
    stays attached under the upper lip and the part below it (lower teeth, tongue) above the
    lower lip, both at their natural size; the middle repeats the split row (the dark cavity,
    smoothed) and darkens with depth.

    Narrower, given ``teeth`` (the patch row where the upper teeth end), the column hangs from
    the upper lip at a bounded squash (``scale``): the upper teeth stay right under the upper
    lip near their own size and the lower part (tongue, lower teeth) sinks behind the lower
    lip, cropped by it, as in a real smaller opening (squeezed evenly, a smile exemplar's big
    tongue and lower teeth filled a small mouth). The squash is at most NARROW_SQUASH, more only
    where the upper teeth would otherwise fill over NARROW_UPPER of the opening (some of what
    lies below them stays in view); it reaches 1 at the exemplar's own height, so the look
    changes smoothly with the opening. Without ``teeth`` (the part between a portrait's own
    teeth) the whole column is squeezed."""
    eps = np.float32(1e-3)
    gs = np.maximum(ga, eps)
    up, lo = split * ga, (np.float32(1) - split) * ga
    b = g - a
    wide = np.where(a < up, a / gs, np.where(b < lo, np.float32(1) - b / gs, split))
    depth = np.minimum(a - up, b - lo)  # into the filled middle
    fill = np.clip(depth / np.maximum(np.float32(0.5) * ga, np.float32(1)), 0, 1)
    wider = g > ga
    s = g / gs  # the opening's share of the exemplar's height
    if teeth is not None:
        cap = np.float32(NARROW_UPPER) * s / np.maximum(teeth, eps)
        scale = np.clip(np.minimum(np.maximum(s, np.float32(NARROW_SQUASH)), cap), s, 1)
    else:
        scale = s
    narrow = a / (gs * np.maximum(scale, eps))
    return (np.clip(np.where(wider, wide, narrow), 0, 1),
            np.where(wider, fill, np.float32(0)).astype(np.float32))


def load_mouth_source(source: object) -> MouthExemplars | None:
    """The renderer option ``mouth_source``: a MouthExemplars, a motion file (its exemplars),
    or "none" (no exemplars: the procedural interior)."""
    from ..base import RenderError

    if isinstance(source, MouthExemplars):
        return source
    if isinstance(source, str) and source.lower() == "none":
        return None
    from ...motion import Motion

    motion = Motion.load(str(source))
    if motion.mouths is None:
        raise RenderError(f"mouth source {source}: that motion has no mouth exemplars (capture it from "
                          "a video with a face, without --no-mouths)")
    return motion.mouths
