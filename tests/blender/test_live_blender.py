"""Live in Blender, against real senders on 127.0.0.1: a thread emits Live Link Face packets built
from a known performance at 60 Hz; the session is driven the way Blender drives it, a timer
tick after each frame of a timeline "playing" at the scene's rate (background mode has no
window to play animation: ``scene.frame_set`` in a loop fires the frame-change handlers, as
playback does). Recorded keys are checked against the performance at each key's time, frame for
frame; also undo, punch-in, a port in use, garbage packets, a sender that stops mid-take, no
sender at all, the preview image and the character's shape keys and head bone."""

from __future__ import annotations

import importlib
import importlib.util
import math
import socket
import struct
import threading
import time
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
PORTRAIT = ROOT.parent / "shared" / "testdata" / "portraits" / "photo_woman.jpg"
HOST = "127.0.0.1"
RATE = 60.0
FPS = 30

pytestmark = pytest.mark.skipif(not PORTRAIT.is_file(), reason="shared test media missing (../shared)")


def mod(addon, name):
    return importlib.import_module(f"{addon}.{name}")


def performance(t: float) -> dict[str, float]:
    return {"yaw": 15 * math.sin(2 * math.pi * 0.7 * t), "pitch": 8 * math.sin(2 * math.pi * 0.45 * t + 1),
            "jaw": 0.5 + 0.45 * math.sin(2 * math.pi * 1.1 * t),
            "smile": 0.5 + 0.4 * math.sin(2 * math.pi * 0.5 * t + 0.5)}


class Sender(threading.Thread):
    """Live Link Face packets of ``performance`` to 127.0.0.1:port at 60 Hz for ``seconds``;
    ``garbage`` packets are sent between them every 10th packet. ``sent``: (send time, perf time)."""

    def __init__(self, addon, port: int, seconds: float, garbage: list[bytes] = ()):
        super().__init__(daemon=True)
        self.pk = mod(addon, "engine.capture.live.packets")
        self.port, self.seconds, self.garbage = port, seconds, list(garbage)
        self.sent: list[tuple[float, float]] = []
        self.garbage_sent = 0
        self.halt = threading.Event()

    def packet(self, perf: float, frame: int) -> bytes:
        p = performance(perf)
        idx = {n: i for i, n in enumerate(self.pk.ARKIT_NAMES)}
        s = np.zeros(52)
        s[idx["jawOpen"]] = p["jaw"]
        s[idx["mouthSmileLeft"]] = s[idx["mouthSmileRight"]] = p["smile"]
        return self.pk.encode_livelink(s, p["yaw"], p["pitch"], 0.0, frame=frame)

    def run(self) -> None:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            start = time.monotonic()
            k = 0
            while (perf := k / RATE) < self.seconds and not self.halt.is_set():
                wait = start + perf - time.monotonic()
                if wait > 0:
                    time.sleep(wait)
                self.sent.append((time.monotonic(), perf))
                s.sendto(self.packet(perf, k), (HOST, self.port))
                if self.garbage and k % 10 == 5:
                    s.sendto(self.garbage[self.garbage_sent % len(self.garbage)], (HOST, self.port))
                    self.garbage_sent += 1
                k += 1


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


@pytest.fixture
def scene_item(addon, tmp_path):
    import bpy

    bpy.ops.wm.read_homefile(use_empty=True)
    bpy.ops.wm.save_as_mainfile(filepath=str(tmp_path / "live.blend"))
    scene = bpy.context.scene
    scene.render.fps, scene.render.fps_base = FPS, 1.0
    scene.frame_start, scene.frame_end = 1, 400
    por = mod(addon, "adapters.compat").strip_collection(scene).new_image(
        "Portrait", str(PORTRAIT), channel=1, frame_start=1)
    mod(addon, "adapters.compat").set_strip_timing(por, "duration", 400)
    item = mod(addon, "adapters.strips").item_for_strip(scene, por, create=True)
    st = scene.talking_head_live
    st.source, st.listen, st.port, st.preview_size = "LIVELINK", "LOOPBACK", free_port(), 96
    return scene, item


