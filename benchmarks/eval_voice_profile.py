"""Held-out evaluation of the voice profile, and of what else a profile could hold.

Run: .venv/bin/python benchmarks/eval_voice_profile.py [--cache DIR] [--candidates | --ablation | --exponents]

Six splits: on each shared clip with a face and its own voice (testdata/driving, MANIFEST.md),
learn on the first 60 % of the clip's face and voice and test on the last 40 % that the profile
never saw (captured as an excerpt, as ``capture --frames`` does), and the other way round.
Score: best-lag Pearson r (+-0.4 s) of the voice mouth_open against the face's mouth_open on the
test part (benchmarks/eval_voice_sync.py's scorer).

Without ``--candidates`` it prints default vs the shipped profile (``learn_from_face``) per split.
With it, it also tries profile contents that change the *shape* of the curve, each fitted on the
training part only and chosen by an inner cross-validation inside it: the training part is cut
into 3 contiguous blocks; for each block the setting that scores best on the other two (r at the
training part's own audio/video offset) is scored on it against the default; the setting moves
off its default only when it beats the default on all 3 held-in blocks (shrinkage toward the
default), and then takes the value that is best on the whole training part. Candidates:

* ``mix``: loudness exponent x F1 floor of ``raw`` (5 x 5 grid);
* ``gamma_r``: the opening curve's gamma chosen for r (not for the face's percentiles);
* ``sigma``: the smoothing sigma (20-100 ms);
* ``vad``: the voice-activity switch-on level moved -6..+6 dB (per-speaker threshold);
* ``ridge``: a linear model on the method's own per-frame features (loudness, F1 position, F2
  position, voicing, nasal share, flatness; +-2 frames of context) with the default output as
  one feature, ridge toward the default (penalty chosen by the inner folds; infinite = default).

* ``lead``: the mouth's lead over the sound (0-40 ms, default 20). Expected to be unlearnable:
  the training clip's own audio/video offset adds to it (the fit sees their sum), and the
  best-lag score absorbs any shift of whole frames; measured anyway.

``--ablation``: the shipped profile taken apart -- its formant ranges alone, its mapping alone,
and each weight of its gamma (how far from the default it moves) and of its ranges.

``--exponents``: not a profile but a change of the default -- the default method's loudness
exponent and gamma on each whole clip and on each test part, and the default's (exponent,
floor, gamma, sigma) chosen on two whole clips and scored on the third.

Video face captures are cached as in eval_voice_sync.py (``--cache``).
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from eval_voice_sync import CLIPS, DRIVING, MAX_LAG_S, TRAIN_SHARE, _video  # noqa: E402

from engine.capture import voice_activity as va  # noqa: E402
from engine.capture import voice_features as vf  # noqa: E402
from engine.capture.audio import CONTEXT_S, LEAD_S, capture_audio, frame_average  # noqa: E402
from engine.capture.closures import seals  # noqa: E402
from engine.capture.mouth_shapes import (  # noqa: E402
    LOUDNESS_RANGE_DB,
    SMOOTH_S,
    OpenMapping,
    _running_percentiles,
    open_parts,
    smooth,
)
from engine.capture.voice_calibration import learn_from_face  # noqa: E402
from engine.controls import CONTROLS_BY_NAME  # noqa: E402
from engine.media.audio import read_pcm  # noqa: E402

FOLDS = 3
OPEN = CONTROLS_BY_NAME["mouth_open"]


def best_r(a: np.ndarray, b: np.ndarray, max_lag: int) -> tuple[float, int]:
    n = min(a.size, b.size)
    a, b = a[:n], b[:n]
    best, at = -2.0, 0
    for lag in range(-max_lag, max_lag + 1):
        x, y = (a[lag:], b[:n - lag]) if lag >= 0 else (a[:n + lag], b[-lag:])
        r = float(np.corrcoef(x, y)[0, 1]) if x.std() > 1e-9 and y.std() > 1e-9 else 0.0
        if r > best:
            best, at = r, lag
    return best, at


def r_at(a: np.ndarray, b: np.ndarray, lag: int) -> float:
    idx = np.clip(np.arange(a.size) + lag, 0, a.size - 1)
    x = a[idx]
    return float(np.corrcoef(x, b)[0, 1]) if x.std() > 1e-9 and b.std() > 1e-9 else 0.0


@dataclass(frozen=True)
class Setting:
    """What a candidate may change (defaults = the shipped method / profile)."""

    mapping: OpenMapping = OpenMapping()
    speaker: tuple | None = None
    sigma_s: float = SMOOTH_S
    vad_db: float = 0.0  # shift of the switch-on (and switch-off) level
    lead_s: float = LEAD_S
    # the mouth's loudness: from this band (Hz; None = the broadband level, as before), mixed in
    # dB with the broadband one at weight `mix` for the band, less `base_alpha` times its slow
    # baseline while speaking (speech-weighted zero-phase Gaussian, sigma base_s; 0 = none)
    band: tuple | None = vf.SPEECH_BAND_HZ
    mix: float = 1.0
    base_s: float = 0.0
    base_alpha: float = 1.0


class Excerpt:
    """A clip's frames [start, stop) analysed as capture_audio analyses an excerpt."""

    def __init__(self, clip: Path, fps: float, start: int, stop: int):
        self.clip, self.fps, self.start, self.stop = clip, fps, start, stop
        self.a0 = max(0.0, start / fps - CONTEXT_S)
        span = stop / fps + CONTEXT_S - self.a0
        self.feats = vf.analyse(read_pcm(clip, vf.RATE, start=self.a0, duration=span))
        k = np.arange(start, stop)
        self.t0 = np.maximum((k - 0.5) / fps - self.a0, -LEAD_S)
        self.t1 = (k + 0.5) / fps - self.a0
        self._cache: dict = {}

    def speech(self, vad_db: float) -> np.ndarray:
        if vad_db not in self._cache:
            orig = va.thresholds

            def shifted(level):
                floor, speech, on, off = orig(level)
                return floor, speech, on + vad_db, off + vad_db

            va.thresholds = shifted
            try:
                self._cache[vad_db] = va.voice_activity(self.feats)[0]
            finally:
                va.thresholds = orig
        return self._cache[vad_db]

    def parts(self, s: Setting) -> dict:
        key = ("parts", s.vad_db, s.speaker)
        if key not in self._cache:
            speech = self.speech(s.vad_db)
            p = open_parts(self.feats, speech, s.speaker)
            p["sealed"] = seals(self.feats, speech, p["ref"])
            p["speech"] = speech
            self._cache[key] = p
        return self._cache[key]

    def band_level(self, band: tuple) -> np.ndarray:
        """band_level as voice_features computes it, for another band (re-analysed)."""
        if band == vf.SPEECH_BAND_HZ:
            return self.feats.band_level
        key = ("band", band)
        if key not in self._cache:
            keep = vf._BAND_SPEECH
            vf._BAND_SPEECH = (vf._FREQS >= band[0]) & (vf._FREQS <= band[1])
            try:
                span = self.stop / self.fps + CONTEXT_S - self.a0
                self._cache[key] = vf.analyse(read_pcm(self.clip, vf.RATE, start=self.a0,
                                                       duration=span)).band_level
            finally:
                vf._BAND_SPEECH = keep
        return self._cache[key]

    def loud(self, s: Setting) -> np.ndarray:
        """The mouth's loudness 0..1 for the setting's band, mix and baseline."""
        p = self.parts(s)
        if s.band == vf.SPEECH_BAND_HZ and s.mix == 1.0 and s.base_s == 0.0:
            return p["loud"]
        key = ("loud", s.vad_db, s.band, s.mix, s.base_s, s.base_alpha)
        if key not in self._cache:
            speech = p["speech"]
            rel = self.feats.level - p["ref"]  # dB relative to the speech level
            if s.band is not None:
                level = self.band_level(s.band)
                _, ref = _running_percentiles(level, speech, (50, 95), (-40.0, -20.0), prior_frames=0)
                rel = s.mix * (level - ref) + (1 - s.mix) * rel
            if s.base_s > 0 and speech.any():
                w = speech.astype(np.float64)
                x = np.maximum(rel, -LOUDNESS_RANGE_DB)
                base = smooth(x * w, s.base_s) / np.maximum(smooth(w, s.base_s), 1e-3)
                rel = rel - s.base_alpha * (base - np.median(base[speech]))
            self._cache[key] = np.clip(1 + rel / LOUDNESS_RANGE_DB, 0, 1)
        return self._cache[key]

    def frames(self, x: np.ndarray, lead_s: float = LEAD_S) -> np.ndarray:
        return frame_average(x, self.t0 + lead_s, self.t1 + lead_s)

    def mouth(self, s: Setting) -> np.ndarray:
        """mouth_open per frame (as mouth_shapes + capture_audio compute it)."""
        p, m = self.parts(s), s.mapping
        raw = p["act"] * self.loud(s) ** m.loudness_exp * (m.floor + (1 - m.floor) * p["o"])
        open_ = m.gain * np.clip(smooth(raw, s.sigma_s), 0, 1) ** m.gamma
        if p["sealed"].any():
            shut = np.maximum(smooth(p["sealed"].astype(np.float64), 0.01), p["sealed"])
            open_ = open_ * (1 - shut)
        return np.clip(self.frames(open_, s.lead_s), OPEN.hard_min, OPEN.hard_max)

    def features(self, s: Setting) -> np.ndarray:
        """Per-frame design for the ridge candidate: the default output plus the method's own
        features, each with +-2 frames of context."""
        p = self.parts(s)
        f = self.feats
        cols = [self.mouth(s)]
        for x in (p["loud"], p["o"], p["phi"], np.clip(f.voicing, 0, 1), p["nasal"],
                  np.clip(f.flatness, 0, 1)):
            cols.append(self.frames(smooth(p["act"] * x, s.sigma_s), s.lead_s))
        base = np.stack(cols, 1)
        n = base.shape[0]
        ctx = [base[np.clip(np.arange(n) + d, 0, n - 1)] for d in (-2, -1, 0, 1, 2)]
        return np.concatenate(ctx, 1)


