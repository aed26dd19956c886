"""Hostile-server matrix: the ComfyUI client and renderer against a fake ComfyUI on 127.0.0.1
(tests/helpers/hostile_comfyui.py) that redirects, lies about sizes, stalls and trickles, sends
malformed websocket frames and JSON of the wrong shape, names files with ``../`` and NUL, and
returns playlists as "videos".

Every CLI case asserts: the exit status, one ``error:`` line (server text escaped), no traceback,
no file of the user's changed and nothing new but the allowed outputs, no temporary left (the
system temp folder is the test's own), bounded time, and -- for every case, by a guard on
``socket.connect`` and ``getaddrinfo`` -- no connection or name lookup off loopback. "Another host"
is a second fake server on another port (host identity is scheme + host + port) or 127.0.0.2.
"""

from __future__ import annotations

import hashlib
import importlib.util
import ipaddress
import json
import re
import resource
import socket
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from engine import cli, limits
from engine.media.video import Mp4Writer
from engine.progress import Cancelled, Progress
from engine.render.comfyui.client import ComfyClient, ComfyUIError
from engine.render.comfyui.websocket import WebSocket
from engine.sample import sample_performance

ROOT = Path(__file__).resolve().parents[2]
SAMPLE_PORTRAIT = ROOT / "engine" / "assets" / "sample_portrait.jpg"
TOKEN = "th-hostile-token-5b8e1d"  # made up; must reach only the configured server


def _load_helper():
    path = ROOT / "tests" / "helpers" / "hostile_comfyui.py"
    spec = importlib.util.spec_from_file_location("hostile_comfyui", path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules["hostile_comfyui"] = mod  # dataclasses look their module up
    spec.loader.exec_module(mod)
    return mod


H = _load_helper()
WORKFLOW = {
    "1": {"class_type": "LoadImage", "inputs": {"image": "x.png"}, "_meta": {"title": "th:portrait"}},
    "2": {"class_type": "SaveImage", "inputs": {"images": ["1", 0], "filename_prefix": "th"},
          "_meta": {"title": "th:output"}},
}


# -- guards and fixtures -------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def loopback_only(monkeypatch):
    """Fail on any connect() or name lookup that is not loopback: nothing may leave the machine."""
    seen: list = []
    real_connect, real_connect_ex = socket.socket.connect, socket.socket.connect_ex
    real_getaddrinfo = socket.getaddrinfo

    def check(address) -> None:
        seen.append(address)
        if isinstance(address, tuple):
            host = address[0]
            try:
                ok = ipaddress.ip_address(host).is_loopback
            except ValueError:
                ok = host == "localhost"
            if not ok:
                raise AssertionError(f"connect() off loopback: {address}")

    def connect(self, address):
        check(address)
        return real_connect(self, address)

    def connect_ex(self, address):
        check(address)
        return real_connect_ex(self, address)

    def getaddrinfo(host, *args, **kw):
        name = host.decode() if isinstance(host, bytes) else str(host)
        try:
            ok = ipaddress.ip_address(name).is_loopback
        except ValueError:
            ok = name == "localhost"
        if not ok:
            raise AssertionError(f"name lookup off loopback: {name}")
        return real_getaddrinfo(host, *args, **kw)

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket.socket, "connect_ex", connect_ex)
    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    yield seen
    assert all(isinstance(a, tuple) and a[0].startswith(("127.", "::1")) for a in seen), seen


@pytest.fixture
def comfy():
    servers = []

    def make(host: str = "127.0.0.1"):
        s = H.FakeComfy(host)
        servers.append(s)
        return s

    yield make
    for s in servers:
        s.close()


@pytest.fixture
def quick(monkeypatch):
    """Deadlines short enough for a test (the real ones are minutes to hours)."""
    for name, value in (("NET_IDLE_TIMEOUT_S", 1.0), ("NET_REQUEST_DEADLINE_S", 2.0),
                        ("NET_DOWNLOAD_DEADLINE_S", 3.0), ("COMFYUI_JOB_DEADLINE_S", 3.0),
                        ("COMFYUI_POLL_AFTER_S", 0.3), ("COMFYUI_JOB_IDLE_S", 2.0)):
        monkeypatch.setattr(limits, name, value)


