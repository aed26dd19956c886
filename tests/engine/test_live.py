"""Live capture from the phone apps' UDP packets, against a real sender on 127.0.0.1.

The sender runs in the test, emitting Live Link Face / iFacialMocap packets built from a known
performance in real time (60 Hz); the recorded take must reproduce that performance in time.
Only 127.0.0.1 is bound or contacted.
"""

from __future__ import annotations

import math
import socket
import struct
import threading
import time

import numpy as np
import pytest

from engine.capture.live import LiveError, UdpReceiver, record, record_take
from engine.capture.live import packets as pk
from engine.capture.live.sources import parse_packet_source
from engine.cli import main
from engine.motion import Motion

HOST = "127.0.0.1"
RATE = 60.0
IDX = {n: i for i, n in enumerate(pk.ARKIT_NAMES)}


def performance(t: float) -> dict[str, float]:
    """A known performance: every driven control moves on its own rhythm (seconds)."""
    return {
        "yaw": 15 * math.sin(2 * math.pi * 0.7 * t), "pitch": 8 * math.sin(2 * math.pi * 0.45 * t + 1),
        "roll": 6 * math.sin(2 * math.pi * 0.3 * t + 2),
        "blink": max(0.0, math.sin(2 * math.pi * 0.9 * t)) ** 2,
        "jaw": 0.5 + 0.45 * math.sin(2 * math.pi * 1.1 * t),
        "smile": 0.5 + 0.4 * math.sin(2 * math.pi * 0.5 * t + 0.5),
        "brow": 0.5 + 0.45 * math.sin(2 * math.pi * 0.8 * t + 1.5),
        "pucker": 0.5 + 0.4 * math.sin(2 * math.pi * 0.6 * t + 2.5),
        "gaze": 0.6 * math.sin(2 * math.pi * 1.3 * t),
    }


def scores_of(p: dict[str, float]) -> np.ndarray:
    s = np.zeros(52)
    for side in ("Left", "Right"):
        s[IDX["eyeBlink" + side]] = p["blink"]
        s[IDX["mouthSmile" + side]] = p["smile"]
        s[IDX["browOuterUp" + side]] = p["brow"]
    s[IDX["browInnerUp"]] = p["brow"]
    s[IDX["jawOpen"]] = p["jaw"]
    s[IDX["mouthPucker"]] = p["pucker"]
    return s


def packet(kind: str, t: float, frame: int) -> bytes:
    p = performance(t)
    args = (scores_of(p), p["yaw"], p["pitch"], p["roll"])
    if kind == "livelink":
        return pk.encode_livelink(*args, gaze=(p["gaze"], 0.0), frame=frame)
    return pk.encode_ifacialmocap(*args, gaze=(p["gaze"], 0.0))


class Sender(threading.Thread):
    """Sends ``kind`` packets of the known performance to 127.0.0.1:port at RATE Hz for
    ``seconds``; ``sent`` keeps (monotonic send time, performance time)."""

    def __init__(self, kind: str, port: int, seconds: float, delay: float = 0.0):
        super().__init__(daemon=True)
        self.kind, self.port, self.seconds, self.delay = kind, port, seconds, delay
        self.sent: list[tuple[float, float]] = []

    def run(self) -> None:
        time.sleep(self.delay)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            start = time.monotonic()
            k = 0
            while (perf := k / RATE) < self.seconds:
                wait = start + perf - time.monotonic()
                if wait > 0:
                    time.sleep(wait)
                now = time.monotonic()
                s.sendto(packet(self.kind, perf, k), (HOST, self.port))
                self.sent.append((now, perf))
                k += 1


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def expected(motion: Motion, sent: list[tuple[float, float]], t0: float) -> dict[str, np.ndarray]:
    """The performance at each recorded frame's time (frame k at t0 + k / fps on the send clock)."""
    send_t = np.array([a for a, _ in sent])
    perf_t = np.array([b for _, b in sent])
    at = np.interp(t0 + np.arange(motion.frame_count) / motion.fps, send_t, perf_t)
    rows = [performance(float(x)) for x in at]
    return {k: np.array([r[k] for r in rows]) for k in rows[0]}


