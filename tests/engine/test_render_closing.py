"""Closing an open-mouthed or teeth-showing portrait (issue 20) on the committed fixtures
(tests/fixtures/open_mouth/: frames of the shared clips, made by
benchmarks/make_open_mouth_fixtures.py), so it runs on a fresh clone: at ``mouth_open`` 0 the
lips meet on a dark lip line that runs level (no frown). (Seams and smear below the lips, on the
shared clips' frames: test_render_open_mouth.py.)
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from engine.render.base import Renderer, create_renderer

ROOT = Path(__file__).resolve().parents[2]


def _column(out: np.ndarray, r: Renderer, x: float, v_lo: float, v_hi: float
            ) -> tuple[np.ndarray, np.ndarray]:
    """(rows, luma) down the column at ``x`` half mouth widths from the mouth centre (5 columns
    over 0.04 face widths averaged), over the portrait-local rows v_lo..v_hi (160 samples)."""
    import cv2

    fit = r.fit
    m, w = fit.mouth, fit.width
    vs = np.linspace(v_lo, v_hi, 160)
    grey = cv2.cvtColor(out, cv2.COLOR_RGB2GRAY).astype(np.float32)
    cols = []
    for du in np.linspace(-0.02 * w, 0.02 * w, 5):
        xy = fit.to_image(np.stack([np.full_like(vs, m.u_centre + x * m.half_width + du), vs], -1))
        xy = xy.astype(np.float32)
        cols.append(cv2.remap(grey, xy[:, 0:1].copy(), xy[:, 1:2].copy(), cv2.INTER_LINEAR)[:, 0])
    return vs, np.mean(cols, axis=0)


def _lip_line(out: np.ndarray, r: Renderer, x: float, v_lo: float, v_hi: float) -> tuple[float, float, float]:
    """Down the column at ``x`` (see _column), between the rows v_lo..v_hi: (the darkest row,
    its luma over the 75th percentile of the luma above it, and below it)."""
    vs, p = _column(out, r, x, v_lo, v_hi)
    i = int(np.argmin(p[3:-3])) + 3
    return float(vs[i]), float(p[i] / np.percentile(p[:i], 75)), float(p[i] / np.percentile(p[i:], 75))


FIXTURES = ROOT / "tests" / "fixtures" / "open_mouth"  # benchmarks/make_open_mouth_fixtures.py


@pytest.mark.parametrize("name", sorted(p.name for p in FIXTURES.glob("*.jpg")))
def test_closed_lips_meet_on_a_dark_level_lip_line(name: str) -> None:
    """``mouth_open`` 0 on an open or teeth-showing portrait (the committed fixtures: frames of
    the shared clips, so this runs on a fresh clone): the lips meet on a lip line, the dark seam of real
    closed lips (its darkest row at most 0.72 of each lip's brightness; real closed mouths of
    these clips' neutral frames, measured the same way: 0.27-0.73; on the shared-clip frames the
    previous renderer gave 0.41-0.92, d18, lp_d10 and tps 0.75-0.92: the lips only touched),
    and that line runs level: 0.8 half-widths out it is no lower than at the centre by more
    than 0.015 face widths (the neutral frames: at most +0.014; the lips meeting on the open
    O's own arched contour read as a frown)."""
    from engine.media.video import load_image

    r = create_renderer("builtin", device="cpu")
    r.prepare(load_image(FIXTURES / name))
    out = r.render_frame({"mouth_open": 0.0, "mouth_smile": r.fit.own.mouth_smile})
    m, w = r.fit.mouth, r.fit.width
    top = float(np.interp(m.u_centre, m.u, m.v_up))
    centre, dark_up, dark_lo = _lip_line(out, r, 0.0, top - 0.06 * w, top + 0.12 * w)
    assert max(dark_up, dark_lo) <= 0.72, (dark_up, dark_lo)
    for x in (-0.8, 0.8):
        row, _, _ = _lip_line(out, r, x, centre - 0.05 * w, centre + 0.05 * w)
        assert (row - centre) / w <= 0.015, (x, (row - centre) / w)



def _slit_brightest(out: np.ndarray, r: Renderer, x: float) -> float:
    """Down the column at ``x`` half mouth widths (as _lip_line), the brightest luma within 0.02
    face widths of the darkest row between the lips, over the lips' own luma."""
    import cv2

    m, w = r.fit.mouth, r.fit.width
    top = float(np.interp(m.u_centre, m.u, m.v_up))
    vs, p = _column(out, r, x, top - 0.06 * w, top + 0.14 * w)
    i = int(np.argmin(p[3:-3])) + 3
    lip = float(cv2.cvtColor(np.uint8([[r._look.lip]]), cv2.COLOR_RGB2GRAY)[0, 0])
    return float(p[np.abs(vs - vs[i]) <= 0.02 * w].max()) / lip


@pytest.mark.parametrize(("name", "share"), [("lp_d6_60.jpg", 0.5), ("lp_d6_237.jpg", 0.3),
                                             ("tps_87.jpg", 0.3), ("d3_320.jpg", 0.3)])
def test_a_nearly_closed_slit_is_dark_not_a_line_of_squeezed_teeth(name: str, share: float) -> None:
    """Closed to a slit (``mouth_open`` at this share of the portrait's own), what is left of the
    opening is in the lips' shade: no row near the slit brighter than 1.2x the lips (measured
    1.00-1.11). Before, the portrait's own interior was squeezed into the slit and its teeth
    read as a bright line between the lips (lp_d6 60: 1.54, lp_d6 237: 1.25)."""
    from engine.media.video import load_image

    r = create_renderer("builtin", device="cpu")
    r.prepare(load_image(FIXTURES / name))
    own = r.fit.own
    out = r.render_frame({"mouth_open": own.mouth_open * share, "mouth_smile": own.mouth_smile,
                          "mouth_wide": own.mouth_wide})
    worst = max(_slit_brightest(out, r, x) for x in (-0.4, 0.0, 0.4))
    assert worst <= 1.2, worst
