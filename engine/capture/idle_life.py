"""Idle life for a voice-only performance: blinks, head motion and brow accents.

A face that only moves its mouth looks dead. These add what people do while they talk, all
deterministic from a seed (each part has its own random stream, so switching one off leaves the
others unchanged) and each scaled by a strength 0..1:

* blinks: intervals drawn from a gamma distribution (mean 3.5 s, never under 1.2 s: people blink
  15-25 times a minute in conversation), pulled to a nearby pause when there is one (people blink
  at phrase boundaries), now and then a double blink; each closes in 70 ms, stays shut 40 ms and
  reopens in 150 ms -- every blink shows at least one fully closed frame at any frame rate.
* head motion: a slow drift (a few sinusoids at 0.05-0.35 Hz, random phases), livelier while
  speaking, plus a small nod on each stressed syllable.
* brow accents: a short raise on the stressed syllables.

Stress: syllable nuclei are peaks of the speech loudness; a stressed one is louder or higher
pitched than the speaker's usual (the two cues of lexical and phrasal stress in most languages).
"""

from __future__ import annotations

import numpy as np

BLINK_MEAN_S, BLINK_MIN_S, BLINK_SHAPE = 3.5, 1.2, 4.0
BLINK_CLOSE_S, BLINK_HOLD_S, BLINK_OPEN_S = 0.07, 0.04, 0.15
DOUBLE_BLINK = 0.12


def _rng(seed: int, part: int) -> np.random.Generator:
    return np.random.default_rng([int(seed) & 0xFFFFFFFF, part])


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    d = np.diff(np.concatenate([[0], mask.astype(np.int8), [0]]))
    return list(zip(np.flatnonzero(d == 1), np.flatnonzero(d == -1), strict=True))


def blink_times(duration: float, pauses: np.ndarray, seed: int) -> np.ndarray:
    """Blink start times (s) over ``duration``; ``pauses`` are speech-end times to snap to."""
    rng = _rng(seed, 1)
    times, t = [], float(rng.uniform(0.4, 2.5))
    while t < duration:
        near = pauses[(pauses >= t - 0.3) & (pauses <= t + 0.6)] if pauses.size else pauses
        if near.size:
            t = float(near[0]) + 0.05
        times.append(t)
        if rng.random() < DOUBLE_BLINK:
            times.append(t + 0.3)
            t += 0.3
        t += max(BLINK_MIN_S, float(rng.gamma(BLINK_SHAPE, BLINK_MEAN_S / BLINK_SHAPE)))
    return np.array([x for x in times if x < duration])


