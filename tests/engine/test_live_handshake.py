"""iFacialMocap's start request: a fake phone on 127.0.0.1 that says nothing until the receiver
sends the app's handshake datagram, then streams the known performance back to where the
handshake came from -- the way the app starts streaming. Also the network rule for the phone's
address and the stop request at the end."""

from __future__ import annotations

import importlib.util
import socket
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from engine.capture.live import LiveError, UdpReceiver, record
from engine.capture.live import packets as pk
from engine.capture.live.sources import open_source

HOST = "127.0.0.1"
_spec = importlib.util.spec_from_file_location("test_live_common", Path(__file__).with_name("test_live.py"))
live = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(live)


class FakePhone(threading.Thread):
    """Listens on a free 127.0.0.1 port like the app does on 49983; on the exact handshake it
    streams ``seconds`` of iFacialMocap packets at 60 Hz back to the sender's address and port."""

    def __init__(self, seconds: float):
        super().__init__(daemon=True)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((HOST, 0))
        self.sock.settimeout(5.0)
        self.port = self.sock.getsockname()[1]
        self.seconds = seconds
        self.requests: list[bytes] = []
        self.peer = None
        self.sent: list[tuple[float, float]] = []
        self.stopped = threading.Event()

    def run(self) -> None:
        with self.sock:
            while self.peer is None:
                try:
                    data, peer = self.sock.recvfrom(2048)
                except TimeoutError:
                    return
                self.requests.append(data)
                if data == pk.IFM_HANDSHAKE:  # anything else: the app stays silent
                    self.peer = peer
            start = time.monotonic()
            k = 0
            while (perf := k / live.RATE) < self.seconds:
                wait = start + perf - time.monotonic()
                if wait > 0:
                    time.sleep(wait)
                self.sent.append((time.monotonic(), perf))
                self.sock.sendto(live.packet("ifacialmocap", perf, k), self.peer)
                k += 1
            self.sock.settimeout(3.0)
            try:
                while True:
                    data, _ = self.sock.recvfrom(2048)
                    if data == pk.IFM_STOP:
                        self.stopped.set()
                        return
            except TimeoutError:
                return


def test_fake_phone_streams_after_the_handshake_and_the_take_reproduces_it():
    phone = FakePhone(2.0)
    phone.start()
    rx = UdpReceiver("ifacialmocap", HOST, 0, phone=HOST, phone_port=phone.port)
    with rx:
        rx.wait_first(4.0)
        while phone.is_alive() and len(phone.sent) < 2.0 * live.RATE:
            time.sleep(0.05)
        time.sleep(0.1)
        samples = rx.buffer.take()
    phone.join(5)
    assert phone.requests[0] == pk.IFM_HANDSHAKE
    assert phone.peer == (HOST, rx.port)  # the request came from the receiving port itself
    assert phone.stopped.is_set(), "the stop request was not sent when the receiver stopped"
    assert rx.buffer.dropped_total() == 0 and len(samples) >= 0.9 * len(phone.sent)
    motion = record(samples, 30.0, rx.buffer.names)
    live.check_reproduces(motion, phone.sent, samples[0].t)


def test_silent_phone_is_asked_again_and_the_error_says_where():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as mute:
        mute.bind((HOST, 0))
        mute.settimeout(0.2)
        rx = UdpReceiver("ifacialmocap", HOST, 0, phone=HOST, phone_port=mute.getsockname()[1])
        with rx, pytest.raises(LiveError, match=r"start request went to the phone at 127\.0\.0\.1"):
            rx.wait_first(2.5)
        got = []
        try:
            while True:
                got.append(mute.recv(2048))
        except TimeoutError:
            pass
    assert got.count(pk.IFM_HANDSHAKE) >= 2  # repeated every 2 s while nothing arrives


def test_packets_from_another_address_than_the_phone_are_dropped():
    rx = UdpReceiver("ifacialmocap", HOST, 0, phone="127.0.0.2", phone_port=9)
    with rx, socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as other:
        other.sendto(live.packet("ifacialmocap", 0.0, 0), (HOST, rx.port))
        deadline = time.monotonic() + 2
        while not rx.buffer.dropped["not from the phone"] and time.monotonic() < deadline:
            time.sleep(0.02)
    assert rx.buffer.dropped["not from the phone"] == 1 and rx.buffer.received == 0


def test_phone_off_loopback_needs_consent_and_a_reachable_bind():
    with pytest.raises(LiveError, match="allow network access"):
        UdpReceiver("ifacialmocap", "0.0.0.0", 0, phone="192.168.1.23")
    with pytest.raises(LiveError, match="cannot reach 127.0.0.1"):
        UdpReceiver("ifacialmocap", HOST, 0, phone="192.168.1.23", allow_network=True)
    with pytest.raises(LiveError, match="not an IPv4 address"):
        UdpReceiver("ifacialmocap", HOST, 0, phone="phone.local")
    with pytest.raises(LiveError, match="only iFacialMocap"):
        UdpReceiver("livelink", HOST, 0, phone=HOST)
    rx = open_source("ifacialmocap:0.0.0.0:49983@192.168.1.23", allow_network=True)
    assert rx.phone == ("192.168.1.23", 49983) and rx.host == "0.0.0.0"  # built, never started
    assert np.all(np.isfinite(pk.decode_ifacialmocap(live.packet("ifacialmocap", 0.5, 1)).blendshapes))
