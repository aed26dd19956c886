"""A minimal RFC 6455 websocket client on the standard library (text messages only).

Why not a package: ComfyUI's socket is the only websocket the extension talks to, it sends small
JSON text frames (plus binary preview images we skip), and a 150-line client avoids bundling a
wheel for three platforms. Supports ws:// and wss:// (TLS through ``ssl``: the caller's verifying
context, else the system's certificates), extra headers (auth), masking, fragmented messages,
ping/pong and close. Everything the server sends is untrusted: frame lengths are capped before
anything is allocated, a frame once started must finish within the idle time, protocol violations
(reserved bits, unknown opcodes, stray continuations, bad UTF-8) end the connection in one
sentence, and a blocked read wakes every ``NET_TICK_S`` to check cancel.
"""

from __future__ import annotations

import base64
import hashlib
import os
import socket
import ssl
import struct
import time
from collections.abc import Callable
from urllib.parse import urlsplit

from ... import limits
from ...progress import Cancelled
from ...safe_text import printable

_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
OP_CONT, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA


class WebSocketError(OSError):
    """The connection failed, was refused, closed, broke the protocol or stalled mid-frame.
    ``status``: the HTTP status of a refused handshake (e.g. 401), else None."""

    status: int | None = None
    protocol: bool = False  # the server broke the protocol (malformed or stalled frame)


class WebSocketTimeout(TimeoutError):
    """No message started arriving within the read timeout (the connection is still usable)."""


_HANDSHAKE_MAX_BYTES = 16 << 10  # a 101 answer is a few hundred bytes


