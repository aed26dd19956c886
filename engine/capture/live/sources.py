"""``SOURCE`` text -> a live source: ``livelink:[HOST:]PORT``, ``ifacialmocap:[HOST:]PORT[@PHONE]``, a
camera index (``0``) or a stream URL (``udp://127.0.0.1:1234``, ``rtsp://...``, ``http://...``)."""

from __future__ import annotations

import ipaddress

from ...safe_text import printable
from .camera import CameraSource
from .packets import DEFAULT_PORTS
from .samples import LiveError
from .udp import UdpReceiver

LOOPBACK = "127.0.0.1"


def _port(text: str, spec: str) -> int:
    try:
        port = int(text)
    except ValueError:
        port = -1
    if not 1 <= port <= 65535:
        raise LiveError(f"{printable(spec, 80)}: the port must be a number 1-65535")
    return port


def parse_packet_source(spec: str) -> tuple[str, str, int]:
    """``kind:[HOST:]PORT`` (or just ``kind``) -> (kind, host, port). HOST must be an IPv4 address
    of this machine (the bind address); without one it is 127.0.0.1, never every interface."""
    kind, _, rest = spec.partition(":")
    kind = kind.lower()
    if kind not in DEFAULT_PORTS:
        raise LiveError(f"unknown live source {printable(spec, 80)}")
    if not rest:
        return kind, LOOPBACK, DEFAULT_PORTS[kind]
    host, sep, port = rest.rpartition(":")
    if not sep:
        return kind, LOOPBACK, _port(rest, spec)
    try:
        ipaddress.IPv4Address(host)
    except ValueError:
        raise LiveError(f"{printable(spec, 80)}: the listening address must be an IPv4 address of this "
                        "machine (127.0.0.1, a network card's address, or 0.0.0.0 for all)") from None
    return kind, host, _port(port, spec)


def open_source(spec: str, *, allow_network: bool = False) -> UdpReceiver | CameraSource:
    """The (not yet started) source ``spec`` names. ``ifacialmocap:[HOST:]PORT@PHONE`` also sends
    iFacialMocap's start request to the phone at PHONE (an IPv4 address; off loopback only with
    ``allow_network``)."""
    spec = spec.strip()
    if spec.isdigit():
        return CameraSource(int(spec))
    if "://" in spec:
        return CameraSource(spec, allow_network=allow_network)
    spec, _, phone = spec.partition("@")
    kind, host, port = parse_packet_source(spec)
    return UdpReceiver(kind, host, port, phone=phone, allow_network=allow_network)
