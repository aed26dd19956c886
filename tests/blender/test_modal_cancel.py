"""The modal path of the Capture/Render operators (worker thread + timer + Esc), driven with
stand-in window-manager/event objects: the bpy module has no window to deliver real events."""

from __future__ import annotations

import importlib
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest


def _compat():  # strip timing by Blender 5.3's names on every Blender (adapters/compat.py)
    return importlib.import_module("bl_ext.user_default.talking_head.adapters.compat")

ROOT = Path(__file__).resolve().parents[2]
PORTRAIT = ROOT.parent / "shared" / "testdata" / "portraits" / "photo_woman.jpg"

pytestmark = pytest.mark.skipif(not PORTRAIT.is_file(), reason="shared test media missing (../shared)")


def mod(addon, name):
    return importlib.import_module(f"{addon}.{name}")


def span(addon, text):
    """Inclusive frames, parsed by the add-on's one parser."""
    return mod(addon, "engine.frames").parse_frames(text)


class FakeWM:
    def __init__(self):
        self.progress = []
        self.ended = False
        self.timer_removed = False

    def progress_update(self, value):
        self.progress.append(value)

    def progress_end(self):
        self.ended = True

    def event_timer_remove(self, timer):
        self.timer_removed = True


class FakeWorkspace:
    def __init__(self):
        self.texts = []

    def status_text_set(self, text):
        self.texts.append(text)


def drive(addon, task, scene, esc_after: int | None):
    """Run the operator's modal loop on a real job; press Esc once `esc_after` frames are done."""
    common = mod(addon, "operators._common")
    jobs = mod(addon, "adapters.jobs")
    reports = []
    op = SimpleNamespace(_task=task, _timer=object(), report=lambda kind, msg: reports.append((kind, msg)))
    op._job = jobs.Job(task.label, task.work, key=scene.name).start()
    ctx = SimpleNamespace(window_manager=FakeWM(), workspace=FakeWorkspace(), screen=None)
    timer = SimpleNamespace(type="TIMER", value="NOTHING")
    esc = SimpleNamespace(type="ESC", value="PRESS")
    assert common.JobOperator.modal(op, ctx, SimpleNamespace(type="MOUSEMOVE", value="NOTHING")) \
        == {"PASS_THROUGH"}  # the UI keeps getting its events
    pressed = False
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if esc_after is not None and not pressed and op._job.done >= esc_after:
            assert common.JobOperator.modal(op, ctx, esc) == {"RUNNING_MODAL"}
            pressed = True
        state = common.JobOperator.modal(op, ctx, timer)
        if state != {"RUNNING_MODAL"}:
            return state, reports, ctx
        time.sleep(0.02)
    raise AssertionError("job did not finish")


@pytest.fixture
def scene_item(addon, tmp_path):
    import bpy

    bpy.ops.wm.read_homefile(use_empty=True)
    bpy.ops.wm.save_as_mainfile(filepath=str(tmp_path / "m.blend"))
    scene = bpy.context.scene
    por = mod(addon, "adapters.compat").strip_collection(scene).new_image(
        "Portrait", str(PORTRAIT), channel=1, frame_start=1)
    _compat().set_strip_timing(por, "duration", 40)
    item = mod(addon, "adapters.strips").item_for_strip(scene, por, create=True)
    item.scale = 25
    sample = mod(addon, "engine.sample").sample_performance(40 / 25, 25)
    mod(addon, "adapters.keyframes").write_controls(scene, item, np.arange(1, 41), sample.to_array())
    return scene, item


def test_modal_render_esc_cancels_cleanly(addon, scene_item, tmp_path):
    scene, item = scene_item
    task = mod(addon, "adapters.flows").prepare_render(scene, item)
    state, reports, ctx = drive(addon, task, scene, esc_after=2)
    assert state == {"CANCELLED"}
    assert reports and reports[-1][0] == {"WARNING"} and "cancelled" in reports[-1][1]
    assert ctx.window_manager.timer_removed and ctx.window_manager.ended
    assert ctx.workspace.texts[-1] is None  # status bar restored
    assert any("Esc to cancel" in (t or "") for t in ctx.workspace.texts)
    assert item.result_strip == "" and mod(addon, "adapters.strips").result_strips(scene, item) == []
    root = tmp_path / "talking_head" / "Portrait"
    assert not root.exists() or list(root.iterdir()) == []  # partial frames removed
    assert mod(addon, "adapters.jobs").running(scene.name) is None


def test_modal_render_finishes_and_places_strip(addon, scene_item):
    scene, item = scene_item
    task = mod(addon, "adapters.flows").prepare_render(scene, item, span(addon, "1-5"))
    state, reports, ctx = drive(addon, task, scene, esc_after=None)
    assert state == {"FINISHED"}, reports
    assert reports[-1][0] == {"INFO"}
    assert ctx.window_manager.progress and max(ctx.window_manager.progress) == 1000
    strip = mod(addon, "adapters.compat").get_strip(scene, item.result_strip)
    assert strip is not None and len(strip.elements) == 5
    assert _compat().strip_timing(strip, "left_handle") == 1


def test_loading_a_file_abandons_running_jobs_and_removes_their_partial_output(addon, scene_item, tmp_path):
    import bpy

    scene, item = scene_item
    key = scene.name
    task = mod(addon, "adapters.flows").prepare_render(scene, item)
    jobs = mod(addon, "adapters.jobs")
    job = jobs.Job(task.label, task.work, key=key, cleanup=task.abort).start()
    deadline = time.monotonic() + 60
    while job.done < 1 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert jobs.running(key) is job
    bpy.ops.wm.read_homefile(use_empty=True)  # load_pre handler cancels the job
    assert job.join(60) and job.cancelled
    assert jobs.running(key) is None
    root = tmp_path / "talking_head" / "Portrait"
    assert not root.exists() or list(root.iterdir()) == []
