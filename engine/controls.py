"""The 16 expression controls: the vocabulary shared by capture, Blender keyframes and renderers.

Names, units and conventions are part of the motion contract (see MOTION_SPEC.md). Values at the
driving clip's neutral frame are 0, or 1 for ratios. "left/right" of the subject (as in ARKit);
image directions are as the viewer sees them.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ControlSpec:
    name: str
    group: str  # "Head", "Eyes", "Brows", "Mouth": Graph Editor channel group
    label: str
    unit: str  # "deg", "face", "ratio", "unit"
    neutral: float
    soft_min: float
    soft_max: float
    hard_min: float
    hard_max: float
    description: str


CONTROLS: tuple[ControlSpec, ...] = (
    ControlSpec("head_yaw", "Head", "Yaw", "deg", 0.0, -30.0, 30.0, -90.0, 90.0,
                "Head turn in degrees; + turns the face toward the viewer's right"),
    ControlSpec("head_pitch", "Head", "Pitch", "deg", 0.0, -25.0, 25.0, -90.0, 90.0,
                "Head nod in degrees; + lifts the chin"),
    ControlSpec("head_roll", "Head", "Roll", "deg", 0.0, -30.0, 30.0, -180.0, 180.0,
                "Head tilt in degrees; + rotates clockwise as the viewer sees it"),
    ControlSpec("head_x", "Head", "Position X", "face", 0.0, -0.5, 0.5, -5.0, 5.0,
                "Horizontal head shift in face widths; + toward the viewer's right"),
    ControlSpec("head_y", "Head", "Position Y", "face", 0.0, -0.5, 0.5, -5.0, 5.0,
                "Vertical head shift in face widths; + up"),
    ControlSpec("head_scale", "Head", "Scale", "ratio", 1.0, 0.7, 1.4, 0.1, 10.0,
                "Head size relative to the neutral frame; 1 = unchanged"),
    ControlSpec("eye_open_l", "Eyes", "Eye Open L", "ratio", 1.0, 0.0, 1.5, 0.0, 3.0,
                "Subject's left eye opening; 0 closed, 1 neutral, up to ~1.5 wide"),
    ControlSpec("eye_open_r", "Eyes", "Eye Open R", "ratio", 1.0, 0.0, 1.5, 0.0, 3.0,
                "Subject's right eye opening; 0 closed, 1 neutral, up to ~1.5 wide"),
    ControlSpec("gaze_x", "Eyes", "Gaze X", "unit", 0.0, -1.0, 1.0, -1.0, 1.0,
                "Gaze direction; + toward the viewer's right"),
    ControlSpec("gaze_y", "Eyes", "Gaze Y", "unit", 0.0, -1.0, 1.0, -1.0, 1.0,
                "Gaze direction; + up"),
    ControlSpec("brow_l", "Brows", "Brow L", "unit", 0.0, -1.0, 1.0, -1.0, 1.0,
                "Subject's left brow; -1 lowered, +1 raised"),
    ControlSpec("brow_r", "Brows", "Brow R", "unit", 0.0, -1.0, 1.0, -1.0, 1.0,
                "Subject's right brow; -1 lowered, +1 raised"),
    ControlSpec("mouth_open", "Mouth", "Mouth Open", "unit", 0.0, 0.0, 1.0, 0.0, 1.5,
                "Jaw opening; 0 closed, 1 jaw fully open"),
    ControlSpec("mouth_smile", "Mouth", "Smile", "unit", 0.0, -1.0, 1.0, -1.0, 1.0,
                "Mouth corners; -1 frown, +1 smile"),
    ControlSpec("mouth_wide", "Mouth", "Wide", "unit", 0.0, 0.0, 1.0, 0.0, 1.0,
                "Lip spread, the 'eee'; 0 neutral, 1 fully spread"),
    ControlSpec("mouth_pucker", "Mouth", "Pucker", "unit", 0.0, 0.0, 1.0, 0.0, 1.0,
                "Lip rounding, the 'ooo'; 0 neutral, 1 fully puckered"),
)

CONTROL_NAMES: tuple[str, ...] = tuple(c.name for c in CONTROLS)
CONTROLS_BY_NAME: dict[str, ControlSpec] = {c.name: c for c in CONTROLS}
NEUTRAL: dict[str, float] = {c.name: c.neutral for c in CONTROLS}
GROUPS: tuple[str, ...] = ("Head", "Eyes", "Brows", "Mouth")


def clamp(name: str, value: float) -> float:
    """Clamp a control to its hard range (the range any renderer must accept)."""
    spec = CONTROLS_BY_NAME[name]
    return min(max(value, spec.hard_min), spec.hard_max)
