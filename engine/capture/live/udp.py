"""A UDP port -> decoded phone frames -> samples, on a worker thread.

Binds only the address asked for: 127.0.0.1 by default (the phone app then needs a relay or the
sender on this machine); another interface's address, or 0.0.0.0 for all of them, only when the
user names it (``livelink:0.0.0.0:11111``). Receiving is not contacting anyone, so no online
consent is needed, but the bind is said out loud.
"""

from __future__ import annotations

import errno
import socket
import threading
import time

from .. import expression
from .packets import ARKIT_NAMES, DECODERS, DEFAULT_PORTS, MAX_PACKET_BYTES, PacketError
from .samples import LiveError, Sample, SampleBuffer

APP_NAMES = {"livelink": "Live Link Face", "ifacialmocap": "iFacialMocap"}
TICK_S = 0.1  # the worker checks for stop this often


class UdpReceiver:
    """``kind``: "livelink" or "ifacialmocap". Use as a context manager, or start()/stop()."""

    def __init__(self, kind: str, host: str = "127.0.0.1", port: int | None = None):
        if kind not in DECODERS:
            raise LiveError(f"unknown packet kind {kind!r}")
        self.kind = kind
        self.host = host
        self.port = DEFAULT_PORTS[kind] if port is None else int(port)
        self.buffer = SampleBuffer(names=list(ARKIT_NAMES))
        self._decode = DECODERS[kind]
        self._sock: socket.socket | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.error: BaseException | None = None

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    def describe(self) -> str:
        return f"{APP_NAMES[self.kind]} on UDP {self.address}"

    def start(self) -> UdpReceiver:
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            sock.bind((self.host, self.port))
        except OSError as exc:
            sock.close()
            if exc.errno in (errno.EADDRINUSE, getattr(errno, "WSAEADDRINUSE", -1)):
                raise LiveError(f"UDP port {self.port} on {self.host} is already in use (another "
                                f"receiver, or Unreal's Live Link, is listening there); close it or "
                                f"pick another port, e.g. {self.kind}:{self.host}:{self.port + 1}") from None
            if exc.errno in (errno.EADDRNOTAVAIL, errno.EACCES):
                raise LiveError(f"cannot listen on {self.address}: {exc.strerror}; give an address of "
                                "this machine (127.0.0.1, or 0.0.0.0 for every network)") from None
            raise LiveError(f"cannot listen on {self.address}: {exc.strerror or exc}") from None
        sock.settimeout(TICK_S)
        self.port = sock.getsockname()[1]  # port 0 asks the system for a free one (tests)
        self._sock = sock
        self._thread = threading.Thread(target=self._run, name=f"live-{self.kind}", daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        assert self._sock is not None
        buf = self.buffer
        try:
            while not self._stop.is_set():
                try:
                    data = self._sock.recv(MAX_PACKET_BYTES + 1)
                except TimeoutError:
                    continue
                except ConnectionResetError:
                    # Windows reports an earlier ICMP "port unreachable" on the next recv: noise
                    buf.drop("connection reset")
                    continue
                except OSError:
                    if self._stop.is_set():
                        break
                    raise
                t = time.monotonic()  # on arrival: the take is keyed by this, not the phone's clock
                try:
                    f = self._decode(data)
                except PacketError as exc:
                    buf.drop(_reason(exc))
                    continue
                raw = expression.raw_from_blendshapes(ARKIT_NAMES, f.blendshapes, f.yaw, f.pitch, f.roll,
                                                      f.gaze)
                buf.add(Sample(t, raw, f.blendshapes))
        except BaseException as exc:  # noqa: BLE001 - handed to the main thread, which words it
            self.error = exc

    def wait_first(self, timeout: float) -> None:
        """Block until the first valid packet; LiveError after ``timeout`` seconds without one."""
        if not self.buffer.first.wait(timeout):
            if self.error is not None:
                raise LiveError(f"{self.describe()} failed: {self.error}")
            bad = self.buffer.dropped_total()
            extra = (f" ({bad} packet(s) arrived but were not valid {APP_NAMES[self.kind]} frames)"
                     if bad else "")
            raise LiveError(f"no packets arriving on {self.address} after {timeout:g} s{extra}: check "
                            f"that {APP_NAMES[self.kind]} streams to this machine's address and port "
                            "and that a firewall lets UDP in")

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2)
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    def __enter__(self) -> UdpReceiver:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _reason(exc: PacketError) -> str:
    """A short bucket for the drop counters (the first words of the message)."""
    text = str(exc)
    for key in ("version", "truncated", "over", "finite", "far outside", "expected", "ASCII", "string"):
        if key in text:
            return key
    return "malformed"