def _grid(name: str, s: Setting) -> list[Setting]:
    m = s.mapping
    if name == "mix":
        return [replace(s, mapping=replace(m, loudness_exp=le, floor=fl))
                for le in (0.3, 0.5, 0.7, 1.0, 1.4) for fl in (0.0, 0.1, 0.2, 0.4, 0.6)]
    if name == "gamma_r":
        return [replace(s, mapping=replace(m, gamma=g)) for g in (0.75, 1.0, 1.25, 1.5, 2.0, 2.5, 3.0)]
    if name == "sigma":
        return [replace(s, sigma_s=x) for x in (0.02, 0.03, 0.04, 0.055, 0.07, 0.1)]
    if name == "vad":
        return [replace(s, vad_db=x) for x in (-6.0, -3.0, 0.0, 3.0, 6.0)]
    if name == "lead":
        return [replace(s, lead_s=x) for x in (0.0, 0.01, 0.02, 0.03, 0.04)]
    if name == "band_mix":  # weight of the 300-3400 Hz loudness against the broadband one
        return [replace(s, mix=x) for x in (0.0, 0.25, 0.5, 0.75, 1.0)]
    if name == "band_low":  # the band's lower edge
        return [replace(s, band=(lo, s.band[1])) for lo in (80.0, 150.0, 300.0, 500.0, 800.0)]
    if name == "baseline":  # the slow baseline taken out of the loudness
        return [replace(s, base_s=x) for x in (0.0, 0.5, 1.0, 2.0)]
    raise ValueError(name)


