"""Live performance in Blender: a phone app, a webcam or a stream drives the portrait (and the
scene's 3D character) while you watch, and Record keys the take into the curves.

Threads: the source (engine/capture/live) receives and tracks on its own workers; the preview
worker (engine/capture/live/preview.py) maps the newest sample to controls and renders the
portrait. Blender's main thread only calls ``LiveSession.tick`` from a timer: it takes the newest
finished preview frame (never waits), copies its pixels into the "Talking Head Live" image, poses
the character, and watches the take. Nothing here blocks for more than that.

Recording is keyed by time, not by ticks: the take starts at a moment t0 on a scene frame F0,
and scene frame F0 + k is the performance at t0 + k / scene fps, interpolated from the samples'
capture times (engine recorder). A slow tick drops a preview frame, never a key. The keys are
written in bulk when the take ends (adapters/keyframes.py), as one undo step. Punch-in: the take
starts when the playing timeline reaches the range's first frame and ends after its last; keys
outside the range stay. Frame changes reach the session through a frame_change_post handler,
so it sees where the timeline is the moment it moves.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

import bpy
import numpy as np

from ..engine.capture.live import CameraSource, LiveError, UdpReceiver, open_source
from ..engine.capture.live.packets import DEFAULT_PORTS
from ..engine.capture.live.preview import LivePreview, PreviewFrame
from ..engine.capture.live.recorder import MAX_GAP_S, record, rest_pose
from ..engine.controls import CONTROL_NAMES
from ..engine.motion import Motion
from ..engine.net_policy import is_loopback
from ..engine.rig import evaluate, head_neck_rotations
from . import compat, keyframes, rig, strips
from .strips import SetupError

IMAGE_NAME = "Talking Head Live"
TICK_S = 1 / 60  # the timer's interval: the preview shows at most this often
FIRST_SAMPLE_S = 3.0  # nothing valid this long after starting (after a camera opened) = say so
STOPPED_S = 1.0  # silence this long while recording = the sender stopped mid-take

_SESSIONS: dict[str, LiveSession] = {}  # scene name -> its running session


def settings(scene: bpy.types.Scene):
    return scene.talking_head_live


# -- which source, listening where -----------------------------------------------------------


def listen_host(st) -> str:  # noqa: ANN001 - TalkingHeadLive
    if st.listen == "LOOPBACK":
        return "127.0.0.1"
    if st.listen == "ALL":
        return "0.0.0.0"
    address = st.listen_address.strip()
    if not address:
        raise SetupError("type this computer's network address (e.g. 192.168.1.20) to listen on, or pick "
                         "another Listen On")
    return address


def _kind(st) -> str:  # noqa: ANN001
    return "livelink" if st.source == "LIVELINK" else "ifacialmocap"


def source_spec(st) -> str:  # noqa: ANN001
    """The engine's SOURCE text for the panel's settings (``python -m engine capture --live``
    takes the same)."""
    if st.source == "CAMERA":
        return str(int(st.camera))
    if st.source == "STREAM":
        url = st.url.strip()
        if "://" not in url:
            raise SetupError("type the stream's address, e.g. rtsp://..., http://.../live.ts or "
                             "udp://127.0.0.1:1234")
        return url
    kind = _kind(st)
    spec = f"{kind}:{listen_host(st)}:{int(st.port) or DEFAULT_PORTS[kind]}"
    phone = st.phone_address.strip() if kind == "ifacialmocap" else ""
    return f"{spec}@{phone}" if phone else spec


def where(st) -> tuple[str, str]:  # noqa: ANN001
    """(one line for the panel saying where the receiver listens or what it contacts, icon)."""
    if st.source == "CAMERA":
        return f"Camera {st.camera} on this computer", "OUTLINER_OB_CAMERA"
    if st.source == "STREAM":
        from urllib.parse import urlsplit

        host = urlsplit(st.url.strip()).hostname or ""
        if host and not is_loopback(host) and not compat.online_access():
            return f"{host} is another computer: allow Online Access to use it", "ERROR"
        return f"Stream from {host or '?'}", "URL"
    kind = _kind(st)
    port = int(st.port) or DEFAULT_PORTS[kind]
    if st.listen == "LOOPBACK":
        return f"Listening on 127.0.0.1:{port}: this computer only", "LOCKED"
    if st.listen == "ALL":
        return f"Listening on 0.0.0.0:{port}: EVERY network, anyone there can send", "ERROR"
    return f"Listening on {st.listen_address.strip() or '?'}:{port}", "WORLD"


def open_from_settings(scene: bpy.types.Scene) -> UdpReceiver | CameraSource:
    """The (not yet started) source of the scene's Live settings; a stream or a phone off this
    computer only with Allow Online Access (the engine checks, with the same words as the CLI)."""
    return open_source(source_spec(settings(scene)), allow_network=compat.online_access())


# -- the character ---------------------------------------------------------------------------


class CharacterDrive:
    """The scene's 3D character as set up in its panel (adapters/rig.py): shape-key rows and the
    head/neck bones, posed live and keyed with a take, as the offline bake maps them."""

    def __init__(self, obj: bpy.types.Object):
        rig.check(obj)
        st = rig.settings(obj)
        if not st.active:
            rig.setup(obj)
        self.name = obj.name
        self.rows = rig.rows_of(obj)
        self.calibrate = bool(st.calibrate)
        arm = st.armature
        self.arm_name = arm.name if arm is not None and st.head_bone else ""
        self.head_bone, self.neck_bone = st.head_bone, st.neck_bone
        self.head_rest = rig.bone_rest(arm, st.head_bone) if self.arm_name else None
        self.neck_rest = rig.bone_rest(arm, st.neck_bone) if self.arm_name and st.neck_bone else None
        self.share, self.gain = float(st.neck_share), float(st.rotation_gain)

    def evaluate(self, motion: Motion) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
        values = evaluate(self.rows, motion, self.calibrate) if self.rows else \
            np.zeros((motion.frame_count, 0), np.float32)
        head = neck = None
        if self.head_rest is not None:
            c = motion.controls
            head, neck = head_neck_rotations(c["head_yaw"], c["head_pitch"], c["head_roll"],
                                             head_rest=self.head_rest, neck_rest=self.neck_rest,
                                             neck_share=self.share, gain=self.gain)
        return values, head, neck

    def pose(self, motion: Motion) -> None:
        """Show the motion's first frame on the character now (no keys)."""
        obj = bpy.data.objects.get(self.name)
        if obj is None or rig.shape_keys(obj) is None:
            return
        values, head, neck = self.evaluate(motion)
        blocks = rig.shape_keys(obj).key_blocks
        for j, row in enumerate(self.rows):
            kb = blocks.get(row.target)
            if kb is not None:
                kb.value = float(values[0, j])
        arm = bpy.data.objects.get(self.arm_name) if self.arm_name else None
        if arm is not None and head is not None:
            rig.pose_bone(arm, self.head_bone, head[0])
            if neck is not None:
                rig.pose_bone(arm, self.neck_bone, neck[0])

    def write(self, frames: np.ndarray, motion: Motion) -> int:
        obj = bpy.data.objects.get(self.name)
        if obj is None or rig.shape_keys(obj) is None:
            return 0
        values, head, neck = self.evaluate(motion)
        n = rig.write_shape_keys(obj, self.rows, frames, values) if self.rows else 0
        arm = bpy.data.objects.get(self.arm_name) if self.arm_name else None
        if arm is not None and head is not None:
            n += rig.write_head(obj, arm, self.head_bone, self.neck_bone, frames, head, neck)
        return n