CHECKS = (("head_yaw", "yaw", 1), ("head_pitch", "pitch", 1), ("head_roll", "roll", 1),
          ("eye_open_l", "blink", -1), ("eye_open_r", "blink", -1), ("mouth_open", "jaw", 1),
          ("mouth_smile", "smile", 1), ("brow_l", "brow", 1), ("brow_r", "brow", 1),
          ("mouth_pucker", "pucker", 1), ("gaze_x", "gaze", 1))


def check_reproduces(motion: Motion, sent: list[tuple[float, float]], t0: float) -> None:
    exp = expected(motion, sent, t0)
    for control, key, sign in CHECKS:
        r = np.corrcoef(motion.controls[control], sign * exp[key])[0, 1]
        assert r >= 0.95, f"{control}: correlation {r:.3f} with the sent {key}"
    for control, value in (("head_x", 0.0), ("head_y", 0.0), ("head_scale", 1.0)):
        assert np.allclose(motion.controls[control], value), f"{control} is not sent, must stay neutral"
    assert motion.tracked.all()


@pytest.mark.parametrize("kind", ["livelink", "ifacialmocap"])
def test_take_from_a_real_sender_reproduces_the_performance(kind):
    seconds = 2.5
    with UdpReceiver(kind, HOST, 0) as rx:
        sender = Sender(kind, rx.port, seconds)
        sender.start()
        sender.join()
        time.sleep(0.1)
        samples = rx.buffer.take()
        assert rx.buffer.dropped_total() == 0
    assert len(samples) >= 0.9 * len(sender.sent)
    fps = 30.0
    motion = record(samples, fps, rx.buffer.names)
    # keyed by time: one frame per 1/30 s between the first and last arrival, none dropped or doubled
    span = samples[-1].t - samples[0].t
    assert motion.frame_count == int(np.floor(span * fps + 1e-6)) + 1
    assert abs(motion.frame_count - seconds * fps) <= 3
    assert motion.blendshape_names == list(pk.ARKIT_NAMES)
    check_reproduces(motion, sender.sent, samples[0].t)


def test_cli_take_from_ifacialmocap_sender(tmp_path, capsys):
    port = free_port()
    sender = Sender("ifacialmocap", port, 3.0, delay=0.3)
    sender.start()
    out = tmp_path / "take.json"
    rc = main(["capture", "--live", f"ifacialmocap:{HOST}:{port}", "--seconds", "1.5", "-o", str(out)])
    sender.join()
    assert rc == 0, capsys.readouterr().err
    motion = Motion.load(out)
    assert motion.fps == 30.0 and abs(motion.frame_count - 46) <= 2
    assert motion.source["kind"] == "live" and motion.source["dropped"] == {}
    text = capsys.readouterr().out
    assert f"iFacialMocap on UDP {HOST}:{port}" in text and "wrote" in text


def test_sender_that_stops_mid_take_keeps_what_was_recorded(tmp_path):
    port = free_port()
    sender = Sender("livelink", port, 1.0, delay=0.2)
    sender.start()
    rx = UdpReceiver("livelink", HOST, port)
    motion, complete = record_take(rx, 2.5, 30.0, first_timeout=3.0)
    sender.join()
    assert not complete
    assert abs(motion.frame_count - 30) <= 3  # the second that was sent, not 2.5 s
    check_reproduces(motion, sender.sent, rx.buffer.take()[0].t)


FUZZ = {
    "empty": b"",
    "truncated": None,  # filled below from a valid packet
    "oversized": b"\x06" + b"\x00" * (pk.MAX_PACKET_BYTES + 10),
    "wrong version": None,
    "nan float": None,
    "inf angle": None,
    "wrong count": None,
    "huge string length": b"\x06" + struct.pack(">i", 2**30) + b"abc",
    "negative string length": b"\x06" + struct.pack(">i", -5) + b"abc" * 20,
    "random bytes": bytes(np.random.default_rng(1).integers(0, 256, 300, dtype=np.uint8)),
    "score far out of range": None,
    "trailing bytes": None,
}


