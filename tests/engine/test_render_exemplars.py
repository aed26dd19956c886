"""Mouth interior from the actor's real pixels (issue 20): capture keeps mouth exemplars, the
built-in renderer retrieves, colour-matches and samples them.

* capture keeps at most 24 exemplars of open frames, deterministically, spanning the opening;
* the exemplar file round-trips through the motion file (named with its sha256), and a hostile
  or damaged one (wrong dtype or shape, an object array, a huge declared size, another file
  under the same name) is refused with one clear error;
* retrieval never switches back and forth at constant (or jittering) controls and switches only
  a few times along slowly varying ones, while nearest-neighbour retrieval flickers on the same
  curves; weights change by at most a cross-fade step per frame (nothing pops);
* on a frame of lp_d6 whose real mouth shows its upper teeth (84), the rendered opening shows teeth under the
  upper lip brighter than the cavity, and its interior follows the actor's real one (luma
  correlation) far better than the procedural interior;
* no band of the actor's own lips enters the portrait's opening: the rim of the painted interior
  (just under the upper lip, just above the lower one, at a wide opening) is rarely the actor's
  lip colour (colour-matched to the portrait), where the raw crops' rims mostly are;
* a motion without exemplars renders exactly as before (procedural), and a render with
  exemplars in farm chunks is bit-identical to the whole render.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np
import pytest

from engine.capture.mouth_exemplars import (
    FEATURES,
    MAX_EXEMPLARS,
    PATCH_H,
    PATCH_W,
    MouthExemplarError,
    MouthExemplars,
    crop_mouth,
    farthest_points,
    to_lab,
)
from engine.motion import Motion, MotionError
from engine.render.base import create_renderer
from engine.render.builtin.exemplars import EXTRA, FADE, MouthBank, inner_crop

ROOT = Path(__file__).resolve().parents[2]
SHARED = ROOT.parent / "shared" / "testdata"
CLIP = SHARED / "driving" / "lp_d6_expressive_talk.mp4"
PORTRAIT = SHARED / "portraits" / "anime.png"
pytestmark = pytest.mark.skipif(not CLIP.is_file(), reason="../shared/testdata missing")
START, STOP = 50, 131  # mouth events 56-63, 78-83, 120-128 (MANIFEST)
TEETH_FRAME = 84  # upper teeth under the lip, a dark cavity below (Lab L 64 vs 38)


@pytest.fixture(scope="module")
def take() -> Motion:
    from engine.capture.video import capture

    return capture(CLIP, start=START, stop=STOP, mouths=True)


@pytest.fixture(scope="module")
def portrait() -> np.ndarray:
    from engine.media.video import load_image

    return load_image(PORTRAIT)


def _video_frame(index: int) -> np.ndarray:
    from engine.media.video import VideoReader

    with VideoReader(CLIP) as reader:
        return next(f for _, _, f in reader.frames(index, index + 1))


# -- capture ------------------------------------------------------------------------------------

def test_capture_keeps_spanning_exemplars(take: Motion) -> None:
    ex = take.mouths
    assert ex is not None and 8 <= ex.count <= MAX_EXEMPLARS
    assert ex.patches.shape[1:] == (PATCH_H, PATCH_W, 3) and ex.patches.dtype == np.uint8
    assert np.all(np.diff(ex.frames) > 0)  # frame order, no repeats
    opening = take.controls["mouth_open"]
    assert np.allclose(ex.controls[:, 0], opening[ex.frames], atol=1e-6)
    # spans the opening: the widest open frame of the take is kept, and small openings too
    assert ex.controls[:, 0].max() == pytest.approx(float(opening[opening >= 0.15].max()), abs=0.02)
    assert ex.controls[:, 0].min() < 0.3
    # deterministic selection
    pts = np.random.default_rng(0).random((200, 5))
    assert np.array_equal(farthest_points(pts, 24), farthest_points(pts.copy(), 24))


# -- files --------------------------------------------------------------------------------------

def test_sidecar_round_trip(take: Motion, tmp_path: Path) -> None:
    path = take.save(tmp_path / "take.json")
    doc = json.loads(path.read_text())
    ref = doc["mouth_exemplars"]
    assert ref["file"] == "take.mouths.npz" and len(ref["sha256"]) == 64 and ref["count"] == take.mouths.count
    assert doc["version"] == 1  # old engines read it (they ignore the new key)
    back = Motion.load(path)
    for name in ("patches", "masks", "controls", "lips", "gaps", "frames"):
        assert np.array_equal(getattr(back.mouths, name), getattr(take.mouths, name)), name
    # with the dense arrays in the other sidecar too
    back2 = Motion.load(take.save(tmp_path / "side.json", sidecar=True))
    assert np.array_equal(back2.mouths.patches, take.mouths.patches)
    # an old motion without exemplars still loads, and has none
    plain = Motion.neutral(5)
    assert Motion.load(plain.save(tmp_path / "old.json")).mouths is None
    assert not (tmp_path / "old.mouths.npz").exists()


def _arrays(ex: MouthExemplars) -> dict:
    return {"format_version": np.array([1], np.int64), "patches": ex.patches, "masks": ex.masks,
            "controls": ex.controls, "lips": ex.lips, "gaps": ex.gaps, "frames": ex.frames}


def _hostile(take: Motion, tmp_path: Path, name: str, **change) -> Path:  # noqa: ANN003
    """A motion whose exemplar file holds ``change``d arrays (with a matching sha256)."""
    from engine.file_hash import file_sha256

    path = take.save(tmp_path / f"{name}.json")
    arrays = {**_arrays(take.mouths), **change}
    arrays = {k: v for k, v in arrays.items() if v is not None}
    npz = tmp_path / f"{name}.mouths.npz"
    with open(npz, "wb") as fh:
        np.savez_compressed(fh, **arrays)
    doc = json.loads(path.read_text())
    doc["mouth_exemplars"]["sha256"] = file_sha256(npz)
    path.write_text(json.dumps(doc))
    return path


def test_hostile_exemplar_files_are_refused(take: Motion, tmp_path: Path) -> None:
    ex = take.mouths
    cases = {
        "dtype": ({"patches": ex.patches.astype(np.float64)}, "patches must be uint8"),
        "shape": ({"masks": ex.masks[:, :10]}, "masks must be uint8 of shape"),
        "count": ({"controls": ex.controls[:-1]}, "controls must be float32"),
        "nan": ({"lips": np.full_like(ex.lips, np.nan)}, "NaN"),
        "missing": ({"gaps": None}, "expected"),
        "object": ({"patches": np.array([object()] * 3, dtype=object)}, "Python objects"),
        "huge": ({"patches": np.zeros((2000, PATCH_H, PATCH_W, 3), np.uint8)}, "would inflate"),
        "version": ({"format_version": np.array([9], np.int64)}, "unknown version"),
    }
    for name, (change, words) in cases.items():
        path = _hostile(take, tmp_path, name, **change)
        with pytest.raises(MotionError, match=words) as info:
            Motion.load(path)
        assert "\n" not in str(info.value), name
    # a file replaced after the motion named it
    path = take.save(tmp_path / "swap.json")
    other = _hostile(take, tmp_path, "other", patches=255 - ex.patches)
    (tmp_path / "swap.mouths.npz").write_bytes(other.with_name("other.mouths.npz").read_bytes())
    with pytest.raises(MotionError, match="sha256 differs"):
        Motion.load(path)
    # not a zip at all, and a zip with something that is not an array
    (tmp_path / "swap.mouths.npz").write_bytes(b"not a zip")
    with pytest.raises(MotionError, match="does not match|unreadable"):
        Motion.load(path)
    bad = tmp_path / "zip.mouths.npz"
    with zipfile.ZipFile(bad, "w") as zf:
        zf.writestr("patches.pkl", b"\x80\x04")
    with pytest.raises(MouthExemplarError, match="not a .npy"):
        MouthExemplars.load(bad)
    # a file name that leaves the motion's folder
    doc = json.loads(take.save(tmp_path / "esc.json").read_text())
    doc["mouth_exemplars"]["file"] = "../esc.mouths.npz"
    (tmp_path / "esc.json").write_text(json.dumps(doc))
    with pytest.raises(MotionError, match="beside the motion"):
        Motion.load(tmp_path / "esc.json")


# -- retrieval ------------------------------------------------------------------------------------

def _curves(n: int, **values) -> dict:  # noqa: ANN003
    out = {f: np.zeros(n, np.float32) for f in FEATURES}
    for k, v in values.items():
        out[k] = np.broadcast_to(np.asarray(v, np.float32), (n,)).copy()
    return out


def _switches(weights: np.ndarray) -> int:
    return int(np.count_nonzero(np.diff(np.argmax(weights, axis=1))))


def test_retrieval_is_stable(take: Motion, portrait: np.ndarray) -> None:
    r = create_renderer("builtin", device="cpu")
    r.prepare(portrait)
    bank = MouthBank(take.mouths, portrait, r.fit.landmarks)
    n = 300
    for value in (0.2, 0.45, 0.7, 1.0):
        w = bank.schedule(_curves(n, mouth_open=value, mouth_smile=0.1))
        assert _switches(w) == 0 and np.array_equal(w.min(axis=0), w.max(axis=0)), value
    rng = np.random.default_rng(1)
    # jitter around a constant opening (tracking noise): never back and forth
    jitter = _curves(n, mouth_open=0.5 + 0.04 * rng.standard_normal(n),
                     mouth_smile=0.1 + 0.03 * rng.standard_normal(n))
    w = bank.schedule(jitter)
    near = np.stack([bank.nearest({k: float(v[t]) for k, v in jitter.items()}) for t in range(n)])
    assert _switches(w) <= 1
    assert _switches(near) >= 10  # without the temporal term the same curves flicker
    # slowly varying controls: a few switches, each cross-faded (no pop)
    t = np.linspace(0, 1, n)
    slow = _curves(n, mouth_open=0.15 + 0.85 * t, mouth_smile=0.4 * np.sin(np.pi * t),
                   mouth_wide=0.1 * t)
    w = bank.schedule(slow)
    assert 1 <= _switches(w) <= 5
    assert np.allclose(w.sum(axis=1), 1, atol=1e-5)
    assert np.abs(np.diff(w, axis=0)).max() <= 1.0 / (FADE + 1) + 1e-4
    # the schedule depends on the curves only
    assert np.array_equal(bank.schedule(slow), w)


def test_short_wide_openings_get_an_exemplar_that_opened_as_wide(take: Motion, portrait: np.ndarray) -> None:
    """A voice's short peaks (3 frames at 0.45 between 0.2 rests): the exemplar held through the
    rest must not be stretched over the peak (shown at twice its opening its interior is
    extended: a clenched-teeth exemplar became a white blob in a dark lens on an unseen face);
    retrieval charges showing an exemplar wider than the actor opened 3x (STRETCH_COST)."""
    r = create_renderer("builtin", device="cpu")
    r.prepare(portrait)
    bank = MouthBank(take.mouths, portrait, r.fit.landmarks)
    opened = take.mouths.controls[:, 0]
    assert opened.min() < 0.2 and opened.max() > 0.55  # the set spans both (else nothing to test)
    cycle = np.r_[np.full(10, 0.2), np.full(3, 0.45)]
    curve = np.tile(cycle, 12)
    w = bank.schedule(_curves(curve.size, mouth_open=curve, mouth_smile=0.1))
    shown = opened[np.argmax(w, axis=1)]
    peak = curve > 0.4
    ratio = shown[peak] / curve[peak]
    # every peak frame shows an exemplar that opened at least 0.8 as wide (stretched by <= 1.25x);
    # measured 1.05 (0.52 when stretching cost what squeezing does: the rest's exemplar was held)
    assert ratio.min() >= 0.8, np.round(ratio, 2)
    assert _switches(w) <= 2 * 12 + 1  # into and out of each peak at most


# -- rendering ------------------------------------------------------------------------------------

def _tracked(rgb: np.ndarray) -> np.ndarray | None:
    from engine.face_tracker import FaceTracker

    with FaceTracker(video=False) as tracker:
        faces = tracker.detect(rgb)
    return faces[0].landmarks if faces else None


def _luma_patch(rgb: np.ndarray) -> np.ndarray | None:
    """The canonical inner-mouth crop (Lab L) of a frame, at its tracked landmarks."""
    lm = _tracked(rgb)
    got = None if lm is None else crop_mouth(rgb, lm)
    return None if got is None else to_lab(got[0])[..., 0]


def _teeth_and_cavity(rows: np.ndarray) -> tuple[float, float]:
    """(the brightest band of PATCH_H / 6 rows in the upper half: the teeth under the upper lip,
    the darkest such band below it down to 3/4 of the height: the cavity), mean Lab L."""
    band = PATCH_H // 6
    means = np.convolve(rows, np.ones(band) / band, mode="valid")  # means[i] = rows[i:i + band]
    t = int(np.argmax(means[:PATCH_H // 2 - band + 1]))
    below = means[t + band:3 * PATCH_H // 4 - band + 1]
    return float(means[t]), float(below.min()) if below.size else float("inf")


def _teeth_exemplar(take: Motion) -> MouthExemplars:
    """The actor's frame that shows its upper teeth as the only exemplar."""
    k = TEETH_FRAME - START
    frame = _video_frame(TEETH_FRAME)
    patch, mask, stats, gaps = crop_mouth(frame, _tracked(frame))
    return MouthExemplars(patches=patch[None], masks=mask[None], lips=stats[None], gaps=gaps[None],
                          controls=np.array([[take.controls[f][k] for f in FEATURES]], np.float32),
                          frames=np.array([k], np.int64))


