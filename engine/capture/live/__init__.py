"""Live capture: a phone app's UDP stream, a webcam or a network stream -> the same 16 controls
(and 52 blendshapes) as video capture, time-stamped as they arrive.

``packets`` decodes Live Link Face / iFacialMocap frames; ``udp`` receives them on a worker
thread; ``camera`` reads and tracks a webcam or stream on worker threads; every source fills a
``samples.SampleBuffer`` (newest sample for preview, all of them for a take); ``recorder`` keys a
take by time onto an even frame grid (and ``LiveControls`` maps one sample, for a preview);
``take`` records one; ``sources`` parses ``SOURCE`` text.
"""

from .camera import CameraSource
from .recorder import LiveControls, record
from .samples import LiveError, Sample, SampleBuffer
from .sources import open_source
from .take import record_take
from .udp import UdpReceiver

__all__ = ["CameraSource", "LiveControls", "LiveError", "Sample", "SampleBuffer", "UdpReceiver",
           "open_source", "record", "record_take"]