def fuzz_cases() -> dict[str, bytes]:
    good = pk.encode_livelink(np.full(52, 0.3), 1.0, 2.0, 3.0)
    cases = dict(FUZZ)
    cases["truncated"] = good[:-7]
    cases["wrong version"] = b"\x05" + good[1:]
    nan_at = len(good) - 61 * 4 + 17 * 4  # jawOpen
    cases["nan float"] = good[:nan_at] + struct.pack(">f", float("nan")) + good[nan_at + 4:]
    yaw_at = len(good) - 9 * 4
    cases["inf angle"] = good[:yaw_at] + struct.pack(">f", float("inf")) + good[yaw_at + 4:]
    count_at = len(good) - 61 * 4 - 1
    cases["wrong count"] = good[:count_at] + b"\x3c" + good[count_at + 1:]
    cases["score far out of range"] = good[:nan_at] + struct.pack(">f", 1e6) + good[nan_at + 4:]
    cases["trailing bytes"] = good + b"\x00\x00\x00\x00"
    return cases


@pytest.mark.parametrize("name", list(FUZZ))
def test_fuzz_case_is_refused_by_the_decoder(name):
    with pytest.raises(pk.PacketError):
        pk.decode_livelink(fuzz_cases()[name])


def test_ifacialmocap_garbage_is_refused():
    good = pk.encode_ifacialmocap(np.full(52, 0.3), 1.0, 2.0, 3.0).decode()
    for bad in ("", "hello", good.replace("jawOpen-30", "jawOpen-nan"),
                good.replace("jawOpen-30", "jawOpen-x"), good.replace("head#", "head#1e999,"),
                good[:120], "\xff",
                good.replace("jawOpen-30", "jawOpen-99999"), good.replace("head#", "head")):
        with pytest.raises(pk.PacketError):
            pk.decode_ifacialmocap(bad.encode("latin-1"))
    assert pk.decode_ifacialmocap(good.encode()).blendshapes[IDX["jawOpen"]] == pytest.approx(0.3)


def test_fuzzed_packets_are_dropped_and_counted_and_the_receiver_lives():
    cases = fuzz_cases()
    with UdpReceiver("livelink", HOST, 0) as rx, socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        for data in cases.values():
            s.sendto(data[:65000], (HOST, rx.port))
        s.sendto(pk.encode_livelink(np.full(52, 0.3), 1.0, 2.0, 3.0), (HOST, rx.port))
        rx.wait_first(3.0)
        deadline = time.monotonic() + 3
        while rx.buffer.dropped_total() < len(cases) - 1 and time.monotonic() < deadline:
            time.sleep(0.02)
        time.sleep(0.1)
        assert rx._thread.is_alive() and rx.error is None
        # the empty datagram arrives too; every case is one drop, the valid packet one sample
        assert rx.buffer.dropped_total() == len(cases)
        assert rx.buffer.received == 1
        assert rx.buffer.newest().raw[0] == pytest.approx(1.0, abs=1e-4)  # head yaw in degrees


def test_port_already_in_use_is_one_clear_error(capsys):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as busy:
        busy.bind((HOST, 0))
        port = busy.getsockname()[1]
        with pytest.raises(LiveError, match=f"UDP port {port} on {HOST} is already in use"):
            UdpReceiver("livelink", HOST, port).start()
        rc = main(["capture", "--live", f"livelink:{port}", "--seconds", "1", "-o", "/tmp/never.json"])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and err[0].startswith("error: UDP port") and "in use" in err[0]


def test_no_packets_is_a_clear_error_after_the_timeout(tmp_path, capsys):
    rx = UdpReceiver("livelink", HOST, 0).start()
    try:
        t = time.monotonic()
        with pytest.raises(LiveError, match=rf"no packets arriving on {HOST}:{rx.port} after 0.4 s"):
            rx.wait_first(0.4)
        assert time.monotonic() - t < 1.5
    finally:
        rx.stop()
    port = free_port()
    rc = main(["capture", "--live", f"ifacialmocap:{port}", "--seconds", "1", "--wait", "0.4",
               "-o", str(tmp_path / "t.json")])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and err == [err[0]] and f"no packets arriving on {HOST}:{port} after 0.4 s" in err[0]
    assert not (tmp_path / "t.json").exists()