def snapshot(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def _mp4(path: Path, values: list[int], size=(64, 64)) -> None:
    w = Mp4Writer(path, 25.0, size, crf=10)
    for v in values:
        w.write(np.full((size[1], size[0], 3), v, np.uint8))
    w.close(keep=True)


@pytest.fixture
def user(tmp_path: Path, monkeypatch, capfd):
    home = tmp_path / "user"
    home.mkdir()
    monkeypatch.chdir(home)
    monkeypatch.delenv("TALKING_HEAD_COMFYUI_TOKEN", raising=False)
    for var in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "no_proxy", "NO_PROXY",
                "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)
    systmp = tmp_path / "systmp"
    systmp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(systmp))
    sample_performance(0.4, 25.0).save(home / "motion.json")
    Image.open(SAMPLE_PORTRAIT).convert("RGB").resize((96, 96)).save(home / "portrait.png")
    (home / "wf.json").write_text(json.dumps(WORKFLOW))
    _mp4(home / "secret.mp4", [250] * 6)  # a local video a hostile playlist may name
    (home / "mine.json").write_text('{"mine": true}')

    class User:
        root = home
        before = snapshot(home)
        seconds = 0.0

        def run(self, *args: object) -> tuple[int, str]:
            capfd.readouterr()
            t0 = time.monotonic()
            try:
                rc = cli.main([str(a) for a in args])
            except SystemExit as exc:
                rc = exc.code if isinstance(exc.code, int) else 2
            self.seconds = time.monotonic() - t0
            return rc, capfd.readouterr().err

        def render(self, server: str, *extra: object) -> tuple[int, str]:
            return self.run("render", "portrait.png", "motion.json", "-o", "out", "--renderer", "comfyui",
                            "--workflow", "wf.json", "--server", server, "--frames", "0-3", *extra)

        def check(self, *allowed_new: str) -> None:
            after = snapshot(home)
            for name, digest in self.before.items():
                assert after.get(name) == digest, f"{name} was changed or removed"
            new = set(after) - set(self.before)
            extra = {n for n in new if not any(n.startswith(a) for a in allowed_new)}
            assert not extra, f"unexpected new files {sorted(extra)}"
            assert list(systmp.iterdir()) == [], list(systmp.iterdir())  # no temporary left

    return User()


def refused(result: tuple[int, str], *needles: str, seconds: float | None = None, user=None) -> str:
    rc, err = result
    assert rc == 2, err
    assert "Traceback" not in err and "unexpected" not in err, err
    lines = [line for line in err.splitlines() if line.strip() and not re.match(r"^\w+ \[[# ]+\]", line)]
    assert len(lines) == 1 and lines[0].startswith("error:"), err
    assert "\x1b" not in err and "\r" not in err and "\x00" not in err, repr(err)
    for n in needles:
        assert n in err, err
    if seconds is not None and user is not None:
        assert user.seconds < seconds, f"took {user.seconds:.1f} s"
    return err


def rendered(result: tuple[int, str], user) -> None:
    rc, err = result
    assert rc == 0, err
    assert len(list((user.root / "out").glob("frame_*.png"))) == 4, err
    user.check("out/")


# -- the fake server itself works (positive controls) ---------------------------------------------


def test_a_well_behaved_fake_server_renders(user, comfy):
    s = comfy()
    rendered(user.render(s.url), user)
    assert s.saw("POST", "/prompt") and s.saw("GET", "/view")


def test_polls_history_when_the_websocket_is_silent(user, comfy, quick):
    s = comfy()
    s.ws_script = H.silent_ws_script  # no execution_success ever: the history says it is done
    rendered(user.render(s.url), user)
    assert any(p.startswith("/history/") for p in s.paths("GET"))


# -- redirects, tokens, proxies -----------------------------------------------------------------


def _view_redirect(to: str, status: int = 302):
    def handler(req, sock):
        H.redirect(sock, to + "/view?" + "&".join(f"{k}={v[0]}" for k, v in req.query.items()), status)
    return handler


@pytest.mark.parametrize("other_host", ["127.0.0.1", "127.0.0.2"])
def test_token_never_goes_to_a_redirects_host(user, comfy, monkeypatch, other_host):
    monkeypatch.setenv("TALKING_HEAD_COMFYUI_TOKEN", TOKEN)
    a = comfy()
    try:
        b = comfy(other_host)
    except OSError:  # Linux and Windows route all of 127/8 to loopback; macOS only 127.0.0.1
        pytest.skip(f"!!! NOT RUN: {other_host} is no loopback alias here (macOS: sudo ifconfig lo0 "
                    "alias 127.0.0.2); the other-port case covers the same rule !!!")
    a.routes["GET /view"] = _view_redirect(b.url)
    rendered(user.render(a.url), user)
    assert b.saw("GET", "/view")  # the redirect was followed (loopback: no consent needed) ...
    assert b.tokens() == []  # ... without the token
    assert a.tokens() and set(a.tokens()) == {f"Bearer {TOKEN}"}  # which the configured host got


def test_token_kept_on_a_redirect_to_the_same_host(user, comfy, monkeypatch):
    monkeypatch.setenv("TALKING_HEAD_COMFYUI_TOKEN", TOKEN)
    a = comfy()
    moved = {"n": 0}

    def view(req, sock):
        if "moved" not in req.query:
            moved["n"] += 1
            H.redirect(sock, f"/view?moved=1&filename={req.query['filename'][0]}")
        else:
            a._default(req, sock)
    a.routes["GET /view"] = view
    rendered(user.render(a.url), user)
    assert moved["n"] >= 1
    assert all(r.headers.get("authorization") == f"Bearer {TOKEN}" for r in a.requests
               if r.path == "/view")


