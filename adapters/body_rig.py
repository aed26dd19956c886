"""Baking the captured body onto an armature: which bones (a preset, or detected from the bone
names), their rest frames, and the body track on the bake's scene frames.

The rotations come from engine/rig/body.py (each bone retargeted in its own rest frame, relative
to its posed parent); adapters/rig.py keys them with the head bone's writer, in each pose bone's
own rotation mode, as the add-on's own (Generated) keys, in the same undo step as the face.
"""

from __future__ import annotations

import bpy
import numpy as np

from ..engine.body import BODY_CONTROL_NAMES, BodyTrack
from ..engine.motion import Motion
from ..engine.rig.body import BONES, PRESETS
from .strips import SetupError

FAMILIES = ("RIGIFY", "MIXAMO", "VRM")  # rig_props.BODY_PRESET_ITEMS names them in the UI

# names other rigs of the same family use for a role when the preset's own is absent
_ALIASES = {
    "RIGIFY": {"spine": ("spine_fk.003", "spine.003", "spine_fk.002", "spine.002"),
               **{r: (r,) for r in BONES if r != "spine"}},  # metarig / DEF-less names
    "VRM": {"spine": ("J_Bip_C_Chest", "J_Bip_C_Spine"), "shoulder.L": ("J_Bip_L_Shoulder",),
            "upper_arm.L": ("J_Bip_L_UpperArm",), "forearm.L": ("J_Bip_L_LowerArm",),
            "hand.L": ("J_Bip_L_Hand",), "shoulder.R": ("J_Bip_R_Shoulder",),
            "upper_arm.R": ("J_Bip_R_UpperArm",), "forearm.R": ("J_Bip_R_LowerArm",),
            "hand.R": ("J_Bip_R_Hand",), "thigh.L": ("J_Bip_L_UpperLeg",), "shin.L": ("J_Bip_L_LowerLeg",),
            "thigh.R": ("J_Bip_R_UpperLeg",), "shin.R": ("J_Bip_R_LowerLeg",)},
}
MIN_BONES = 3  # a preset "matches" an armature with at least the spine and one arm's two bones


def _vrm_table(arm: bpy.types.Object) -> dict[str, str]:
    """VRM role -> bone name from the VRM add-on's humanoid table (VRM 1.0 and 0.x), if present."""
    ext = getattr(arm.data, "vrm_addon_extension", None)
    out: dict[str, str] = {}
    if ext is None:
        return out
    try:
        bones = ext.vrm1.humanoid.human_bones
        for role in PRESETS["vrm"].values():
            node = getattr(bones, role, None)
            name = getattr(getattr(node, "node", None), "bone_name", "") if node is not None else ""
            if name:
                out[role] = name
        if not out:
            for hb in ext.vrm0.humanoid.human_bones:
                if hb.bone and hb.node.bone_name:
                    out[hb.bone] = hb.node.bone_name
    except AttributeError:  # another add-on version: fall back to the names
        return {}
    return out


def bone_map(arm: bpy.types.Object, preset: str) -> dict[str, str]:
    """role -> bone of ``arm`` under ``preset`` (RIGIFY/MIXAMO/VRM), for the roles it has."""
    bones = arm.data.bones
    names = PRESETS[preset.lower()]
    out = {}
    if preset == "MIXAMO":  # "mixamorig:", "mixamorig1:", or none
        by_tail = {b.name.rsplit(":", 1)[-1]: b.name for b in bones}
        for role, name in names.items():
            hit = by_tail.get(name.rsplit(":", 1)[-1])
            if hit:
                out[role] = hit
        return out
    table = _vrm_table(arm) if preset == "VRM" else {}
    for role, name in names.items():
        for candidate in (table.get(name, ""), name, *_ALIASES.get(preset, {}).get(role, ())):
            if candidate and candidate in bones:
                out[role] = candidate
                break
    return out


def detect(arm: bpy.types.Object) -> str | None:
    """The preset naming the most of the armature's bones (at least MIN_BONES, spine included)."""
    best, count = None, 0
    for key in FAMILIES:
        found = bone_map(arm, key)
        if "spine" in found and len(found) >= MIN_BONES and len(found) > count:
            best, count = key, len(found)
    return best


def resolve(arm: bpy.types.Object | None, preset: str) -> tuple[str, dict[str, str]]:
    """(preset, role -> bone) for the bake; a clear SetupError when nothing matches."""
    if arm is None or arm.type != "ARMATURE":
        raise SetupError("pick the armature to bake the body onto")
    key = detect(arm) if preset == "AUTO" else preset
    found = bone_map(arm, key) if key else {}
    if not key or "spine" not in found or len(found) < MIN_BONES:
        sample = ", ".join(sorted(b.name for b in arm.data.bones)[:6])
        wanted = "Rigify (chest, upper_arm_fk.L), Mixamo (mixamorig:Spine1, mixamorig:LeftArm) or VRM " \
                 "(chest, leftUpperArm)" if preset == "AUTO" else \
            f"{preset.title()} ({', '.join(list(PRESETS[preset.lower()].values())[:3])}, ...)"
        raise SetupError(f"armature {arm.name!r} has no body bones named like {wanted}; its bones: "
                         f"{sample}{', ...' if len(arm.data.bones) > 6 else ''}")
    return key, found


def rests(arm: bpy.types.Object, found: dict[str, str]) -> dict[str, np.ndarray]:
    """role -> the bone's rest orientation in world axes (the character facing -Y)."""
    from .rig import bone_rest

    return {role: bone_rest(arm, bone) for role, bone in found.items()}


def body_of(motion: Motion) -> BodyTrack:
    if motion.body is None:
        raise SetupError("the motion has no body: capture with the body on (Capture's Body option, "
                         "or python -m engine capture clip.mp4 --body)")
    return motion.body


def resampled(body: BodyTrack, rows: callable) -> BodyTrack:
    """``body`` on other frames: ``rows(values (n, k)) -> (m, k)`` applied to every per-frame array
    (positions and confidence interpolated, as the face curves are)."""
    n = body.frame_count

    def each(v: np.ndarray) -> np.ndarray:
        out = rows(np.asarray(v, np.float32).reshape(n, -1))
        return out.reshape((out.shape[0], *v.shape[1:]))

    zeros = {k: each(body.controls[k]) for k in BODY_CONTROL_NAMES}
    return BodyTrack(each(body.joints), each(body.world), np.clip(each(body.confidence), 0, 1),
                     each(body.tracked.astype(np.float32)) > 0.5, zeros)


def subset(body: BodyTrack, keep: np.ndarray) -> BodyTrack:
    return resampled(body, lambda v: v[keep])