def scene_character(scene: bpy.types.Scene) -> bpy.types.Object | None:
    """The scene's character when one is set up to be driven (None otherwise: nothing to drive)."""
    obj = getattr(scene, "talking_head_character", None)
    if obj is None or rig.problem(obj) is not None:
        return None
    return obj


# -- a session -------------------------------------------------------------------------------


@dataclass
class Take:
    t0: float  # time.monotonic() of scene frame ``frame0``
    frame0: int
    t1: float | None = None  # end (set when the take ends)
    died: bool = False  # the source went silent mid-take


class LiveSession:
    """One live source for one scene: preview, and (``record``) one take. Main thread only:
    ``start``, ``tick`` (from a timer), ``on_frame`` (from the frame-change handler), ``request_stop``.
    ``result`` = (level, message) once it ended: level INFO / WARNING / ERROR."""

    def __init__(self, scene: bpy.types.Scene, item=None, character: bpy.types.Object | None = None,  # noqa: ANN001
                 *, record: bool = False, punch: tuple[int, int] | None = None,
                 source: UdpReceiver | CameraSource | None = None):
        st = settings(scene)
        self.scene_name = scene.name
        self.item_name = item.name if item is not None else ""
        if item is None and character is None:
            raise SetupError("nothing to drive: select a portrait's strip (or set up a 3D character) first")
        if punch is not None:
            a, b = int(punch[0]), int(punch[1])
            if b < a:
                raise SetupError(f"the punch-in range {a}-{b} ends before it starts")
            punch = (a, b)
        self.fps = strips.scene_fps(scene)
        self.source = source if source is not None else open_from_settings(scene)
        portrait = None
        options: dict = {}
        if item is not None:
            from .flows import portrait_source

            portrait = portrait_source(scene, item)[0]
            options["rest"] = str(getattr(item, "rest_pose", "neutral") or "neutral")
            if int(getattr(item, "face", -1)) >= 0:
                options["face"] = int(item.face)
        self.preview = LivePreview(self.source.buffer, portrait, size=int(st.preview_size), device="cpu",
                                   **options)
        self.character = CharacterDrive(character) if character is not None else None
        self.recording = bool(record)
        self.punch = punch
        self.take: Take | None = None
        self.result: tuple[str, str] | None = None
        self.started = 0.0
        self._opened_at: float | None = None
        self._stop = False
        self._last_frame: int | None = None
        self.shown = 0  # preview frames put on screen
        self.latency: list[dict[str, float]] = []  # per shown frame: stage -> seconds since capture
        self.tick_seconds: list[float] = []  # how long each tick held the main thread
        self.write_tick: int | None = None  # the one tick that wrote the take (bulk keys + undo step)
        self.closed = threading.Event()
        self._closer: threading.Thread | None = None

    # lifecycle
    def start(self) -> LiveSession:
        if self.scene_name in _SESSIONS:
            raise SetupError("a live session is already running in this scene: stop it first")
        self.source.start()  # a port in use raises here, before anything else starts
        self.preview.start()
        self.started = time.monotonic()
        _SESSIONS[self.scene_name] = self
        if _on_frame_change not in bpy.app.handlers.frame_change_post:
            bpy.app.handlers.frame_change_post.append(_on_frame_change)
        return self

    def request_stop(self) -> None:
        self._stop = True

    @property
    def running(self) -> bool:
        return self.result is None

    def status(self) -> str:
        """One line for the status bar / panel."""
        buf = self.source.buffer
        what = self.source.describe()
        if not buf.first.is_set():
            return f"{what}: waiting for the first frame... (Esc stops)"
        bad = buf.dropped_total()
        extra = f", {bad} invalid packet(s) ignored" if bad else ""
        if self.take is not None and self.take.t1 is None:
            return f"Recording from frame {self.take.frame0}: {buf.received} samples{extra} (Esc stops)"
        if self.recording and self.punch is not None:
            return (f"{what}: live, punch-in armed for frames {self.punch[0]}-{self.punch[1]}: play the "
                    f"timeline from before frame {self.punch[0]}{extra} (Esc stops)")
        return f"{what}: live{extra} (Esc stops)"

    def tick(self) -> bool:
        """One timer tick: returns whether the session goes on. Never waits."""
        t_enter = time.monotonic()
        try:
            return self._tick(t_enter)
        except Exception as exc:  # noqa: BLE001 - one line for the user, the session ends cleanly
            self._end("ERROR", _words(exc))
            return False
        finally:
            self.tick_seconds.append(time.monotonic() - t_enter)

    def _tick(self, now: float) -> bool:
        if self.result is not None:
            return False
        scene = bpy.data.scenes.get(self.scene_name)
        if scene is None:
            self._end("ERROR", "the scene of the live session is gone")
            return False
        error = self.source.error or self.preview.error
        if error is not None and not (self.take is not None and self.take.t1 is None):
            self._end("ERROR", f"{self.source.describe()}: {_words(error)}")
            return False
        buf = self.source.buffer
        if not buf.first.is_set():
            self._check_first(now)
            if self.result is not None:
                return False
        frame = self.preview.newest()
        if frame is not None:
            self._show(frame, now)
        if self.recording:
            self._watch_take(scene, now, error)
        elif self._stop:
            self._end("INFO", f"live preview stopped ({buf.received} samples)")
        if self.result is not None:
            return False
        return True

    def _check_first(self, now: float) -> None:
        if isinstance(self.source, CameraSource):
            if self.source.ended.is_set() or self.source.error is not None:
                err = self.source.error or LiveError(f"{self.source.describe()} stopped before a frame came")
                self._end("ERROR", _words(err))
                return
            if self.source.opened.is_set() and self._opened_at is None:
                self._opened_at = now
            waited = now - (self._opened_at or now)
            if self._opened_at is not None and waited > FIRST_SAMPLE_S:
                self._end("ERROR", f"no frames from {self.source.describe()} after {FIRST_SAMPLE_S:g} s")
            elif self._stop:
                self._end("WARNING", "live stopped before the first frame arrived")
            return
        if now - self.started > FIRST_SAMPLE_S:
            self._end("ERROR", str(self.source.silence_error(FIRST_SAMPLE_S)))
        elif self._stop:
            self._end("WARNING", "live stopped before the first packet arrived")

    # the preview
    def _show(self, frame: PreviewFrame, now: float) -> None:
        if frame.rgba is not None:
            show_image(frame.rgba)
        if self.character is not None and frame.controls is not None:
            self.character.pose(_one_frame_motion(frame, self.source.buffer.names, self.fps))
        done = time.monotonic()
        t = frame.stamps["capture"]
        self.latency.append({"tracked": frame.stamps["tracked"] - t, "controls": frame.stamps["controls"] - t,
                             "rendered": frame.stamps["rendered"] - t, "shown": done - t})
        self.shown += 1

    # the take
    def on_frame(self, frame: int, now: float) -> None:
        """The timeline moved to ``frame`` (frame_change_post): start or end a punch-in, notice a
        timeline that looped back (the take ends there: keys are never written twice)."""
        last, self._last_frame = self._last_frame, frame
        if not self.recording or self.result is not None or not self.source.buffer.first.is_set():
            return
        take = self.take
        if take is None:
            if self.punch is not None and self.punch[0] <= frame <= self.punch[1]:
                # the handler runs as the frame is shown: frame A's moment is now, less any frames skipped
                self.take = Take(now - (frame - self.punch[0]) / self.fps, self.punch[0])
            return
        if take.t1 is not None:
            return
        if self.punch is not None and frame > self.punch[1]:
            take.t1 = take.t0 + (self.punch[1] - take.frame0) / self.fps
        elif last is not None and frame < last:  # playback wrapped around
            take.t1 = min(now, take.t0 + (last - take.frame0) / self.fps)

    def _watch_take(self, scene: bpy.types.Scene, now: float, error: BaseException | None) -> None:
        buf = self.source.buffer
        take = self.take
        if take is None:
            if self._stop:
                self._end("WARNING", "recording stopped before the take started: nothing was keyed")
            elif self.punch is None and buf.first.is_set():
                self.take = Take(now, scene.frame_current)
            return
        if take.t1 is None:
            last = buf.last_time()
            silent = isinstance(self.source, CameraSource) and self.source.ended.is_set()
            if error is not None or silent or (last is not None and now - last > STOPPED_S):
                take.t1, take.died = (last if last is not None else take.t0), True
            elif self._stop:
                take.t1 = now
            if self.punch is not None and take.t1 is not None:
                take.t1 = min(take.t1, take.t0 + (self.punch[1] - take.frame0) / self.fps)
        if take.t1 is not None:
            self._write_take(scene)

    def _write_take(self, scene: bpy.types.Scene) -> None:
        take = self.take
        buf = self.source.buffer
        what = self.source.describe()
        samples = [s for s in buf.take() if take.t0 - MAX_GAP_S <= s.t <= take.t1 + MAX_GAP_S]
        if take.t1 < take.t0 or not any(s.raw is not None for s in samples):
            why = "the source stopped before" if take.died else "no face was seen before"
            self._end("WARNING", f"{what}: {why} the take started: nothing was keyed")
            return
        motion = record(samples, self.fps, buf.names, t0=take.t0, t1=take.t1, neutral=rest_pose(buf.names),
                        source={"live_source": what, "received": buf.received, "dropped": dict(buf.dropped)})
        frames = take.frame0 + np.arange(motion.frame_count)
        item = strips.find_item(scene, self.item_name) if self.item_name else None
        written = 0
        if item is not None:
            written += keyframes.write_controls(scene, item, frames, motion.to_array())
            item.captured_from = f"live: {what}"
        if self.character is not None:
            written += self.character.write(frames, motion)
        push_undo("Record live take")
        self.write_tick = len(self.tick_seconds)  # this tick's index once it is appended
        first, last = int(frames[0]), int(frames[-1])
        untracked = int((~motion.tracked).sum())
        bad = buf.dropped_total()
        notes = ([f"{untracked} frame(s) without a face were filled in"] if untracked else []) + \
            ([f"{bad} invalid packet(s) ignored"] if bad else [])
        note = "; " + "; ".join(notes) if notes else ""
        if take.died:
            self._end("WARNING", f"warning: {what} stopped mid-take: kept the {motion.frame_count} frames "
                                 f"recorded, {first}-{last} ({written} keys){note}")
        else:
            self._end("INFO", f"recorded frames {first}-{last} from {what} ({written} keys){note}")

    def _end(self, level: str, message: str) -> None:
        if self.result is None:
            self.result = (level, message)
        self.close()

    def close(self) -> None:
        """Forget the session and stop its workers on a helper thread: each stops within a tenth of
        a second (UDP) or a frame (tracking, rendering), but the main thread waits for none of it;
        ``closed`` is set once they are down (the port is free again)."""
        if _SESSIONS.get(self.scene_name) is self:
            del _SESSIONS[self.scene_name]
        if not _SESSIONS and _on_frame_change in bpy.app.handlers.frame_change_post:
            bpy.app.handlers.frame_change_post.remove(_on_frame_change)
        if self.result is None:
            self.result = ("WARNING", "live session closed")
        if self._closer is None:
            self._closer = threading.Thread(target=self._stop_workers, name="live-stop", daemon=True)
            self._closer.start()

    def _stop_workers(self) -> None:
        try:
            self.source.stop()  # first: the port is free again at once
            self.preview.stop()  # may finish fitting the portrait first (seconds, once)
        finally:
            self.closed.set()


