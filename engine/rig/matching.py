"""Shape-key names -> mapping rows: automatic ARKit matching and the presets.

Matching is by meaning, not spelling: a name is split into a side (left/right, from suffixes such
as ``.L``, ``_R``, ``Left``, ``_left`` or prefixes such as ``L_``) and a base with known prefixes
(``Fcl_``, ``ARKit_``, ``BS_``, a Maya ``blendShape1.`` node name, ...) and separators removed,
lower-cased. ``eye_blink_L``, ``EyeBlink.L``, ``blendShape1.eyeBlinkLeft`` and ``eyeBlinkLeft``
all become ``eyeblink|left``, the key of ARKit's ``eyeBlinkLeft``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from .arkit import ARKIT_NAMES, SOURCE_NAMES

PRESETS: dict[str, str] = {
    "ARKIT": "ARKit / Ready Player Me",
    "FACEIT": "Faceit",
    "VROID": "VRoid / VRM",
}
PRESET_DESCRIPTIONS: dict[str, str] = {
    "ARKIT": "Apple's 52 ARKit names (Ready Player Me, iPhone-ready avatars), matched "
             "case-insensitively with common prefixes and side suffixes",
    "FACEIT": "Faceit's ARKit expression set (it names its shape keys with the ARKit names)",
    "VROID": "VRoid Studio (Fcl_ keys) and VRM expressions: blinks, brows, and the vowel keys "
             "A I U E O driven from the mouth controls; ARKit keys (perfect sync) matched too",
}

_SIDE_SUFFIX = re.compile(r"[\s._\-](?P<side>l|r|left|right)$", re.IGNORECASE)
_SIDE_CAMEL = re.compile(r"(?<=[a-z0-9])(?P<side>Left|Right|L|R)$")
_SIDE_PREFIX = re.compile(r"^(?P<side>l|r|left|right)[\s._\-]", re.IGNORECASE)
_PREFIX = re.compile(r"^(?:fcl|arkit|bs|sk|blend_?shapes?\d*|shape|face|expr|key)[\s._\-]+",
                     re.IGNORECASE)
_SEP = re.compile(r"[\s._\-]+")
_SIDES = {"l": "left", "r": "right", "left": "left", "right": "right"}


def canonical(name: str) -> str:
    """``base|side`` of a shape-key name (side empty when it has none)."""
    s = name.strip()
    side = ""
    for pattern in (_SIDE_SUFFIX, _SIDE_CAMEL):
        m = pattern.search(s)
        if m:
            side = _SIDES[m.group("side").lower()]
            s = s[: m.start()]
            break
    else:
        m = _SIDE_PREFIX.search(s)
        if m:
            side = _SIDES[m.group("side").lower()]
            s = s[m.end():]
    if "." in s:  # "blendShape1.eyeBlink": the part after the node name
        s = s.rsplit(".", 1)[1]
    while True:
        stripped = _PREFIX.sub("", s, count=1)
        if stripped == s or not stripped:
            break
        s = stripped
    return f"{_SEP.sub('', s).lower()}|{side}"


_ARKIT_BY_KEY: dict[str, str] = {canonical(n): n for n in ARKIT_NAMES}
assert len(_ARKIT_BY_KEY) == 52, "ARKit names must stay distinct after canonicalisation"

# Other spellings of the same shapes (base part, lower case): VRCFaceTracking's Unified
# Expressions and rigs that follow them name some ARKit shapes after what the lips do.
_BASE_ALIASES: dict[str, str] = {
    "eyeclosed": "eyeblink", "mouthclosed": "mouthclose", "lipsuckupper": "mouthrollupper",
    "lipsucklower": "mouthrolllower", "lipfunnel": "mouthfunnel", "lippucker": "mouthpucker",
    "mouthraiserupper": "mouthshrugupper", "mouthraiserlower": "mouthshruglower",
}


_ARKIT_BY_LOWER: dict[str, str] = {n.lower(): n for n in ARKIT_NAMES}


def arkit_name(key_name: str) -> str | None:
    """The ARKit blendshape a shape-key name stands for, or None."""
    base, side = canonical(key_name).split("|")
    hit = _ARKIT_BY_KEY.get(f"{_BASE_ALIASES.get(base, base)}|{side}")
    if hit is None:  # all one case ("EYEBLINKLEFT"): no camel-case side to split off
        base = canonical(key_name.lower()).replace("|", "")
        hit = _ARKIT_BY_LOWER.get(base)
    return hit


@dataclass
class MappingRow:
    """One target shape key driven by one source: ``clip(gain * source + offset, lo, hi)``."""

    target: str
    source: str
    gain: float = 1.0
    offset: float = 0.0
    clamp_min: float = 0.0
    clamp_max: float = 1.0
    enabled: bool = True


@dataclass
class Mapping:
    rows: list[MappingRow] = field(default_factory=list)
    unmatched: list[str] = field(default_factory=list)

    def targets(self) -> set[str]:
        return {r.target for r in self.rows}


# VRoid Studio keys (Fcl_*), VRM 0.x blend-shape names and VRM 1.0 expression names, in that
# order of aliases; "_L/_R" are the character's own left/right, like ARKit's.
_VROID: tuple[tuple[tuple[str, ...], str, float], ...] = (
    (("Fcl_EYE_Close_L", "Blink_L", "blinkLeft"), "eyeBlinkLeft", 1.0),
    (("Fcl_EYE_Close_R", "Blink_R", "blinkRight"), "eyeBlinkRight", 1.0),
    (("Fcl_EYE_Joy_L",), "eyeSquintLeft", 1.0),
    (("Fcl_EYE_Joy_R",), "eyeSquintRight", 1.0),
    (("Fcl_EYE_Surprised",), "eyeWideLeft", 1.0),
    (("Fcl_BRW_Surprised",), "browInnerUp", 1.0),
    (("Fcl_BRW_Angry",), "browDownLeft", 1.0),
    (("Fcl_MTH_A", "A", "aa"), "vowel_a", 1.0),
    (("Fcl_MTH_I", "I", "ih"), "vowel_i", 1.0),
    (("Fcl_MTH_U", "U", "ou"), "vowel_u", 1.0),
    (("Fcl_MTH_E", "E", "ee"), "vowel_e", 1.0),
    (("Fcl_MTH_O", "O", "oh"), "vowel_o", 1.0),
    (("Fcl_MTH_Fun",), "mouth_smile", 1.0),
    (("Fcl_MTH_Sorrow",), "mouth_smile", -1.0),
)
# both eyes in one key: only when the model has no per-eye keys
_VROID_BOTH_EYES = ("Fcl_EYE_Close", "Blink", "blink")


def detect_preset(key_names: Iterable[str]) -> str:
    lower = {n.lower() for n in key_names}
    if any(n.startswith("fcl_") for n in lower) or {"a", "i", "u", "e", "o"} <= lower \
            or {"aa", "ih", "ou", "ee", "oh"} <= lower:
        return "VROID"
    return "ARKIT"


def build_mapping(key_names: Iterable[str], preset: str = "ARKIT",
                  reference: str | None = None) -> Mapping:
    """Mapping rows for the shape keys ``key_names`` (the ``reference``/Basis key excluded) under
    ``preset``; keys neither the preset nor ARKit matching knows are listed in ``unmatched``."""
    if preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}; one of {', '.join(PRESETS)}")
    names = [n for n in key_names if n != reference]
    by_lower: dict[str, str] = {}
    for n in names:
        by_lower.setdefault(n.lower(), n)
    rows: list[MappingRow] = []
    used: set[str] = set()
    if preset == "VROID":
        for aliases, source, gain in _VROID:
            hit = next((by_lower[a.lower()] for a in aliases if a.lower() in by_lower), None)
            if hit is not None and hit not in used:
                rows.append(MappingRow(hit, source, gain=gain))
                used.add(hit)
        if not {"eyeBlinkLeft", "eyeBlinkRight"} & {r.source for r in rows}:
            hit = next((by_lower[a.lower()] for a in _VROID_BOTH_EYES if a.lower() in by_lower), None)
            if hit is not None:
                rows.append(MappingRow(hit, "eyeBlinkLeft"))
                used.add(hit)
    for n in names:
        if n in used:
            continue
        arkit = arkit_name(n)
        if arkit is not None:
            rows.append(MappingRow(n, arkit))
            used.add(n)
    return Mapping(rows, [n for n in names if n not in used])


def check_row(row: MappingRow) -> None:
    if row.source not in SOURCE_NAMES:
        raise ValueError(f"mapping row {row.target!r}: unknown source {row.source!r}")
