"""3D character target settings, stored on the face mesh object (``Object.talking_head_rig``).

A mapping row says which source drives which shape key (engine/rig): one of the 52 ARKit
blendshapes, one of the 16 controls, or a vowel made from the mouth controls, with gain,
offset and clamp. The Sequencer panel, which has no active object, works on
``Scene.talking_head_character``.
"""

from __future__ import annotations

import bpy
from bpy.props import (
    BoolProperty,
    CollectionProperty,
    EnumProperty,
    FloatProperty,
    IntProperty,
    PointerProperty,
    StringProperty,
)

from .engine.controls import CONTROLS
from .engine.rig import ARKIT_NAMES, PRESETS, VOWEL_NAMES
from .engine.rig.matching import PRESET_DESCRIPTIONS


def _source_items() -> list[tuple[str, str, str, int]]:
    items = [(n, n, f"ARKit blendshape {n} (the tracker's score; approximated from the controls "
                    "when the motion has none)", i) for i, n in enumerate(ARKIT_NAMES)]
    base = len(items)
    items += [(c.name, f"Control: {c.label}", c.description, base + i) for i, c in enumerate(CONTROLS)]
    base = len(items)
    items += [(v, f"Vowel {v[-1].upper()}", f"Viseme weight of the vowel {v[-1].upper()}, from the "
                                            "mouth controls (open, wide, pucker)", base + i)
              for i, v in enumerate(VOWEL_NAMES)]
    return items


SOURCE_ITEMS = _source_items()
PRESET_ITEMS = [(k, v, PRESET_DESCRIPTIONS[k]) for k, v in PRESETS.items()]
BODY_PRESET_ITEMS = [("AUTO", "Auto-Detect", "Find the preset from the armature's bone names"),
                ("RIGIFY", "Rigify", "A generated Rigify rig (its FK controls: chest, upper_arm_fk.L, "
                                     "...), or a metarig / deform names (upper_arm.L, ...)"),
                ("MIXAMO", "Mixamo", "Mixamo's names (mixamorig:LeftArm, ...; any prefix before ':')"),
                ("VRM", "VRM", "VRM humanoid: the VRM add-on's humanoid table when present, else the "
                               "role names (leftUpperArm, ...) or VRoid's (J_Bip_L_UpperArm, ...)")]

SOURCES = (
    ("PORTRAIT", "Portrait Curves", "The 16 control curves of a portrait in this scene (edits made "
                                    "for the portrait carry over to the character)"),
    ("DRIVING", "Portrait's Driving Clip", "Capture the driving strip (or node) of a portrait in this "
                                           "scene now, with its blendshapes, keyed on the scene "
                                           "frames where it shows (trim, offset and rate honoured)"),
    ("MOTION", "Motion File", "A motion .json from a capture (video or audio): ARKit blendshapes "
                              "when it has them, the controls otherwise"),
    ("VIDEO", "Video", "Capture a driving video now (blendshapes and head pose)"),
)


def _is_armature(_self, obj) -> bool:
    return obj.type == "ARMATURE"


def _is_mesh(_self, obj) -> bool:
    return obj.type == "MESH"


def _sync_name(row, _context) -> None:
    # the list's filter searches item names: keep the name the shape key's
    if row.name != row.target:
        row.name = row.target


class TalkingHeadRigRow(bpy.types.PropertyGroup):
    target: StringProperty(name="Shape Key", description="Shape key this row drives", update=_sync_name)
    source: EnumProperty(name="Source", items=SOURCE_ITEMS, description="What drives the shape key")
    gain: FloatProperty(name="Gain", default=1.0, soft_min=-2.0, soft_max=2.0,
                        description="Multiplies the source")
    offset: FloatProperty(name="Offset", default=0.0, soft_min=-1.0, soft_max=1.0,
                          description="Added after the gain")
    clamp_min: FloatProperty(name="Min", default=0.0, description="Lowest value keyed")
    clamp_max: FloatProperty(name="Max", default=1.0, description="Highest value keyed")
    enabled: BoolProperty(name="Enabled", default=True, description="Bake this row")


class TalkingHeadRig(bpy.types.PropertyGroup):
    active: BoolProperty(name="Set Up", default=False)
    preset: EnumProperty(name="Preset", items=PRESET_ITEMS, default="ARKIT")
    rows: CollectionProperty(type=TalkingHeadRigRow)
    row_index: IntProperty(name="Row", default=0)
    calibrate: BoolProperty(name="Relative to Neutral", default=True,
                            description="Tracker blendshapes relative to the capture's neutral "
                                        "frame (a tracker scores an open eye ~0.2 blink)")
    # head / neck
    armature: PointerProperty(name="Armature", type=bpy.types.Object, poll=_is_armature,
                              description="Armature with the head (and neck) bone, and the body "
                                          "bones when Body is on")
    head_bone: StringProperty(name="Head Bone", description="Bone turned by the captured yaw/pitch/roll")
    neck_bone: StringProperty(name="Neck Bone", description="Optional bone that takes a share of the turn")
    neck_share: FloatProperty(name="Neck Share", default=0.3, min=0.0, max=1.0, subtype="FACTOR",
                              description="Part of the head turn the neck bone takes")
    rotation_gain: FloatProperty(name="Rotation Gain", default=1.0, soft_min=0.0, soft_max=2.0,
                                 description="Scales the captured head angles")
    # body (adapters/body_rig.py): the captured body's joints onto the same armature's bones
    bake_body: BoolProperty(name="Body", default=False,
                            description="Also key the armature's spine, shoulders, arms, hands and "
                                        "(when seen) legs from the captured body, in each bone's own "
                                        "rotation mode (the motion needs a body: capture with Body on)")
    body_preset: EnumProperty(name="Bone Names", items=BODY_PRESET_ITEMS, default="AUTO",
                              description="Which bones are the body's: a rig family's names, or "
                                          "detected from the armature's bone names")
    # source
    source: EnumProperty(name="Source", items=SOURCES, default="PORTRAIT")
    portrait: StringProperty(name="Portrait", description="Portrait whose control curves (or driving "
                                                          "clip) drive the character")
    motion_path: StringProperty(name="Motion File", subtype="FILE_PATH",
                                description="Motion .json (python -m engine capture, blender -c "
                                            "talking_head capture)")
    video_path: StringProperty(name="Video", subtype="FILE_PATH", description="Driving video to capture")
    smoothing: FloatProperty(name="Smoothing", default=0.5, min=0.0, max=1.0,
                             description="Capture jitter filter for the Video source")
    frame_start: IntProperty(name="Start Frame", default=1,
                             description="Scene frame of the motion's first frame (Motion File / Video)")
    # bookkeeping: the curves (data paths) earlier bakes wrote, one per line, so a re-bake or
    # Clear touches the add-on's own Generated keys there and nowhere else
    baked_key_paths: StringProperty(name="Baked Shape-Key Curves", options={"HIDDEN"})
    baked_bone_paths: StringProperty(name="Baked Bone Curves", options={"HIDDEN"})


CLASSES = (TalkingHeadRigRow, TalkingHeadRig)


def register() -> None:
    for cls in CLASSES:
        bpy.utils.register_class(cls)
    bpy.types.Object.talking_head_rig = PointerProperty(type=TalkingHeadRig)
    bpy.types.Scene.talking_head_character = PointerProperty(
        name="Character", type=bpy.types.Object, poll=_is_mesh,
        description="Face mesh (with shape keys) that the performance drives")


def unregister() -> None:
    del bpy.types.Scene.talking_head_character
    del bpy.types.Object.talking_head_rig
    for cls in reversed(CLASSES):
        bpy.utils.unregister_class(cls)
