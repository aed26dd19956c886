"""Voice profile: learn it from the driving movie (the actor's face and voice), or forget it."""

from __future__ import annotations

import bpy
from bpy.props import StringProperty

from ..adapters import flows
from ..adapters import voice_profile as profiles
from ._common import JobOperator, PortraitAction, context_item


class TALKINGHEAD_OT_learn_voice_profile(JobOperator, bpy.types.Operator):
    """Learn the actor's voice profile from the driving movie (their face while they speak):
    voice captures of this portrait then open the mouth as far as this actor does"""

    bl_idname = "talking_head.learn_voice_profile"
    bl_label = "Learn Voice Profile"

    portrait: StringProperty(name="Portrait", description="Portrait item (empty: the active one)")

    def make_task(self, context: bpy.types.Context) -> flows.Task:
        return profiles.prepare_learn(context.scene, context_item(context, self.portrait))


class TALKINGHEAD_OT_clear_voice_profile(PortraitAction, bpy.types.Operator):
    """Forget the portrait's voice profile (voice captures use the default mapping again)"""

    bl_idname = "talking_head.clear_voice_profile"
    bl_label = "Forget Voice Profile"
    bl_options = {"REGISTER", "UNDO"}

    portrait: StringProperty(name="Portrait")

    def act(self, context: bpy.types.Context, item) -> str:  # noqa: ANN001
        item.voice_profile = ""
        return f"voice profile of {item.name} forgotten"


CLASSES = (TALKINGHEAD_OT_learn_voice_profile, TALKINGHEAD_OT_clear_voice_profile)