def wait_live(session, seconds: float = 5.0) -> None:
    """Tick (as the timer does) until the first sample arrived."""
    deadline = time.monotonic() + seconds
    while not session.source.buffer.first.is_set():
        assert time.monotonic() < deadline, "no sample arrived"
        assert session.tick(), session.result
        time.sleep(1 / 60)


def play(scene, session, first: int, last: int, tick=None) -> None:
    """The timeline playing frames first..last at the scene's rate, a timer tick after each
    (``tick``: what the timer calls, default the session's own tick)."""
    tick = tick or session.tick
    start = time.monotonic()
    for k, frame in enumerate(range(first, last + 1)):
        wait = start + k / FPS - time.monotonic()
        if wait > 0:
            time.sleep(wait)
        scene.frame_set(frame)
        if not tick():
            return


def finish(session, seconds: float = 5.0):
    session.request_stop()
    deadline = time.monotonic() + seconds
    while session.tick():
        assert time.monotonic() < deadline
        time.sleep(1 / 60)
    # the preview worker may still be fitting the portrait (MediaPipe, once, seconds on 2 cores)
    assert session.closed.wait(30), "the workers did not stop"
    # never blocked: no tick held the main thread anywhere near a wait for packets or a join; the one
    # tick that writes the take (bulk keys + the undo step) is bounded work, like an operator's
    ticks = list(session.tick_seconds)
    if session.write_tick is not None:
        assert ticks.pop(session.write_tick) < 3.0
    assert max(ticks) < 0.25, max(ticks)
    return session.result


def keys(addon, scene, item, control: str) -> tuple[np.ndarray, np.ndarray]:
    kf = mod(addon, "adapters.keyframes")
    fc = kf.control_fcurves(scene, item)[control]
    co = np.empty(2 * len(fc.keyframe_points), np.float32)
    fc.keyframe_points.foreach_get("co", co)
    return co[0::2], co[1::2]


def expected(sender: Sender, t0: float, n: int, key: str) -> np.ndarray:
    send_t = np.array([a for a, _ in sender.sent])
    perf_t = np.array([b for _, b in sender.sent])
    at = np.interp(t0 + np.arange(n) / FPS, send_t, perf_t)
    return np.array([performance(float(x))[key] for x in at])


CHECKS = (("head_yaw", "yaw"), ("head_pitch", "pitch"), ("mouth_open", "jaw"), ("mouth_smile", "smile"))


def check_take(addon, scene, item, sender, take, frames: np.ndarray) -> None:
    """Every key frame once, consecutive, and the values follow the performance at their times."""
    for control, key in CHECKS:
        x, y = keys(addon, scene, item, control)
        sel = (x >= frames[0]) & (x <= frames[-1])
        assert np.array_equal(x[sel], frames.astype(np.float32)), f"{control}: frames dropped or doubled"
        exp = expected(sender, take.t0 + (frames[0] - take.frame0) / FPS, frames.size, key)
        r = np.corrcoef(y[sel], exp)[0, 1]
        assert r >= 0.95, f"{control}: r = {r:.3f}"


