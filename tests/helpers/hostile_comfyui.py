"""A fake ComfyUI on 127.0.0.1 that can misbehave in every way a hostile server could.

Raw sockets (not http.server) so a test can send anything: wrong status lines, lying lengths,
trickled bytes, redirects, malformed websocket frames. By default it answers like a tiny ComfyUI:
``/system_stats``, ``/object_info`` (LoadImage, SaveImage), ``/upload/image``, ``/prompt``,
``/queue``, ``/history/<id>``, ``/view`` and a ``/ws`` websocket that reports one node and
``execution_success`` once the prompt is queued. A test replaces any route with
``server.routes["GET /view"] = handler`` (``handler(req, sock)`` writes the raw answer) or the
websocket with ``server.ws_script = script`` (``script(server, sock)`` after the handshake).
Every request is recorded (method, path, headers) for assertions (who got the token?).
Only ever listens on loopback.
"""

from __future__ import annotations

import base64
import hashlib
import json
import socket
import ssl
import struct
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import parse_qs, urlsplit

import cv2
import numpy as np

_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
PROMPT_ID = "3f6c7a0e-1111-4222-8333-944445555666"


@dataclass
class Request:
    method: str
    path: str  # without the query
    query: dict[str, list[str]]
    headers: dict[str, str]  # lower-case names
    body: bytes = b""


def png(w: int = 64, h: int = 64, value: int = 128) -> bytes:
    return cv2.imencode(".png", np.full((h, w, 3), value, np.uint8))[1].tobytes()


def answer(sock: socket.socket, status: int = 200, body: bytes = b"", headers: dict | None = None,
           reason: str = "OK", length: int | None = None) -> None:
    """One HTTP answer; ``length``: the Content-Length to claim (default: the truth)."""
    head = [f"HTTP/1.1 {status} {reason}", f"Content-Length: {len(body) if length is None else length}",
            "Connection: close"]
    head += [f"{k}: {v}" for k, v in (headers or {}).items()]
    sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body)


def answer_json(sock: socket.socket, doc: object, status: int = 200) -> None:
    answer(sock, status, json.dumps(doc).encode(), {"Content-Type": "application/json"})


def redirect(sock: socket.socket, location: str, status: int = 302) -> None:
    answer(sock, status, b"", {"Location": location}, reason="Found")


def ws_frame(payload: bytes | str, opcode: int = 1, fin: bool = True, rsv: int = 0,
             length: int | None = None) -> bytes:
    """A server frame (unmasked); ``length``: the length to declare (default: the truth)."""
    data = payload.encode() if isinstance(payload, str) else payload
    n = len(data) if length is None else length
    b1 = (0x80 if fin else 0) | (rsv << 4) | opcode
    if n < 126:
        head = bytes([b1, n])
    elif n < 1 << 16:
        head = bytes([b1, 126]) + struct.pack("!H", n)
    else:
        head = bytes([b1, 127]) + struct.pack("!Q", n)
    return head + data


def event(kind: str, **data: object) -> bytes:
    return ws_frame(json.dumps({"type": kind, "data": data}))