@pytest.mark.parametrize("name", ["anime.png", "photo_woman.jpg", "pearl_earring.jpg"])
def test_teeth_from_the_actor(take: Motion, name: str) -> None:
    """The actor's frame that shows teeth as the only exemplar (retrieval is tested above): the
    render shows them under the upper lip, brighter than the cavity, and follows the real
    interior."""
    from engine.media.video import load_image

    portrait = load_image(SHARED / "portraits" / name)
    k = TEETH_FRAME - START
    one = _teeth_exemplar(take)
    patch, stats = one.patches[0], one.lips[0]
    real = to_lab(patch)[..., 0]
    inside = inner_crop(to_lab(patch.astype(np.float32)), stats)[0][..., 0]  # the actor's lips cut off
    mid = slice(PATCH_W // 4, 3 * PATCH_W // 4)
    top, middle = slice(0, PATCH_H // 4), slice(PATCH_H // 3, 2 * PATCH_H // 3)
    assert real[top, mid].mean() > real[middle, mid].mean() + 10  # the actor's teeth

    frames = {}
    for label, source in (("exemplars", one), ("procedural", "none")):
        r = create_renderer("builtin", device="cpu", mouth_source=source)
        r.prepare(portrait)
        rows = r.bind_motion(take)
        frames[label] = r.render_frame(take.frame(k), {n: a[k] for n, a in rows.items()} or None)
    assert not np.array_equal(frames["exemplars"], frames["procedural"])
    got = _luma_patch(frames["exemplars"])
    procedural = _luma_patch(frames["procedural"])
    assert got is not None and procedural is not None
    # teeth under the upper lip, brighter than the cavity below them, by most of the actor's own
    # contrast (68 vs 30). Found as bands, not at fixed rows: the fixed top quarter / middle third
    # held only at the capture's lagged opening (mouth_open 0.45 at this frame with the causal
    # filter, 0.39 zero-phase, 0.38 unsmoothed), where anime measured 50 vs 41 and now 46 vs 42
    # although its teeth band is as bright (82 vs 34; procedural 43 vs 6).
    upper, cavity = _teeth_and_cavity(got[:, mid].mean(axis=1))
    real_upper, real_cavity = _teeth_and_cavity(real[:, mid].mean(axis=1))
    assert upper - cavity > 0.75 * (real_upper - real_cavity), (upper, cavity, real_upper, real_cavity)

    def corr(a: np.ndarray, b: np.ndarray) -> float:  # of the detail across each row (teeth
        # outlines, gaps, the tongue's edge), not of the top-to-bottom shading both interiors have
        a, b = (x[:, mid] - x[:, mid].mean(axis=1, keepdims=True) for x in (a, b))
        return float(np.corrcoef(a.ravel(), b.ravel())[0, 1])

    c_ex, c_pr = corr(got, inside), corr(procedural, inside)
    if name != "pearl_earring.jpg":  # three-quarter view: the tracker's inner-lip points on the
        # render's turned mouth are off by a few pixels, too much for a row-detail comparison
        # measured (anime / photo_woman) 0.71 / 0.81 vs -0.21 / -0.07 with the head's filter
        # beta, 0.60 / 0.82 with the expression beta (mouth_open at this frame 0.39 -> 0.37: the
        # same picture, the tracker's crop of the drawn mouth a few rows lower)
        assert c_ex > 0.5 and c_ex > c_pr + 0.3, (c_ex, c_pr)


LIP_DE = 8.0  # Lab distance under which a pixel counts as the actor's lip colour


def test_no_actor_lip_band_in_the_opening(take: Motion, portrait: np.ndarray) -> None:
    """The tracker's inner-lip contour sits a little outside the real opening, so the raw crops
    carry a band of the actor's lips along their top and bottom rows; the painted opening's rim
    must not (no "lips within lips")."""
    ex = take.mouths
    r = create_renderer("builtin", device="cpu")
    r.prepare(portrait)
    bank = MouthBank(ex, portrait, r.fit.landmarks)
    lip = to_lab(MouthBank.lip_colour(ex, portrait, r.fit.landmarks)[None].astype(np.float32))[0]
    x = np.linspace(-0.4, 0.4, 17).astype(np.float32)  # the middle of the mouth
    col = (x + 1) * 0.5 * PATCH_W - 0.5
    raw, rim, cropped = [], [], []
    for i in range(ex.count):
        actor = to_lab(ex.patches[i].astype(np.float32))
        inside = inner_crop(actor, ex.lips[i])[0]
        cols = np.round(col).astype(int)
        for row in (0, PATCH_H - 1):  # in the actor's colours: the crop's edge rows
            raw.append(np.linalg.norm(actor[row, cols] - ex.lips[i, 0], axis=1))
            cropped.append(np.linalg.norm(inside[row, cols] - ex.lips[i, 0], axis=1))
        w = np.zeros(ex.count, np.float32)
        w[i] = 1
        colours = bank.interior(w)
        gap = 2.5 * np.interp(col, np.arange(PATCH_W), bank.gaps[i]).astype(np.float32)  # wide open
        for depth in (np.ones_like(x), gap - 1):  # one pixel under the upper lip, above the lower
            got = to_lab(colours(depth.astype(np.float32), gap, x)[None])[0]
            rim.append(np.linalg.norm(got - lip[i], axis=1))
    raw_share, crop_share, rim_share = (float((np.concatenate(d) < LIP_DE).mean())
                                        for d in (raw, cropped, rim))
    assert raw_share > 0.3  # the raw crops do carry the actor's lips (measured 0.47)
    assert crop_share < 0.4 * raw_share, (crop_share, raw_share)
    assert rim_share < 0.2, rim_share  # measured 0.11 (anime)


def test_motion_without_exemplars_renders_as_before(take: Motion, portrait: np.ndarray,
                                                     tmp_path: Path) -> None:
    from engine.media.video import load_image
    from engine.pipeline import frame_path, render_motion

    plain = Motion(fps=take.fps, controls=take.controls)  # the same curves, no exemplars
    frames = [10, 11, 70]
    render_motion("builtin", portrait, plain, tmp_path / "a", frames=frames, device="cpu")
    before = create_renderer("builtin", device="cpu")  # never bound to a motion: procedural
    before.prepare(portrait)
    for i in frames:
        assert np.array_equal(load_image(frame_path(tmp_path / "a", i)), before.render_frame(plain.frame(i)))
    with_ex = create_renderer("builtin", device="cpu")
    with_ex.prepare(portrait)
    rows = with_ex.bind_motion(take)
    assert EXTRA in rows and rows[EXTRA].shape == (take.frame_count, take.mouths.count)
    assert not np.array_equal(with_ex.render_frame(take.frame(10), {EXTRA: rows[EXTRA][10]}),
                              before.render_frame(take.frame(10)))


def test_chunks_equal_whole_render(take: Motion, portrait: np.ndarray, tmp_path: Path) -> None:
    from engine.pipeline import frame_path, render_motion

    frames = list(range(4, 16))  # a mouth event (frames 56-63 of the clip) and around it
    render_motion("builtin", portrait, take, tmp_path / "whole", frames=frames, device="cpu")
    for chunk in (frames[:5], frames[5:9], frames[9:]):
        render_motion("builtin", portrait, take, tmp_path / "chunks", frames=chunk, device="cpu")
    def png(folder: str, i: int) -> bytes:
        return frame_path(tmp_path / folder, i).read_bytes()

    for i in frames:
        assert png("whole", i) == png("chunks", i)
    # and they do use the exemplars
    plain = Motion(fps=take.fps, controls=take.controls)
    render_motion("builtin", portrait, plain, tmp_path / "plain", frames=frames, device="cpu")
    assert any(png("whole", i) != png("plain", i) for i in frames)


def test_laid_on_teeth_chunks_equal_whole_render(take: Motion, tmp_path: Path) -> None:
    """An open portrait without teeth, the take's curves with a smile: the teeth rows laid on
    depend only on the motion, so farm chunks are bit-identical to the whole render."""
    from engine.media.video import load_image
    from engine.pipeline import frame_path, render_motion

    portrait = load_image(ROOT / "tests" / "fixtures" / "open_mouth" / "d3_320.jpg")
    controls = {k: v.copy() for k, v in take.controls.items()}
    controls["mouth_smile"][:] = np.linspace(0.0, 1.0, len(controls["mouth_smile"]))
    smiling = Motion(fps=take.fps, controls=controls, mouths=take.mouths)
    frames = list(range(60, 72))  # clip frames 110-121 (into its 120-128 mouth event), smile 0.74-0.89
    render_motion("builtin", portrait, smiling, tmp_path / "whole", frames=frames, device="cpu")
    for chunk in (frames[:5], frames[5:]):
        render_motion("builtin", portrait, smiling, tmp_path / "chunks", frames=chunk, device="cpu")
    plain = Motion(fps=take.fps, controls=controls)
    render_motion("builtin", portrait, plain, tmp_path / "plain", frames=frames, device="cpu")

    def png(folder: str, i: int) -> bytes:
        return frame_path(tmp_path / folder, i).read_bytes()

    assert all(png("whole", i) == png("chunks", i) for i in frames)
    assert all(png("whole", i) != png("plain", i) for i in frames)  # the teeth are there


@pytest.mark.parametrize("name", ["d3_320.jpg", "lp_d10_100.jpg"])
def test_a_smile_shows_the_actors_teeth_in_an_open_portraits_own_interior(take: Motion, name: str) -> None:
    """A portrait whose open mouth shows no teeth (its own interior is stretched, real pixels),
    driven to a smile: the actor's teeth rows are laid under its upper lip, the rest of the
    opening stays its own (not the actor's lit interior pasted in). Without exemplars, or without
    the smile, nothing changes."""
    from engine.media.video import load_image

    portrait = load_image(ROOT / "tests" / "fixtures" / "open_mouth" / name)
    renders = {}
    for label, source in (("exemplars", _teeth_exemplar(take)), ("none", "none")):
        r = create_renderer("builtin", device="cpu", mouth_source=source)
        r.prepare(portrait)
        assert r._look.stretchable and not r._look.own_teeth  # the case under test
        for smile in (0.0, 1.0):
            c = Motion.neutral(1).frame(0)
            c["mouth_open"], c["mouth_smile"] = r.fit.own.mouth_open, smile
            renders[label, smile] = r.render_frame(c)
    # no smile: the portrait's own interior, exemplars or not
    assert np.array_equal(renders["exemplars", 0.0], renders["none", 0.0])
    got, own = _luma_patch(renders["exemplars", 1.0]), _luma_patch(renders["none", 1.0])
    assert got is not None and own is not None
    mid = slice(PATCH_W // 4, 3 * PATCH_W // 4)
    upper, cavity = _teeth_and_cavity(got[:, mid].mean(axis=1))
    own_upper, own_cavity = _teeth_and_cavity(own[:, mid].mean(axis=1))
    # measured (Lab L, teeth band / cavity): d3 320 44 / 4 (its own 10 / 1), lp_d10 100 69 / 25
    # (its own 30 / 44)
    assert upper > own_upper + 15 and upper - cavity > 25, (upper, cavity, own_upper, own_cavity)
    # the lower half of the opening stays the portrait's own (measured 0.5 / 2.7 L apart; the
    # actor's whole interior laid over it, tried first, was its lit pink tongue in d3's dark mouth)
    lower = slice(PATCH_H // 2, 3 * PATCH_H // 4)
    assert np.abs(got[lower, mid] - own[lower, mid]).mean() < 6


def test_the_actors_teeth_come_in_without_a_pop(take: Motion) -> None:
    """Along a smile and along an opening through the portrait's own (where the closing and the
    opening edits meet) the laid-on teeth change smoothly: no step between neighbouring control
    values much larger than the typical one (one exemplar, so retrieval does not switch)."""
    from engine.media.video import load_image
    from engine.render.builtin.fitting import CHIN, LIP_OUT_LO, LIP_OUT_UP

    portrait = load_image(ROOT / "tests" / "fixtures" / "open_mouth" / "d18_88.jpg")
    r = create_renderer("builtin", device="cpu", mouth_source=_teeth_exemplar(take))
    r.prepare(portrait)
    xy = r.fit.landmarks[:, :2][list(LIP_OUT_UP + LIP_OUT_LO + CHIN)]
    pad = 0.06 * r.fit.width
    (x0, y0), (x1, y1) = xy.min(0) - pad, xy.max(0) + pad
    box = np.s_[int(y0):int(y1), int(x0):int(x1)]
    own = r.fit.own.mouth_open

    def steps(name: str, values: np.ndarray, **fixed: float) -> np.ndarray:
        out, prev = [], None
        for v in values:
            c = Motion.neutral(1).frame(0)
            c.update(fixed)
            c[name] = float(v)
            frame = r.render_frame(c)[box].astype(np.float32)
            if prev is not None:
                out.append(np.abs(frame - prev).mean())
            prev = frame
        return np.array(out)

    # measured: max / median 1.05 (opening through the own, smile 1) and 1.5 (smile at the own);
    # 5.7 with the teeth laid only on the opening edit, not the closing one
    for d in (steps("mouth_open", np.linspace(own - 0.3, own + 0.15, 46), mouth_smile=1.0),
              steps("mouth_smile", np.linspace(0.0, 1.0, 41), mouth_open=own)):
        assert d.max() < 2.5 * np.median(d) + 0.05, (d.max(), np.median(d))