def _blocks(n: int) -> list[np.ndarray]:
    edges = np.linspace(0, n, FOLDS + 1).astype(int)
    return [np.arange(edges[i], edges[i + 1]) for i in range(FOLDS)]


def choose_grid(train: Excerpt, face: np.ndarray, base: Setting, name: str, lag: int,
                gate: bool = True) -> Setting:
    """Inner CV over contiguous blocks of the training part (module doc); ``gate`` False: the
    best setting on the whole training part, without asking the folds."""
    options = _grid(name, base)
    curves = [train.mouth(s) for s in options]
    d = train.mouth(base)
    blocks = _blocks(face.size)
    score = np.array([[r_at_block(c, face, lag, b) for b in blocks] for c in curves])
    dflt = np.array([r_at_block(d, face, lag, b) for b in blocks])
    wins = []
    for k in range(FOLDS):
        others = [j for j in range(FOLDS) if j != k]
        pick = int(np.argmax(score[:, others].mean(1)))
        wins.append(score[pick, k] - dflt[k])
    if gate and min(wins) <= 0:
        return base
    whole = [r_at(c, face, lag) for c in curves]
    return options[int(np.argmax(whole))]


def r_at_block(curve: np.ndarray, face: np.ndarray, lag: int, block: np.ndarray) -> float:
    idx = np.clip(block + lag, 0, curve.size - 1)
    x, y = curve[idx], face[block]
    return float(np.corrcoef(x, y)[0, 1]) if x.std() > 1e-9 and y.std() > 1e-9 else 0.0


