"""Differences between Blender 4.2 LTS and 5.3 in the APIs this add-on uses.

* Sequencer: 4.4+ has ``SequenceEditor.strips``/``strips_all`` (``sequences`` is the 4.x alias,
  removed in 5.0); the strip type is ``bpy.types.Strip`` (``Sequence`` before 4.4).
* Animation: 4.4+ actions are layered (layers -> strips -> channelbags per slot);
  ``Action.fcurves`` is a 4.x compatibility view removed in 5.0.
* Compositor: 5.3 keeps a stack of effects (``Scene.compositor_effects``, each with a node group;
  ``compositing_node_group`` is the deprecated alias of the active one's), 5.0 the tree in
  ``Scene.compositing_node_group`` (a node group datablock), 4.2 - 4.5 ``Scene.node_tree`` after
  ``Scene.use_nodes = True``.
* Strip timing: 5.3 names it after handles and content (``content_start``, ``left_handle``,
  ``right_handle``, ``duration``, ``content_duration``, ``left_handle_offset``) and deprecates the
  ``frame_start``/``frame_final_*``/``frame_offset_*``/``frame_duration`` names (to be removed in 6.0).
  The functions below read and write whichever the running Blender has, in the new vocabulary.
* Choosing which image of an image strip shows: its content position (``frame_start`` /
  ``content_start``) and ``animation_offset_*`` are not animatable in 4.2 - 5.3 (an F-curve on them
  is ignored) and the animatable handle offsets only trim; a Speed effect over the strip in
  ``FRAME_NUMBER`` mode has an animatable ``speed_frame_number`` (the input's image index) with the
  same meaning in every version: ``new_effect_over`` makes one.
"""

from __future__ import annotations

import bpy

VERSION = bpy.app.version


def strips(scene: bpy.types.Scene, all_levels: bool = True):
    """The scene's strips (including those inside meta strips when ``all_levels``)."""
    se = scene.sequence_editor
    if se is None:
        return []
    if hasattr(se, "strips_all"):
        return se.strips_all if all_levels else se.strips
    return se.sequences_all if all_levels else se.sequences


def all_strips_prop(se) -> str:  # noqa: ANN001 - SequenceEditor
    """The name of the editor's every-level strip collection, for a panel's ``prop_search``."""
    return "strips_all" if hasattr(se, "strips_all") else "sequences_all"


def strip_collection(scene: bpy.types.Scene):
    """The top-level strip collection that has ``new_image``/``new_movie``/``remove``."""
    se = scene.sequence_editor_create()
    return se.strips if hasattr(se, "strips") else se.sequences


def strip_type():
    return getattr(bpy.types, "Strip", None) or bpy.types.Sequence


# 5.3 name -> the name every earlier Blender uses for the same value (same meaning, same units)
_TIMING_OLD_NAMES = {
    "content_start": "frame_start",  # timeline frame where the source's first frame sits
    "content_duration": "frame_duration",  # source length in frames, handles ignored
    "left_handle": "frame_final_start",  # first frame the strip shows
    "right_handle": "frame_final_end",  # first frame after it (exclusive)
    "duration": "frame_final_duration",  # right_handle - left_handle
    "left_handle_offset": "frame_offset_start",  # source frames hidden at the start
    "right_handle_offset": "frame_offset_end",
}


def _timing_name(strip, name: str) -> str:  # noqa: ANN001 - any Strip subtype
    return name if name in strip.bl_rna.properties else _TIMING_OLD_NAMES[name]


def strip_timing(strip, name: str) -> float:  # noqa: ANN001
    """A strip's timing value by its 5.3 name (see ``_TIMING_OLD_NAMES``)."""
    return getattr(strip, _timing_name(strip, name))


def set_strip_timing(strip, name: str, value: float) -> None:  # noqa: ANN001
    setattr(strip, _timing_name(strip, name), value)


def strip_handles(strip) -> tuple[int, int]:  # noqa: ANN001
    """The scene frames a strip shows: [left_handle, right_handle)."""
    return int(strip_timing(strip, "left_handle")), int(strip_timing(strip, "right_handle"))


