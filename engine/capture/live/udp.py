"""A UDP port -> decoded phone frames -> samples, on a worker thread.

Binds only the address asked for: 127.0.0.1 by default (the phone app then needs a relay or the
sender on this machine); another interface's address, or 0.0.0.0 for all of them, only when the
user names it (``livelink:0.0.0.0:11111``). Receiving is not contacting anyone, so no online
consent is needed, but the bind is said out loud.
"""

from __future__ import annotations

import errno
import ipaddress
import socket
import threading
import time

from ...net_policy import CONSENT_HINT, is_loopback
from ...safe_text import printable
from .. import expression
from .packets import (
    ARKIT_NAMES,
    DECODERS,
    DEFAULT_PORTS,
    IFM_HANDSHAKE,
    IFM_STOP,
    MAX_PACKET_BYTES,
    PacketError,
)
from .samples import LiveError, Sample, SampleBuffer

APP_NAMES = {"livelink": "Live Link Face", "ifacialmocap": "iFacialMocap"}
TICK_S = 0.1  # the worker checks for stop this often
HANDSHAKE_EVERY_S = 2.0  # iFacialMocap: repeat the start request until the phone streams
IFM_PHONE_PORT = 49983  # the app listens for the start request on this port


def check_phone(host: str, allow_network: bool) -> str:
    """The phone's address for iFacialMocap's start request: an IPv4 address (no name lookups);
    one off this machine needs the user's online consent, like every other connection."""
    host = host.strip()
    try:
        ipaddress.IPv4Address(host)
    except ValueError:
        raise LiveError(f"phone address {printable(host, 80)!r} is not an IPv4 address (iFacialMocap "
                        "shows it at the top of its screen, e.g. 192.168.1.23)") from None
    if not allow_network and not is_loopback(host):
        raise LiveError(f"sending iFacialMocap's start request to {host} contacts another device: "
                        f"allow network access first {CONSENT_HINT}")
    return host


class UdpReceiver:
    """``kind``: "livelink" or "ifacialmocap". Use as a context manager, or start()/stop()."""

    def __init__(self, kind: str, host: str = "127.0.0.1", port: int | None = None, *,
                 phone: str = "", phone_port: int = IFM_PHONE_PORT, allow_network: bool = False):
        """``phone`` (iFacialMocap only): the phone's address; the receiver then sends the app's
        start request there from its own port (the phone streams back to where it came from)
        every HANDSHAKE_EVERY_S until the first frame arrives, and the stop request at the end.
        Only that address is ever contacted, and one off loopback only with ``allow_network``."""
        if kind not in DECODERS:
            raise LiveError(f"unknown packet kind {kind!r}")
        if phone and kind != "ifacialmocap":
            raise LiveError("only iFacialMocap is started by a request to the phone; Live Link Face "
                            "streams to the target set in the app")
        self.phone = (check_phone(phone, allow_network), int(phone_port)) if phone else None
        if self.phone is not None and not is_loopback(self.phone[0]) and is_loopback(host):
            raise LiveError(f"the phone at {self.phone[0]} cannot reach {host}: listen on this machine's "
                            "network address (or 0.0.0.0, every network) to receive iFacialMocap")
        self.handshakes = 0
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
        asked = -HANDSHAKE_EVERY_S
        try:
            while not self._stop.is_set():
                if self.phone is not None and not buf.first.is_set() \
                        and time.monotonic() - asked >= HANDSHAKE_EVERY_S:
                    asked = time.monotonic()
                    self._send_phone(IFM_HANDSHAKE)
                try:
                    data, sender = self._sock.recvfrom(MAX_PACKET_BYTES + 1)
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
                if self.phone is not None and sender[0] != self.phone[0]:
                    buf.drop("not from the phone")  # we asked that phone; others are not listened to
                    continue
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

    def _send_phone(self, message: bytes) -> None:
        try:
            self._sock.sendto(message, self.phone)
            self.handshakes += 1
        except OSError:  # an unreachable phone is a "no packets arriving" later, not a crash
            self.buffer.drop("start request failed")

    def wait_first(self, timeout: float) -> None:
        """Block until the first valid packet; LiveError after ``timeout`` seconds without one."""
        if not self.buffer.first.wait(timeout):
            raise self.silence_error(timeout)

    def silence_error(self, seconds: float) -> LiveError:
        """What to tell the user when nothing valid arrived for ``seconds`` (Blender's timer asks
        this without waiting)."""
        if self.error is not None:
            return LiveError(f"{self.describe()} failed: {self.error}")
        bad = self.buffer.dropped_total()
        extra = (f" ({bad} packet(s) arrived but were not valid {APP_NAMES[self.kind]} frames)"
                 if bad else "")
        asked = (f"; the start request went to the phone at {self.phone[0]}:{self.phone[1]} "
                 f"{self.handshakes} time(s): check its address and that iFacialMocap is open"
                 if self.phone is not None else "")
        return LiveError(f"no packets arriving on {self.address} after {seconds:g} s{extra}: check "
                         f"that {APP_NAMES[self.kind]} streams to this machine's address and port "
                         f"and that a firewall lets UDP in{asked}")

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2)
        if self._sock is not None and self.phone is not None:
            self._send_phone(IFM_STOP)  # the app stops streaming to us
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
