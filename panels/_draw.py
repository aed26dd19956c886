"""Drawing shared by the Sequencer and Compositor panels."""

from __future__ import annotations

import bpy

from ..adapters import body_track, compat, dense, keyframes, mouths
from ..adapters.jobs import running
from ..engine.body import BODY_CONTROLS
from ..engine.controls import CONTROLS, GROUPS


def draw_job(layout: bpy.types.UILayout, context: bpy.types.Context) -> bool:
    job = running(context.scene.name)
    if job is None or job.finished.is_set():
        return False
    box = layout.box()
    box.label(text=f"{job.label}: {job.done}/{job.total}", icon="SORTTIME")
    if hasattr(box, "progress"):
        box.progress(factor=job.fraction, text=job.message or "working", type="BAR")
    box.label(text="Esc cancels")
    return True


def draw_item(layout: bpy.types.UILayout, context: bpy.types.Context, item) -> None:
    scene = context.scene
    busy = draw_job(layout, context)
    col = layout.column(align=True)
    col.use_property_split = True
    col.use_property_decorate = False
    if item.kind == "SEQUENCER" and scene.sequence_editor is None:
        col.label(text="This scene has no Sequencer strips", icon="ERROR")
    elif item.kind == "SEQUENCER":
        se = scene.sequence_editor
        col.prop_search(item, "portrait_strip", se, compat.all_strips_prop(se), text="Portrait")
        col.prop_search(item, "driving_strip", se, compat.all_strips_prop(se), text="Driving")
    else:
        tree = compat.compositor_tree(scene)
        if tree is not None:
            col.prop_search(item, "portrait_node", tree, "nodes", text="Portrait")
            col.prop_search(item, "driving_node", tree, "nodes", text="Driving")
    voice = _draw_driving_source(col, scene, item)
    col.separator()
    col.prop(item, "renderer")
    col.prop(item, "device")
    if item.renderer == "liveportrait":
        col.prop(item, "crop_scale")
    elif item.renderer == "builtin":
        col.prop(item, "rest_pose")
        col.prop(item, "head_pose")
    # capture runs LivePortrait's motion extractor whenever its models are installed and this is
    # on, whatever the renderer (a later switch to LivePortrait needs no new capture)
    col.prop(item, "use_dense")
    sub = col.column(align=True)
    sub.active = item.use_dense
    sub.prop(item, "dense_region")
    sub.prop(item, "dense_reference")
    col.prop(item, "scale")
    col.prop(item, "face")
    if not voice:  # face-tracking settings; a voice has its own smoothing (docs/audio_capture.md)
        row = col.row(heading="Smoothing")
        row.prop(item, "use_own_smoothing", text="")
        sub = row.row()
        sub.active = item.use_own_smoothing
        sub.prop(item, "smoothing", text="")
        col.prop(item, "neutral_frame")
        col.prop(item, "capture_body")
    col.prop(item, "output_dir")
    if item.renderer == "liveportrait" and not compat.online_access():
        layout.label(text="Online access is off: install models from a file", icon="INFO")
    if item.renderer == "comfyui":
        _draw_comfyui(layout, item)

    row = layout.row(align=True)
    row.enabled = not busy
    row.operator("talking_head.capture", icon="REC").portrait = item.name
    row.operator("talking_head.render", icon="RENDER_ANIMATION").portrait = item.name
    row.operator("talking_head.clear", icon="TRASH").portrait = item.name
    layout.operator("talking_head.import_motion", icon="IMPORT").portrait = item.name
    layout.operator("talking_head.export_farm_job", icon="NETWORK_DRIVE").portrait = item.name
    _draw_voice_profile(layout, scene, item, busy)
    if item.renderer == "builtin":  # the one renderer that paints mouth interiors
        _draw_mouths(layout, scene, item, busy)
    row = layout.row()
    row.enabled = not busy and keyframes.has_keys(scene, item)
    row.operator("talking_head.key_mouth_shapes", icon="KEYFRAME_HLT").portrait = item.name
    if item.captured_from:
        layout.label(text=f"Keys from {item.captured_from}", icon="KEYINGSET")
    elif not keyframes.has_keys(scene, item):
        layout.label(text="No keys yet: Capture, or key the controls by hand", icon="INFO")
    if item.renderer == "liveportrait":
        if dense.has_track(item):
            state = "used" if item.use_dense else "kept, not used"
            layout.label(text=f"Dense expression track: {dense.info(item)} ({state})", icon="SHAPEKEY_DATA")
        if item.last_provider:
            layout.label(text=f"LivePortrait ran on {item.last_provider}", icon="MEMORY")
    if body_track.has_body(item):
        layout.label(text=f"Body joints: {body_track.info(item)}", icon="ARMATURE_DATA")
    result = item.result_strip or item.result_node
    if result:
        layout.label(text=f"Result: {result}", icon="SEQUENCE")