def blink_closure(t: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """Eyelid closure 0..1 at sorted times ``t`` for blinks starting at ``starts``."""
    out = np.zeros_like(t)
    length = BLINK_CLOSE_S + BLINK_HOLD_S + BLINK_OPEN_S
    for s in starts:
        a, b = np.searchsorted(t, [s, s + length])  # only the samples this blink touches
        x = t[a:b] - s
        c = np.clip(x / BLINK_CLOSE_S, 0, 1)
        o = np.clip((x - BLINK_CLOSE_S - BLINK_HOLD_S) / BLINK_OPEN_S, 0, 1)
        shape = np.where(x < BLINK_CLOSE_S + BLINK_HOLD_S, c, 1 - o)
        out[a:b] = np.maximum(out[a:b], shape * shape * (3 - 2 * shape))
    return out


def stress_peaks(times: np.ndarray, loud: np.ndarray, f0: np.ndarray, voiced: np.ndarray,
                 min_gap_s: float = 0.7) -> tuple[np.ndarray, np.ndarray]:
    """Times (s) and weights 0..1 of stressed syllables from per-10 ms loudness (0..1), pitch and
    voicing."""
    if loud.size < 5 or not voiced.any():
        return np.zeros(0), np.zeros(0)
    k = np.ones(7) / 7
    env = np.convolve(loud * voiced, k, mode="same")
    peak = (env[1:-1] > env[:-2]) & (env[1:-1] >= env[2:]) & (env[1:-1] > 0.3)
    idx = np.flatnonzero(peak) + 1
    if idx.size == 0:
        return np.zeros(0), np.zeros(0)
    pitch = np.log(np.where(voiced, f0, np.nan))
    ref_pitch = np.nanmedian(pitch)
    ref_loud = np.median(env[idx])
    score = (env[idx] - ref_loud) / 0.2 + np.nan_to_num(pitch[idx] - ref_pitch) / 0.12
    keep = []
    for i in np.argsort(-score):
        if score[i] <= 0.0:  # not above the speaker's typical syllable
            break
        if all(abs(times[idx[i]] - times[idx[j]]) >= min_gap_s for j in keep):
            keep.append(i)
    keep.sort()
    return times[idx[keep]], np.clip(0.4 + score[keep] / 3.0, 0.4, 1.0)


def _bump(t: np.ndarray, at: np.ndarray, weights: np.ndarray, rise: float, fall: float) -> np.ndarray:
    """Sum of accents at sorted times ``t``: a quadratic rise over ``rise`` s up to time ``at``,
    then an exponential decay with time constant ``fall`` (cut after 6 time constants)."""
    out = np.zeros_like(t)
    for s, w in zip(at, weights, strict=True):
        a, b = np.searchsorted(t, [s - rise, s + 6 * fall])
        x = t[a:b] - (s - rise)
        out[a:b] += w * np.where(x < rise, (x / rise) ** 2, np.exp(-np.maximum(x - rise, 0) / fall))
    return out


def head_drift(t: np.ndarray, seed: int, liveliness: np.ndarray) -> dict[str, np.ndarray]:
    """Slow head wander in degrees, louder where ``liveliness`` (0..1) is high."""
    rng = _rng(seed, 2)
    out = {}
    for name, amp in (("head_yaw", 2.5), ("head_pitch", 1.5), ("head_roll", 1.2)):
        freqs = rng.uniform(0.05, 0.35, 3)
        phases = rng.uniform(0, 2 * np.pi, 3)
        weights = rng.uniform(0.5, 1.0, 3)
        wave = sum(w * np.sin(2 * np.pi * f * t + p) for f, p, w in zip(freqs, phases, weights,
                                                                         strict=True))
        out[name] = amp * wave / weights.sum() * 1.6 * (0.5 + 0.5 * liveliness)
    return out


def idle_life(frame_times: np.ndarray, speech: np.ndarray, stress: tuple[np.ndarray, np.ndarray],
              pauses: np.ndarray, *, seed: int = 0, blinks: float = 1.0,
              head_motion: float = 1.0) -> dict[str, np.ndarray]:
    """Control curves (only those it moves) at ``frame_times`` (frame starts, s; evenly spaced).

    ``speech`` (0..1 per frame) is the voice activity; ``stress`` = (times, weights) of stressed
    syllables; ``pauses`` = times where speech stops (blinks gather there)."""
    out: dict[str, np.ndarray] = {}
    n = frame_times.size
    if n == 0:
        return out
    dt = float(frame_times[1] - frame_times[0]) if n > 1 else 0.04
    blinks, head_motion = float(np.clip(blinks, 0, 1)), float(np.clip(head_motion, 0, 1))
    if blinks > 0:
        starts = blink_times(float(frame_times[-1] + dt), pauses, seed)
        # the deepest closure within each frame's interval: a frame that holds the shut eye shows it
        sub = frame_times[:, None] + dt * (np.arange(8) + 0.5)[None, :] / 8
        closure = blink_closure(sub.ravel(), starts).reshape(n, 8).max(axis=1)
        del sub
        out["eye_open_l"] = out["eye_open_r"] = 1.0 - blinks * closure
    if head_motion > 0:
        centre = frame_times + dt / 2
        live = np.convolve(speech, np.ones(25) / 25, mode="same") if n > 25 else speech
        drift = head_drift(centre, seed, np.clip(live, 0, 1))
        at, w = stress
        nod = _bump(centre, at, w, 0.08, 0.25)
        brow = _bump(centre, at, w, 0.12, 0.4)
        rng = _rng(seed, 3)
        tilt = float(rng.uniform(-0.15, 0.15))  # brows do not rise exactly alike
        out["head_yaw"] = head_motion * drift["head_yaw"]
        out["head_pitch"] = head_motion * (drift["head_pitch"] - 2.0 * nod)
        out["head_roll"] = head_motion * drift["head_roll"]
        out["brow_l"] = head_motion * np.clip(0.45 * (1 + tilt) * brow, 0, 1)
        out["brow_r"] = head_motion * np.clip(0.45 * (1 - tilt) * brow, 0, 1)
    return out