class WebSocket:
    """``timeout``: connect and handshake. ``idle``: seconds the rest of a message may take once
    its first byte is here (a server trickling a frame cannot hold us). ``max_message``: bytes of
    one message, refused from the frame's declared length before anything is allocated.
    ``cancelled``: checked every ``NET_TICK_S`` while a read blocks (raises ``Cancelled``)."""

    def __init__(self, url: str, headers: dict[str, str] | None = None, timeout: float = 10.0,
                 ssl_context: ssl.SSLContext | None = None, *, idle: float | None = None,
                 max_message: int | None = None, cancelled: Callable[[], bool] | None = None):
        parts = urlsplit(url)
        if parts.scheme not in ("ws", "wss"):
            raise WebSocketError(f"not a websocket URL: {url}")
        host = parts.hostname or "localhost"
        port = parts.port or (443 if parts.scheme == "wss" else 80)
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        self.idle = idle or limits.NET_IDLE_TIMEOUT_S
        self.max_message = max_message or limits.WS_MESSAGE_MAX_BYTES
        self._cancelled = cancelled
        try:
            sock = socket.create_connection((host, port), timeout=timeout)
            if parts.scheme == "wss":
                ctx = ssl_context or ssl.create_default_context()
                sock = ctx.wrap_socket(sock, server_hostname=host)
        except OSError as exc:
            raise WebSocketError(f"cannot connect to {host}:{port}: {exc}") from exc
        self._sock = sock
        self._buf = bytearray()
        self.closed = False
        key = base64.b64encode(os.urandom(16)).decode()
        host_header = host if parts.port is None else f"{host}:{port}"
        lines = [f"GET {path} HTTP/1.1", f"Host: {host_header}", "Upgrade: websocket",
                 "Connection: Upgrade", f"Sec-WebSocket-Key: {key}", "Sec-WebSocket-Version: 13"]
        lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
        try:
            sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
            head = self._read_head(time.monotonic() + timeout)
        except OSError as exc:
            self._sock.close()
            if isinstance(exc, WebSocketError):
                raise
            raise WebSocketError(f"websocket handshake with {host}:{port} failed: {exc}") from exc
        status, *header_lines = head.decode("latin-1").split("\r\n")
        if " 101 " not in f"{status} ":
            self._sock.close()
            err = WebSocketError(f"websocket handshake refused: {printable(status.strip(), 80)}")
            code = status.split(" ")[1] if status.count(" ") else ""
            err.status = int(code) if code.isdigit() and len(code) == 3 else None
            raise err
        got = {k.strip().lower(): v.strip() for k, _, v in (h.partition(":") for h in header_lines)}
        want = base64.b64encode(hashlib.sha1((key + _GUID).encode()).digest()).decode()
        if got.get("sec-websocket-accept") != want:
            self._sock.close()
            raise WebSocketError("websocket handshake: bad Sec-WebSocket-Accept")

    # -- raw reading -----------------------------------------------------------------------
    def _recv_some(self, until: float) -> bool:
        """Add what the socket has to the buffer; False once ``until`` passes with nothing. Short
        socket timeouts (the buffer is ours, so a timeout never loses a byte) let cancel through."""
        while True:
            if self._cancelled is not None and self._cancelled():
                raise Cancelled("cancelled")
            left = until - time.monotonic()
            if left <= 0:
                return False
            self._sock.settimeout(min(limits.NET_TICK_S, left))
            try:
                chunk = self._sock.recv(65536)
            except TimeoutError:
                continue
            except OSError as exc:
                self.closed = True
                raise WebSocketError(f"websocket connection lost: {exc}") from exc
            if not chunk:
                self.closed = True
                raise WebSocketError("websocket connection closed by the server")
            self._buf += chunk
            return True

    def _need(self, n: int, until: float) -> bool:
        while len(self._buf) < n:
            if not self._recv_some(until):
                return False
        return True

    def _read_head(self, until: float) -> bytes:
        while True:
            end = self._buf.find(b"\r\n\r\n")
            if end > _HANDSHAKE_MAX_BYTES or (end < 0 and len(self._buf) > _HANDSHAKE_MAX_BYTES):
                raise WebSocketError("websocket handshake: the answer's header is too long")
            if end >= 0:
                break
            if not self._recv_some(until):
                raise WebSocketError("websocket handshake: no answer in time")
        head, _, rest = bytes(self._buf).partition(b"\r\n\r\n")
        self._buf = bytearray(rest)
        return head

    def _stalled(self) -> WebSocketError:
        self.closed = True
        err = WebSocketError(f"the server started a websocket frame and did not finish it within "
                             f"{self.idle:g} s")
        err.protocol = True
        return err

    def _read_frame(self, until_first: float) -> tuple[bool, int, bytes]:
        """One frame. Nothing is consumed until the whole frame is here: a timeout before its
        first byte leaves the connection usable; once it started, the rest must come within
        ``idle`` seconds. Lengths are checked before anything is allocated."""
        if not self._need(2, until_first):
            raise WebSocketTimeout("no data")
        until = time.monotonic() + self.idle
        b1, b2 = self._buf[0], self._buf[1]
        opcode, n = b1 & 0x0F, b2 & 0x7F
        head = 2 + (2 if n == 126 else 8 if n == 127 else 0) + (4 if b2 & 0x80 else 0)
        if b1 & 0x70:
            raise self._malformed("reserved bits set (no extension was negotiated)")
        if opcode not in (OP_CONT, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG):
            raise self._malformed(f"unknown opcode {opcode}")
        if not self._need(head, until):
            raise self._stalled()
        if n == 126:
            n = struct.unpack("!H", self._buf[2:4])[0]
        elif n == 127:
            n = struct.unpack("!Q", self._buf[2:10])[0]
        if opcode >= OP_CLOSE and (n > 125 or not b1 & 0x80):
            raise self._malformed("a control frame longer than 125 bytes or fragmented")
        if n > self.max_message:
            raise self._malformed(f"a frame of {n:,} bytes, above the limit of {self.max_message:,}")
        if not self._need(head + n, until):
            raise self._stalled()
        mask = bytes(self._buf[head - 4:head]) if b2 & 0x80 else None
        payload = bytes(self._buf[head:head + n])
        del self._buf[:head + n]
        if mask:
            payload = _apply_mask(payload, mask)
        return bool(b1 & 0x80), opcode, payload

    def _malformed(self, why: str) -> WebSocketError:
        self.closed = True
        err = WebSocketError(f"malformed websocket frame from the server: {why}")
        err.protocol = True
        return err

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
        self._sock.settimeout(self.idle)
        self._sock.sendall(head + mask + _apply_mask(payload, mask))

    # -- public ------------------------------------------------------------------------------
    def recv(self, timeout: float | None = None) -> str | bytes:
        """The next whole message: ``str`` for text, ``bytes`` for binary. Raises
        ``WebSocketTimeout`` when nothing starts arriving within ``timeout`` seconds,
        ``WebSocketError`` when the connection is closed, lost, stalled mid-message or the
        server breaks the protocol, ``Cancelled`` when cancelled."""
        if self.closed:
            raise WebSocketError("websocket is closed")
        until = time.monotonic() + (timeout if timeout is not None else float("inf"))
        parts: list[bytes] = []
        size = 0
        kind = None
        while True:
            fin, opcode, payload = self._read_frame(until)
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
                if kind is not None:
                    raise self._malformed("a new message started inside a fragmented one")
                kind = opcode
            elif kind is None:
                raise self._malformed("a continuation frame without a message")
            size += len(payload)
            if size > self.max_message:
                raise self._malformed(f"a fragmented message above the limit of {self.max_message:,} bytes")
            parts.append(payload)
            if fin:
                data = b"".join(parts)
                if kind == OP_BINARY:
                    return data
                try:
                    return data.decode("utf-8")
                except UnicodeDecodeError:
                    raise self._malformed("a text message that is not UTF-8") from None
            # the rest of a started message: within the idle time, like the rest of a frame
            until = time.monotonic() + self.idle

    def send_text(self, text: str) -> None:
        self._send(OP_TEXT, text.encode("utf-8"))

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            try:
                self._sock.settimeout(1.0)
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