def new_effect_over(scene: bpy.types.Scene, name: str, kind: str, channel: int, input_strip):  # noqa: ANN001
    """A one-input effect strip (``kind``: SPEED, ...) on ``channel`` over ``input_strip``; it
    spans (and follows) its input in every version. The input is ``seq1`` in 4.2, ``input1`` in
    4.5 and later; the end is ``frame_end`` up to 4.5, ``length`` from 5.0: read from the function's
    own parameters, not guessed from the version."""
    coll = strip_collection(scene)
    start, end = strip_handles(input_strip)
    params = coll.bl_rna.functions["new_effect"].parameters
    span = {"length": end - start} if "length" in params else {"frame_end": end}
    source = {"input1": input_strip} if "input1" in params else {"seq1": input_strip}
    return coll.new_effect(name, kind, channel, start, **span, **source)


def get_strip(scene: bpy.types.Scene, name: str):
    if not name or scene.sequence_editor is None:
        return None
    return strips(scene).get(name)


def active_strip(scene: bpy.types.Scene):
    se = scene.sequence_editor
    return None if se is None else se.active_strip


# -- animation -------------------------------------------------------------------------------


def ensure_action(id_data: bpy.types.ID) -> bpy.types.Action:
    ad = id_data.animation_data or id_data.animation_data_create()
    if ad.action is None:
        ad.action = bpy.data.actions.new(f"{id_data.name}Action")
    return ad.action


def _slot_channelbag(id_data: bpy.types.ID):
    """The channelbag of ``id_data``'s slot in its action (layered actions), or None."""
    ad = id_data.animation_data
    if ad is None or ad.action is None or not hasattr(ad.action, "layers"):
        return None
    slot = getattr(ad, "action_slot", None)
    if slot is None:
        return None
    from bpy_extras import anim_utils

    return anim_utils.action_get_channelbag_for_slot(ad.action, slot)


def fcurves(id_data: bpy.types.ID):
    """The F-curve collection animating ``id_data`` (its slot's channelbag, or the legacy
    ``Action.fcurves``), None when it has no animation yet."""
    bag = _slot_channelbag(id_data)
    if bag is not None:
        return bag.fcurves
    ad = id_data.animation_data
    if ad is None or ad.action is None:
        return None
    if hasattr(ad.action, "layers"):
        return None  # layered action without a channelbag for this ID yet
    return ad.action.fcurves


def groups(id_data: bpy.types.ID):
    bag = _slot_channelbag(id_data)
    if bag is not None:
        return bag.groups
    ad = id_data.animation_data
    if ad is not None and ad.action is not None and not hasattr(ad.action, "layers"):
        return ad.action.groups
    return None


def ensure_fcurve(id_data: bpy.types.ID, data_path: str, index: int = 0, group: str = ""):
    """Find or create the F-curve for ``data_path``, in channel group ``group``."""
    action = ensure_action(id_data)
    curves = fcurves(id_data)
    fc = curves.find(data_path, index=index) if curves is not None else None
    if fc is not None:
        return fc
    if not hasattr(action, "fcurve_ensure_for_datablock"):  # before 4.4
        return action.fcurves.new(data_path, index=index, action_group=group)
    try:  # 5.0
        return action.fcurve_ensure_for_datablock(id_data, data_path, index=index, group_name=group)
    except TypeError:  # 4.4/4.5: no group argument
        fc = action.fcurve_ensure_for_datablock(id_data, data_path, index=index)
    if group:
        grps = groups(id_data)
        if grps is not None:
            fc.group = grps.get(group) or grps.new(group)
    return fc


# -- compositor ------------------------------------------------------------------------------


def compositor_tree(scene: bpy.types.Scene, create: bool = False):
    """The scene's compositing node tree (created when ``create``)."""
    props = scene.bl_rna.properties
    if "compositor_effects" in props:  # 5.3: a stack of effects, the active one's group renders
        effects = scene.compositor_effects
        effect = effects.active or (effects[0] if len(effects) else None)
        if effect is None:
            if not create:
                return None
            effect = effects.new(name="Compositing")
        if effect.node_group is None and create:
            effect.node_group = bpy.data.node_groups.new(f"{scene.name} Compositing", "CompositorNodeTree")
        return effect.node_group
    if "compositing_node_group" in props:
        tree = scene.compositing_node_group
        if tree is None and create:
            tree = bpy.data.node_groups.new(f"{scene.name} Compositing", "CompositorNodeTree")
            scene.compositing_node_group = tree
        return tree
    if create and not scene.use_nodes:
        scene.use_nodes = True
    return scene.node_tree


def online_access() -> bool:
    """Whether the user allows Blender extensions to use the network (4.2+ preference)."""
    return bool(getattr(bpy.app, "online_access", False))