def test_binding_is_loopback_unless_an_address_is_named():
    assert parse_packet_source("livelink") == ("livelink", HOST, 11111)
    assert parse_packet_source("livelink:12000") == ("livelink", HOST, 12000)
    assert parse_packet_source("ifacialmocap") == ("ifacialmocap", HOST, 49983)
    assert parse_packet_source("ifacialmocap:0.0.0.0:49983") == ("ifacialmocap", "0.0.0.0", 49983)
    for bad in ("livelink:70000", "livelink:host.example:1", "livelink:x", "osc:1"):
        with pytest.raises(LiveError):
            parse_packet_source(bad)


@pytest.mark.parametrize("argv, words", [
    (["--live", "livelink:99999", "--seconds", "1"], "port must be a number"),
    (["--live", "livelink"], "--live needs --seconds"),
    (["--live", "livelink", "--seconds", "1", "--frames", "0-9"], "--frames applies to capture from a file"),
    (["clip.mp4", "--live", "livelink", "--seconds", "1"], "not both"),
    (["--live", "rtsp://192.0.2.1/cam", "--seconds", "1"], "allow network access"),
    (["--live", "ftp://127.0.0.1/x", "--seconds", "1"], "not a stream address"),
])
def test_bad_live_input_is_one_error_line(argv, words, tmp_path, capsys):
    rc = main(["capture", *argv, "-o", str(tmp_path / "t.json")])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and err[0].startswith("error:") and words in err[0], err


