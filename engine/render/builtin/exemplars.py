"""The actor's real mouth interiors in the portrait: retrieval, colour match, sampling.

The mouth interior comes, in this order, from (1) the portrait's own interior when it shows one
(synthesis.mouth_edit: own teeth kept, an open interior stretched), (2) the driving actor's mouth
exemplars kept at capture (engine/capture/mouth_exemplars.py), (3) the procedural interior
painted in the portrait's colours (a voice-only motion has no exemplars).

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
* **Warp**: the patches live in the canonical inner-lip frame (x corner to corner, f upper to
  lower inner lip), which is exactly how the renderer parametrises the opening it paints, so
  sampling a patch at (x, f) puts the actor's interior inside the portrait's inner-lip contour
  at the rendered opening; the painted opening's anti-aliased alpha is the blend mask.
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
SWITCH_COST = 0.12  # squared control distance a switch must save (summed over frames) to happen
VISIBLE = (0.05, 0.3)  # mouth_open over which a switch becomes fully visible (and charged)
RIGID = 0.35  # share of the actor's opening under each lip that keeps its size (teeth)
FADE = 3  # frames each side of a switch over which the two exemplars cross-fade
LIGHT_RATIO = (0.45, 1.3)  # clamp of the skin brightness ratio (portrait / actor) applied to L
TEETH_CAP = 1.12  # the interior's L stays below this x the portrait's skin around the mouth
CHROMA_SHIFT = 0.8  # share of the lips'/skin's a/b difference moved onto the interior


class MouthBank:
    """One exemplar set prepared for one portrait (colour-matched patches)."""

    def __init__(self, exemplars: MouthExemplars, portrait: np.ndarray, landmarks: np.ndarray):
        self.controls = exemplars.controls.astype(np.float64)
        self.count = exemplars.count
        xy = np.asarray(landmarks, np.float64)[:, :2]
        width = float(np.linalg.norm(xy[CHEEK_L] - xy[CHEEK_R]))
        self.gaps = [np.ascontiguousarray(g * np.float32(width), np.float32) for g in exemplars.gaps]  # px
        target = lip_stats(portrait, landmarks)
        lab = to_lab(exemplars.patches.reshape(-1, PATCH_W, 3).astype(np.float32))
        lab = lab.reshape(exemplars.count, PATCH_H, PATCH_W, 3)
        if target is not None:
            src = exemplars.lips  # (K, 3, 3): lip mean, lip std, skin median
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
        rgb = from_lab(lab.reshape(-1, PATCH_W, 3)).reshape(exemplars.count, PATCH_H, PATCH_W, 3)
        self.patches = [np.ascontiguousarray(np.clip(p, 0, 255)) for p in rgb]

    # -- retrieval ------------------------------------------------------------------------------

    def _query(self, values: np.ndarray) -> np.ndarray:
        """(n, K) weighted squared control distances of (n, len(FEATURES)) query rows."""
        d = (values[:, None, :] - self.controls[None, :, :]) * FEATURE_WEIGHTS
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

        used = [(float(w), self.patches[i], self.gaps[i]) for i, w in enumerate(weights) if w > 1e-4]

        def colours(a: np.ndarray, g: np.ndarray, x: np.ndarray) -> np.ndarray:
            col = (x + np.float32(1)) * np.float32(0.5 * PATCH_W) - np.float32(0.5)
            mx = col.astype(np.float32)[None]
            g = np.maximum(g, np.float32(1e-3))
            out = np.zeros((a.shape[0], 3), np.float32)
            for w, patch, gaps in used:
                f = rows(a, g, np.interp(col, np.arange(PATCH_W), gaps).astype(np.float32))
                my = (f * np.float32(PATCH_H) - np.float32(0.5)).astype(np.float32)[None]
                s = cv2.remap(patch, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
                out += np.float32(w) * s.reshape(-1, 3)
            return out

        return colours


def rows(a: np.ndarray, g: np.ndarray, ga: np.ndarray) -> np.ndarray:
    """Patch row f (0..1) of a pixel ``a`` below the upper lip in a rendered gap ``g`` whose
    exemplar column was ``ga`` high (pixels, at the portrait's scale). Opened wider than the
    actor's, the share RIGID of the actor's opening under each lip keeps its size (teeth do not
    grow with the opening) and the middle (the back of the mouth, the tongue) stretches;
    narrower, the whole column is squeezed."""
    q = np.float32(RIGID) * ga
    b = g - a
    mid = np.maximum(g - 2 * q, np.float32(1e-3))
    wide = np.where(a < q, a / np.maximum(ga, np.float32(1e-3)),
                    np.where(b < q, 1 - b / np.maximum(ga, np.float32(1e-3)),
                             (q + (a - q) * (ga - 2 * q) / mid) / np.maximum(ga, np.float32(1e-3))))
    return np.clip(np.where(g > ga, wide, a / g), 0, 1)


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