LAMBDAS = (1.0, 10.0, 100.0, 1000.0)
DEFAULT_COL = 2 * 7  # the context stack's frame offset 0 block starts with the default output


def _ridge_fit(x: np.ndarray, y: np.ndarray, lam: float) -> np.ndarray:
    """y ~ x[:, 2] * b (the default output, no penalty) + the rest (penalised), standardised
    with the training part's own scale; returns the weights on [1, x]."""
    mu, sd = x.mean(0), x.std(0) + 1e-9
    z = (x - mu) / sd
    a = np.column_stack([np.ones(len(z)), z])
    pen = np.full(a.shape[1], lam)
    pen[0] = 1e-6
    pen[1 + DEFAULT_COL] = 1e-6  # the default output itself is (almost) not shrunk
    w = np.linalg.solve(a.T @ a + np.diag(pen), a.T @ (y - y.mean()))
    return np.concatenate([[w[0] - (w[1:] * mu / sd).sum()], w[1:] / sd])


def _ridge_apply(x: np.ndarray, w: np.ndarray) -> np.ndarray:
    return w[0] + x @ w[1:]


def choose_ridge(train: Excerpt, face: np.ndarray, base: Setting, lag: int,
                 gate: bool = True) -> np.ndarray | None:
    """Weights, or None (the default) unless all inner folds agree that some penalty helps."""
    x = train.features(base)
    idx = np.clip(np.arange(x.shape[0]) + lag, 0, x.shape[0] - 1)
    x = x[idx]  # the voice features at the face's frames (the clip's own offset)
    d = x[:, DEFAULT_COL]
    blocks = _blocks(face.size)

    def score(lam: float, held: int, skip: tuple[int, ...] = ()) -> float:
        fit = np.concatenate([blocks[j] for j in range(FOLDS) if j != held and j not in skip])
        w = _ridge_fit(x[fit], face[fit], lam)
        return _corr(_ridge_apply(x[blocks[held]], w), face[blocks[held]])

    wins = []
    for k in range(FOLDS):
        # the penalty for fold k is picked on the other two blocks alone (each left out in turn)
        others = [j for j in range(FOLDS) if j != k]
        picks = [np.mean([score(lam, j, (k,)) for j in others]) for lam in LAMBDAS]
        lam = LAMBDAS[int(np.argmax(picks))]
        wins.append(score(lam, k) - _corr(d[blocks[k]], face[blocks[k]]))
    if gate and min(wins) <= 0:
        return None
    picks = [np.mean([score(lam, k) for k in range(FOLDS)]) for lam in LAMBDAS]
    return _ridge_fit(x, face, LAMBDAS[int(np.argmax(picks))])


def _corr(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.corrcoef(a, b)[0, 1]) if a.std() > 1e-9 and b.std() > 1e-9 else 0.0


CANDIDATES = ("mix", "gamma_r", "sigma", "vad", "lead", "ridge", "band_mix", "band_low", "baseline")


def split(name: str, cache: Path, reverse: bool, candidates: tuple[str, ...], gate: bool = True
          ) -> dict[str, float]:
    clip = DRIVING / f"{name}.mp4"
    d = _video(name, cache)
    face, tracked, fps = np.asarray(d["mouth_open"], np.float64), d["tracked"], float(d["fps"])
    n = face.size
    cut = int((1 - TRAIN_SHARE) * n) if reverse else int(TRAIN_SHARE * n)
    tr_span, te_span = ((cut, n), (0, cut)) if reverse else ((0, cut), (cut, n))
    profile = learn_from_face(clip, face[tr_span[0]:tr_span[1]], tracked[tr_span[0]:tr_span[1]],
                              fps, start=tr_span[0])
    max_lag = int(round(MAX_LAG_S * fps))
    test = face[te_span[0]:te_span[1]]
    out = {}
    for key, prof in (("default", None), ("profile", profile)):
        v = capture_audio(clip, fps=fps, start=te_span[0], stop=te_span[1], profile=prof,
                          blinks=0, head_motion=0).controls["mouth_open"].astype(np.float64)
        out[key] = best_r(v[:test.size], test, max_lag)[0]
        # amplitude: how far the voice's p50 and p90 lie from the face's on the test part
        out[key + "_amp"] = float(np.abs(np.percentile(v[:test.size], (50, 90))
                                         - np.percentile(test, (50, 90))).sum())
    out["gain_gamma"] = f"gain {profile.open_mapping.gain:.2f}, gamma {profile.open_mapping.gamma:.2f}"
    if not candidates:
        return out
    chosen = candidates
    train = Excerpt(clip, fps, *tr_span)
    tr_face = face[tr_span[0]:tr_span[1]]
    te = Excerpt(clip, fps, *te_span)
    base = Setting(profile.open_mapping, (profile.f1_hz, profile.f2_hz))
    # the replica must be the capture itself
    check = capture_audio(clip, fps=fps, start=te_span[0], stop=te_span[1], profile=profile,
                          blinks=0, head_motion=0).controls["mouth_open"].astype(np.float64)
    assert np.abs(te.mouth(base) - check).max() < 1e-5, "replica differs from capture_audio"
    lag = profile.trained_on["offset_frames"]
    for cand in chosen:
        if cand == "ridge":
            w = choose_ridge(train, tr_face, base, lag, gate)
            v = te.mouth(base) if w is None else np.clip(_ridge_apply(te.features(base), w),
                                                         OPEN.hard_min, OPEN.hard_max)
            out[cand] = best_r(v, test, max_lag)[0]
            out[cand + "_moved"] = w is not None
        else:
            s = choose_grid(train, tr_face, base, cand, lag, gate)
            out[cand] = best_r(te.mouth(s), test, max_lag)[0]
            out[cand + "_moved"] = s != base
            out[cand + "_value"] = _describe(s, base)
    return out


