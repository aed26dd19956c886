"""Record one take from a live source for a number of seconds (or until Ctrl-C, or until the
source stops) -> Motion. What arrived before an interruption is kept."""

from __future__ import annotations

import time
from collections.abc import Callable

from ...motion import Motion
from .camera import CameraSource
from .recorder import record
from .samples import LiveError
from .udp import UdpReceiver

TICK_S = 0.05
STOPPED_S = 1.0  # silence this long before the end = the sender stopped mid-take


def record_take(source: UdpReceiver | CameraSource, seconds: float, fps: float, *,
                first_timeout: float = 3.0, smoothing: float = 0.0,
                on_tick: Callable[[float], None] | None = None) -> tuple[Motion, bool]:
    """Start ``source``, wait for its first sample (LiveError after ``first_timeout``), record for
    ``seconds`` and return (motion, complete); complete is False when the take was cut short by
    Ctrl-C or by the source stopping (the motion then holds what arrived)."""
    complete = True
    with source:
        source.wait_first(first_timeout)
        t0 = time.monotonic()
        try:
            while time.monotonic() - t0 < seconds:
                if source.error is not None:
                    raise LiveError(f"{source.describe()} failed: {source.error}")
                if isinstance(source, CameraSource) and source.ended.is_set():
                    complete = False
                    break
                if on_tick is not None:
                    on_tick(time.monotonic() - t0)
                time.sleep(TICK_S)
        except KeyboardInterrupt:
            complete = False
    samples = [s for s in source.buffer.take() if s.t <= t0 + seconds]
    # UDP has no end of stream: a sender that stopped shows as silence at the end of the take
    if samples and complete and t0 + seconds - samples[-1].t > STOPPED_S:
        complete = False
    info = {"live_source": source.describe(), "received": source.buffer.received,
            "dropped": dict(source.buffer.dropped)}
    motion = record(samples, fps, source.buffer.names, smoothing=smoothing, source=info)
    return motion, complete