def test_record_keys_the_performance_by_time_from_the_current_frame_as_one_undo_step(addon, scene_item):
    import bpy

    scene, item = scene_item
    live = mod(addon, "adapters.live")
    kf = mod(addon, "adapters.keyframes")
    scene.frame_set(10)
    bpy.ops.ed.undo_push(message="before live")
    sender = Sender(addon, scene.talking_head_live.port, 4.0)
    sender.start()
    session = live.start(scene, item, record=True)
    assert live.session(scene) is session
    wait_live(session)
    play(scene, session, 10, 10 + 2 * FPS)
    t_stop = time.monotonic()
    level, message = finish(session)
    sender.halt.set()
    assert level == "INFO" and "recorded frames 10-" in message, message
    take = session.take
    assert take.frame0 == 10
    n = int(np.floor((take.t1 - take.t0) * FPS + 1e-6)) + 1
    assert abs(take.t1 - t_stop) < 0.2 and n >= 2 * FPS
    frames = 10 + np.arange(n)
    check_take(addon, scene, item, sender, take, frames)
    x, _ = keys(addon, scene, item, "head_yaw")
    assert x[0] == 10 and x[-1] == frames[-1] and x.size == n  # nothing before or after the take
    assert item.captured_from.startswith("live: Live Link Face")
    assert live.session(scene) is None and live._on_frame_change not in bpy.app.handlers.frame_change_post
    bpy.ops.ed.undo()  # the take was one step: undo takes every key of it away
    scene = bpy.context.scene
    item = mod(addon, "adapters.strips").find_item(scene, "Portrait")
    assert not kf.has_keys(scene, item)


def test_punch_in_rerecords_only_its_range(addon, scene_item):
    scene, item = scene_item
    live = mod(addon, "adapters.live")
    kf = mod(addon, "adapters.keyframes")
    sample = mod(addon, "engine.sample").sample_performance(100 / FPS, FPS)
    kf.write_controls(scene, item, np.arange(1, 101), sample.to_array())
    before = {c: keys(addon, scene, item, c) for c, _ in CHECKS}
    st = scene.talking_head_live
    st.use_punch, st.punch_start, st.punch_end = True, 40, 60
    sender = Sender(addon, st.port, 4.0)
    sender.start()
    scene.frame_set(30)
    session = live.start(scene, item, record=True)
    wait_live(session)
    play(scene, session, 30, 75)  # the take ends by itself after frame 60
    assert not session.running, "the punch-in did not end after its last frame"
    level, message = finish(session)
    sender.halt.set()
    assert level == "INFO" and "recorded frames 40-60" in message, message
    check_take(addon, scene, item, sender, session.take, np.arange(40, 61))
    for control, _ in CHECKS:
        x0, y0 = before[control]
        x, y = keys(addon, scene, item, control)
        outside = (x0 < 40) | (x0 > 60)
        got = (x < 40) | (x > 60)
        assert np.array_equal(x[got], x0[outside]) and np.array_equal(y[got], y0[outside]), control
        assert x.size == outside.sum() + 21


def test_sender_that_stops_mid_take_keeps_what_was_recorded(addon, scene_item):
    scene, item = scene_item
    live = mod(addon, "adapters.live")
    sender = Sender(addon, scene.talking_head_live.port, 1.5)
    sender.start()
    scene.frame_set(1)
    session = live.start(scene, item, record=True)
    wait_live(session)
    play(scene, session, 1, 1 + 4 * FPS)  # the sender stops after 1.5 s; the session notices
    assert not session.running, "the session did not notice the silence"
    level, message = finish(session)
    assert level == "WARNING" and "stopped mid-take: kept the" in message, message
    take = session.take
    assert take.died and take.t1 == session.source.buffer.last_time()
    x, _ = keys(addon, scene, item, "mouth_open")
    assert abs(x.size - 1.5 * FPS) <= 6 and np.array_equal(x, 1 + np.arange(x.size, dtype=np.float32))
    check_take(addon, scene, item, sender, take, 1 + np.arange(x.size))


