"""The ARKit 52 vocabulary, the face regions used to group baked curves, and the sources a
mapping row can read: the 52 blendshapes, the 16 controls and five vowels made from the mouth.

When a motion has no blendshapes (an audio capture, a motion keyed by hand, the portrait's own
curves) the ARKit sources are approximated from the 16 controls by ``CONTROL_APPROX``: an explicit
linear table, clipped to 0..1, so a character moves the same way the portrait does.
"""

from __future__ import annotations

from ..controls import CONTROL_NAMES

# Apple's ARFaceAnchor.BlendShapeLocation names, in Apple's order (grouped by region).
ARKIT_NAMES: tuple[str, ...] = (
    "eyeBlinkLeft", "eyeLookDownLeft", "eyeLookInLeft", "eyeLookOutLeft", "eyeLookUpLeft",
    "eyeSquintLeft", "eyeWideLeft",
    "eyeBlinkRight", "eyeLookDownRight", "eyeLookInRight", "eyeLookOutRight", "eyeLookUpRight",
    "eyeSquintRight", "eyeWideRight",
    "jawForward", "jawLeft", "jawRight", "jawOpen",
    "mouthClose", "mouthFunnel", "mouthPucker", "mouthLeft", "mouthRight",
    "mouthSmileLeft", "mouthSmileRight", "mouthFrownLeft", "mouthFrownRight",
    "mouthDimpleLeft", "mouthDimpleRight", "mouthStretchLeft", "mouthStretchRight",
    "mouthRollLower", "mouthRollUpper", "mouthShrugLower", "mouthShrugUpper",
    "mouthPressLeft", "mouthPressRight", "mouthLowerDownLeft", "mouthLowerDownRight",
    "mouthUpperUpLeft", "mouthUpperUpRight",
    "browDownLeft", "browDownRight", "browInnerUp", "browOuterUpLeft", "browOuterUpRight",
    "cheekPuff", "cheekSquintLeft", "cheekSquintRight",
    "noseSneerLeft", "noseSneerRight",
    "tongueOut",
)
assert len(ARKIT_NAMES) == 52

# Vowel sources for viseme keys (VRoid/VRM A I U E O), computed from the mouth controls.
VOWEL_NAMES: tuple[str, ...] = ("vowel_a", "vowel_i", "vowel_u", "vowel_e", "vowel_o")

SOURCE_NAMES: tuple[str, ...] = (*ARKIT_NAMES, *CONTROL_NAMES, *VOWEL_NAMES)

REGIONS: tuple[str, ...] = ("Eyes", "Brows", "Jaw", "Mouth", "Cheeks", "Nose", "Tongue", "Visemes",
                            "Other")


def region_of_source(source: str) -> str:
    """Graph Editor group for a key driven by ``source``."""
    if source in VOWEL_NAMES:
        return "Visemes"
    if source in CONTROL_NAMES:
        from ..controls import CONTROLS_BY_NAME

        group = CONTROLS_BY_NAME[source].group
        return {"Head": "Other"}.get(group, group)
    for prefix, region in (("eye", "Eyes"), ("brow", "Brows"), ("jaw", "Jaw"), ("mouth", "Mouth"),
                           ("cheek", "Cheeks"), ("nose", "Nose"), ("tongue", "Tongue")):
        if source.startswith(prefix):
            return region
    return "Other"


# Blendshapes the tracker under-reports while the controls measure the same thing with landmark
# geometry, calibrated: the source is the larger of the two. MediaPipe's eyeBlink peaks around
# 0.6-0.8 on a closed eye and falls back while the lids are still shut (d1: frames 10-13 score
# 0.3-0.45 while the lid gap says closed); eye_open (MOTION_SPEC.md) follows the lids.
GEOMETRY_ASSISTED: frozenset[str] = frozenset({"eyeBlinkLeft", "eyeBlinkRight"})

# ARKit key -> ((control, gain), ...), offset: value = clip(offset + sum(gain * control), 0, 1).
# Conventions of engine/controls.py: eye_open 1 = neutral, 0 closed; gaze_x + = toward the
# viewer's right = the subject's left (outward for the left eye, inward for the right);
# brow -1..+1; mouth_open 0..1; mouth_smile -1 frown .. +1 smile.
CONTROL_APPROX: dict[str, tuple[tuple[tuple[str, float], ...], float]] = {
    "eyeBlinkLeft": ((("eye_open_l", -1.0),), 1.0),
    "eyeBlinkRight": ((("eye_open_r", -1.0),), 1.0),
    "eyeWideLeft": ((("eye_open_l", 2.0),), -2.0),       # 1.5 (wide) -> 1
    "eyeWideRight": ((("eye_open_r", 2.0),), -2.0),
    "eyeLookOutLeft": ((("gaze_x", 1.0),), 0.0),
    "eyeLookInRight": ((("gaze_x", 1.0),), 0.0),
    "eyeLookInLeft": ((("gaze_x", -1.0),), 0.0),
    "eyeLookOutRight": ((("gaze_x", -1.0),), 0.0),
    "eyeLookUpLeft": ((("gaze_y", 1.0),), 0.0),
    "eyeLookUpRight": ((("gaze_y", 1.0),), 0.0),
    "eyeLookDownLeft": ((("gaze_y", -1.0),), 0.0),
    "eyeLookDownRight": ((("gaze_y", -1.0),), 0.0),
    "browOuterUpLeft": ((("brow_l", 1.0),), 0.0),
    "browOuterUpRight": ((("brow_r", 1.0),), 0.0),
    "browInnerUp": ((("brow_l", 0.5), ("brow_r", 0.5)), 0.0),
    "browDownLeft": ((("brow_l", -1.0),), 0.0),
    "browDownRight": ((("brow_r", -1.0),), 0.0),
    "jawOpen": ((("mouth_open", 1.0),), 0.0),
    "mouthSmileLeft": ((("mouth_smile", 1.0),), 0.0),
    "mouthSmileRight": ((("mouth_smile", 1.0),), 0.0),
    "mouthFrownLeft": ((("mouth_smile", -1.0),), 0.0),
    "mouthFrownRight": ((("mouth_smile", -1.0),), 0.0),
    "mouthStretchLeft": ((("mouth_wide", 1.0),), 0.0),
    "mouthStretchRight": ((("mouth_wide", 1.0),), 0.0),
    "mouthPucker": ((("mouth_pucker", 1.0),), 0.0),
    "mouthFunnel": ((("mouth_pucker", 0.5),), 0.0),
}