def _describe(s: Setting, base: Setting) -> str:
    if s == base:
        return "-"
    bits = []
    for k in ("loudness_exp", "floor", "gamma"):
        if getattr(s.mapping, k) != getattr(base.mapping, k):
            bits.append(f"{k} {getattr(s.mapping, k):g}")
    if s.sigma_s != base.sigma_s:
        bits.append(f"sigma {s.sigma_s * 1000:.0f} ms")
    if s.vad_db != base.vad_db:
        bits.append(f"vad {s.vad_db:+g} dB")
    if s.lead_s != base.lead_s:
        bits.append(f"lead {s.lead_s * 1000:.0f} ms")
    if s.mix != base.mix:
        bits.append(f"band mix {s.mix:g}")
    if s.band != base.band:
        bits.append(f"band {s.band[0]:g}-{s.band[1]:g} Hz")
    if s.base_s != base.base_s:
        bits.append(f"baseline {s.base_s:g} s")
    return ", ".join(bits)


ABLATION = {  # label: (gamma weight, formant-range weight in frames, use the mapping, use the ranges)
    "ranges only, 10 s": (1.0, 1000, False, True), "ranges only, 2 s": (1.0, 200, False, True),
    "mapping only, gamma 1": (1.0, 200, True, False), "gamma 1, 10 s (first)": (1.0, 1000, True, True),
    "gamma 1, 2 s": (1.0, 200, True, True), "gamma 0.75, 2 s": (0.75, 200, True, True),
    "gamma 0.5, 10 s": (0.5, 1000, True, True), "gamma 0.5, 2 s (now)": (0.5, 200, True, True),
    "gamma 0, 2 s": (0.0, 200, True, True)}


