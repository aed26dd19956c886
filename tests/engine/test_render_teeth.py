"""A portrait that shows its own teeth, opened further (issue 20), and the exemplars' teeth.

* the new gap between a teeth portrait's own teeth is filled from real pixels: with the motion's
  mouth exemplars, from the exemplar's part between its teeth rows (its rows follow that band,
  its texture is not flat), the portrait's own teeth staying brighter than the gap, attached to
  their lips; without exemplars, from the portrait's own dark band between its teeth;
* the same on the fixtures mirrored and colour-shifted, cooler and warmer (nothing depends on
  one face's side or tint; warm teeth were taken for no teeth and painted over);
* teeth rows that touch (d0 50, no dark band between them) split at the upper teeth's edge, the
  lower teeth moving with the jaw; a band too thin to stretch that far is painted (no streaks);
* an exemplar's lower teeth edge runs smoothly across the mouth (it was wavy), and a lip-pink
  tongue at the lower lip is shaded toward the cavity (it read as a second lip).

Exemplars are cropped from a few tracked frames of lp_d6 (no capture run: seconds).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from engine.capture.mouth_exemplars import PATCH_H, PATCH_W, MouthExemplars, crop_mouth, to_lab
from engine.motion import Motion
from engine.render.base import create_renderer
from engine.render.builtin.exemplars import EXTRA, inner_crop, teeth_bands

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures" / "open_mouth"
CLIP = ROOT.parent / "shared" / "testdata" / "driving" / "lp_d6_expressive_talk.mp4"
pytestmark = pytest.mark.skipif(not CLIP.is_file(), reason="../shared/testdata missing")
# lp_d6 frames: wide open with upper teeth, tongue and lower teeth (125), teeth both rows (107),
# upper teeth over the tongue (83)
FRAMES = (125, 107, 83)


@pytest.fixture(scope="module")
def crops() -> list[tuple]:
    return crop_frames()


def crop_frames(frames: tuple[int, ...] = FRAMES) -> list[tuple]:
    """The canonical mouth crops of lp_d6 ``frames`` (tracked, no capture run)."""
    from engine.face_tracker import FaceTracker
    from engine.media.video import VideoReader

    want, got = set(frames), {}
    with VideoReader(CLIP) as reader:
        for i, _, f in reader.frames(min(frames), max(frames) + 1):
            if i in want:
                got[i] = f
    out = []
    with FaceTracker(video=False) as tracker:
        for i in frames:
            crop = crop_mouth(got[i], tracker.detect(got[i])[0].landmarks)
            assert crop is not None
            out.append(crop)
    return out


def _bank(crops: list[tuple], fill: tuple[int, int, int] | None = None) -> MouthExemplars:
    """The crops as an exemplar set; ``fill``: every patch pixel that RGB instead (a probe)."""
    patches = np.stack([c[0] for c in crops]).astype(np.uint8)
    if fill is not None:
        patches[:] = fill
    n = len(crops)
    return MouthExemplars(patches=patches, masks=np.stack([c[1] for c in crops]),
                          lips=np.stack([c[2] for c in crops]), gaps=np.stack([c[3] for c in crops]),
                          controls=np.tile(np.array([[0.8, 0, 0, 0]], np.float32), (n, 1)),
                          frames=np.arange(n, dtype=np.int64))


def _portrait(name: str, variant: str) -> np.ndarray:
    from engine.media.video import load_image

    img = load_image(FIXTURES / f"{name}.jpg")
    if variant == "mirror":
        return np.ascontiguousarray(img[:, ::-1])
    if variant == "shift":  # cooler, a different white balance
        return np.clip(img * np.array([0.9, 1.0, 1.15]), 0, 255).astype(np.uint8)
    if variant == "warm":  # warmer: yellowed teeth (varnish, tungsten light) are still teeth
        return np.clip(img * np.array([1.1, 1.0, 0.85]), 0, 255).astype(np.uint8)
    return img


def _render(img: np.ndarray, source, opening: float = 1.0) -> tuple[np.ndarray, object]:  # noqa: ANN001
    r = create_renderer("builtin", device="cpu", mouth_source=source)
    r.prepare(img)
    m = Motion.neutral(1)
    m.controls["mouth_open"][:] = opening
    extras = None
    if source != "none":
        w = np.zeros(source.count, np.float32)
        w[0] = 1  # the widest frame
        extras = {EXTRA: w}
    return r.render_frame(m.frame(0), extras), r


def _lab_l(rgb: np.ndarray) -> np.ndarray:
    return to_lab(rgb.astype(np.float32))[..., 0]


CASES = [("lp_d6_60", "plain"), ("lp_d6_60", "mirror"), ("lp_d6_237", "plain"), ("lp_d6_237", "shift"),
         ("lp_d6_60", "warm")]


@pytest.mark.parametrize(("name", "variant"), CASES)
def test_new_gap_between_own_teeth_is_the_exemplars_interior(crops: list[tuple], name: str,
                                                             variant: str) -> None:
    img = _portrait(name, variant)
    real, r = _render(img, _bank(crops))
    assert r._look.own_teeth and not r._look.stretchable  # the case under test
    # where the exemplar paints (fully): a bright and a black probe exemplar differ there (the
    # bright one saturated: a white one would be all teeth, a bite, which gives way to the cavity)
    white, _ = _render(img, _bank(crops, (255, 96, 0)))
    black, _ = _render(img, _bank(crops, (0, 0, 0)))
    d = np.abs(white.astype(np.int32) - black).sum(axis=-1)
    assert d.max() > 150, "the exemplar does not fill the gap between the portrait's own teeth"
    gap = d >= 0.9 * d.max()
    assert gap.sum() >= 200, gap.sum()
    L = _lab_l(real)
    assert L[gap].std() > 5, L[gap].std()  # not a flat fill (measured 8.7-9.4)
    # its rows follow the exemplar's part between its teeth (the colour-matched patch, its
    # middle rows at the mouth's centre), top to bottom
    bank = r._bank
    ys, xs = np.nonzero(gap)
    cx = int(np.median(xs))
    got, tops, bottoms = [], [], []
    for x in range(cx - 8, cx + 9):
        rows = np.nonzero(gap[:, x])[0]
        if len(rows) >= 8:
            seg = L[rows[0]:rows[-1] + 1, x]
            got.append(np.interp(np.linspace(0, 1, 16), np.linspace(0, 1, len(seg)), seg))
            tops.append(rows[0])
            bottoms.append(rows[-1])
    assert len(got) >= 10
    f0, f1 = bank.middles[0][:, PATCH_W // 2] * PATCH_H
    mid = _lab_l(bank.between[0])[int(f0):int(np.ceil(f1)), PATCH_W // 2 - 8:PATCH_W // 2 + 8].mean(axis=1)
    want = np.interp(np.linspace(0, 1, 16), np.linspace(0, 1, len(mid)), mid)
    corr = float(np.corrcoef(np.mean(got, axis=0), want)[0, 1])
    assert corr > 0.8, corr  # measured 0.97-0.99
    # the portrait's own teeth stay: brighter than the gap, above and below it, each with its lip
    centre = L[:, cx - 8:cx + 9].mean(axis=1)
    top, bottom = int(np.median(tops)), int(np.median(bottoms))
    cavity = float(np.median(L[gap]))
    assert centre[bottom + 1:bottom + 7].max() > cavity + 8, (centre[bottom + 1:bottom + 7], cavity)
    if name == "lp_d6_237":  # (lp_d6 60 shows hardly any upper teeth)
        assert centre[top - 7:top].max() > cavity + 20, (centre[top - 7:top], cavity)


@pytest.mark.parametrize(("name", "variant"), CASES[:3])
def test_new_gap_without_exemplars_is_the_portraits_own_band(name: str, variant: str) -> None:
    """Opened a little past its own opening (the gap at most ~2.5x the band's own height: the
    band stretches without streaks)."""
    img = _portrait(name, variant)
    _, r = _render(img, "none")
    got, r = _render(img, "none", r.fit.own.mouth_open + 0.15)
    look = r._look
    assert look.own_teeth and look.between is not None
    band = look.between[3]
    # the gap: where the opened render differs from the portrait at its own opening, between the
    # own teeth rows (the darker rows in the middle of the changed region)
    own, _ = _render(img, "none", r.fit.own.mouth_open)
    changed = np.abs(got.astype(np.int32) - own).sum(axis=-1) > 30
    L = _lab_l(got)
    Lb = _lab_l(band.astype(np.float32))
    dark = changed & (L < np.percentile(Lb, 90) + 3)
    assert dark.sum() >= 100, dark.sum()
    # the gap's colours are the band's own (the portrait's darkest interior between its teeth,
    # a little deeper in the middle), not a synthetic cavity colour
    lab = to_lab(got.astype(np.float32))[dark]
    band_lab = to_lab(band.astype(np.float32)).reshape(-1, 3)
    assert np.linalg.norm(np.median(lab, axis=0)[1:] - np.median(band_lab, axis=0)[1:]) < 6
    assert L[dark].std() > 2  # the band's own variation, not a flat fill


def _d0_smile() -> np.ndarray:
    """d0 frame 50: a broad smile, upper and lower teeth rows touching (no dark band between)."""
    from engine.media.video import VideoReader

    with VideoReader(CLIP.parent / "d0_smile_blink.mp4") as reader:
        return next(f for i, _, f in reader.frames(50, 51))


def _gap_grid(r, controls: dict, rows: tuple[float, float] = (0.2, 0.8)):  # noqa: ANN001, ANN202
    """Face-local (u, v) pixel grid over the new gap between the own teeth rows at the mouth's
    centre (central 80 % of its half-width, the band's ``rows`` shares), the split's v and jaw."""
    from engine.render.builtin.geometry import control_values, local_amounts

    m = r.fit.mouth
    bu, top, bottom, _ = r._look.between
    vu = float(np.interp(m.u_centre, m.u, m.v_up))
    own = float(np.interp(m.u_centre, m.u, m.v_lo - m.v_up))
    up, lo = own * float(np.interp(m.u_centre, bu, top)), own * (1 - float(np.interp(m.u_centre, bu, bottom)))
    amounts = local_amounts(r.fit, control_values(controls))
    band = own + amounts.jaw + amounts.lift - up - lo
    top_v = vu - amounts.lift + up
    uu, vv = np.meshgrid(np.arange(m.u_centre - 0.4 * m.half_width, m.u_centre + 0.4 * m.half_width),
                         np.arange(top_v + rows[0] * band, top_v + rows[1] * band))
    return uu, vv, vu + up, amounts.jaw


def _luma_at(r, img: np.ndarray, uu: np.ndarray, vv: np.ndarray) -> np.ndarray:  # noqa: ANN001
    import cv2

    xy = r.fit.to_image(np.stack([uu, vv], -1)).astype(np.float32)
    rgb = cv2.remap(img.astype(np.float32), xy[..., 0], xy[..., 1], cv2.INTER_LINEAR)
    return rgb @ np.array([0.299, 0.587, 0.114], np.float32)


@pytest.mark.parametrize("opening", [0.6, 1.2])
@pytest.mark.parametrize("exemplars", [False, True])
def test_touching_teeth_split_between_the_rows(crops: list[tuple], opening: float, exemplars: bool) -> None:
    """d0 50 (teeth rows touching): the split lies at the upper teeth's edge, between the rows
    (it was at the dark rim under the lower teeth: the lower teeth stayed with the upper lip and
    were stretched over the gap); the lower teeth move down with the jaw; without exemplars the
    gap has no column of vertical streaks (a thin band stretched ~20x): the column-to-column
    luma energy in it stays under 0.3 of the row-to-row (measured 0.01 / 0.16 at 0.6 / 1.2;
    before 0.52 / 2.90)."""
    img = _d0_smile()
    c = {"mouth_open": opening, "mouth_smile": 0.5}
    r = create_renderer("builtin", device="cpu", mouth_source=_bank(crops) if exemplars else "none")
    r.prepare(img)
    assert r._look.own_teeth and not r._look.stretchable
    m = r.fit.mouth
    k = len(m.u) // 2
    vu, vl = float(m.v_up[k]), float(m.v_lo[k])
    own = vl - vu
    _, _, split, jaw = _gap_grid(r, c)
    # the upper teeth reach ~0.6 of the own gap at the centre (their edge: the steepest fall)
    assert 0.45 < (split - vu) / own < 0.7, (split - vu) / own
    motion = Motion.neutral(1)
    for key, v in c.items():
        motion.controls[key][:] = v
    extras = None
    if exemplars:
        w = np.zeros(r._bank.count, np.float32)
        w[0] = 1
        extras = {EXTRA: w}
    out = r.render_frame(motion.frame(0), extras)
    uu, vv = np.meshgrid(np.arange(m.u_centre - 0.3 * m.half_width, m.u_centre + 0.3 * m.half_width),
                         np.linspace(vl - 0.3 * own, vl - 0.05 * own, 8))  # the lower teeth
    lower_src = _luma_at(r, img, uu, vv)
    lower_out = _luma_at(r, out, uu, vv + jaw)
    assert np.abs(lower_out - lower_src).mean() < 12, "the lower teeth must move down with the jaw"
    vv = np.broadcast_to(np.linspace(vu + 0.1 * own, split - 0.1 * own, 8)[:, None], uu.shape)
    upper_src, upper_out = _luma_at(r, img, uu, vv), _luma_at(r, out, uu, vv)
    assert np.abs(upper_out - upper_src).mean() < 12, "the upper teeth must stay under the upper lip"
    if not exemplars:
        gu, gv, _, _ = _gap_grid(r, c)
        L = _luma_at(r, out, gu, gv)
        gx, gy = np.mean(np.square(np.diff(L, axis=1))), np.mean(np.square(np.diff(L, axis=0)))
        assert gx < 0.3 * gy, (gx, gy)


def test_thin_band_far_stretched_is_painted() -> None:
    """A band that would stretch past ~5.5x its own height gives way to the painted cavity
    (lp_d6 60 opened to 1.2: ~9x; the band stretched measured 0.59x at 1.0, 6.8x)."""
    img = _portrait("lp_d6_60", "plain")
    far, r = _render(img, "none", 1.2)
    uu, vv, _, _ = _gap_grid(r, {"mouth_open": 1.2}, (0.3, 0.7))
    L = _luma_at(r, far, uu, vv)
    # the painted cavity's tone: the portrait's lip-line shadow, darkened and desaturated as a
    # painted opening's back (synthesis._cavity_colour; look.cavity itself is the seam's tone)
    from engine.render.builtin.synthesis import _cavity_colour

    cavity = float(_cavity_colour(r._look) @ np.array([0.299, 0.587, 0.114]))
    assert abs(float(np.median(L)) - cavity) < 0.35 * cavity, (np.median(L), cavity)
    gx, gy = np.mean(np.square(np.diff(L, axis=1))), np.mean(np.square(np.diff(L, axis=0)))
    assert gx < 0.3 * gy, (gx, gy)


def _edge_rows(L: np.ndarray, split: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per column, the row below the split where the luma rises most steeply going down (the
    top edge of a bright lower teeth band), found independently of the code under test, and
    whether that column has such an edge (a clear rise, in the lower half)."""
    import cv2

    g = np.diff(cv2.GaussianBlur(L, (0, 0), 1.0), axis=0)
    rows = np.arange(g.shape[0])[:, None]
    g[rows <= (split * PATCH_H + 2)[None, :]] = 0
    e = np.argmax(g, axis=0)
    return e.astype(np.float64), (g.max(axis=0) > 3) & (e > PATCH_H // 2)


def test_lower_teeth_edge_runs_smoothly(crops: list[tuple]) -> None:
    """The edge as a wide opening shows it (teeth evened, the tongue above them shaded), and
    with the evening alone (what fills the gap between a portrait's own teeth)."""
    cols = slice(PATCH_W // 5, 4 * PATCH_W // 5)
    rough: dict[str, list[float]] = {"crop": [], "evened": [], "shown": []}
    for patch, _, lips, _ in crops:
        out, _, split = inner_crop(to_lab(patch.astype(np.float32)), lips)
        evened, shown, _ = teeth_bands(out, lips, split)
        edges = {k: _edge_rows(lab[..., 0], split) for k, lab in (("crop", out), ("evened", evened),
                                                                  ("shown", shown))}
        ok = np.logical_and.reduce([v[1] for v in edges.values()])[cols]
        for k, (e, _) in edges.items():
            e = e[cols]
            d2 = np.abs(e[2:] - 2 * e[1:-1] + e[:-2])[ok[2:] & ok[1:-1] & ok[:-2]]
            rough[k].append(float(d2.mean()))  # roughness: mean |2nd difference| across columns
    crop, evened, shown = (sum(v) for v in rough.values())
    assert shown < 0.5 * crop, rough  # measured 2.4 -> 0.9 rows (3 frames)
    assert evened < 0.9 * crop, rough  # 2.4 -> 1.8


def test_lip_pink_tongue_at_the_lower_lip_is_shaded(crops: list[tuple]) -> None:
    """Tongue pixels as light and pink as the actor's lips, next to the lower teeth or lip, move
    toward the cavity; teeth stay."""
    shaded, teeth = [], []
    for patch, _, lips, _ in crops:
        out, _, split = inner_crop(to_lab(patch.astype(np.float32)), lips)
        _, tidy, middle = teeth_bands(out, lips, split)
        chroma = np.hypot(out[..., 1], out[..., 2])
        lip_c = float(np.hypot(lips[0, 1], lips[0, 2]))
        f = (np.arange(PATCH_H) + 0.5)[:, None] / PATCH_H
        low = (f > split[None, :]) & (f < middle[1][None, :])  # tongue side of the middle
        lipish = low & (np.abs(out[..., 0] - lips[0, 0]) < 1.5 * lips[1, 0]) & (np.abs(chroma - lip_c) < 6)
        near = lipish & (f > middle[1][None, :] - 0.15)  # right above the lower teeth / lip
        if near.sum() >= 10:
            shaded.append(float(np.mean(out[..., 0][near] - tidy[..., 0][near])))
        white = (out[..., 0] > lips[0, 0] + 20) & (chroma < 0.5 * lip_c)
        if white.sum() >= 10:
            teeth.append(float(np.mean(np.abs(out[..., 0][white] - tidy[..., 0][white]))))
    assert len(shaded) == len(crops) and min(shaded) > 1.5 and np.mean(shaded) > 3, shaded  # L
    # darker by (measured) 2.2-5.0
    assert teeth and max(teeth) < 3, teeth  # the teeth' lightness kept


def test_teeth_portrait_frames_are_deterministic(crops: list[tuple]) -> None:
    img = _portrait("lp_d6_237", "plain")
    a, _ = _render(img, _bank(crops), 0.9)
    b, _ = _render(img, _bank(crops), 0.9)
    assert np.array_equal(a, b)


def test_teeth_portrait_chunks_equal_whole_render(crops: list[tuple], tmp_path: Path) -> None:
    """Through the pipeline (the exemplar schedule from the whole motion): farm chunks of a
    teeth portrait opening and closing give the same bytes as the whole render."""
    from engine.pipeline import frame_path, render_motion

    n = 8
    motion = Motion.neutral(n)
    motion.controls["mouth_open"][:] = np.linspace(0.3, 1.0, n).astype(np.float32)
    motion.controls["mouth_smile"][:] = np.linspace(0.0, 0.4, n).astype(np.float32)
    motion.mouths = _bank(crops)
    img = _portrait("lp_d6_237", "plain")
    frames = list(range(n))
    render_motion("builtin", img, motion, tmp_path / "whole", frames=frames, device="cpu")
    for chunk in (frames[:3], frames[3:]):
        render_motion("builtin", img, motion, tmp_path / "chunks", frames=chunk, device="cpu")
    for i in frames:
        whole, chunk = (frame_path(tmp_path / d, i).read_bytes() for d in ("whole", "chunks"))
        assert whole == chunk, i
    plain = Motion(fps=motion.fps, controls=motion.controls)  # and the exemplars were used
    render_motion("builtin", img, plain, tmp_path / "plain", frames=[n - 1], device="cpu")
    last = [frame_path(tmp_path / d, n - 1).read_bytes() for d in ("plain", "whole")]
    assert last[0] != last[1]


def _tongue_top(lab: np.ndarray, lips: np.ndarray, split: np.ndarray) -> np.ndarray:
    """Per column (nan where none), the tongue's top edge in rows: the first sub-pixel crossing of
    0.5 of the patch's lip-likeness (lightness and chroma near the actor's lips) below the split."""
    from engine.render.builtin.exemplars import _lipish

    like = _lipish(lab[..., 0], np.hypot(lab[..., 1], lab[..., 2]), lips, float(np.hypot(*lips[0, 1:])))
    f = (np.arange(PATCH_H) + 0.5)[:, None] / PATCH_H
    like = np.where(f > split[None, :] + 1 / PATCH_H, like, 0)
    edge = np.full(PATCH_W, np.nan)
    for k in range(PATCH_W):
        rows = np.nonzero(like[:, k] > 0.5)[0]
        if len(rows) >= 3 and rows[0] > 0:
            a, b = like[rows[0] - 1, k], like[rows[0], k]
            edge[k] = rows[0] - 1 + np.clip((0.5 - a) / max(b - a, 1e-3), 0, 1)
    return edge


def test_exemplar_tongue_outline_is_smoothed(monkeypatch: pytest.MonkeyPatch) -> None:
    """d18's smiling frames (a large tongue under the upper teeth, not the lp_d6 crops the other
    tests use): the tongue's top edge across the middle 60 % of the mouth is smoother after
    teeth_bands than without its outline smoothing (mean |2nd difference| across columns, rows;
    measured 1.08 -> 0.75 on these 5 with a tongue edge; d18's captured exemplars 0.92 -> 0.70 over 11)."""
    import engine.render.builtin.exemplars as ex
    from engine.face_tracker import FaceTracker
    from engine.media.video import VideoReader

    want = (116, 118, 123, 131, 140, 152)
    with VideoReader(CLIP.parent / "d18_mouth_open.mp4") as reader:
        frames = {i: f for i, _, f in reader.frames(min(want), max(want) + 1) if i in want}
    smooth = ex.smooth_tongue
    rough: dict[str, list[float]] = {"actor": [], "smoothed": []}
    cols = slice(PATCH_W // 5, 4 * PATCH_W // 5)
    with FaceTracker(video=False) as tracker:
        for i in want:
            crop = crop_mouth(frames[i], tracker.detect(frames[i])[0].landmarks)
            assert crop is not None
            patch, _, lips, _ = crop
            out, _, split = inner_crop(to_lab(patch.astype(np.float32)), lips)
            got = {}
            for key, fn in (("actor", lambda lab, *_: lab), ("smoothed", smooth)):
                monkeypatch.setattr(ex, "smooth_tongue", fn)
                evened, _, _ = teeth_bands(out, lips, split)
                e = _tongue_top(evened, lips, split)[cols]
                d2 = np.abs(e[2:] - 2 * e[1:-1] + e[:-2])
                got[key] = float(np.mean(d2[np.isfinite(d2)])) if np.isfinite(d2).sum() >= 15 else np.nan
            if all(np.isfinite(v) for v in got.values()):
                for key, v in got.items():
                    rough[key].append(v)
    assert len(rough["actor"]) >= 3, rough
    actor, smoothed = np.mean(rough["actor"]), np.mean(rough["smoothed"])
    assert smoothed < 0.85 * actor, rough


@pytest.mark.parametrize("darker", [1.0, 0.5])
def test_actors_teeth_keep_their_light_in_the_portrait(crops: list[tuple], darker: float) -> None:
    """The colour match keeps bright real teeth bright and textured: lp_d6's own teeth (frames
    125, 107: 99th-percentile L ~1.4-1.5x the skin's) matched into the same actress's frame 60
    keep their brightness (the old cap at 1.12x the skin flattened them into a grey slab, ~0.75 of
    it) and their texture; in the same frame at half the light they never glow: at most
    TEETH_CAP (1.55, the brightest real teeth measured) x the portrait's skin."""
    from engine.capture.mouth_exemplars import lip_stats
    from engine.face_tracker import FaceTracker
    from engine.render.builtin.exemplars import TEETH_CAP, MouthBank

    img = np.clip(_portrait("lp_d6_60", "plain") * darker, 0, 255).astype(np.uint8)
    with FaceTracker(video=False) as tracker:
        landmarks = tracker.detect(img)[0].landmarks
    skin = float(lip_stats(img, landmarks)[2, 0])
    ex = _bank(crops)
    bank = MouthBank(ex, img, landmarks)
    for i in range(2):  # the frames with teeth
        raw = _lab_l(ex.patches[i])
        got = _lab_l(np.clip(bank.patches[i], 0, 255))
        teeth = raw > np.percentile(raw, 85)
        before, after = float(np.percentile(raw, 99)), float(np.percentile(got, 99))
        assert before > 1.3 * float(ex.lips[i, 2, 0])  # bright real teeth: the case at stake
        assert after <= TEETH_CAP * skin + 0.5
        if darker == 1.0:
            assert after > 0.9 * before, (i, before, after)
            assert got[teeth].std() > 0.7 * raw[teeth].std(), (i, raw[teeth].std(), got[teeth].std())


def test_bite_exemplar_never_fills_the_gap_with_teeth(crops: list[tuple]) -> None:
    """lp_d6 frame 118 is a bite: its teeth rows touch, so the "middle" found between them is
    teeth (0.72 of it), and stretched over lp_d6 60's new gap between its own teeth it was a grey
    slab of smeared teeth. Its middle gives way to the nearest exemplar with a real one (frame
    125: the render is the same as with 125 alone), and in a set of bites alone to the painted
    cavity: the gap stays darker than the portrait's own lower teeth and its skin."""
    bite = crop_frames((118,))
    img = _portrait("lp_d6_60", "plain")

    def render(bank: MouthExemplars, weights: list[float]) -> tuple[np.ndarray, object]:
        r = create_renderer("builtin", device="cpu", mouth_source=bank)
        r.prepare(img)
        m = Motion.neutral(1)
        m.controls["mouth_open"][:] = 1.0
        return r.render_frame(m.frame(0), {EXTRA: np.asarray(weights, np.float32)}), r

    with_open, r = render(_bank([crops[0]] + bite), [0.0, 1.0])
    assert r._look.own_teeth  # the case under test
    assert r._bank.middle_teeth[0] == 0 and r._bank.middle_teeth[1] > 0.9, r._bank.middle_teeth
    assert r._bank.middle_substitute[1] == 0
    alone, _ = render(_bank([crops[0]]), [1.0])
    assert np.abs(with_open.astype(np.int32) - alone).max() <= 1
    only, r = render(_bank(bite), [1.0])
    uu, vv, _, _ = _gap_grid(r, Motion.neutral(1).frame(0) | {"mouth_open": 1.0}, (0.25, 0.75))
    gap = _luma_at(r, only, uu, vv)
    m = r.fit.mouth
    own_lo = float(np.interp(m.u_centre, m.u, m.v_lo))
    skin = float(np.median(_luma_at(r, img, uu, vv + (own_lo - vv.min()) + 0.08 * r.fit.width)))
    assert np.percentile(gap, 90) < 0.8 * skin, (np.percentile(gap, 90), skin)
