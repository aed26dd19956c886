"""Draw a Motion's control curves to a PNG (one panel per control group), with cv2 only."""

from __future__ import annotations

import os

import numpy as np

from .controls import CONTROLS, GROUPS
from .media.video import save_image
from .motion import Motion

COLORS = [(31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189), (140, 86, 75)]


def plot_motion(motion: Motion, path: str | os.PathLike, width: int = 1200) -> None:
    """Write the curves of all 16 controls, grouped Head/Eyes/Brows/Mouth; lost frames shaded."""
    import cv2

    ph, margin = 220, 60
    img = np.full((ph * len(GROUPS), width, 3), 255, np.uint8)
    n = max(motion.frame_count, 2)
    xs = margin + np.arange(motion.frame_count) * (width - 2 * margin) / (n - 1)
    for g, group in enumerate(GROUPS):
        top = g * ph + 25
        h = ph - 45
        specs = [c for c in CONTROLS if c.group == group]
        vals = [motion.controls[c.name] for c in specs]
        lo = min(float(np.min(v)) for v in vals)
        hi = max(float(np.max(v)) for v in vals)
        if hi - lo < 1e-6:
            lo, hi = lo - 1, hi + 1
        for k in np.flatnonzero(~motion.tracked):
            cv2.rectangle(img, (int(xs[k]) - 1, top), (int(xs[k]) + 1, top + h), (230, 230, 230), -1)
        cv2.rectangle(img, (margin, top), (width - margin, top + h), (0, 0, 0), 1)
        cv2.putText(img, f"{group}  [{lo:.2f} .. {hi:.2f}]", (margin, top - 6),
                    cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 1, cv2.LINE_AA)
        for j, (spec, v) in enumerate(zip(specs, vals, strict=True)):
            ys = top + h - (v - lo) / (hi - lo) * h
            pts = np.stack([xs, ys], 1).round().astype(np.int32)
            color = COLORS[j % len(COLORS)]
            cv2.polylines(img, [pts], False, color, 2, cv2.LINE_AA)
            cv2.putText(img, spec.name, (width - margin - 150, top + 15 + 15 * j),
                        cv2.FONT_HERSHEY_SIMPLEX, 0.45, color, 1, cv2.LINE_AA)
    save_image(path, img)