def ablation(cache: Path, names: list[str]) -> None:
    """The profile taken apart: held-out best-lag r and p50+p90 error per split for each part of
    it and each weight of its gamma and of its formant ranges."""
    from dataclasses import replace as _replace

    from engine.capture import mouth_shapes

    keep = mouth_shapes.PROFILE_FRAMES
    rows = {k: [] for k in ("default", *ABLATION)}
    amps = {k: [] for k in rows}
    try:
        for reverse in (False, True):
            for name in names:
                clip = DRIVING / f"{name}.mp4"
                d = _video(name, cache)
                face, tracked, fps = np.asarray(d["mouth_open"], np.float64), d["tracked"], float(d["fps"])
                n = face.size
                cut = int((1 - TRAIN_SHARE) * n) if reverse else int(TRAIN_SHARE * n)
                tr, te = ((cut, n), (0, cut)) if reverse else ((0, cut), (cut, n))
                test = face[te[0]:te[1]]
                for label in rows:
                    prof = None
                    if label != "default":
                        weight, frames, use_map, use_ranges = ABLATION[label]
                        mouth_shapes.PROFILE_FRAMES = frames
                        prof = learn_from_face(clip, face[tr[0]:tr[1]], tracked[tr[0]:tr[1]], fps,
                                               start=tr[0], gamma_weight=weight)
                        if not use_map:
                            prof = _replace(prof, open_mapping=OpenMapping())
                        if not use_ranges:  # the adult averages at their own weight
                            mouth_shapes.PROFILE_FRAMES = mouth_shapes.PRIOR_FRAMES
                            prof = _replace(prof, f1_hz=mouth_shapes.PRIOR_F1, f2_hz=mouth_shapes.PRIOR_F2)
                    v = capture_audio(clip, fps=fps, start=te[0], stop=te[1], profile=prof, blinks=0,
                                      head_motion=0).controls["mouth_open"].astype(np.float64)[:test.size]
                    rows[label].append(best_r(v, test, int(round(MAX_LAG_S * fps)))[0])
                    amps[label].append(float(np.abs(np.percentile(v, (50, 90))
                                                    - np.percentile(test, (50, 90))).sum()))
    finally:
        mouth_shapes.PROFILE_FRAMES = keep
    print(f"{'':<24}" + "".join(f"{'split ' + str(i + 1):>9}" for i in range(len(rows['default'])))
          + "   r vs default: worst / median   p50+p90 error, sum")
    for label, rs in rows.items():
        delta = np.array(rs) - np.array(rows["default"])
        print(f"{label:<24}" + "".join(f"{r:>9.3f}" for r in rs)
              + f"   {delta.min():+.3f} / {np.median(delta):+.3f}   {sum(amps[label]):.2f}")
    print("splits 1-3: first 60 % -> last 40 % of " + ", ".join(names) + "; 4-6: the other way round")


DEFAULT_GRIDS = {"loudness_exp": (0.2, 0.3, 0.4, 0.5, 0.7, 1.0), "gamma": (1.0, 1.25, 1.5, 1.75, 2.0, 2.5)}


def exponents(cache: Path, names: list[str]) -> None:
    """A change of the *default* (not a profile): best-lag r of the default method with another
    loudness exponent or gamma, on each whole clip and on each split's test part (nothing is
    fitted), then chosen leaving one clip out."""
    for key, values in DEFAULT_GRIDS.items():
        print(f"{key} (default {getattr(OpenMapping(), key):g}): best-lag r, whole clips and test parts")
        print(f"{'clip':<22} {'part':<10}" + "".join(f"{e:>7g}" for e in values))
        parts = []
        for name in names:
            d = _video(name, cache)
            face, fps = np.asarray(d["mouth_open"], np.float64), float(d["fps"])
            n, max_lag = face.size, int(round(MAX_LAG_S * fps))
            spans = {"whole": (0, n), "last 40%": (int(TRAIN_SHARE * n), n),
                     "first 40%": (0, int((1 - TRAIN_SHARE) * n))}
            for label, (a, b) in spans.items():
                x = Excerpt(DRIVING / f"{name}.mp4", fps, a, b)
                rs = [best_r(x.mouth(Setting(OpenMapping(**{key: e}))), face[a:b], max_lag)[0]
                      for e in values]
                if label != "whole":
                    parts.append(rs)
                print(f"{name:<22} {label:<10}" + "".join(f"{r:>7.3f}" for r in rs))
        p = np.array(parts)
        print(f"{'test parts':<22} {'mean':<10}" + "".join(f"{r:>7.3f}" for r in p.mean(0)))
        print(f"{'':<22} {'median':<10}" + "".join(f"{r:>7.3f}" for r in np.median(p, 0)) + "\n")
    leave_one_clip_out(cache, names)


def leave_one_clip_out(cache: Path, names: list[str]) -> None:
    """The default's loudness exponent, F1 floor, gamma and sigma chosen on two whole clips (by
    their mean and by their worst r), scored on the third."""
    clips = []
    for name in names:
        d = _video(name, cache)
        face, fps = np.asarray(d["mouth_open"], np.float64), float(d["fps"])
        clips.append((Excerpt(DRIVING / f"{name}.mp4", fps, 0, face.size), face,
                      int(round(MAX_LAG_S * fps))))
    grid = [(e, f, g, sg) for e in (0.3, 0.5, 0.7, 1.0) for f in (0.0, 0.1, 0.2, 0.3, 0.4)
            for g in (1.5, 2.0, 2.5) for sg in (0.03, 0.04, 0.05)]
    r = {p: np.array([best_r(x.mouth(Setting(OpenMapping(loudness_exp=p[0], floor=p[1], gamma=p[2]),
                                             sigma_s=p[3])), f, ml)[0] for x, f, ml in clips])
         for p in grid}
    default = r[(0.7, 0.2, 2.0, SMOOTH_S)]
    print("\nleave one clip out: (exponent, floor, gamma, sigma) chosen on the other two clips")
    for i, name in enumerate(names):
        others = [j for j in range(len(names)) if j != i]
        for how in ("mean", "min"):
            pick = max(grid, key=lambda p, how=how: getattr(r[p][others], how)())
            print(f"{name:<22} by {how:<4} {str(pick):<22} left out {r[pick][i]:.3f} "
                  f"(default {default[i]:.3f})")