@pytest.mark.parametrize(("location", "needle"), [
    ("ftp://127.0.0.1/out.png", "only http:// and https:// redirects"),
    ("file:///etc/passwd", "only http:// and https:// redirects"),
    ("http://192.0.2.7:8188/view", "192.0.2.7, which is not this machine"),  # never connected
    ("http://gpu.example.com/view", "gpu.example.com, which is not this machine"),  # never looked up
])
def test_redirect_to_another_scheme_or_off_loopback_is_refused(user, comfy, location, needle, loopback_only):
    s = comfy()
    s.routes["GET /view"] = lambda req, sock: H.redirect(sock, location)
    refused(user.render(s.url), needle, seconds=20, user=user)
    user.check()
    assert all(a[0].startswith("127.") for a in loopback_only)


def test_redirect_off_loopback_needs_consent_not_just_any_url(user, comfy):
    s = comfy()
    s.routes["GET /system_stats"] = lambda req, sock: H.redirect(sock, "http://192.0.2.7/system_stats")
    err = refused(user.render(s.url), "--allow-network")
    assert "192.0.2.7" in err
    user.check()


def test_redirect_loop_ends(user, comfy):
    s = comfy()
    s.routes["GET /system_stats"] = lambda req, sock: H.redirect(sock, "/system_stats")
    refused(user.render(s.url), f"redirected more than {limits.NET_MAX_REDIRECTS} times",
            seconds=20, user=user)
    assert len(s.paths("GET")) == limits.NET_MAX_REDIRECTS + 1


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_a_redirected_post_prompt_is_refused_and_the_other_host_supplies_nothing(user, comfy, monkeypatch,
                                                                               status):
    monkeypatch.setenv("TALKING_HEAD_COMFYUI_TOKEN", TOKEN)
    a, b = comfy(), comfy()
    b.prompt_id = "evil-prompt-id"
    a.routes["POST /prompt"] = lambda req, sock: H.redirect(sock, b.url + "/prompt", status)
    refused(user.render(a.url), "with a redirect to", "only taken from the server that was asked")
    assert b.requests == []  # not asked at all: it cannot supply the prompt id
    user.check()


def test_loopback_requests_never_go_through_an_env_proxy(user, comfy, monkeypatch):
    a, proxy = comfy(), comfy()
    for var in ("http_proxy", "HTTP_PROXY", "https_proxy", "all_proxy"):
        monkeypatch.setenv(var, proxy.url)
    import urllib.request

    monkeypatch.setattr(urllib.request, "_opener", None)  # as in a fresh process: env proxies read
    rendered(user.render(a.url), user)
    assert proxy.requests == []
    assert a.saw("POST", "/upload/image")


def test_gpu_install_find_links_off_loopback_needs_network_consent(user):
    refused(user.run("gpu", "install", "--flavor", "cuda", "--no-index", "--find-links",
                     "http://192.0.2.7/wheels/", "--target", "runtime"),
            "--find-links 192.0.2.7 is not this machine", "--allow-network")
    refused(user.run("gpu", "install", "--flavor", "cuda", "--no-index", "--find-links",
                     "ftp://127.0.0.1/wheels/", "--target", "runtime"), "only http:// and https://")
    user.check()


# -- sizes that lie, broken HTTP --------------------------------------------------------------------


def _raw(data: bytes):
    return lambda req, sock: sock.sendall(data)


@pytest.mark.parametrize(("route", "handler", "needle"), [
    # claims 10 GB: refused from the header, before reading
    ("GET /view", lambda req, sock: H.answer(sock, 200, b"x" * 100, length=10 << 30), "above the limit"),
    # claims 100000 bytes, sends 1000 and closes
    ("GET /view", lambda req, sock: H.answer(sock, 200, H.png()[:1000], length=100_000), "cut short"),
    ("POST /prompt", lambda req, sock: H.answer(sock, 200, b'{"prompt_id": "ab', length=500), "cut short"),
    ("GET /system_stats", _raw(b"SPDY/9 OK\r\n\r\n{}"), "did not answer with HTTP (BadStatusLine)"),
    ("GET /system_stats", _raw(b""), "did not answer with HTTP (RemoteDisconnected)"),
    ("GET /object_info", _raw(b"HTTP/1.1 200 OK\r\n" + b"X-A: b\r\n" * 150 + b"\r\n"),
     "did not answer with HTTP (HTTPException)"),
    ("GET /object_info", _raw(b"HTTP/1.1 200 OK\r\nX: " + b"a" * 100_000 + b"\r\n\r\n"),
     "did not answer with HTTP (LineTooLong)"),
    ("POST /upload/image", lambda req, sock: H.answer(sock, 500, b"E" * (20 << 20)), "failed (HTTP 500)"),
])
def test_lying_sizes_and_broken_http_are_one_sentence(user, comfy, route, handler, needle):
    s = comfy()
    s.routes[route] = handler
    refused(user.render(s.url), needle, seconds=20, user=user)
    user.check()


