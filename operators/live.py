"""Live: Preview / Record from a phone app, webcam or stream (adapters/live.py does the work).

One modal operator per session: its window timer calls the session's tick (which never waits),
Esc or the Stop button ends it. The take's keys are written when it ends, as one undo step
(pushed by the adapter; this operator has no UNDO flag, or a preview would add an empty step).
"""

from __future__ import annotations

import bpy
from bpy.props import EnumProperty, StringProperty

from ..adapters import live
from ..adapters.strips import SetupError
from ._common import context_item, error_message


def live_item(context: bpy.types.Context, name: str = ""):
    """The portrait to drive: by name, the active one, the only one; None when there is none but
    the scene has a 3D character to drive."""
    try:
        return context_item(context, name)
    except SetupError:
        if name or live.scene_character(context.scene) is None:
            raise
        return None


class TALKINGHEAD_OT_live(bpy.types.Operator):
    """Start the live source: Preview shows the portrait (Image Editor, image "Talking Head Live")
    and moves the 3D character; Record also keys the take into the curves while the timeline
    plays, from the current frame (or over the punch-in range). Esc stops"""

    bl_idname = "talking_head.live"
    bl_label = "Live"

    mode: EnumProperty(name="Mode", items=(
        ("PREVIEW", "Preview", "Show the performance live, key nothing"),
        ("RECORD", "Record", "Show it and key it into the curves while the timeline plays"),
    ), default="PREVIEW")
    portrait: StringProperty(name="Portrait", description="Portrait item (empty: the active one)")

    @classmethod
    def description(cls, context, properties):  # noqa: ANN001, ANN206 - Blender's signature
        return ("Record the performance into the curves while the timeline plays (Esc stops)"
                if properties.mode == "RECORD" else
                "Show the portrait (and character) moving live; keys nothing (Esc stops)")

    @classmethod
    def poll(cls, context: bpy.types.Context) -> bool:
        return context.scene is not None and live.session(context.scene) is None

    def execute(self, context: bpy.types.Context):
        self.report({"ERROR"}, "Live needs Blender's window (a timer drives it); in scripts use "
                               "python -m engine capture --live SOURCE --seconds N -o take.json")
        return {"CANCELLED"}

    def invoke(self, context: bpy.types.Context, event: bpy.types.Event):
        if context.window is None:
            return self.execute(context)
        try:
            self._session = live.start(context.scene, live_item(context, self.portrait),
                                       record=self.mode == "RECORD")
        except Exception as exc:  # noqa: BLE001 - one line in the status bar (port in use, consent...)
            self.report({"ERROR"}, error_message(exc))
            return {"CANCELLED"}
        wm = context.window_manager
        self._timer = wm.event_timer_add(live.TICK_S, window=context.window)
        self._played = False
        if self.mode == "RECORD" and not context.screen.is_animation_playing:
            bpy.ops.screen.animation_play()
            self._played = True
        wm.modal_handler_add(self)
        return {"RUNNING_MODAL"}

    def modal(self, context: bpy.types.Context, event: bpy.types.Event):
        session = self._session
        if event.type == "ESC" and event.value == "PRESS":
            session.request_stop()
            return {"RUNNING_MODAL"}
        if event.type != "TIMER":
            return {"PASS_THROUGH"}
        if session.tick():
            context.workspace.status_text_set(session.status())
            return {"RUNNING_MODAL"}
        context.window_manager.event_timer_remove(self._timer)
        context.workspace.status_text_set(None)
        screen = context.screen
        if self._played and screen is not None and screen.is_animation_playing:
            bpy.ops.screen.animation_cancel(restore_frame=False)
        for area in getattr(screen, "areas", []):
            area.tag_redraw()
        level, message = session.result
        self.report({level}, message)
        return {"FINISHED"} if level != "ERROR" else {"CANCELLED"}


class TALKINGHEAD_OT_live_stop(bpy.types.Operator):
    """Stop the live session (a take being recorded is keyed)"""

    bl_idname = "talking_head.live_stop"
    bl_label = "Stop Live"

    @classmethod
    def poll(cls, context: bpy.types.Context) -> bool:
        return context.scene is not None and live.session(context.scene) is not None

    def execute(self, context: bpy.types.Context):
        live.session(context.scene).request_stop()
        return {"FINISHED"}


CLASSES = (TALKINGHEAD_OT_live, TALKINGHEAD_OT_live_stop)
