"""Nothing the engine runs reaches the network unless the user allowed it: a capture (MediaPipe
tracking over a whole clip) and a render, traced with strace down to every thread and child, make no
connect() or send off loopback and never start a host-name lookup. MediaPipe 0.10.35 and newer fail
this (their usage logger looks up play.googleapis.com); requirements/engine.txt pins 0.10.33.
The tracer itself is checked first: it must see a real loopback connection and flag an outside one."""

from __future__ import annotations

import importlib.util
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SHARED = ROOT.parent / "shared" / "testdata"
CLIP = SHARED / "driving" / "tps_interview.mp4"  # 169 frames: tracking runs long enough to log
PORTRAIT = SHARED / "portraits" / "photo_woman.jpg"

_spec = importlib.util.spec_from_file_location("connect_trace",
                                               ROOT / "tests" / "helpers" / "connect_trace.py")
trace = sys.modules.setdefault("connect_trace", importlib.util.module_from_spec(_spec))
_spec.loader.exec_module(trace)

needs_media = pytest.mark.skipif(not CLIP.is_file() or not PORTRAIT.is_file(), reason="../shared missing")


def test_parser_classifies_strace_lines():
    log = "\n".join([
        '101 connect(3, {sa_family=AF_INET, sin_port=htons(53), '
        'sin_addr=inet_addr("10.255.255.53")}, 16) = 0',
        '101 connect(4, {sa_family=AF_INET, sin_port=htons(8188), sin_addr=inet_addr("127.0.0.1")}, 16) = 0',
        '102 connect(5, {sa_family=AF_INET6, sin6_port=htons(443), sin6_flowinfo=htonl(0), '
        'inet_pton(AF_INET6, "2001:db8::1", &sin6_addr), sin6_scope_id=0}, 28) = -1 ENETUNREACH',
        '102 connect(6, {sa_family=AF_INET6, sin6_port=htons(80), sin6_flowinfo=htonl(0), '
        'inet_pton(AF_INET6, "::1", &sin6_addr), sin6_scope_id=0}, 28) = 0',
        '103 connect(7, {sa_family=AF_UNIX, sun_path="/run/x.sock"}, 110) = 0',
        '103 sendto(8, "\\x01", 1, 0, {sa_family=AF_INET, sin_port=htons(123), '
        'sin_addr=inet_addr("192.0.2.7")}, 16) = 1',
        '104 openat(AT_FDCWD, "/etc/resolv.conf", O_RDONLY|O_CLOEXEC) = 3',
        '104 openat(AT_FDCWD, "/etc/hosts", O_RDONLY|O_CLOEXEC) = 3',
    ])
    found = trace.parse(log)
    assert [(e.family, e.address, e.port) for e in found] == [
        ("AF_INET", "10.255.255.53", 53), ("AF_INET", "127.0.0.1", 8188), ("AF_INET6", "2001:db8::1", 443),
        ("AF_INET6", "::1", 80), ("AF_UNIX", "", None), ("AF_INET", "192.0.2.7", 123),
        ("resolv.conf", "/etc/resolv.conf", None)]
    bad = trace.off_loopback(found)
    assert len(bad) == 4 and "10.255.255.53" in bad[0] and "2001:db8::1" in bad[1]
    assert "192.0.2.7" in bad[2] and "resolv.conf" in bad[3]


def test_tracer_sees_a_real_loopback_connection_from_a_thread(tmp_path):
    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]
    accepted = threading.Thread(target=lambda: server.accept()[0].close(), daemon=True)
    accepted.start()
    code = ("import socket, threading\n"
            f"t = threading.Thread(target=lambda: socket.create_connection(('127.0.0.1', {port})).close())\n"
            "t.start(); t.join()\n")
    proc, found = trace.run_traced([sys.executable, "-c", code], tmp_path / "trace.log", timeout=60)
    server.close()
    assert proc.returncode == 0, proc.stderr
    assert [e for e in found if e.family == "AF_INET" and e.address == "127.0.0.1" and e.port == port]
    assert trace.off_loopback(found) == []


@needs_media
def test_capture_and_render_reach_nothing_off_loopback(tmp_path):
    motion = tmp_path / "motion.json"
    cmd = [sys.executable, "-m", "engine", "capture", str(CLIP), "--body", "-o", str(motion)]  # face + pose
    proc, found = trace.run_traced(cmd, tmp_path / "capture.log", timeout=600, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    assert motion.is_file()
    assert trace.off_loopback(found) == []

    out = tmp_path / "frames"
    cmd = [sys.executable, "-m", "engine", "render", str(PORTRAIT), str(motion), "-o", str(out),
           "--frames", "1-20"]
    proc, found = trace.run_traced(cmd, tmp_path / "render.log", timeout=600, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    assert len(list(out.glob("*.png"))) == 20
    assert trace.off_loopback(found) == []


@needs_media
def test_cli_prints_no_native_log_lines_unless_debug(tmp_path):
    """MediaPipe's own absl/TFLite lines ("W0000 ... Feedback manager", "INFO: Created TensorFlow
    Lite XNNPACK delegate") stay off the terminal; --debug shows them (so the check can fail)."""
    clip = SHARED / "driving" / "d1_single_blink.mp4"

    def stderr_of(*extra):
        proc = subprocess.run([sys.executable, "-m", "engine", *extra, "capture", str(clip), "-o",
                               str(tmp_path / f"m{len(extra)}.json")], cwd=ROOT, capture_output=True,
                              text=True, timeout=300)
        assert proc.returncode == 0, proc.stderr
        return proc.stderr

    quiet, loud = stderr_of(), stderr_of("--debug")
    native = ("W0000", "I0000", "INFO: Created TensorFlow Lite", "absl::InitializeLog")
    assert any(n in loud for n in native), loud  # MediaPipe does log: the filter has work to do
    assert not [line for line in quiet.splitlines() if any(n in line for n in native)], quiet


def test_quiet_keeps_what_others_write_to_stderr(tmp_path):
    code = ("import os, sys\n"
            "sys.path.insert(0, '.')\n"
            "from engine import native_logs\n"
            "with native_logs.quiet():\n"
            "    os.write(2, b'W0000 00:00:1796161608.463669   17194 graph.cc:174] noise\\n')\n"
            "    os.write(2, b'INFO: Created TensorFlow Lite XNNPACK delegate for CPU.\\n')\n"
            "    os.write(2, b'ours: kept\\n')\n"
            "    print('python line kept', file=sys.stderr)\n"
            "os.write(2, b'after\\n')\n")
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.splitlines() == ["ours: kept", "python line kept", "after"]