NOW = vf.SPEECH_BAND_HZ
LOUDNESS_ROWS = {  # label: Setting (the default mapping; only the loudness changes)
    "broadband (before)": Setting(band=None),
    "80-4000 Hz": Setting(band=(80.0, 4000.0)), "150-3400 Hz": Setting(band=(150.0, 3400.0)),
    "200-3400 Hz": Setting(band=(200.0, 3400.0)), "300-3400 Hz (now)": Setting(),
    "300-2500 Hz": Setting(band=(300.0, 2500.0)), "300-5000 Hz": Setting(band=(300.0, 5000.0)),
    "400-3400 Hz": Setting(band=(400.0, 3400.0)), "500-3400 Hz": Setting(band=(500.0, 3400.0)),
    "800-3000 Hz": Setting(band=(800.0, 3000.0)), "1000-3000 Hz": Setting(band=(1000.0, 3000.0)),
    "1000-4000 Hz": Setting(band=(1000.0, 4000.0)),
    "300-3400, half broadband": Setting(mix=0.5),
    "800-3000, half broadband": Setting(band=(800.0, 3000.0), mix=0.5),
    "broadband, baseline 1 s": Setting(band=None, base_s=1.0),
    "300-3400, baseline 0.5 s": Setting(base_s=0.5), "300-3400, baseline 1 s": Setting(base_s=1.0),
    "300-3400, baseline 2 s": Setting(base_s=2.0),
    "300-3400, half baseline 1 s": Setting(base_s=1.0, base_alpha=0.5),
    "800-3000, baseline 1 s": Setting(band=(800.0, 3000.0), base_s=1.0),
    "300-3400, F1 floor 0": Setting(OpenMapping(floor=0.0)),
    "300-3400, F1 floor 0.4": Setting(OpenMapping(floor=0.4)),
    "300-3400, no F1 (floor 1)": Setting(OpenMapping(floor=1.0)),
}


