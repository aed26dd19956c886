"""Capture: the driving strip's face -> keyframes on the portrait's 16 controls."""

from __future__ import annotations

import bpy
from bpy.props import StringProperty

from ..adapters import compat, flows
from ..engine.frames import parse_optional
from ._common import JobOperator, context_item


class TALKINGHEAD_OT_capture(JobOperator, bpy.types.Operator):
    """Track the face (or listen to the voice) in the driving strip and key the portrait's
    expression controls on every frame the strip covers (replacing earlier keys of those controls)"""

    bl_idname = "talking_head.capture"
    bl_label = "Capture"

    portrait: StringProperty(name="Portrait", description="Portrait item (empty: the active one)")
    frames: StringProperty(name="Frames", description="Scene frames, both ends included: A-B, A..B, N "
                                                        "or a list 1-10,20-30 (empty: all)")

    @classmethod
    def poll(cls, context: bpy.types.Context) -> bool:
        return context.scene is not None

    def make_task(self, context: bpy.types.Context) -> flows.Task:
        item = context_item(context, self.portrait, create=True)
        if item.kind == "SEQUENCER" and not item.driving_strip:
            movies = [s for s in compat.strips(context.scene) if s.type == "MOVIE"]
            sounds = [s for s in compat.strips(context.scene) if s.type == "SOUND"]
            if len(movies) == 1:
                item.driving_strip = movies[0].name
            elif not movies and len(sounds) == 1:  # a voice-only scene
                item.driving_strip = sounds[0].name
        elif item.kind == "COMPOSITOR" and not item.driving_node:
            tree = compat.compositor_tree(context.scene)
            clips = [n for n in (tree.nodes if tree else []) if n.bl_idname == "CompositorNodeMovieClip"]
            if len(clips) == 1:
                item.driving_node = clips[0].name
        return flows.prepare_capture(context.scene, item, parse_optional(self.frames))


CLASSES = (TALKINGHEAD_OT_capture,)
