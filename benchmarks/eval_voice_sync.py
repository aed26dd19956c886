"""How well the voice-captured mouth follows the same clip's face: lip-sync figures per clip.

Run: .venv/bin/python benchmarks/eval_voice_sync.py [--cache DIR] [--clips a,b] [--before COMMIT]

``--before COMMIT`` first prints the same lip-sync table for the engine of an earlier commit
(``git archive`` into a temporary folder), e.g. ``--before 982590b`` for the method before
zero-phase smoothing, frame centres, the speech-like opening curve and seals.

For every shared clip with a face and its own voice (testdata/driving, MANIFEST.md) it prints,
for the voice capture's ``mouth_open`` against the video capture's ``mouth_open`` of the same
clip (video captured with smoothing 0, so the reference carries no filter lag of its own):

* r0: Pearson r at lag 0;
* best r and its lag in frames within +-0.4 s (lip-sync scoring, as SyncNet, searches that
  offset); a positive lag means the voice curve comes *later* than the lips;
* p50 / p90 of mouth_open, voice and video;
* the same best lag for a plain loudness envelope (the clip's own audio/video offset plus the
  lips' lead over the sound: the envelope has neither lead nor filter lag);
* noisy and quiet voices: the labelled syllables (testdata/audio) with white noise 20 / 10 dB
  under the speech and/or the speech at -30 dBFS: silent gaps must stay shut, syllables open;
* held out: the voice profile learned on the first 60 % of the clip's face, applied to the last
  40 % (which it never saw), against the default there.

``--degraded``: only the best r of each clip's own sound made worse -- 8 kHz telephone quality,
white noise 20 and 10 dB under the speech (RMS of the samples above -40 dBFS) -- against its face.

Video face captures are slow (MediaPipe on every frame): they are cached as .npz in ``--cache``
(default /tmp/talking_head_voice_eval) and reused.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import wave
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DRIVING = ROOT.parent / "shared" / "testdata" / "driving"
AUDIO = ROOT.parent / "shared" / "testdata" / "audio"
CLIPS = ("tps_interview", "lp_d6_expressive_talk", "lp_d10_talk")
MAX_LAG_S = 0.4
TRAIN_SHARE = 0.6


def video_mouth(name: str, cache: Path) -> tuple[np.ndarray, float]:
    """The video capture's mouth_open (smoothing 0) and frame rate, cached."""
    d = _video(name, cache)
    return np.asarray(d["mouth_open"], np.float64), float(d["fps"])


def _video(name: str, cache: Path) -> dict:
    f = cache / f"{name}_video_raw.npz"
    if not f.is_file():
        from engine.capture import capture

        m = capture(DRIVING / f"{name}.mp4", smoothing=0.0)
        cache.mkdir(parents=True, exist_ok=True)
        np.savez(f, fps=m.fps, tracked=m.tracked, **m.controls)
    return dict(np.load(f))


def lagged_r(a: np.ndarray, b: np.ndarray, max_lag: int) -> tuple[float, float, int]:
    """(r at lag 0, best r, its lag): lag L compares a[t + L] with b[t]."""
    n = min(a.size, b.size)
    a, b = a[:n], b[:n]

    def r(lag: int) -> float:
        x, y = (a[lag:], b[:n - lag]) if lag >= 0 else (a[:n + lag], b[-lag:])
        if x.std() < 1e-9 or y.std() < 1e-9:
            return 0.0
        return float(np.corrcoef(x, y)[0, 1])

    rs = {lag: r(lag) for lag in range(-max_lag, max_lag + 1)}
    best = max(rs, key=rs.get)
    return rs[0], rs[best], best


def envelope(path: Path, fps: float, n: int) -> np.ndarray:
    from engine.capture import voice_features as vf
    from engine.capture.audio import frame_average
    from engine.media.audio import read_pcm

    level = vf.analyse(read_pcm(path, vf.RATE)).level
    k = np.arange(n)
    return frame_average(np.maximum(level, -60.0), k / fps, (k + 1) / fps)


