"""Shared operator plumbing: finding the portrait from context, and the modal job runner."""

from __future__ import annotations

import bpy

from ..adapters import compat, flows, nodes, strips
from ..adapters.jobs import Job, running
from ..adapters.strips import SetupError
from ..engine.errors import EngineError
from ..engine.progress import Cancelled
from ..engine.safe_text import printable


def in_node_editor(context: bpy.types.Context) -> bool:
    space = getattr(context, "space_data", None)
    return space is not None and space.type == "NODE_EDITOR"


def context_item(context: bpy.types.Context, name: str = "", create: bool = False):
    """The portrait item named ``name``, else the one of the active strip/node, else the only one."""
    scene = context.scene
    if name:
        item = strips.find_item(scene, name)
        if item is None:
            raise SetupError(f"no portrait named {name!r} in scene {scene.name!r}")
        return item
    item = None
    if in_node_editor(context):
        node = getattr(context, "active_node", None)
        item = nodes.item_for_node(scene, node, create=create)
    else:
        item = strips.item_for_strip(scene, compat.active_strip(scene), create=create)
    if item is None:
        alive = strips.items(scene)
        if len(alive) == 1:
            return alive[0]
        raise SetupError("select the portrait's image strip (or Image node) first")
    return item


class PortraitAction:
    """Mixin for an instant operator on one portrait (``portrait``: its name, empty = the active
    one): ``act(context, item) -> message`` does the work; anything it raises, or a portrait that
    cannot be found, becomes one error line in the status bar; a message starting "nothing:" is
    reported as info and the operator is cancelled (nothing changed, no undo step)."""

    def execute(self, context: bpy.types.Context):
        try:
            message = self.act(context, context_item(context, self.portrait))
        except Exception as exc:  # noqa: BLE001 - one line in the status bar, never a traceback
            self.report({"ERROR"}, error_message(exc))
            return {"CANCELLED"}
        if message.startswith("nothing:"):
            self.report({"INFO"}, message.removeprefix("nothing:").strip())
            return {"CANCELLED"}
        if message:
            self.report({"INFO"}, message)
        return {"FINISHED"}


def panel_item(context: bpy.types.Context):
    """Like context_item, for drawing: never raises, never creates."""
    try:
        return context_item(context)
    except EngineError:
        return None


def report_outcome(op: bpy.types.Operator, finish, cancelled: str) -> set[str]:
    """Run ``finish() -> message`` and report the outcome the operator's way (a plain function,
    so the sync and modal paths share it whatever ``op`` is)."""
    try:
        message = finish()
    except Cancelled:
        op.report({"WARNING"}, cancelled)
        return {"CANCELLED"}
    except Exception as exc:  # noqa: BLE001 - every failure becomes one line in the status bar
        op.report({"ERROR"}, printable(error_message(exc), limit=2000))
        return {"CANCELLED"}
    # Warnings collected during the work (missing video frames, several faces) come first.
    # Reports quote names from files (and Blender prints them to the console): escaped.
    op.report({"WARNING"} if "warning:" in message else {"INFO"}, printable(message, limit=2000))
    return {"FINISHED"}


def error_message(exc: BaseException) -> str:
    """One sentence for any exception (engine.cli.describe_exception), with a bug-report hint for
    unexpected ones; the traceback goes to the console only with $TALKING_HEAD_DEBUG."""
    import os
    import traceback

    from ..engine.cli import BUG_HINT, describe_exception

    message = describe_exception(exc)
    if os.environ.get("TALKING_HEAD_DEBUG"):
        traceback.print_exception(exc)
    if message is None:
        message = f"unexpected {type(exc).__name__}: {str(exc)[:200]}; {BUG_HINT}"
    return message


class JobOperator:
    """Mixin: ``make_task(context) -> flows.Task``; modal with a worker thread in the UI,
    synchronous in background mode or when called through ``bpy.ops`` (EXEC)."""

    bl_options = {"REGISTER", "UNDO"}

    def make_task(self, context: bpy.types.Context) -> flows.Task:
        raise NotImplementedError

    def _task_or_report(self, context: bpy.types.Context):
        try:
            return self.make_task(context)
        except Exception as exc:  # noqa: BLE001 - one line in the status bar, never a traceback
            self.report({"ERROR"}, error_message(exc))
            return None

    def execute(self, context: bpy.types.Context):
        task = self._task_or_report(context)
        if task is None:
            return {"CANCELLED"}
        return report_outcome(self, lambda: flows.run_sync(task, echo=True), f"{task.label}: cancelled")

    def invoke(self, context: bpy.types.Context, event: bpy.types.Event):
        if bpy.app.background or context.window is None:
            return self.execute(context)
        if running(context.scene.name) is not None:
            self.report({"ERROR"}, "a Talking Head job is already running in this scene")
            return {"CANCELLED"}
        task = self._task_or_report(context)
        if task is None:
            return {"CANCELLED"}
        self._task = task
        self._job = Job(task.label, task.work, key=context.scene.name, cleanup=task.abort).start()
        wm = context.window_manager
        self._timer = wm.event_timer_add(0.1, window=context.window)
        wm.progress_begin(0, 1000)
        wm.modal_handler_add(self)
        return {"RUNNING_MODAL"}

    def modal(self, context: bpy.types.Context, event: bpy.types.Event):
        job = self._job
        if event.type == "ESC" and event.value == "PRESS":
            job.cancel()
            context.workspace.status_text_set(f"{job.label}: cancelling...")
            return {"RUNNING_MODAL"}
        if event.type != "TIMER":
            return {"PASS_THROUGH"}
        wm = context.window_manager
        wm.progress_update(int(job.fraction * 1000))
        if not job.finished.is_set():
            context.workspace.status_text_set(
                f"{job.label}: {job.done}/{job.total} {job.message}  (Esc to cancel)")
            _redraw(context)
            return {"RUNNING_MODAL"}
        wm.event_timer_remove(self._timer)
        wm.progress_end()
        context.workspace.status_text_set(None)
        job.forget()
        _redraw(context)
        return report_outcome(self, lambda: flows.complete(self._task, job),
                              f"{job.label}: cancelled, nothing changed")


def _redraw(context: bpy.types.Context) -> None:
    screen = getattr(context, "screen", None)
    if screen is None:
        return
    for area in screen.areas:
        if area.type in {"SEQUENCE_EDITOR", "NODE_EDITOR", "GRAPH_EDITOR"}:
            area.tag_redraw()