def test_a_json_answer_above_its_cap_is_refused_while_reading(user, comfy, monkeypatch):
    monkeypatch.setattr(limits, "JSON_REPLY_MAX_BYTES", 4096)
    s = comfy()

    def no_length(req, sock):  # close-delimited: no Content-Length to refuse up front
        sock.sendall(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n" + b'{"a": "' + b"x" * 100_000 + b'"}')
    s.routes["GET /object_info"] = no_length
    refused(user.render(s.url), "more than 4,096 bytes")
    user.check()


def test_a_huge_error_body_is_not_read_whole(comfy):
    s = comfy()
    block = b"E" * (1 << 20)

    def huge(req, sock):  # 1 GB announced and streamed (the server holds 1 MB of it at a time)
        sock.sendall(b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: %d\r\n\r\n" % (1 << 30))
        for _ in range(1024):
            sock.sendall(block)
    s.routes["GET /system_stats"] = huge
    t0 = time.monotonic()
    peak0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with pytest.raises(ComfyUIError, match=r"HTTP 500\): E+") as exc:
        ComfyClient(s.url).system_stats()
    assert len(str(exc.value)) < 400
    assert time.monotonic() - t0 < 10
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - peak0 < 100_000  # KiB: < 100 MB more


# -- stalls, trickles, deadlines, cancel ----------------------------------------------------------


def test_a_trickling_answer_ends_at_the_overall_deadline(user, comfy, quick):
    s = comfy()
    body = json.dumps({"system": {}}).encode()
    head = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(body)
    s.routes["GET /system_stats"] = H.trickle(head + body, every=0.2)
    refused(user.render(s.url), "did not finish its answer within 2 s", seconds=6, user=user)
    user.check()


def test_a_server_that_never_answers_ends_at_the_idle_timeout(user, comfy, quick):
    s = comfy()
    s.routes["GET /system_stats"] = H.stall(20)
    refused(user.render(s.url), "did not answer within 1 s", seconds=5, user=user)
    user.check()


def test_a_job_that_never_finishes_is_cancelled_on_the_server_at_the_deadline(user, comfy, quick):
    s = comfy()
    s.ws_script = H.silent_ws_script
    s.done_in_history = False
    # the queue says "running" forever: alive, but never done
    s.routes["GET /queue"] = lambda req, sock: H.answer_json(
        sock, {"queue_running": [[1, s.prompt_id, {}, {}, []]], "queue_pending": []})
    refused(user.render(s.url), "did not finish within 3 s", seconds=8, user=user)
    assert s.saw("POST", "/queue") and s.saw("POST", "/interrupt")  # dropped and interrupted
    user.check()


def test_a_job_the_server_forgets_is_one_sentence(user, comfy, quick):
    s = comfy()
    s.ws_script = H.silent_ws_script
    s.done_in_history = False  # neither in the history nor in the queue
    refused(user.render(s.url), "no longer knows the job", seconds=8, user=user)
    user.check()


def test_a_websocket_frame_started_and_never_finished_ends_at_the_idle_timeout(user, comfy, quick):
    s = comfy()
    s.ws_script = H.script(H.ws_frame(b"x" * 50)[:10])  # declares 50 bytes, sends 8
    refused(user.render(s.url), "did not finish it within 1 s", seconds=8, user=user)
    assert s.saw("POST", "/queue")  # the queued prompt was cancelled
    user.check()


def test_cancel_interrupts_a_blocked_request_at_once(comfy):
    s = comfy()
    s.routes["GET /system_stats"] = H.stall(30)
    client = ComfyClient(s.url)
    cancel = threading.Event()
    client.cancelled = cancel.is_set
    threading.Timer(0.3, cancel.set).start()
    t0 = time.monotonic()
    with pytest.raises(Cancelled):
        client.system_stats()
    assert time.monotonic() - t0 < 1.5  # the idle timeout (30 s) did not have to pass


def test_cancel_interrupts_a_websocket_frame_in_progress(comfy):
    s = comfy()
    s.ws_script = H.script(H.ws_frame(b"x" * 50)[:10], after_submit=False)
    cancel = threading.Event()
    ws = WebSocket(s.url.replace("http", "ws") + "/ws", idle=30, cancelled=cancel.is_set)
    threading.Timer(0.5, cancel.set).start()
    t0 = time.monotonic()
    with pytest.raises(Cancelled):
        while True:
            ws.recv(timeout=10)  # the status event first, then the stuck frame
    assert time.monotonic() - t0 < 2
    ws.close()


def test_cancel_during_a_silent_job_removes_it_from_the_server(comfy):
    s = comfy()
    s.ws_script = H.silent_ws_script
    s.done_in_history = False
    s.routes["GET /queue"] = lambda req, sock: H.answer_json(
        sock, {"queue_running": [], "queue_pending": [{"prompt_id": s.prompt_id, "number": 1}]})
    progress = Progress()
    threading.Timer(0.8, progress.cancel).start()
    t0 = time.monotonic()
    with pytest.raises(Cancelled):
        ComfyClient(s.url).run(WORKFLOW, progress)
    assert time.monotonic() - t0 < 3
    delete = [json.loads(r.body) for r in s.requests if r.method == "POST" and r.path == "/queue"]
    assert delete == [{"delete": [s.prompt_id]}]


# -- malformed websocket frames and events ----------------------------------------------------------


@pytest.mark.parametrize(("frames", "needle"), [
    ([H.ws_frame(b"", length=1 << 63)], "above the limit"),  # was "unexpected OverflowError"
    ([H.ws_frame(b"", length=8 << 30)], "above the limit"),  # 8 GiB claimed
    ([H.ws_frame(b"{}", rsv=4)], "reserved bits"),
    ([H.ws_frame(b"{}", opcode=5)], "unknown opcode"),
    ([H.ws_frame(b"{}", opcode=0)], "continuation frame without a message"),
    ([H.ws_frame(b"x" * 200, opcode=9)], "control frame"),
    ([H.ws_frame(b"\xff\xfe", opcode=1)], "not UTF-8"),
    ([H.ws_frame(b"[", fin=False), H.ws_frame(b"[", fin=False, opcode=1)], "inside a fragmented one"),
    ([H.ws_frame(b"not json")], "not JSON"),
    ([H.ws_frame(b"[1, 2]")], "wrong shape"),
    ([H.ws_frame("[" * 100_000 + "]" * 100_000)], "not JSON"),  # RecursionError
    ([H.event("progress", value="abc", max=1)], "progress websocket event of the wrong shape"),
    ([H.event("progress", value=1e300, max=1)], "wrong shape"),
    ([H.event("executing", node={"a": 1})], "executing websocket event of the wrong shape"),
    ([H.event("execution_cached", nodes=5)], "wrong shape"),
    ([H.ws_frame(json.dumps({"type": "executing", "data": [1]}))], "wrong shape"),
])
def test_malformed_websocket_frames_are_one_sentence_and_cancel_the_prompt(user, comfy, frames, needle):
    s = comfy()
    s.ws_script = H.script(*frames)
    refused(user.render(s.url), needle, seconds=15, user=user)
    assert s.saw("POST", "/queue")  # the queued prompt was cancelled on the way out
    user.check()


def test_fragments_cannot_pile_up_past_the_message_cap(user, comfy, monkeypatch):
    monkeypatch.setattr(limits, "WS_MESSAGE_MAX_BYTES", 4096)
    s = comfy()
    s.ws_script = H.script(H.ws_frame(b"[", fin=False),
                           *[H.ws_frame(b"1," * 500, opcode=0, fin=False) for _ in range(10)])
    refused(user.render(s.url), "fragmented message above the limit of 4,096 bytes")
    user.check()


def test_other_extensions_events_are_ignored(user, comfy):
    s = comfy()
    pid = s.prompt_id
    s.ws_script = H.script(H.ws_frame(json.dumps({"type": "crystools.monitor", "data": "x"})),
                           H.event("execution_success", prompt_id=pid), H.event("executing", node=None,
                                                                                 prompt_id=pid))
    rendered(user.render(s.url), user)


# -- wrong JSON shapes, unsafe names, escaped text ----------------------------------------------


def _json_route(doc):
    return lambda req, sock: H.answer_json(sock, doc)


@pytest.mark.parametrize(("route", "doc", "needle"), [
    ("POST /upload/image", [], "not an upload result"),
    ("POST /upload/image", {"name": 5}, "unusable uploaded file name"),
    ("POST /upload/image", {"name": "../../evil.png"}, "unusable uploaded file name"),
    ("POST /upload/image", {"name": "a\x00.png"}, "unusable uploaded file name"),
    ("POST /upload/image", {"name": "a.png", "subfolder": "../../x"}, "unusable subfolder"),
    ("POST /prompt", {"prompt_id": {"a": 1}}, "unusable prompt id"),
    ("POST /prompt", {"prompt_id": "x\x1b[2J/../y"}, "unusable prompt id"),
    ("POST /prompt", [], "refused the workflow"),
    ("GET /queue", {"queue_running": "x"}, "/queue is not shaped like ComfyUI's"),
    ("GET /queue", [], "wrong shape"),
    ("GET /system_stats", "x", "wrong shape"),
    ("GET /object_info", {"LoadImage": []}, "entry for LoadImage is not shaped like ComfyUI's"),
    ("GET /object_info", {"LoadImage": {"input": {"required": []}}}, "not shaped like ComfyUI's"),
])
def test_wrong_json_shapes_are_one_sentence(user, comfy, route, doc, needle):
    s = comfy()
    s.routes[route] = _json_route(doc)
    refused(user.render(s.url), needle, seconds=15, user=user)
    user.check()


def test_wrong_shapes_in_the_history_are_one_sentence(user, comfy):
    s = comfy()
    s.routes["GET /history/*"] = lambda req, sock: H.answer_json(sock, {s.prompt_id: {"outputs": []}})
    s.ws_script = H.default_ws_script
    refused(user.render(s.url), "history lists its outputs in the wrong shape")
    user.check()


@pytest.mark.parametrize(("item", "needle"), [
    ({"filename": "../../../etc/passwd.png"}, "unusable output file name"),
    ({"filename": "..\\..\\x.png"}, "unusable output file name"),
    ({"filename": "a\x00.png"}, "unusable output file name"),
    ({"filename": "x\x1b]0;pwned\x07.png"}, "unusable output file name"),
    ({"filename": "a.png", "subfolder": "../.."}, "unusable subfolder"),
    ({"filename": "a.png", "subfolder": "/etc"}, "unusable subfolder"),
    ({"filename": "a.png", "subfolder": "C:\\Windows"}, "unusable subfolder"),
    ({"filename": "a.png", "type": "../secret"}, "of type"),
    ({"filename": "list.m3u8"}, "not a file type this product reads back"),
])
def test_unsafe_output_names_are_refused_before_any_download(user, comfy, item, needle):
    s = comfy()
    s.outputs["images"] = [{"subfolder": "", "type": "output", **item}]
    err = refused(user.render(s.url), needle, seconds=15, user=user)
    assert not s.saw("GET", "/view")
    assert "pwned\x07" not in err
    user.check()


def test_100000_listed_outputs_are_refused_before_any_download(user, comfy):
    s = comfy()
    s.files["e.png"] = b""
    s.outputs["images"] = [{"filename": "e.png", "subfolder": "", "type": "output"}] * 100_000
    refused(user.render(s.url), "listed more than 80 files", seconds=30, user=user)
    assert not s.saw("GET", "/view")
    user.check()


def test_an_empty_output_file_is_one_sentence(user, comfy):
    s = comfy()
    s.files["out.png"] = b""
    s.outputs["images"] = [{"filename": "out.png", "subfolder": "", "type": "output"}] * 50
    refused(user.render(s.url), "is empty (0 bytes)")
    assert s.paths("GET").count("/view") == 1  # stopped at the first, not one ffmpeg per entry
    user.check()


def test_server_text_is_escaped_in_messages(user, comfy):
    s = comfy()
    pid = s.prompt_id
    s.ws_script = H.script(H.event("execution_error", prompt_id=pid, node_id="7\x1b[2J",
                                   node_type="Evil\rerror: fake line",
                                   exception_message="\x1b]0;owned\x07boom\x1b[31m red"))
    err = refused(user.render(s.url), "ComfyUI node 7\\x1b[2J", "\\x1b]0;owned\\x07boom")
    assert "(Evil\\x0derror: fake line)" in err  # the carriage return cannot fake a line of ours
    user.check()


def test_validation_error_text_is_escaped(user, comfy):
    s = comfy()
    s.routes["POST /prompt"] = lambda req, sock: H.answer_json(sock, {
        "error": {"type": "prompt_outputs_failed_validation", "message": "bad"},
        "node_errors": {"2\x1b[H": {"class_type": "Save\x1b[2J", "errors": [
            {"type": "x", "details": "\x1b[1A\rerror: all good", "extra_info": {"input_name": "images"}}]}}},
        status=400)
    refused(user.render(s.url), "node 2\\x1b[H (Save\\x1b[2J) input images")
    user.check()


def test_comfyui_check_with_hostile_answers(user, comfy):
    s = comfy()
    s.routes["GET /system_stats"] = _json_route({"system": ["x"], "devices": 5})
    s.routes["GET /object_info"] = _json_route("[" * 50_000 + "]" * 50_000)
    refused(user.run("comfyui", "check", s.url, "--workflow", "wf.json"), "is this a ComfyUI server?")
    deep = ("[" * 50_000 + "]" * 50_000).encode()
    s.routes["GET /object_info"] = lambda req, sock: H.answer(sock, 200, deep)
    refused(user.run("comfyui", "check", s.url, "--workflow", "wf.json"), "nested too deeply")
    s.routes["GET /system_stats"] = _json_route({"system": {"comfyui_version": "1\x1b[2J\x1b]0;x\x07"}})
    del s.routes["GET /object_info"]
    rc, err = user.run("comfyui", "check", s.url, "--workflow", "wf.json")
    assert rc == 0 and "Traceback" not in err
    user.check()


# -- what the server returns is decoded only as what it claims ----------------------------------------


def _serve_output(s, name: str, data: bytes) -> None:
    s.files[name] = data
    s.outputs["images"] = [{"filename": name, "subfolder": "", "type": "output"}]


@pytest.mark.parametrize(("name", "make", "needle"), [
    ("out.mp4", lambda home: (f"#EXTM3U\n#EXT-X-TARGETDURATION:10\n#EXTINF:10,\n"
                              f"file://{home / 'secret.mp4'}\n#EXT-X-ENDLIST\n").encode(), "HLS playlist"),
    ("out.mp4", lambda home: f"#EXTM3U\n#EXTINF:1,\n{home / 'secret.mp4'}\n".encode(), "HLS playlist"),
    ("out.webm", lambda home: f"ffconcat version 1.0\nfile '{home / 'secret.mp4'}'\n".encode(),
     "ffmpeg concat list"),
    # an mp4 box header in front of a playlist: magic passes, the forced mov demuxer reads no playlist
    ("out.mp4", lambda home: b"\x00\x00\x00\x18ftypisom" + b"\x00" * 12
     + f"#EXTM3U\n#EXTINF:1,\nfile://{home / 'secret.mp4'}\n".encode(), "has no readable video"),
    ("out.webm", lambda home: (home / "secret.mp4").read_bytes(), "is not a webm file"),
    ("out.png", lambda home: (home / "secret.mp4").read_bytes(), "is not a png file"),
    ("out.mp4", lambda home: b"<html>not found</html>", "it is text"),
])
def test_playlists_and_disguised_files_are_never_decoded(user, comfy, name, make, needle):
    s = comfy()
    _serve_output(s, name, make(user.root))
    refused(user.render(s.url), needle, seconds=20, user=user)
    assert not (user.root / "out").exists() or not list((user.root / "out").glob("frame_*"))
    user.check()


def test_a_real_mp4_output_still_decodes(user, comfy, tmp_path):
    s = comfy()
    _mp4(tmp_path / "o.mp4", [40, 80, 120, 160])
    _serve_output(s, "out.mp4", (tmp_path / "o.mp4").read_bytes())
    rendered(user.render(s.url), user)


def test_decoded_size_is_capped_before_decoding(user, comfy, monkeypatch):
    """128 small PNGs that each decode to 4000x4000 (48 MB): the budget stops it before the frame
    that would cross it, not after gigabytes (was: 6 GB for 128 of them)."""
    monkeypatch.setattr(limits, "OUTPUT_DECODED_MAX_BYTES", 150 << 20)
    s = comfy()
    big = H.png(4000, 4000, 0)
    assert len(big) < 200_000
    s.files["big.png"] = big
    s.outputs["images"] = [{"filename": "big.png", "subfolder": "", "type": "output"}] * 64
    peak0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    refused(user.render(s.url), "would decode to more than the limit of 150 MB", seconds=30, user=user)
    assert s.paths("GET").count("/view") == 4  # 3 fit in 150 MB, the 4th is refused before decoding
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - peak0 < 400_000  # KiB
    user.check()


def test_ctrl_c_during_a_silent_job_cancels_it_on_the_server(comfy):
    import os
    import signal

    s = comfy()
    s.ws_script = H.silent_ws_script
    s.done_in_history = False
    s.routes["GET /queue"] = lambda req, sock: H.answer_json(
        sock, {"queue_running": [[1, s.prompt_id, {}, {}, []]], "queue_pending": []})
    timer = threading.Timer(0.8, os.kill, (os.getpid(), signal.SIGINT))
    timer.start()
    t0 = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        ComfyClient(s.url).run(WORKFLOW)
    timer.join()
    assert time.monotonic() - t0 < 3
    assert s.saw("POST", "/queue") and s.saw("POST", "/interrupt")  # dropped and interrupted


def test_cancelling_a_job_on_a_stalled_server_waits_once_at_most(comfy, quick):
    s = comfy()
    s.ws_script = H.script(H.ws_frame(b"not json"))
    for route in ("POST /queue", "POST /interrupt", "POST /history"):
        s.routes[route] = H.stall(20)
    t0 = time.monotonic()
    with pytest.raises(ComfyUIError, match="not JSON"):
        ComfyClient(s.url).run(WORKFLOW)
    assert time.monotonic() - t0 < 4  # one housekeeping wait (idle 1 s here), not one per request
    # the first stalled housekeeping request ends the clean-up: nothing more is tried
    assert [p for p in s.paths("POST") if p != "/prompt"] == ["/queue"]


def test_websocket_chatter_without_news_still_polls_the_history(user, comfy, quick):
    """A server that keeps sending status events (and other extensions' noise) but never
    execution_success: the history is asked, and says the job is done."""
    s = comfy()

    def chatter(server, sock):
        H.wait_submitted(server)
        for _ in range(100):
            sock.sendall(H.event("status", status={"exec_info": {"queue_remaining": 1}}))
            sock.sendall(H.ws_frame(json.dumps({"type": "crystools.monitor", "data": {"cpu": 1}})))
            time.sleep(0.1)
    s.ws_script = chatter
    rendered(user.render(s.url), user)
    assert user.seconds < 3


@pytest.mark.parametrize(("handler", "needle"), [
    (_raw(b"HTTP/1.1 2OO OK\r\n\r\n"), "did not answer with HTTP (BadStatusLine)"),
    (lambda req, sock: H.answer(sock, 200, b'{"queue_running": [', length=4000), "cut short"),
    (lambda req, sock: H.answer_json(sock, {"queue_running": {}, "queue_pending": []}), "not shaped like"),
])
def test_a_broken_answer_after_queueing_cancels_the_prompt(user, comfy, handler, needle):
    """Once the prompt is queued, every failure removes it from the server's queue (was: left
    queued after IncompleteRead / BadStatusLine / a reply of the wrong shape)."""
    s = comfy()
    s.ws_script = H.silent_ws_script
    s.routes["GET /queue"] = handler
    refused(user.render(s.url), needle, seconds=15, user=user)
    delete = [json.loads(r.body) for r in s.requests if r.method == "POST" and r.path == "/queue"]
    assert delete == [{"delete": [s.prompt_id]}]
    user.check()


@pytest.mark.parametrize(("handler", "needle"), [
    (lambda req, sock: H.answer_json(sock, {"not": "a websocket"}), "handshake refused: HTTP/1.1 200 OK"),
    (_raw(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nSec-WebSocket-Accept: nope\r\n\r\n"),
     "bad Sec-WebSocket-Accept"),
    (_raw(b"HTTP/1.1 101 Switching Protocols\r\n" + b"X-Pad: " + b"a" * 40_000 + b"\r\n\r\n"),
     "header is too long"),
    (H.stall(20), "no answer in time"),
    (_raw(b"HTTP/1.1 101 \x1b[2JSwitching\r\n\r\n"), "bad Sec-WebSocket-Accept"),
])
def test_a_bad_websocket_handshake_is_one_sentence_before_anything_is_queued(user, comfy, quick, handler,
                                                                             needle):
    s = comfy()
    s.routes["GET /ws"] = handler
    refused(user.render(s.url), "cannot open the ComfyUI websocket", needle, seconds=8, user=user)
    assert not s.saw("POST", "/prompt")
    user.check()


# -- https / wss (certificates made by the openssl CLI in the test's folder) ------------------------


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory):
    import shutil
    import subprocess

    if shutil.which("openssl") is None:
        pytest.fail("the openssl command is needed to make the test certificates (apt install openssl)")
    d = tmp_path_factory.mktemp("tls")
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    for args in (["req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.pem", "-days", "2",
                  "-subj", "/CN=th CA", "-addext", "basicConstraints=critical,CA:TRUE",
                  "-addext", "keyUsage=critical,keyCertSign"],
                 ["req", *ec, "-keyout", "s.key", "-out", "s.csr", "-subj", "/CN=127.0.0.1"]):
        subprocess.run(["openssl", *args], cwd=d, check=True, capture_output=True)
    (d / "ext.cnf").write_text("subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n"
                               "extendedKeyUsage=serverAuth\n")
    subprocess.run(["openssl", "x509", "-req", "-in", "s.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
                    "-CAcreateserial", "-out", "s.pem", "-days", "2", "-extfile", "ext.cnf"],
                   cwd=d, check=True, capture_output=True)
    return d


@pytest.fixture
def tls_comfy(comfy, tls_files):
    import ssl

    def make():
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(str(tls_files / "s.pem"), str(tls_files / "s.key"))
        return H.FakeComfy(tls=ctx)
    return make


def test_https_and_wss_round_trip_with_a_ca_file_and_the_token(user, tls_comfy, tls_files, monkeypatch):
    monkeypatch.setenv("TALKING_HEAD_COMFYUI_TOKEN", TOKEN)
    s = tls_comfy()
    try:
        refused(user.render(s.url), "does not trust", "--ca-file")  # verification is on
        rendered(user.render(s.url, "--ca-file", tls_files / "ca.pem"), user)
        assert any(r.headers.get("upgrade") == "websocket" for r in s.requests)  # wss
        assert set(s.tokens()) == {f"Bearer {TOKEN}"}
    finally:
        s.close()


def test_a_redirect_from_https_down_to_http_is_refused(user, tls_comfy, tls_files, comfy, monkeypatch):
    monkeypatch.setenv("TALKING_HEAD_COMFYUI_TOKEN", TOKEN)
    s, plain = tls_comfy(), comfy()
    try:
        s.routes["GET /view"] = _view_redirect(plain.url)
        refused(user.render(s.url, "--ca-file", tls_files / "ca.pem"), "from https to plain http")
        assert plain.requests == []
        user.check()
    finally:
        s.close()