def _draw_comfyui(layout: bpy.types.UILayout, item) -> None:
    from ..prefs import get_prefs

    col = layout.column(align=True)
    col.use_property_split = True
    col.use_property_decorate = False
    col.prop(item, "comfy_workflow")
    if item.comfy_workflow == "CUSTOM":
        col.prop(item, "comfy_workflow_path")
    prefs = get_prefs()
    if prefs is not None and len(prefs.comfy_servers):
        col.prop_search(item, "comfy_server", prefs, "comfy_servers", text="Server")
    else:
        col.label(text="Server: http://127.0.0.1:8188 (add servers in the preferences)", icon="INFO")
    col.prop(item, "comfy_drive")
    col.prop(item, "comfy_seed")
    # Wan-Animate's pose video comes from the captured body: say so before Render does
    if item.comfy_workflow == "wan_animate" and not body_track.has_body(item):
        layout.label(text="Wan-Animate needs the body: turn on Body and Capture", icon="INFO")
    layout.operator("talking_head.comfy_check", icon="CHECKMARK").server = item.comfy_server


def _draw_driving_source(col: bpy.types.UILayout, scene: bpy.types.Scene, item) -> bool:
    """Face or voice for a movie, the mouth-from-audio toggle, idle life for a voice; returns
    whether the capture listens to a voice only."""
    strip = compat.get_strip(scene, item.driving_strip) if item.kind == "SEQUENCER" else None
    sound = strip is not None and strip.type == "SOUND"
    if not sound:
        col.row().prop(item, "drive_source", expand=True)
    voice = sound or item.drive_source == "AUDIO"
    if voice:
        sub = col.column(align=True)
        sub.prop(item, "idle_blinks")
        sub.prop(item, "idle_head_motion")
        sub.prop(item, "idle_seed")
    else:
        col.prop(item, "mouth_from_audio")
    return voice


def _draw_voice_profile(layout: bpy.types.UILayout, scene: bpy.types.Scene, item, busy: bool) -> None:
    """The portrait's voice profile (adapters/voice_profile.py): what it is, on/off, forget, and
    Learn from a driving movie (a sound strip has no face to learn from)."""
    from ..adapters.voice_profile import summary

    line = summary(item)
    if line:
        row = layout.row(align=True)
        row.prop(item, "use_voice_profile", text="")
        row.label(text=line)
        row.operator("talking_head.clear_voice_profile", text="", icon="X").portrait = item.name
    strip = compat.get_strip(scene, item.driving_strip) if item.kind == "SEQUENCER" else None
    if strip is not None and strip.type == "MOVIE":
        row = layout.row()
        row.enabled = not busy
        row.operator("talking_head.learn_voice_profile", icon="REC").portrait = item.name


def _draw_mouths(layout: bpy.types.UILayout, scene: bpy.types.Scene, item, busy: bool) -> None:
    """Mouth Source (adapters/mouths.py): the movie whose actor's real mouth interiors fill the
    portrait's openings, Learn Mouths From Movie, and which set the portrait has (forget: X)."""
    col = layout.column(align=True)
    col.use_property_split = True
    col.use_property_decorate = False
    strip = item.kind == "SEQUENCER" and scene.sequence_editor is not None
    if strip:
        se = scene.sequence_editor
        col.prop_search(item, "mouth_strip", se, compat.all_strips_prop(se), text="Mouth Source")
    sub = col.column(align=True)
    sub.active = not (strip and item.mouth_strip)  # a picked strip wins over the file
    sub.prop(item, "mouth_movie", text="Mouth File" if strip else "Mouth Source")
    row = layout.row()
    row.enabled = not busy and bool((strip and item.mouth_strip) or item.mouth_movie)
    row.operator("talking_head.learn_mouths", icon="REC").portrait = item.name
    line = mouths.info(item)
    if line:
        row = layout.row(align=True)
        row.label(text=f"Mouths: {line}", icon="OUTLINER_OB_IMAGE")
        sub = row.row()
        sub.enabled = not busy
        sub.operator("talking_head.clear_mouths", text="", icon="X").portrait = item.name


def draw_controls(layout: bpy.types.UILayout, item, scene: bpy.types.Scene | None = None) -> None:
    layout.use_property_split = True
    layout.use_property_decorate = True
    for group in GROUPS:
        col = layout.column(align=True)
        col.label(text=group)
        for spec in CONTROLS:
            if spec.group == group:
                col.prop(item, spec.name)
    # the 4 body curves only for a portrait that has them (keyed, or a captured body)
    if scene is not None and (keyframes.has_body_keys(scene, item) or body_track.has_body(item)):
        col = layout.column(align=True)
        col.label(text="Body")
        for spec in BODY_CONTROLS:
            col.prop(item, spec.name)
