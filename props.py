"""Scene data of the add-on: one ``TalkingHeadPortrait`` per portrait the artist animates.

The 16 expression controls (engine/controls.py) are animatable float properties of each portrait
item, so the F-curves live in the scene's action as
``talking_head.portraits[i].<control>`` and show in the Graph Editor grouped as
"<portrait>: Head/Eyes/Brows/Mouth" (and "Body": the 4 body curves of a capture with Body).
Portrait items are never reordered (removing one only blanks it) so those paths stay valid across sessions.
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

from .engine.body import BODY_CONTROLS
from .engine.controls import CONTROLS

UNIT_LABEL = {"deg": "degrees", "face": "face widths", "ratio": "ratio", "unit": "normalised"}

RENDERERS = (
    ("builtin", "Built-in", "Fast built-in warp renderer; no downloads, runs on any CPU"),
    ("liveportrait", "LivePortrait", "Neural renderer (needs its model files; GPU recommended)"),
    ("comfyui", "ComfyUI", "A ComfyUI server renders the whole range with a workflow (diffusion and "
                           "video models: Wan-Animate, HelloMeme, X-Portrait, ...); see the Workflow menu"),
)


def _workflow_items() -> list[tuple[str, str, str]]:
    """The shipped ComfyUI templates (static: they ship with the add-on) + your own file."""
    from .engine.render.comfyui.workflow import template_labels

    items = [(name, label, desc) for name, label, desc in template_labels()]
    items.append(("CUSTOM", "Own Workflow (API .json)",
                  "A workflow exported from ComfyUI in API format, with th:... node titles or a "
                  ".binding.json beside it (see docs/comfyui.md)"))
    return items


WORKFLOWS = _workflow_items()
DRIVES = (
    ("DEFAULT", "Workflow Default", "What the workflow is made for"),
    ("guide", "Guide (Curves)", "A guide video rendered from the control curves by the built-in renderer: "
                                "your Graph Editor edits drive the generation"),
    ("driving", "Driving Clip", "The driving strip's video as it is"),
    ("audio", "Driving Audio", "The driving strip's sound (audio-driven workflows)"),
)
DEVICES = (
    ("DEFAULT", "Default", "Use the device set in the add-on preferences"),
    ("auto", "Auto", "GPU when one is available, otherwise CPU"),
    ("cpu", "CPU", "Always the CPU"),
    ("cuda", "CUDA", "NVIDIA GPU through CUDA (LivePortrait: needs the GPU runtime)"),
    ("dml", "DirectML", "Any DirectX 12 GPU on Windows (LivePortrait; needs the GPU runtime)"),
    ("coreml", "CoreML", "Apple GPU / Neural Engine on macOS (LivePortrait)"),
)
DENSE_REGIONS = (
    ("all", "All", "Expression and head motion of the driving actor"),
    ("expression", "Expression", "The actor's expression; the head follows the curves"),
    ("pose", "Pose", "The actor's head motion; the expression follows the curves"),
    ("lips", "Lips", "Only the lips' expression"),
    ("eyes", "Eyes", "Only the eyes' expression"),
)
REST_POSES = (  # built-in renderer: what the curves are relative to (engine/render/builtin/rest.py)
    ("neutral", "Neutral Face", "Curve values are face states: Mouth Open 0 closes an open-mouthed "
                                "portrait's lips, Smile 0 stops its smile (matches captured curves)"),
    ("portrait", "Portrait As Is", "The portrait's own expression is the rest pose: the curves are "
                                   "offsets from it (Mouth Open 0 keeps its mouth as painted)"),
)

HEAD_POSES = (  # built-in renderer: where the head turns to (engine/render/builtin/pose.py)
    ("auto", "Auto", "The actor's absolute head pose when the portrait faces the camera about as the "
                     "actor's neutral frame did, its own pose plus the curves when it is turned further"),
    ("absolute", "Absolute", "Always the actor's absolute head pose (a turned portrait is swung to it)"),
    ("relative", "Relative", "The head-pose curves are added to the portrait's own pose"),
)

DENSE_REFERENCES = (
    ("neutral", "Neutral Frame", "Motion relative to the calibration (neutral) frame"),
    ("first", "First Frame", "Motion relative to the driving clip's first frame (LivePortrait's default)"),
)


# "//" paths in the output folders are meant relative to the .blend (Blender 4.5+ says so per property)
_REL = {"PATH_SUPPORTS_BLEND_RELATIVE"} if "is_path_supports_blend_relative" in \
    bpy.types.StringProperty.bl_rna.properties else set()


def _control_annotations() -> dict:
    # the 4 body curves (engine/body.py) are keyed the same way, next to the 16 face controls
    out = {}
    for spec in CONTROLS + BODY_CONTROLS:
        unit = UNIT_LABEL.get(spec.unit, spec.unit)
        out[spec.name] = FloatProperty(
            name=spec.label,
            description=f"{spec.description} (unit: {unit}; neutral {spec.neutral:g})",
            default=spec.neutral, min=spec.hard_min, max=spec.hard_max,
            soft_min=spec.soft_min, soft_max=spec.soft_max, precision=3,
            step=100 if spec.unit == "deg" else 1, options={"ANIMATABLE"},
        )
    return out


class TalkingHeadPortrait(bpy.types.PropertyGroup):
    __annotations__ = {
        **_control_annotations(),
        "uid": StringProperty(name="ID", description="Stable id of this portrait item"),
        "kind": EnumProperty(name="Editor", items=(
            ("SEQUENCER", "Sequencer", "Portrait and driving clip are strips"),
            ("COMPOSITOR", "Compositor", "Portrait and driving clip are compositor nodes"),
        ), default="SEQUENCER"),
        "removed": BoolProperty(name="Removed", default=False,
                                description="Cleared item kept so animation paths stay valid"),
        # Sequencer links (strip names)
        "portrait_strip": StringProperty(name="Portrait", description="Image strip of the portrait"),
        "driving_strip": StringProperty(
            name="Driving", description="Movie strip whose face (or voice) drives the portrait, or "
            "a sound strip whose voice does; its trim, offset and playback rate decide which "
            "moment drives which scene frame"),
        "drive_source": EnumProperty(name="Drive With", items=(
            ("VIDEO", "Face", "The driving movie's picture: the tracked face drives every control"),
            ("AUDIO", "Voice", "The driving movie's sound: the voice drives the mouth, idle life "
                               "(blinks, head motion, brow accents) the rest"),
        ), default="VIDEO"),
        "mouth_from_audio": BoolProperty(
            name="Mouth from Audio", default=False,
            description="Face for head, eyes and brows, the movie's voice for the mouth (when the "
                        "face is small or the mouth hidden)"),
        "voice_profile": StringProperty(
            name="Voice Profile", options={"HIDDEN"},
            description="The actor's voice profile (JSON, learned from a movie with their face and "
                        "voice): how far this actor opens the mouth, for voice captures"),
        # the movie whose actor's real mouth interiors fill this portrait's openings (Learn
        # Mouths From Movie, adapters/mouths.py): a movie strip of the scene, else a file
        "mouth_strip": StringProperty(
            name="Mouth Source", description="Movie strip whose actor's real mouth interiors (teeth, "
            "tongue) fill this portrait's open mouths (the frames the strip shows); Learn Mouths "
            "From Movie keeps them, no keys change"),
        "mouth_movie": StringProperty(
            name="Mouth Source File", subtype="FILE_PATH", options=_REL,
            description="Movie file whose actor's real mouth interiors fill this portrait's open "
                        "mouths (all its frames; used when no Mouth Source strip is picked)"),
        "use_voice_profile": BoolProperty(
            name="Use Voice Profile", default=True,
            description="Voice captures of this portrait use its voice profile (off: the default "
                        "mapping)"),
        "idle_blinks": FloatProperty(
            name="Blinks", min=0.0, max=1.0, default=1.0, subtype="FACTOR",
            description="Voice capture: strength of the natural blinks it adds (0 = none)"),
        "idle_head_motion": FloatProperty(
            name="Head Motion", min=0.0, max=1.0, default=1.0, subtype="FACTOR",
            description="Voice capture: strength of the head motion and brow accents that follow "
                        "the speech's stress (0 = none)"),
        "idle_seed": IntProperty(name="Seed", default=0, min=0,
                                 description="Voice capture: seed of the blinks and head motion "
                                             "(same seed, same performance)"),
        "result_strip": StringProperty(name="Result", description="Image-sequence strip last rendered"),
        # Compositor links (node names in the scene's compositing tree)
        "portrait_node": StringProperty(name="Portrait Node", description="Image node of the portrait"),
        "driving_node": StringProperty(name="Driving Node",
                                       description="Movie Clip (or movie Image) node of the driving clip"),
        "result_node": StringProperty(name="Result Node", description="Image node of the last render"),
        # settings
        "renderer": EnumProperty(name="Renderer", items=RENDERERS, default="builtin"),
        # ComfyUI renderer (the server's URL and token live in the preferences, never here)
        "comfy_workflow": EnumProperty(name="Workflow", items=WORKFLOWS,
                                       default=WORKFLOWS[0][0],
                                       description="ComfyUI workflow that renders this portrait"),
        "comfy_workflow_path": StringProperty(name="Workflow File", subtype="FILE_PATH", options=_REL,
                                              description="Your API-format workflow .json"),
        "comfy_server": StringProperty(name="Server", description="ComfyUI server (from the preferences; "
                                                                  "empty: the first one)"),
        "comfy_drive": EnumProperty(name="Drive", items=DRIVES, default="DEFAULT",
                                    description="What drives the ComfyUI workflow"),
        "comfy_seed": IntProperty(name="Seed", default=0, min=0,
                                  description="Generation seed (0: a fixed seed per range length)"),
        "device": EnumProperty(name="Device", items=DEVICES, default="DEFAULT"),
        "use_own_smoothing": BoolProperty(name="Own Smoothing", default=False,
                                          description="Use this portrait's smoothing instead of the "
                                                      "preferences' value"),
        "smoothing": FloatProperty(name="Smoothing", min=0.0, max=1.0, default=0.5,
                                   description="Capture jitter filter, 0 off ... 1 strong"),
        "neutral_frame": IntProperty(name="Neutral Frame", default=-1, min=-1,
                                     description="Driving-video frame with a neutral face used for "
                                                 "calibration; -1 finds one automatically"),
        "capture_body": BoolProperty(
            name="Body", default=False,
            description="Capture also tracks the performer's body (33 joints, kept in the .blend): "
                        "for baking an armature and for Wan-Animate's pose video, without the video"),
        "use_dense": BoolProperty(
            name="Dense Expression", default=True,
            description="LivePortrait: capture the driving actor's full expression (its motion "
                        "extractor, when the models are installed) and render it under the curves, "
                        "which then act as offsets. The built-in renderer ignores it"),
        "dense_region": EnumProperty(name="Region", items=DENSE_REGIONS, default="all",
                                     description="Which part of the face the dense track drives"),
        "dense_reference": EnumProperty(name="Reference", items=DENSE_REFERENCES, default="neutral",
                                        description="Frame the dense motion is relative to"),
        "rest_pose": EnumProperty(name="Rest Pose", items=REST_POSES, default="neutral",
                                  description="Built-in renderer, on a portrait that is not neutral "
                                              "(open mouth, smile): what the curves are relative to"),
        "head_pose": EnumProperty(name="Head Pose", items=HEAD_POSES, default="auto",
                                  description="Built-in renderer: whether the head takes the actor's "
                                              "absolute pose or the curves move the portrait's own"),
        "neutral_head_pose": StringProperty(
            name="Neutral Head Pose", default="",
            description="Bookkeeping written by capture: the driving clip's neutral absolute head "
                        "pose (JSON; empty for voice captures), which Head Pose places the head by"),
        "crop_scale": FloatProperty(name="Crop Scale", default=2.3, min=1.5, max=4.0,
                                    description="LivePortrait: portrait crop side in face sizes "
                                                "(2.3 = LivePortrait's; larger leaves more room)"),
        "last_provider": StringProperty(name="Runs On",
                                        description="Where the last LivePortrait render ran"),
        "face": IntProperty(name="Face", default=-1, min=-1, max=63,
                            description="Which face of the portrait to animate when it shows "
                                        "several, numbered from the left (0 = leftmost); -1 = the "
                                        "largest, most central one"),
        "scale": IntProperty(name="Resolution %", default=100, min=10, max=100, subtype="PERCENTAGE",
                             description="Render the portrait at this fraction of its size "
                                         "(lower is faster, for previews)"),
        "output_dir": StringProperty(name="Output", subtype="DIR_PATH", default="", options=_REL,
                                     description="Folder for rendered frames; empty = "
                                                 "//talking_head/<portrait>/ next to the .blend"),
        # bookkeeping written by the operators
        "result_dir": StringProperty(name="Result Folder", subtype="DIR_PATH", options=_REL),
        "captured_from": StringProperty(name="Captured From"),
    }

    @property
    def label(self) -> str:
        return self.portrait_strip or self.portrait_node or self.name


class TalkingHeadScene(bpy.types.PropertyGroup):
    portraits: CollectionProperty(type=TalkingHeadPortrait)


CLASSES = (TalkingHeadPortrait, TalkingHeadScene)


def register() -> None:
    for cls in CLASSES:
        bpy.utils.register_class(cls)
    bpy.types.Scene.talking_head = PointerProperty(type=TalkingHeadScene)


def unregister() -> None:
    del bpy.types.Scene.talking_head
    for cls in reversed(CLASSES):
        bpy.utils.unregister_class(cls)