@dataclass
class FakeComfy:
    host: str = "127.0.0.1"
    requests: list[Request] = field(default_factory=list)
    routes: dict[str, Callable[[Request, socket.socket], None]] = field(default_factory=dict)
    ws_script: Callable[[FakeComfy, socket.socket], None] | None = None
    files: dict[str, bytes] = field(default_factory=dict)  # what /view serves, by file name
    outputs: dict = field(default_factory=dict)  # the output node's listing in /history
    prompt_id: str = PROMPT_ID
    done_in_history: bool = True  # /history lists the job as finished (after /prompt)
    tls: ssl.SSLContext | None = None  # a server context: https and wss

    def __post_init__(self) -> None:
        assert self.host.startswith("127."), "the fake server only ever listens on loopback"
        self.listener = socket.create_server((self.host, 0))
        self.port = self.listener.getsockname()[1]
        self.url = f"{'https' if self.tls else 'http'}://{self.host}:{self.port}"
        self.submitted = threading.Event()
        self._closed = False
        self.files.setdefault("out.png", png())
        self.outputs.setdefault("images", [{"filename": "out.png", "subfolder": "", "type": "output"}])
        threading.Thread(target=self._accept, daemon=True).start()

    # -- what happened ------------------------------------------------------------------------
    def paths(self, method: str | None = None) -> list[str]:
        return [r.path for r in self.requests if method is None or r.method == method]

    def saw(self, method: str, path: str) -> bool:
        return any(r.method == method and r.path == path for r in self.requests)

    def tokens(self) -> list[str]:
        return [r.headers["authorization"] for r in self.requests if "authorization" in r.headers]

    def close(self) -> None:
        self._closed = True
        self.listener.close()

    # -- serving -------------------------------------------------------------------------------
    def _accept(self) -> None:
        while not self._closed:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, sock: socket.socket) -> None:
        try:
            sock.settimeout(30)
            if self.tls is not None:
                sock = self.tls.wrap_socket(sock, server_side=True)
            req = self._read_request(sock)
            if req is None:
                return
            self.requests.append(req)
            key = f"{req.method} {req.path}"
            if req.headers.get("upgrade", "").lower() == "websocket" and key not in self.routes:
                self._websocket(req, sock)
                return
            handler = self.routes.get(key) or next(
                (h for k, h in self.routes.items() if k.endswith("*") and key.startswith(k[:-1])), None)
            (handler or self._default)(req, sock)
        except OSError:
            pass
        finally:
            try:
                sock.close()
            except OSError:
                pass

    @staticmethod
    def _read_request(sock: socket.socket) -> Request | None:
        buf = b""
        while b"\r\n\r\n" not in buf:
            chunk = sock.recv(65536)
            if not chunk:
                return None
            buf += chunk
        head, _, body = buf.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        method, target, _ = lines[0].split(" ", 2)
        headers = {k.strip().lower(): v.strip() for k, _, v in (h.partition(":") for h in lines[1:])}
        n = int(headers.get("content-length", "0") or 0)
        while len(body) < n:
            chunk = sock.recv(65536)
            if not chunk:
                break
            body += chunk
        parts = urlsplit(target)
        return Request(method, parts.path, parse_qs(parts.query), headers, body)

    def _default(self, req: Request, sock: socket.socket) -> None:
        path = req.path
        if path == "/system_stats":
            answer_json(sock, {"system": {"comfyui_version": "0.0-fake"}, "devices": []})
        elif path == "/object_info":
            answer_json(sock, {
                "LoadImage": {"input": {"required": {"image": [["x.png"], {}]}}},
                "SaveImage": {"input": {"required": {"images": ["IMAGE"],
                                                     "filename_prefix": ["STRING", {}]}}},
            })
        elif path == "/upload/image":
            answer_json(sock, {"name": "up.png", "subfolder": "talking_head", "type": "input"})
        elif path == "/prompt" and req.method == "POST":
            self.submitted.set()
            answer_json(sock, {"prompt_id": self.prompt_id, "number": 1, "node_errors": {}})
        elif path == "/queue" and req.method == "GET":
            answer_json(sock, {"queue_running": [], "queue_pending": []})
        elif path.startswith("/history/"):
            done = self.done_in_history and self.submitted.is_set()
            answer_json(sock, {self.prompt_id: {"status": {"status_str": "success", "completed": True},
                                                "outputs": {"2": self.outputs}}} if done else {})
        elif path == "/view":
            name = req.query.get("filename", [""])[0]
            if name in self.files:
                answer(sock, 200, self.files[name], {"Content-Type": "application/octet-stream"})
            else:
                answer(sock, 404, b"not found", reason="Not Found")
        elif req.method == "POST" and path in ("/interrupt", "/queue", "/history"):
            answer_json(sock, {})
        else:
            answer(sock, 404, b"no such route", reason="Not Found")

    def _websocket(self, req: Request, sock: socket.socket) -> None:
        key = req.headers.get("sec-websocket-key", "")
        accept = base64.b64encode(hashlib.sha1((key + _GUID).encode()).digest()).decode()
        sock.sendall(("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                      f"Sec-WebSocket-Accept: {accept}\r\n\r\n").encode())
        sock.sendall(event("status", status={"exec_info": {"queue_remaining": 0}}))
        (self.ws_script or default_ws_script)(self, sock)
        # stay open until the client goes (a server closing early is a case of its own)
        sock.settimeout(30)
        try:
            while sock.recv(65536):
                pass
        except OSError:
            pass


def wait_submitted(server: FakeComfy, timeout: float = 10.0) -> bool:
    """Wait for the client's POST /prompt (a test that never queues one just sees no events)."""
    return server.submitted.wait(timeout)


def default_ws_script(server: FakeComfy, sock: socket.socket) -> None:
    if not wait_submitted(server):
        return
    pid = server.prompt_id
    for frame in (event("execution_start", prompt_id=pid), event("executing", node="2", prompt_id=pid),
                  event("progress", value=1, max=1, prompt_id=pid),
                  event("execution_success", prompt_id=pid),
                  event("executing", node=None, prompt_id=pid)):
        sock.sendall(frame)


def silent_ws_script(server: FakeComfy, sock: socket.socket) -> None:
    """Says nothing at all after the handshake (the client must poll, or give up in time)."""
    wait_submitted(server)


def script(*frames: bytes, after_submit: bool = True) -> Callable[[FakeComfy, socket.socket], None]:
    """A websocket script sending these raw frames (once the prompt is queued)."""
    def run(server: FakeComfy, sock: socket.socket) -> None:
        if after_submit and not wait_submitted(server):
            return
        for frame in frames:
            sock.sendall(frame)
    return run


def trickle(data: bytes, every: float = 0.3) -> Callable[[Request, socket.socket], None]:
    """An HTTP handler that sends ``data`` one byte every ``every`` seconds."""
    def handler(req: Request, sock: socket.socket) -> None:
        for k in range(len(data)):
            sock.sendall(data[k:k + 1])
            time.sleep(every)
    return handler


def stall(seconds: float = 30.0) -> Callable[[Request, socket.socket], None]:
    """An HTTP handler that reads the request and answers nothing."""
    def handler(req: Request, sock: socket.socket) -> None:
        time.sleep(seconds)
    return handler