def _one_frame_motion(frame: PreviewFrame, names: list[str], fps: float) -> Motion:
    controls = {k: np.array([frame.controls[k]], np.float32) for k in CONTROL_NAMES}
    blend = frame.sample.blendshapes[None, :len(names)] if names else None
    return Motion(fps=fps, controls=controls, blendshapes=blend, blendshape_names=list(names))


def _words(exc: BaseException) -> str:
    """One sentence for any failure (the CLI's words), never a traceback."""
    from ..engine.cli import describe_exception

    return describe_exception(exc) or f"unexpected {type(exc).__name__}: {str(exc)[:200]}"


def show_image(rgba: np.ndarray) -> bpy.types.Image:
    """Copy a preview frame (RGBA float32, bottom row first) into the live Image and show it in the
    Image Editors that show it (or show nothing yet)."""
    h, w = rgba.shape[:2]
    img = bpy.data.images.get(IMAGE_NAME)
    if img is None:
        img = bpy.data.images.new(IMAGE_NAME, w, h, alpha=False)
    elif tuple(img.size) != (w, h):
        img.scale(w, h)
    img.pixels.foreach_set(rgba.ravel())
    img.update()
    wm = bpy.context.window_manager
    for window in getattr(wm, "windows", []):
        for area in window.screen.areas:
            if area.type != "IMAGE_EDITOR":
                continue
            space = area.spaces.active
            if space.image is None:
                space.image = img
            if space.image == img:
                area.tag_redraw()
    return img