def test_garbage_packets_are_counted_and_ignored(addon, scene_item):
    scene, item = scene_item
    live = mod(addon, "adapters.live")
    pk = mod(addon, "engine.capture.live.packets")
    good = pk.encode_livelink(np.full(52, 0.3), 1.0, 2.0, 3.0)
    nan_at = len(good) - 61 * 4 + 17 * 4
    garbage = [good[:-7],  # truncated: "expected N bytes"
               b"\x06" + b"\x00" * (pk.MAX_PACKET_BYTES + 10), b"\x05" + good[1:],
               good[:nan_at] + struct.pack(">f", float("nan")) + good[nan_at + 4:]]
    sender = Sender(addon, scene.talking_head_live.port, 3.0, garbage)
    sender.start()
    scene.frame_set(1)
    session = live.start(scene, item, record=True)
    wait_live(session)
    play(scene, session, 1, 1 + int(1.5 * FPS))
    sender.halt.set()  # every packet sent is in before the take ends
    sender.join()
    time.sleep(0.2)
    level, message = finish(session)
    buf = session.source.buffer
    assert level == "INFO" and "invalid packet(s) ignored" in message, message
    assert buf.dropped_total() == sender.garbage_sent >= 8
    assert set(buf.dropped) == {"expected", "over", "version", "finite"}, dict(buf.dropped)
    n = keys(addon, scene, item, "head_yaw")[0].size
    check_take(addon, scene, item, sender, session.take, 1 + np.arange(n))


def test_port_in_use_and_no_packets_are_one_clear_message(addon, scene_item):
    scene, item = scene_item
    live = mod(addon, "adapters.live")
    LiveError = mod(addon, "engine.capture.live").LiveError
    port = scene.talking_head_live.port
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as taken:
        taken.bind((HOST, port))
        with pytest.raises(LiveError, match=f"UDP port {port} on 127.0.0.1 is already in use"):
            live.start(scene, item, record=True)
    assert live.session(scene) is None
    session = live.start(scene, item, record=True)  # free again, but nobody sends
    t0 = time.monotonic()
    while session.tick():
        assert time.monotonic() - t0 < 6
        time.sleep(1 / 60)
    level, message = session.result
    assert level == "ERROR" and f"no packets arriving on 127.0.0.1:{port} after 3 s" in message, message
    assert max(session.tick_seconds) < 0.25
    assert not mod(addon, "adapters.keyframes").has_keys(scene, item)


def test_network_rules_for_sources(addon, scene_item):
    scene, item = scene_item
    live = mod(addon, "adapters.live")
    LiveError = mod(addon, "engine.capture.live").LiveError
    st = scene.talking_head_live
    assert live.source_spec(st) == f"livelink:127.0.0.1:{st.port}"
    assert "this computer only" in live.where(st)[0]
    st.listen = "ALL"
    assert live.source_spec(st).startswith("livelink:0.0.0.0:") and "EVERY network" in live.where(st)[0]
    st.source, st.url = "STREAM", "rtsp://192.0.2.7/live"
    if not mod(addon, "adapters.compat").online_access():
        with pytest.raises(LiveError, match="allow network access"):
            live.open_from_settings(scene)
    st.source, st.listen, st.phone_address, st.port = "IFACIALMOCAP", "ALL", "192.0.2.8", 0
    assert live.source_spec(st) == "ifacialmocap:0.0.0.0:49983@192.0.2.8"
    if not mod(addon, "adapters.compat").online_access():
        with pytest.raises(LiveError, match="contacts another device"):
            live.open_from_settings(scene)


def make_character(addon, scene):
    """A face mesh with two ARKit shape keys and an armature with a head bone, set up as the
    scene's character."""
    import bpy

    mesh = bpy.data.meshes.new("Face")
    mesh.from_pydata([(0, 0, 0), (1, 0, 0), (0, 0, 1)], [], [(0, 1, 2)])
    face = bpy.data.objects.new("Face", mesh)
    scene.collection.objects.link(face)
    face.shape_key_add(name="Basis")
    for k in ("jawOpen", "mouthSmileLeft"):
        face.shape_key_add(name=k, from_mix=False)
    data = bpy.data.armatures.new("Rig")
    arm = bpy.data.objects.new("Rig", data)
    scene.collection.objects.link(arm)
    bpy.context.view_layer.objects.active = arm
    bpy.ops.object.mode_set(mode="EDIT")
    bone = data.edit_bones.new("head")
    bone.head, bone.tail = (0, 0, 1.5), (0, 0, 1.8)
    bpy.ops.object.mode_set(mode="OBJECT")
    mod(addon, "adapters.rig").setup(face)
    face.talking_head_rig.armature, face.talking_head_rig.head_bone = arm, "head"
    scene.talking_head_character = face
    return face, arm


