"""A minimal RFC 6455 websocket client on the standard library (text messages only).

Why not a package: ComfyUI's socket is the only websocket the extension talks to, it sends small
JSON text frames (plus binary preview images we skip), and a 150-line client avoids bundling a
wheel for three platforms. Supports ws:// and wss:// (TLS through ``ssl``: the caller's verifying
context, else the system's certificates), extra headers (auth), masking, fragmented messages,
ping/pong and close.
"""

from __future__ import annotations

import base64
import hashlib
import os
import socket
import ssl
import struct
from urllib.parse import urlsplit

_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
OP_CONT, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA


class WebSocketError(OSError):
    """The connection failed, was refused or closed. ``status``: the HTTP status of a refused
    handshake (e.g. 401), else None."""

    status: int | None = None


class WebSocketTimeout(TimeoutError):
    """No message arrived within the read timeout (the connection is still usable)."""


class WebSocket:
    def __init__(self, url: str, headers: dict[str, str] | None = None, timeout: float = 10.0,
                 ssl_context: ssl.SSLContext | None = None):
        parts = urlsplit(url)
        if parts.scheme not in ("ws", "wss"):
            raise WebSocketError(f"not a websocket URL: {url}")
        host = parts.hostname or "localhost"
        port = parts.port or (443 if parts.scheme == "wss" else 80)
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        try:
            sock = socket.create_connection((host, port), timeout=timeout)
            if parts.scheme == "wss":
                ctx = ssl_context or ssl.create_default_context()
                sock = ctx.wrap_socket(sock, server_hostname=host)
        except OSError as exc:
            raise WebSocketError(f"cannot connect to {host}:{port}: {exc}") from exc
        self._sock = sock
        self._buf = b""
        self.closed = False
        key = base64.b64encode(os.urandom(16)).decode()
        host_header = host if parts.port is None else f"{host}:{port}"
        lines = [f"GET {path} HTTP/1.1", f"Host: {host_header}", "Upgrade: websocket",
                 "Connection: Upgrade", f"Sec-WebSocket-Key: {key}", "Sec-WebSocket-Version: 13"]
        lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
        try:
            sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
            head = self._read_until(b"\r\n\r\n")
        except OSError as exc:
            self._sock.close()
            raise WebSocketError(f"websocket handshake with {host}:{port} failed: {exc}") from exc
        status, *header_lines = head.decode("latin-1").split("\r\n")
        if " 101 " not in f"{status} ":
            self._sock.close()
            err = WebSocketError(f"websocket handshake refused: {status.strip()}")
            code = status.split(" ")[1] if status.count(" ") else ""
            err.status = int(code) if code.isdigit() else None
            raise err
        got = {k.strip().lower(): v.strip() for k, _, v in (h.partition(":") for h in header_lines)}
        want = base64.b64encode(hashlib.sha1((key + _GUID).encode()).digest()).decode()
        if got.get("sec-websocket-accept") != want:
            self._sock.close()
            raise WebSocketError("websocket handshake: bad Sec-WebSocket-Accept")

    # -- raw reading -----------------------------------------------------------------------
    def _read_until(self, marker: bytes) -> bytes:
        while marker not in self._buf:
            chunk = self._sock.recv(65536)
            if not chunk:
                raise WebSocketError("connection closed during handshake")
            self._buf += chunk
        head, _, self._buf = self._buf.partition(marker)
        return head

    def _read_exact(self, n: int) -> bytes:
        while len(self._buf) < n:
            try:
                chunk = self._sock.recv(max(65536, n - len(self._buf)))
            except TimeoutError as exc:
                raise WebSocketTimeout("no data") from exc
            except OSError as exc:
                self.closed = True
                raise WebSocketError(f"websocket connection lost: {exc}") from exc
            if not chunk:
                self.closed = True
                raise WebSocketError("websocket connection closed by the server")
            self._buf += chunk
        data, self._buf = self._buf[:n], self._buf[n:]
        return data

    def _read_frame(self) -> tuple[bool, int, bytes]:
        # A timeout may only interrupt us before a frame starts: once its first byte is here we
        # read the rest without a deadline, so a frame is never split by a timeout.
        b1, b2 = self._read_exact(2)
        old = self._sock.gettimeout()
        self._sock.settimeout(None)
        try:
            n = b2 & 0x7F
            if n == 126:
                n = struct.unpack("!H", self._read_exact(2))[0]
            elif n == 127:
                n = struct.unpack("!Q", self._read_exact(8))[0]
            mask = self._read_exact(4) if b2 & 0x80 else None
            payload = self._read_exact(n)
        finally:
            self._sock.settimeout(old)
        if mask:
            payload = _apply_mask(payload, mask)
        return bool(b1 & 0x80), b1 & 0x0F, payload

    def _send(self, opcode: int, payload: bytes) -> None:
        n = len(payload)
        head = bytes([0x80 | opcode])
        if n < 126:
            head += bytes([0x80 | n])
        elif n < 1 << 16:
            head += bytes([0x80 | 126]) + struct.pack("!H", n)
        else:
            head += bytes([0x80 | 127]) + struct.pack("!Q", n)
        mask = os.urandom(4)  # clients must mask every frame
        self._sock.sendall(head + mask + _apply_mask(payload, mask))

    # -- public ------------------------------------------------------------------------------
    def recv(self, timeout: float | None = None) -> str | bytes:
        """The next whole message: ``str`` for text, ``bytes`` for binary. Raises
        ``WebSocketTimeout`` when nothing starts arriving within ``timeout`` seconds and
        ``WebSocketError`` when the connection is closed or lost."""
        if self.closed:
            raise WebSocketError("websocket is closed")
        self._sock.settimeout(timeout)
        parts: list[bytes] = []
        kind = None
        while True:
            fin, opcode, payload = self._read_frame()
            if opcode == OP_PING:
                self._send(OP_PONG, payload)
                continue
            if opcode == OP_PONG:
                continue
            if opcode == OP_CLOSE:
                self.closed = True
                try:
                    self._send(OP_CLOSE, payload[:2])
                except OSError:
                    pass
                self._sock.close()
                raise WebSocketError("websocket closed by the server")
            if opcode in (OP_TEXT, OP_BINARY):
                kind = opcode
                parts = [payload]
            elif opcode == OP_CONT:
                parts.append(payload)
            if fin and kind is not None:
                data = b"".join(parts)
                return data.decode("utf-8") if kind == OP_TEXT else data

    def send_text(self, text: str) -> None:
        self._send(OP_TEXT, text.encode("utf-8"))

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            try:
                self._send(OP_CLOSE, struct.pack("!H", 1000))
            except OSError:
                pass
        try:
            self._sock.close()
        except OSError:
            pass


def _apply_mask(data: bytes, mask: bytes) -> bytes:
    if not data:
        return data
    # XOR with a repeated 4-byte key through int arithmetic: fast enough for MB-sized frames.
    key = (mask * (len(data) // 4 + 1))[: len(data)]
    return (int.from_bytes(data, "big") ^ int.from_bytes(key, "big")).to_bytes(len(data), "big")