def test_ctrl_c_keeps_what_was_recorded(tmp_path):
    import os
    import signal
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    port = free_port()
    out = tmp_path / "take.json"
    proc = subprocess.Popen([sys.executable, "-u", "-m", "engine", "capture", "--live", f"livelink:{port}",
                             "--seconds", "30", "-o", str(out)], cwd=root, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        assert "listening" in proc.stdout.readline()
        sender = Sender("livelink", port, 6.0)
        sender.start()
        time.sleep(2.0)
        proc.send_signal(signal.SIGINT if os.name != "nt" else signal.CTRL_C_EVENT)
        stdout, stderr = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
    sender.join()
    assert proc.returncode == 0, stderr
    assert "cut short" in stdout
    motion = Motion.load(out)
    assert 1.2 <= motion.duration <= 2.5, motion.duration  # the ~2 s before Ctrl-C, not 30 s


def _sample(t: float, yaw: float, face: bool = True):
    from engine.capture.expression import raw_from_blendshapes
    from engine.capture.live import Sample

    raw = raw_from_blendshapes(pk.ARKIT_NAMES, np.zeros(52), yaw, 0.0, 0.0) if face else None
    return Sample(t, raw, np.zeros(52, np.float32))


def test_recorder_keys_by_time_not_by_arrival_order_or_count():
    """Jittery, out-of-order, bursty arrivals: frame k is the performance at t0 + k / fps."""
    rng = np.random.default_rng(3)
    t = np.sort(rng.uniform(0, 2.0, 90))
    t[0], t[-1] = 0.0, 2.0
    order = rng.permutation(t.size)
    yaw = lambda x: 20 * np.sin(2 * np.pi * 0.5 * x)  # noqa: E731
    motion = record([_sample(100 + t[i], float(yaw(t[i]))) for i in order], 25.0, list(pk.ARKIT_NAMES))
    assert motion.frame_count == 51  # 0 .. 2 s at 25 fps, both ends
    grid = np.arange(51) / 25
    want = np.interp(grid, t, yaw(t))
    got = motion.controls["head_yaw"] - motion.controls["head_yaw"][0] + want[0]  # calibration offset
    assert np.max(np.abs(got - want)) < 1e-3


def test_recorder_flags_gaps_and_lost_faces_untracked():
    samples = [_sample(k / 30, 0.0) for k in range(30)]  # 0..1 s
    samples += [_sample(1.0 + k / 30, 0.0, face=False) for k in range(1, 20)]  # face lost ~0.63 s
    samples += [_sample(2.5 + k / 30, 0.0) for k in range(30)]  # after a 0.87 s silence
    motion = record(samples, 30.0, list(pk.ARKIT_NAMES))
    t = np.arange(motion.frame_count) / 30
    assert motion.tracked[t < 0.95].all() and motion.tracked[t > 2.55].all()
    assert not motion.tracked[(t > 1.3) & (t < 2.2)].any()
    with pytest.raises(LiveError, match="no face"):
        record([_sample(0, 0, face=False), _sample(1, 0, face=False)], 30.0, [])
    with pytest.raises(LiveError, match="nothing was recorded"):
        record([], 30.0, [])


def test_newest_sample_is_drained_once_without_waiting():
    from engine.capture.live import SampleBuffer

    buf = SampleBuffer()
    assert buf.newest() is None
    for k in range(3):
        buf.add(_sample(k, float(k)))
    newest = buf.newest()
    assert newest.t == 2 and buf.newest() is None  # a preview timer sees each sample at most once
    assert len(buf.take()) == 3  # while the take keeps all


def test_missing_camera_is_one_clear_error():
    from engine.capture.live import CameraSource

    cam = CameraSource(97).start()
    try:
        with pytest.raises(LiveError, match="camera 97 could not be opened"):
            cam.wait_first(3.0)
    finally:
        cam.stop()


def test_live_controls_of_one_phone_sample_match_the_take():
    from engine.capture.live import LiveControls

    rest = LiveControls(list(pk.ARKIT_NAMES))
    p = performance(0.4)
    f = pk.decode_livelink(packet("livelink", 0.4, 0))
    from engine.capture.expression import raw_from_blendshapes
    from engine.capture.live import Sample

    c = rest.controls(Sample(0.0, raw_from_blendshapes(pk.ARKIT_NAMES, f.blendshapes, f.yaw, f.pitch, f.roll,
                                                       f.gaze), f.blendshapes))
    assert c["head_yaw"] == pytest.approx(p["yaw"], abs=1e-3)  # neutral = head straight
    assert c["eye_open_l"] == pytest.approx(1 - p["blink"], abs=0.02)  # and scores at 0
    assert c["mouth_open"] == pytest.approx(p["jaw"] / 0.9, abs=0.02)
    assert rest.controls(Sample(0.0, None, np.zeros(52))) is None


def test_facemotion3d_style_items_are_read():
    good = pk.encode_ifacialmocap(np.full(52, 0.3), 1.0, 2.0, 3.0).decode()
    alt = good.split("=")[0].replace("-", "&") + "=" + good.split("=")[1]
    assert pk.decode_ifacialmocap(alt.encode()).blendshapes == pytest.approx(np.full(52, 0.3))


@pytest.mark.parametrize("kind", ["livelink", "ifacialmocap"])
def test_mutated_packets_decode_or_raise_packet_error_only(kind):
    """3000 bit flips, cuts and splices of valid packets: each one is a valid frame (finite, in
    range) or a PacketError -- never another exception."""
    rng = np.random.default_rng(7)
    decode = pk.DECODERS[kind]
    good = packet(kind, 0.3, 1)
    ok = bad = 0
    for _ in range(3000):
        data = bytearray(good)
        op = rng.integers(4)
        if op == 0:
            for _ in range(rng.integers(1, 6)):
                data[rng.integers(len(data))] ^= 1 << int(rng.integers(8))
        elif op == 1:
            data = data[: rng.integers(len(data))]
        elif op == 2:
            at = int(rng.integers(len(data)))
            data[at:at] = bytes(rng.integers(0, 256, int(rng.integers(1, 40)), dtype=np.uint8))
        else:
            data[int(rng.integers(len(data))):] = bytes(rng.integers(0, 256, 20, dtype=np.uint8))
        try:
            f = decode(bytes(data))
        except pk.PacketError:
            bad += 1
            continue
        ok += 1
        assert f.blendshapes.shape == (52,) and np.all((f.blendshapes >= 0) & (f.blendshapes <= 1))
        assert all(math.isfinite(a) and abs(a) <= 180 for a in (f.yaw, f.pitch, f.roll))
    assert bad > 1000  # most mutations are caught