def loudness(cache: Path, names: list[str]) -> None:
    """A change of the default (not a profile): where the mouth's loudness comes from -- the
    broadband level (before), a band of it, a mix, less a slow baseline (the 2-7 Hz modulation
    band of Chandrasekaran et al. 2009) -- on whole clips and on the six test parts, nothing
    fitted; then the band chosen leaving one clip out."""
    spans, parts = {}, ("last 40%", "first 40%")
    for name in names:
        d = _video(name, cache)
        face, fps = np.asarray(d["mouth_open"], np.float64), float(d["fps"])
        n, max_lag = face.size, int(round(MAX_LAG_S * fps))
        for label, (a, b) in {"whole": (0, n), "last 40%": (int(TRAIN_SHARE * n), n),
                              "first 40%": (0, int((1 - TRAIN_SHARE) * n))}.items():
            spans[(name, label)] = (Excerpt(DRIVING / f"{name}.mp4", fps, a, b), face[a:b], max_lag)
    r = {row: {k: best_r(x.mouth(st), f, ml)[0] for k, (x, f, ml) in spans.items()}
         for row, st in LOUDNESS_ROWS.items()}
    keys = [(c, "whole") for c in names] + [(c, pt) for pt in parts for c in names]
    print("best-lag r: whole clips " + ", ".join(names) + "; test parts 1-3 last 40 % (learned on the"
          " first 60 %), 4-6 first 40 %; worst change vs now / vs before over all 9")
    print(f"{'loudness':<28}" + "".join(f"{'w' + str(i + 1):>7}" for i in range(len(names)))
          + f"{'median':>7}" + "".join(f"{'p' + str(i + 1):>7}" for i in range(2 * len(names)))
          + f"{'mean':>7}{'vs now':>8}{'vs before':>10}")
    now, before = r["300-3400 Hz (now)"], r["broadband (before)"]
    for row, res in r.items():
        w = [res[k] for k in keys[:len(names)]]
        pr = [res[k] for k in keys[len(names):]]
        print(f"{row:<28}" + "".join(f"{x:>7.3f}" for x in w) + f"{np.median(w):>7.3f}"
              + "".join(f"{x:>7.3f}" for x in pr) + f"{np.mean(pr):>7.3f}"
              + f"{min(res[k] - now[k] for k in keys):>+8.3f}{min(res[k] - before[k] for k in keys):>+10.3f}")
    bands = [row for row, st in LOUDNESS_ROWS.items()
             if st.mix == 1.0 and st.base_s == 0.0 and st.mapping == OpenMapping()]
    print("\nleave one clip out: the band (of " + ", ".join(bands) + ") chosen on the other clips")
    for name in names:
        others = [c for c in names if c != name]
        for how, keyset in (("whole, mean", [(c, "whole") for c in others]),
                            ("whole, worst", [(c, "whole") for c in others]),
                            ("parts, mean", [(c, pt) for c in others for pt in parts])):
            agg = min if "worst" in how else np.mean
            pick = max(bands, key=lambda b, agg=agg, keyset=keyset: agg([r[b][k] for k in keyset]))
            got = " ".join(f"{r[pick][(name, lb)]:.3f} ({before[(name, lb)]:.3f})"
                           for lb in ("whole", *parts))
            print(f"{name:<22} by {how:<13} {pick:<20} whole / last 40% / first 40%: {got}")
    print("(in brackets: broadband, before)")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cache", default="/tmp/talking_head_voice_eval")
    ap.add_argument("--clips", default=",".join(CLIPS))
    ap.add_argument("--candidates", nargs="?", const=",".join(CANDIDATES), default="",
                    help="profile candidates (comma list; all when given alone): " + ", ".join(CANDIDATES))
    ap.add_argument("--loudness", action="store_true",
                    help="the default's loudness: bands, broadband mix, slow baseline; whole clips, "
                         "test parts, left one clip out")
    ap.add_argument("--ablation", action="store_true",
                    help="the profile's parts: gamma weight and formant-range weight")
    ap.add_argument("--exponents", action="store_true",
                    help="the default method's loudness exponent on whole clips and on the test parts")
    args = ap.parse_args()
    if args.exponents:
        exponents(Path(args.cache), args.clips.split(","))
        return
    if args.loudness:
        loudness(Path(args.cache), args.clips.split(","))
        return
    args.candidates = tuple(c for c in args.candidates.split(",") if c)
    bad = set(args.candidates) - set(CANDIDATES)
    if bad:
        ap.error(f"unknown candidates: {', '.join(sorted(bad))}")
    if args.ablation:
        ablation(Path(args.cache), args.clips.split(","))
        return
    for gate in ((True, False) if args.candidates else (True,)):
        if args.candidates:
            print("\n" + ("candidates chosen by the inner folds (moved only where all 3 agree)" if gate
                          else "the same candidates fitted on the whole training part, no folds asked"))
        table(args, gate)


def table(args: argparse.Namespace, gate: bool) -> None:
    cols = ("default", "profile") + args.candidates
    print(f"{'clip':<22} {'split':<13}" + "".join(f"{c:>9}" for c in cols)
          + ("" if args.candidates else "   p50+p90 error default / profile"))
    rows = []
    for reverse in (False, True):
        for name in args.clips.split(","):
            res = split(name, Path(args.cache), reverse, args.candidates, gate)
            rows.append(res)
            label = "last → first" if reverse else "first → last"
            cells = "".join(f"{res[c]:>8.3f}" + ("*" if res.get(c + "_moved") else " ") for c in cols)
            amp = "" if args.candidates else (f"   {res['default_amp']:.2f} / {res['profile_amp']:.2f}"
                                              f"  ({res['gain_gamma']})")
            print(f"{name:<22} {label:<13}{cells}{amp}"
                  + "".join(f"  {c}: {res[c + '_value']}" for c in cols if res.get(c + "_value", "-") != "-"))
    print(f"{'median':<36}" + "".join(f"{np.median([r[c] for r in rows]):>8.3f} " for c in cols))
    for c in cols[1:]:
        delta = np.array([r[c] - r["default"] for r in rows])
        print(f"{c:<10} vs default: better on {int((delta > 0.001).sum())}/6, worst {delta.min():+.3f},"
              f" median {np.median(delta):+.3f}")
    if args.candidates:
        print("* = moved off the profile's setting")

if __name__ == "__main__":
    main()