def test_preview_shows_the_portrait_and_moves_the_character(addon, scene_item):
    import bpy

    scene, item = scene_item
    live = mod(addon, "adapters.live")
    face, arm = make_character(addon, scene)
    sender = Sender(addon, scene.talking_head_live.port, 6.0)
    sender.start()
    session = live.start(scene, item)
    wait_live(session)
    jaw, images, quats = [], [], []
    deadline = time.monotonic() + 20
    while (session.shown < 12 or len(images) < 3) and time.monotonic() < deadline:
        assert session.tick(), session.result
        img = bpy.data.images.get(live.IMAGE_NAME)
        if img is not None and session.shown > len(images):
            px = np.empty(len(img.pixels), np.float32)
            img.pixels.foreach_get(px)
            images.append(px)
            jaw.append(face.data.shape_keys.key_blocks["jawOpen"].value)
            quats.append(tuple(arm.pose.bones["head"].rotation_quaternion))
        time.sleep(1 / 60)
    level, message = finish(session)
    sender.halt.set()
    assert level == "INFO" and "preview stopped" in message, message
    img = bpy.data.images[live.IMAGE_NAME]
    assert max(img.size) == 96 and tuple(img.size) != (0, 0)
    assert len(images) >= 3, "the preview showed too few frames"
    assert images[0].std() > 0.05  # a picture, not a blank
    assert max(np.abs(a - images[0]).max() for a in images[1:]) > 0.02  # it moves
    assert np.ptp(jaw) > 0.05 and all(0 <= v <= 1 for v in jaw)
    assert len(set(quats)) > 1 and quats[0] != (1.0, 0.0, 0.0, 0.0)
    assert not mod(addon, "adapters.keyframes").has_keys(scene, item)  # Preview keys nothing
    lat = np.array([d["shown"] for d in session.latency])
    assert lat.size == session.shown and np.all(lat > 0)


class FakeWM:
    def __init__(self):
        self.timer_removed = False

    def event_timer_remove(self, timer):
        self.timer_removed = True


class FakeWorkspace:
    def __init__(self):
        self.texts = []

    def status_text_set(self, text):
        self.texts.append(text)


def test_the_operator_modal_loop_stops_on_esc_and_reports_the_take(addon, scene_item):
    """The operator's modal path with stand-in window objects (the bpy module has no window to
    deliver events): other events pass through, timer events tick, Esc ends the take."""
    from types import SimpleNamespace

    scene, item = scene_item
    live = mod(addon, "adapters.live")
    ops = mod(addon, "operators.live")
    sender = Sender(addon, scene.talking_head_live.port, 4.0)
    sender.start()
    scene.frame_set(5)
    reports = []
    op = SimpleNamespace(_session=live.start(scene, item, record=True), _timer=object(), _played=False,
                         report=lambda kind, msg: reports.append((kind, msg)))
    ctx = SimpleNamespace(window_manager=FakeWM(), workspace=FakeWorkspace(), screen=None)
    timer = SimpleNamespace(type="TIMER", value="NOTHING")
    assert ops.TALKINGHEAD_OT_live.modal(op, ctx, SimpleNamespace(type="MOUSEMOVE", value="NOTHING")) \
        == {"PASS_THROUGH"}
    wait_live(op._session)
    play(scene, op._session, 5, 5 + FPS,
         tick=lambda: ops.TALKINGHEAD_OT_live.modal(op, ctx, timer) == {"RUNNING_MODAL"})
    assert ops.TALKINGHEAD_OT_live.modal(op, ctx, SimpleNamespace(type="ESC", value="PRESS")) \
        == {"RUNNING_MODAL"}
    deadline = time.monotonic() + 10
    while (state := ops.TALKINGHEAD_OT_live.modal(op, ctx, timer)) == {"RUNNING_MODAL"}:
        assert time.monotonic() < deadline
        time.sleep(1 / 60)
    sender.halt.set()
    assert state == {"FINISHED"}, reports
    assert reports[-1][0] == {"INFO"} and "recorded frames 5-" in reports[-1][1]
    assert ctx.window_manager.timer_removed and ctx.workspace.texts[-1] is None
    assert any("Recording from frame 5" in (t or "") for t in ctx.workspace.texts)
    assert op._session.closed.wait(30) and live.session(scene) is None
    x, _ = keys(addon, scene, item, "mouth_open")
    assert x[0] == 5 and np.array_equal(x, 5 + np.arange(x.size, dtype=np.float32))


