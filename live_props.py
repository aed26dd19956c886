"""Scene settings of the *Live* section (docs/live.md): which source, where to listen, the
phone's address for iFacialMocap, the preview size and the punch-in range.

Listening defaults to 127.0.0.1 (nothing on the network can reach it); every network (0.0.0.0)
or one address of this machine only when the user picks it, and the panel says what that means.
"""

from __future__ import annotations

import bpy
from bpy.props import BoolProperty, EnumProperty, IntProperty, PointerProperty, StringProperty

SOURCES = (
    ("LIVELINK", "Live Link Face", "Epic's iPhone app (ARKit): UDP packets, default port 11111"),
    ("IFACIALMOCAP", "iFacialMocap", "iPhone app (ARKit): UDP text packets, default port 49983; "
                                     "started by a request sent to the phone's address"),
    ("CAMERA", "Webcam", "A camera by its index (0 = the first); tracked on this computer"),
    ("STREAM", "Stream URL", "A network stream (RTSP, HTTP MJPEG/MPEG-TS, UDP MPEG-TS); one off this "
                             "computer needs Allow Online Access"),
)
LISTEN = (
    ("LOOPBACK", "This Computer Only (127.0.0.1)", "Listen on loopback: only programs on this computer "
                                                   "can send (the default; a phone needs one of the others)"),
    ("ADDRESS", "One Network Address", "Listen on one address of this computer (e.g. its Wi-Fi address): "
                                       "devices on that network can send"),
    ("ALL", "Every Network (0.0.0.0)", "Listen on every network this computer is on: anyone who can "
                                       "reach it there can send packets"),
)


class TalkingHeadLive(bpy.types.PropertyGroup):
    source: EnumProperty(name="Source", items=SOURCES, default="LIVELINK")
    camera: IntProperty(name="Camera", default=0, min=0, max=63, description="Camera index (0 = the first)")
    url: StringProperty(name="URL", default="udp://127.0.0.1:1234",
                        description="Stream address, e.g. rtsp://..., http://.../live.ts, udp://127.0.0.1:1234")
    port: IntProperty(name="Port", default=0, min=0, max=65535,
                      description="UDP port to listen on (0 = the app's default: Live Link Face 11111, "
                                  "iFacialMocap 49983)")
    listen: EnumProperty(name="Listen On", items=LISTEN, default="LOOPBACK")
    listen_address: StringProperty(name="Address", description="This computer's IPv4 address on the "
                                                               "phone's network, e.g. 192.168.1.20")
    phone_address: StringProperty(
        name="Phone", description="iFacialMocap: the phone's IPv4 address (shown at the top of the app); "
        "the start request is sent there and nowhere else. Empty: the app streams on its own")
    preview_size: IntProperty(name="Preview Size", default=512, min=64, max=2048,
                              description="Longer side of the live preview image, in pixels")
    drive_character: BoolProperty(name="Drive Character", default=True,
                                  description="Preview and Record also move the scene's 3D character "
                                              "(its shape keys and head bone, as set up in 3D Character)")
    use_punch: BoolProperty(name="Punch In", default=False,
                            description="Record only over a frame range: the take starts when the "
                                        "playing timeline reaches the first frame and ends after the "
                                        "last; keys outside the range stay")
    punch_start: IntProperty(name="From", default=1, description="First frame re-recorded")
    punch_end: IntProperty(name="To", default=100, description="Last frame re-recorded (included)")


def register() -> None:
    bpy.utils.register_class(TalkingHeadLive)
    bpy.types.Scene.talking_head_live = PointerProperty(type=TalkingHeadLive)


def unregister() -> None:
    del bpy.types.Scene.talking_head_live
    bpy.utils.unregister_class(TalkingHeadLive)
