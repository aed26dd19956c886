"""A portrait's voice profile (engine/capture/voice_profile.py) in Blender: learned from the
portrait's driving movie (the actor's face and voice), kept on the portrait as its JSON text,
so it is saved with the .blend and follows undo; every voice capture of the portrait uses it."""

from __future__ import annotations

import json

import bpy

from ..engine.capture.voice_profile import VoiceProfile, loads
from ..engine.progress import Progress
from .flows import Task, _item, _scene, driving_range
from .strips import SetupError


def profile_of(item) -> VoiceProfile | None:
    """The portrait's voice profile when it has one and uses it (a damaged text raises the
    profile's one-sentence error)."""
    text = getattr(item, "voice_profile", "")
    if not text or not getattr(item, "use_voice_profile", True):
        return None
    return loads(text, f"the voice profile of {item.name}")


def summary(item) -> str:
    """One line for the panel: where the profile was learned and what it says."""
    try:
        p = profile_of(item)
    except Exception:  # noqa: BLE001 - drawing never raises: the capture reports the problem
        return "Voice profile: damaged (learn it again)"
    if p is None:
        return ""
    t, om = p.trained_on, p.open_mapping
    return (f"Voice profile: {t.get('file', '?')} (openings gain {om.gain:.2f}, "
            f"gamma {om.gamma:.2f})")


def prepare_learn(scene: bpy.types.Scene, item) -> Task:
    """Learn the profile from the frames of the portrait's driving movie that the scene shows."""
    from ..engine.capture.voice_calibration import learn_profile

    rng = driving_range(scene, item)
    if rng.kind != "movie":
        raise SetupError("a voice profile is learned from a movie strip that shows the actor's "
                         "face while they speak; the driving strip is a sound")
    scene_name, uid = scene.name, item.uid

    def work(progress: Progress) -> str:
        profile = learn_profile(rng.path, start=rng.source_start, stop=rng.source_stop,
                                progress=progress)
        return json.dumps(profile.to_dict())

    def finish(text: str) -> str:
        it = _item(_scene(scene_name), uid)
        it.voice_profile = text
        it.use_voice_profile = True
        t = loads(text).trained_on
        return (f"voice profile of {it.name} learned from {t['file']} frames {t['frames'][0]}-"
                f"{t['frames'][1]} ({t['voiced_seconds']:.1f} s of voiced speech)")

    return Task(f"voice profile {item.name}", work, finish)