def test_live_panels_draw_every_source_and_a_running_session(addon, scene_item):
    """Both Live panels against test_panels_draw.py's recording layout (every property, operator
    and icon checked against Blender's RNA)."""
    from types import SimpleNamespace

    import bpy

    here = Path(__file__).with_name("test_panels_draw.py")
    spec = importlib.util.spec_from_file_location("panels_draw", here)
    pd = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(pd)
    scene, item = scene_item
    st = scene.talking_head_live
    ctx = SimpleNamespace(scene=scene)
    for source, listen in (("LIVELINK", "LOOPBACK"), ("LIVELINK", "ALL"), ("IFACIALMOCAP", "ADDRESS"),
                           ("CAMERA", "LOOPBACK"), ("STREAM", "LOOPBACK")):
        st.source, st.listen, st.phone_address = source, listen, "192.0.2.9"
        for panel in (bpy.types.SEQUENCER_PT_talking_head_live, bpy.types.VIEW3D_PT_talking_head_live):
            log = pd.draw(panel, ctx)
            assert ("operator", "talking_head.live") in log and ("prop", "source") in log
            labels = [x[1] for x in log if x[0] == "label"]
            if listen == "ALL":
                assert any("EVERY network" in t for t in labels), labels
            if source == "IFACIALMOCAP":
                assert ("prop", "phone_address") in log and ("prop", "listen_address") in log
    st.source, st.listen = "LIVELINK", "LOOPBACK"
    session = mod(addon, "adapters.live").start(scene, item)
    try:
        log = pd.draw(bpy.types.VIEW3D_PT_talking_head_live, ctx)
        assert ("operator", "talking_head.live_stop") in log and ("operator", "talking_head.live") not in log
    finally:
        session.close()
        assert session.closed.wait(30)


def test_record_keys_the_character_too(addon, scene_item):
    scene, item = scene_item
    live = mod(addon, "adapters.live")
    face, arm = make_character(addon, scene)
    sender = Sender(addon, scene.talking_head_live.port, 4.0)
    sender.start()
    scene.frame_set(20)
    session = live.start(scene, item, record=True)
    wait_live(session)
    play(scene, session, 20, 20 + int(1.5 * FPS))
    level, message = finish(session)
    sender.halt.set()
    assert level == "INFO", message
    frames = 20 + np.arange(keys(addon, scene, item, "mouth_open")[0].size)
    compat = mod(addon, "adapters.compat")
    fc = compat.fcurves(face.data.shape_keys).find('key_blocks["jawOpen"].value')
    co = np.empty(2 * len(fc.keyframe_points), np.float32)
    fc.keyframe_points.foreach_get("co", co)
    assert np.array_equal(co[0::2], frames.astype(np.float32))  # the portrait's frames, one key each
    exp = expected(sender, session.take.t0, frames.size, "jaw")
    assert np.corrcoef(co[1::2], exp)[0, 1] >= 0.95
    assert np.allclose(co[1::2], exp, atol=0.08)  # jawOpen is the phone's own score, as sent
    path = arm.pose.bones["head"].path_from_id("rotation_quaternion")
    for i in range(4):
        bone_fc = compat.fcurves(arm).find(path, index=i)
        assert bone_fc is not None and len(bone_fc.keyframe_points) == frames.size
    assert path in face.talking_head_rig.baked_bone_paths  # so Clear finds them