def push_undo(message: str) -> None:
    """One undo step for the take (the operator that started it ran long before)."""
    try:
        bpy.ops.ed.undo_push(message=message)
    except RuntimeError:  # no undo stack (a script without a window): the keys are written anyway
        pass


def _on_frame_change(scene: bpy.types.Scene, *_args) -> None:
    session = _SESSIONS.get(scene.name)
    if session is not None:
        session.on_frame(scene.frame_current, time.monotonic())


# -- entry points for the operators and panels -----------------------------------------------


def session(scene: bpy.types.Scene) -> LiveSession | None:
    return _SESSIONS.get(scene.name)


def start(scene: bpy.types.Scene, item=None, *, record: bool = False,  # noqa: ANN001
          source: UdpReceiver | CameraSource | None = None) -> LiveSession:
    """Start the scene's live source for ``item`` (a portrait, or None) and the scene's character
    (when Drive Character is on and one is set up); ``record`` arms one take, punched in over the
    panel's range when Punch In is on."""
    st = settings(scene)
    character = scene_character(scene) if st.drive_character else None
    punch = (int(st.punch_start), int(st.punch_end)) if record and st.use_punch else None
    return LiveSession(scene, item, character, record=record, punch=punch, source=source).start()


def stop_all() -> None:
    """A file is being loaded or the add-on disabled: stop every worker (nothing is written)."""
    for s in list(_SESSIONS.values()):
        s._end("WARNING", "live session stopped: a file was loaded")