def before(commit: str, args: argparse.Namespace) -> None:
    """The lip-sync table of an earlier commit's engine."""
    with tempfile.TemporaryDirectory() as tmp:
        archive = subprocess.run(["git", "-C", str(ROOT), "archive", commit, "engine"],
                                 capture_output=True, check=True).stdout
        subprocess.run(["tar", "-x", "-C", tmp], input=archive, check=True)
        print(f"before ({commit}):")
        subprocess.run([sys.executable, __file__, "--engine-root", tmp, "--sync-only",
                        "--cache", args.cache, "--clips", args.clips]
                       + (["--degraded"] if args.degraded else []), check=True)
    head = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
                          capture_output=True, text=True).stdout.strip()
    print(f"\nafter ({head}):")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cache", default="/tmp/talking_head_voice_eval")
    ap.add_argument("--clips", default=",".join(CLIPS))
    ap.add_argument("--before", metavar="COMMIT", help="first the same table for that commit")
    ap.add_argument("--degraded", action="store_true", help="best r on degraded copies of each clip's sound")
    ap.add_argument("--engine-root", default=str(ROOT), help=argparse.SUPPRESS)
    ap.add_argument("--sync-only", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.before:
        before(args.before, args)
    sys.path.insert(0, args.engine_root)
    from engine.capture.audio import capture_audio

    cache = Path(args.cache)
    if args.degraded:
        degraded(args.clips.split(","), cache)
        return
    print(f"{'clip':<22} {'r0':>6} {'best r':>7} {'lag':>4} {'p50 v/vid':>10} {'p90 v/vid':>10}"
          f" {'env lag':>7}")
    rows = []
    for name in args.clips.split(","):
        clip = DRIVING / f"{name}.mp4"
        video, fps = video_mouth(name, cache)
        voice = capture_audio(clip, fps=fps).controls["mouth_open"].astype(np.float64)
        n = min(voice.size, video.size)
        voice, video = voice[:n], video[:n]
        max_lag = int(round(MAX_LAG_S * fps))
        r0, best, lag = lagged_r(voice, video, max_lag)
        env_lag = lagged_r(envelope(clip, fps, n), video, max_lag)[2]
        p = np.percentile(voice, (50, 90))
        q = np.percentile(video, (50, 90))
        rows.append((r0, best))
        print(f"{name:<22} {r0:>6.3f} {best:>7.3f} {lag:>+4d} {p[0]:>4.2f}/{q[0]:<5.2f}"
              f" {p[1]:>4.2f}/{q[1]:<5.2f} {env_lag:>+7d}")
    r0s, bests = np.array(rows).T
    print(f"{'median':<22} {np.median(r0s):>6.3f} {np.median(bests):>7.3f}")
    if args.sync_only:
        return
    print("\nspeech without a face (languages, singing): share of frames with speech, max"
          " mouth_open over the pauses (frames 0.1 s or more from any speech), p50/p90 while speaking")
    faceless()
    print("\nnoisy and quiet voices: max mouth_open in the silent gaps / lowest peak of the open"
          " syllables")
    noisy()
    print("\nseals and shapes: video mouth_open at the frames the voice seals vs the other speech"
          " frames (median), and r of voice vs video mouth_pucker / mouth_wide at the best lag")
    for name in args.clips.split(","):
        shapes(name, cache)
    print(f"\nheld out: profile learned on the first {TRAIN_SHARE:.0%} of each clip's face, "
          "tested on the rest")
    print(f"{'clip':<22} {'test s':>6} {'default r0/best@lag':>20} {'profile r0/best@lag':>20}"
          f" {'p50/p90 default':>15} {'profile':>9} {'video':>9}")
    for name in args.clips.split(","):
        heldout(name, cache)
    print(f"\nthe other way round: learned on the last {TRAIN_SHARE:.0%}, tested on the first "
          f"{1 - TRAIN_SHARE:.0%}")
    for name in args.clips.split(","):
        heldout(name, cache, reverse=True)


def degraded(names: list[str], cache: Path) -> None:
    """Best-lag r of the voice mouth against the face when the clip's sound is worse."""
    from engine.capture.audio import capture_audio
    from engine.media.video import ffmpeg_exe

    kinds = ("clean", "8 kHz", "20 dB SNR", "10 dB SNR")
    print(f"{'clip':<22}" + "".join(f"{k:>11}" for k in kinds))
    with tempfile.TemporaryDirectory() as tmp:
        for name in names:
            video, fps = video_mouth(name, cache)
            max_lag = int(round(MAX_LAG_S * fps))
            src, wav = DRIVING / f"{name}.mp4", Path(tmp) / "clean.wav"
            cmd = [ffmpeg_exe(), "-v", "error", "-y", "-i", str(src), "-vn", "-ac", "1"]
            subprocess.run(cmd + ["-ar", "8000", str(Path(tmp) / "8k.wav")], check=True)
            subprocess.run(cmd + ["-ar", "22050", str(wav)], check=True)
            with wave.open(str(wav), "rb") as w:
                rate = w.getframerate()
                x = np.frombuffer(w.readframes(w.getnframes()), "<i2") / 32768.0
            loud = np.abs(x) > 0.01
            rms = float(np.sqrt(np.mean(x[loud] ** 2))) if loud.any() else float(np.sqrt(np.mean(x * x)))
            paths = [wav, Path(tmp) / "8k.wav"]
            for snr in (20, 10):
                y = x + np.random.default_rng(0).normal(0, 1, x.size) * rms / 10 ** (snr / 20)
                paths.append(Path(tmp) / f"snr{snr}.wav")
                with wave.open(str(paths[-1]), "wb") as w:
                    w.setnchannels(1)
                    w.setsampwidth(2)
                    w.setframerate(rate)
                    w.writeframes((np.clip(y, -1, 1) * 32767).astype("<i2").tobytes())
            cells = []
            for path in paths:
                v = capture_audio(path, fps=fps, blinks=0, head_motion=0).controls["mouth_open"]
                cells.append(lagged_r(v.astype(np.float64), video, max_lag)[1])
            print(f"{name:<22}" + "".join(f"{c:>11.3f}" for c in cells))


def _degraded(lang: str, path: Path, snr_db: float | None, speech_dbfs: float | None) -> list[dict]:
    """The labelled syllables with white noise and/or a level change (as the tests make them)."""
    segs = json.loads((AUDIO / f"{lang}_vowels.json").read_text(encoding="utf-8"))["segments"]
    with wave.open(str(AUDIO / f"{lang}_vowels.wav"), "rb") as w:
        rate = w.getframerate()
        x = np.frombuffer(w.readframes(w.getnframes()), "<i2") / 32768.0
    t = np.arange(x.size) / rate
    inside = np.zeros(x.size, bool)
    for seg in segs:
        inside |= (t >= seg["start"]) & (t < seg["end"])
    if speech_dbfs is not None:
        x = x * 10 ** (speech_dbfs / 20) / np.sqrt(np.mean(x[inside] ** 2))
    if snr_db is not None:
        noise = np.random.default_rng(0).normal(0, 1, x.size)
        x = x + noise * np.sqrt(np.mean(x[inside] ** 2) / 10 ** (snr_db / 10))
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes((np.clip(x, -1, 1) * 32767).astype("<i2").tobytes())
    return segs


FACELESS = ("sadtalker_deyu", "sadtalker_fayu", "sadtalker_eluosi", "sadtalker_bus_chinese",
            "sadtalker_RD_Radio34_002", "sadtalker_itosinger1", "en_sentence", "ja_sentence")


def faceless() -> None:
    from engine.capture.audio import capture_audio

    for name in FACELESS:
        path = AUDIO / f"{name}.wav"
        if not path.is_file():
            continue
        m = capture_audio(path)
        o, speaking = m.controls["mouth_open"], m.confidence > 0
        # a jaw closes in ~0.1 s: the frames next to speech are still closing (or opening)
        near = np.convolve(speaking, np.ones(2 * int(0.1 * m.fps) + 1), "same") > 0
        quiet = float(o[~near].max()) if (~near).any() else float("nan")
        p = np.percentile(o[speaking], (50, 90)) if speaking.any() else (0.0, 0.0)
        print(f"{name:<26} speech {speaking.mean():>4.0%}  shut {quiet:.3f}  open p50/p90"
              f" {p[0]:.2f}/{p[1]:.2f}")


def noisy() -> None:
    from engine.capture.audio import capture_audio

    conditions = [(None, None), (20, None), (10, None), (None, -30), (10, -30)]
    names = [("clean" if s is None else f"{s} dB SNR") + ("" if d is None else f", {d} dBFS")
             for s, d in conditions]
    print(f"{'':<4}" + "".join(f"{n:>20}" for n in names))
    with tempfile.TemporaryDirectory() as tmp:
        for lang in ("en", "ja"):
            cells = []
            for snr, dbfs in conditions:
                segs = _degraded(lang, Path(tmp) / "v.wav", snr, dbfs)
                m = capture_audio(Path(tmp) / "v.wav")
                o, t = m.controls["mouth_open"], np.arange(m.frame_count) / m.fps
                step = 1 / m.fps

                edges = [0.0] + [x for seg in segs for x in (seg["start"], seg["end"])] + [m.duration]
                gaps = [(a + 0.1 * (i > 0), b - 0.1) for i, (a, b) in
                        enumerate(zip(edges[::2], edges[1::2], strict=True)) if b - a > 0.25]
                shut = max(float(o[(t >= a) & (t + step <= b)].max()) for a, b in gaps)
                opened = min(float(o[(t >= seg["start"]) & (t + step <= seg["end"])].max())
                             for seg in segs if seg["class"] == "open")
                cells.append(f"{shut:.2f} / {opened:.2f}")
            print(f"{lang:<4}" + "".join(f"{c:>20}" for c in cells))


def shapes(name: str, cache: Path) -> None:
    from engine.capture import voice_features as vf
    from engine.capture.audio import LEAD_S, capture_audio, frame_average
    from engine.capture.closures import seals
    from engine.capture.mouth_shapes import open_parts
    from engine.capture.voice_activity import voice_activity
    from engine.media.audio import read_pcm

    clip = DRIVING / f"{name}.mp4"
    d = _video(name, cache)
    fps, n = float(d["fps"]), d["mouth_open"].size
    f = vf.analyse(read_pcm(clip, vf.RATE))
    speech, _ = voice_activity(f)
    sealed = seals(f, speech, open_parts(f, speech)["ref"])
    k = np.arange(n)
    t0, t1 = (k - 0.5) / fps + LEAD_S, (k + 0.5) / fps + LEAD_S
    max_lag = int(round(MAX_LAG_S * fps))
    m = capture_audio(clip, fps=fps)
    lag = lagged_r(m.controls["mouth_open"][:n].astype(np.float64), d["mouth_open"], max_lag)[2]
    # the seal frames as the face shows them: shifted by the clip's own offset
    idx = np.clip(k + lag, 0, n - 1)
    at_seal = frame_average(sealed.astype(np.float64), t0, t1)[idx] > 0.5
    talking = frame_average(speech.astype(np.float64), t0, t1)[idx] > 0.5
    video = d["mouth_open"]
    rest = talking & ~at_seal
    cells = []
    for c in ("mouth_pucker", "mouth_wide"):
        r = lagged_r(m.controls[c][:n].astype(np.float64), np.asarray(d[c], np.float64), max_lag)
        cells.append(f"{c} r {r[1]:.2f}@{r[2]:+d}")
    print(f"{name:<22} {int(at_seal.sum()):>4} seal frames: video open {np.median(video[at_seal]):.3f}"
          f" vs {np.median(video[rest]):.3f} elsewhere in speech; " + ", ".join(cells))


def heldout(name: str, cache: Path, reverse: bool = False) -> tuple[float, float]:
    """Held-out best-lag r (default, profile) on one clip; prints the row."""
    from engine.capture.audio import capture_audio
    from engine.capture.voice_calibration import learn_from_face

    clip = DRIVING / f"{name}.mp4"
    d = _video(name, cache)
    video, tracked, fps = np.asarray(d["mouth_open"], np.float64), d["tracked"], float(d["fps"])
    n = video.size
    if reverse:
        split = int((1 - TRAIN_SHARE) * n)
        profile = learn_from_face(clip, video[split:], tracked[split:], fps, start=split)
        test, span = video[:split], (0, split)
    else:
        split = int(TRAIN_SHARE * n)
        profile = learn_from_face(clip, video[:split], tracked[:split], fps)
        test, span = video[split:], (split, n)
    max_lag = int(round(MAX_LAG_S * fps))
    cells, pct, bests = [], [], []
    for prof in (None, profile):
        v = capture_audio(clip, fps=fps, start=span[0], stop=span[1], profile=prof).controls["mouth_open"]
        v = v.astype(np.float64)[:test.size]
        r0, best, lag = lagged_r(v, test[:v.size], max_lag)
        bests.append(best)
        cells.append(f"{r0:.3f}/{best:.3f}@{lag:+d}")
        pct.append("{:.2f}/{:.2f}".format(*np.percentile(v, (50, 90))))
    om = profile.open_mapping
    print(f"{name:<22} {test.size / fps:>6.1f} {cells[0]:>20} {cells[1]:>20} {pct[0]:>15} {pct[1]:>9}"
          " {:.2f}/{:.2f}".format(*np.percentile(test, (50, 90)))
          + f"   (gain {om.gain:.2f}, gamma {om.gamma:.2f})")
    return bests[0], bests[1]


if __name__ == "__main__":
    main()
