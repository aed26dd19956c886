"""UDP packets of the iPhone face apps -> one ``FaceFrame`` (52 ARKit scores + head pose).

Every packet is untrusted (anyone on the network may send to the port): size caps first, then
the layout field by field; a packet that is truncated, oversized, of another version, holds a
NaN/inf or a value far outside its range raises ``PacketError`` and the receiver counts and
drops it. Layouts are written from the apps' published descriptions (docs/live.md says what was
assumed), not from anyone's receiver code.
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass

import numpy as np

# The 52 ARKit blendshapes in Unreal's order (ELiveLinkFaceBlendshape / Apple's ARKit list),
# spelled as ARKit and MediaPipe spell them, so the capture's name lookups find them.
ARKIT_NAMES: tuple[str, ...] = (
    "eyeBlinkLeft", "eyeLookDownLeft", "eyeLookInLeft", "eyeLookOutLeft", "eyeLookUpLeft",
    "eyeSquintLeft", "eyeWideLeft", "eyeBlinkRight", "eyeLookDownRight", "eyeLookInRight",
    "eyeLookOutRight", "eyeLookUpRight", "eyeSquintRight", "eyeWideRight", "jawForward", "jawLeft",
    "jawRight", "jawOpen", "mouthClose", "mouthFunnel", "mouthPucker", "mouthLeft", "mouthRight",
    "mouthSmileLeft", "mouthSmileRight", "mouthFrownLeft", "mouthFrownRight", "mouthDimpleLeft",
    "mouthDimpleRight", "mouthStretchLeft", "mouthStretchRight", "mouthRollLower", "mouthRollUpper",
    "mouthShrugLower", "mouthShrugUpper", "mouthPressLeft", "mouthPressRight", "mouthLowerDownLeft",
    "mouthLowerDownRight", "mouthUpperUpLeft", "mouthUpperUpRight", "browDownLeft", "browDownRight",
    "browInnerUp", "browOuterUpLeft", "browOuterUpRight", "cheekPuff", "cheekSquintLeft",
    "cheekSquintRight", "noseSneerLeft", "noseSneerRight", "tongueOut",
)
_INDEX = {n: i for i, n in enumerate(ARKIT_NAMES)}

MAX_PACKET_BYTES = 4096  # a Live Link Face packet is ~300 bytes, an iFacialMocap one ~1 KB
LIVELINK_VERSION = 6
LIVELINK_COUNT = 61  # 52 curves + head yaw/pitch/roll + left eye and right eye yaw/pitch/roll
MAX_NAME_BYTES = 256  # device id and subject name: short strings on the phone
SCORE_SLACK = 0.5  # ARKit scores are 0..1; a little outside is noise, far outside is garbage


class PacketError(ValueError):
    """A packet that is not a valid frame of the expected app; the receiver drops and counts it."""


@dataclass
class FaceFrame:
    """One decoded frame: scores in ARKIT_NAMES order (0..1), head angles in degrees in the
    capture contract's signs, optional gaze (x, y in -1..1), and the sender's subject name."""

    blendshapes: np.ndarray  # (52,) float32
    yaw: float
    pitch: float
    roll: float
    gaze: tuple[float, float] | None = None
    subject: str = ""


def _check_size(data: bytes) -> None:
    if len(data) > MAX_PACKET_BYTES:
        raise PacketError(f"packet of {len(data)} bytes is over {MAX_PACKET_BYTES}")


def _scores(values: np.ndarray) -> np.ndarray:
    if not np.all(np.isfinite(values)):
        raise PacketError("a blendshape score is not a finite number")
    if np.any(values < -SCORE_SLACK) or np.any(values > 1 + SCORE_SLACK):
        raise PacketError("a blendshape score is far outside 0..1")
    return np.clip(values, 0.0, 1.0).astype(np.float32)


def _angle(value: float, limit: float = 180.0) -> float:
    if not math.isfinite(value) or abs(value) > limit:
        raise PacketError(f"angle {value!r} is not a finite angle within +-{limit:g} degrees")
    return float(value)


def _string(data: bytes, at: int) -> tuple[str, int]:
    if at + 4 > len(data):
        raise PacketError("truncated before a string length")
    (n,) = struct.unpack_from(">i", data, at)
    if not 0 <= n <= MAX_NAME_BYTES or at + 4 + n > len(data):
        raise PacketError(f"string length {n} is out of range")
    return data[at + 4: at + 4 + n].decode("utf-8", "replace"), at + 4 + n


# --- Epic Live Link Face ------------------------------------------------------------------------
# version u8 (6) | device id: i32 BE length + UTF-8 | subject name: i32 BE length + UTF-8 |
# frame time: i32 frame, f32 subframe, i32 rate numerator, i32 rate denominator |
# count u8 (61) | 61 x f32 BE: 52 curves, head yaw/pitch/roll, left eye y/p/r, right eye y/p/r
# (angles in radians).
_FRAME_TIME = struct.Struct(">ifii")
_CURVES = struct.Struct(f">{LIVELINK_COUNT}f")
# Signs: Live Link Face's head yaw/pitch/roll are taken as + = the subject turns to their left
# (the viewer's right), chin up, head tilts toward the subject's right shoulder (clockwise as the
# viewer sees it) -- the contract's signs. docs/live.md records this as an assumption to verify
# with a phone; flipping one is a sign here and nowhere else.
HEAD_SIGNS = (1.0, 1.0, 1.0)
# An eye turned by this many degrees counts as a full gaze (control value 1).
FULL_GAZE_DEG = 30.0


def decode_livelink(data: bytes) -> FaceFrame:
    """One Live Link Face UDP packet -> FaceFrame (PacketError when it is not one)."""
    _check_size(data)
    if len(data) < 1:
        raise PacketError("empty packet")
    if data[0] != LIVELINK_VERSION:
        raise PacketError(f"Live Link Face packet version {data[0]}, expected {LIVELINK_VERSION}")
    _, at = _string(data, 1)  # device id: not used (one phone per port)
    subject, at = _string(data, at)
    if at + _FRAME_TIME.size + 1 > len(data):
        raise PacketError("truncated in the frame time")
    frame, sub, num, den = _FRAME_TIME.unpack_from(data, at)
    if not math.isfinite(sub):
        raise PacketError("frame time is not a finite number")
    at += _FRAME_TIME.size
    count = data[at]
    at += 1
    if count != LIVELINK_COUNT:
        raise PacketError(f"{count} curves, expected {LIVELINK_COUNT}")
    if len(data) != at + _CURVES.size:
        raise PacketError(f"packet of {len(data)} bytes, expected {at + _CURVES.size} for 61 curves")
    v = np.array(_CURVES.unpack_from(data, at), np.float64)
    if not np.all(np.isfinite(v)):
        raise PacketError("a curve is not a finite number")
    scores = _scores(v[:52])
    deg = [math.degrees(x) for x in v[52:]]
    yaw, pitch, roll = (_angle(d * s) for d, s in zip(deg[:3], HEAD_SIGNS, strict=True))
    eye_yaw = (_angle(deg[3], 90) + _angle(deg[6], 90)) / 2
    eye_pitch = (_angle(deg[4], 90) + _angle(deg[7], 90)) / 2
    gaze = (max(-1.0, min(1.0, eye_yaw / FULL_GAZE_DEG)), max(-1.0, min(1.0, eye_pitch / FULL_GAZE_DEG)))
    return FaceFrame(scores, yaw, pitch, roll, gaze, subject)


def encode_livelink(scores: np.ndarray, yaw: float, pitch: float, roll: float, *,
                    gaze: tuple[float, float] = (0.0, 0.0), frame: int = 0, subject: str = "iPhone",
                    device: str = "talking-head-test", fps: int = 60) -> bytes:
    """The packet the app would send for these values (degrees in; the tests' and the
    benchmark's sender, and the decoder's inverse)."""
    out = bytearray([LIVELINK_VERSION])
    for text in (device, subject):
        raw = text.encode("utf-8")
        out += struct.pack(">i", len(raw)) + raw
    out += _FRAME_TIME.pack(frame, 0.0, fps, 1) + bytes([LIVELINK_COUNT])
    ey, ep = gaze[0] * FULL_GAZE_DEG, gaze[1] * FULL_GAZE_DEG
    head = [math.radians(a * s) for a, s in zip((yaw, pitch, roll), HEAD_SIGNS, strict=True)]
    eyes = [math.radians(a) for a in (ey, ep, 0.0, ey, ep, 0.0)]
    out += _CURVES.pack(*[float(x) for x in np.asarray(scores, np.float64)[:52]], *head, *eyes)
    return bytes(out)


# --- iFacialMocap -------------------------------------------------------------------------------
# Text (ASCII): ``name-value|name-value|...`` with ARKit names whose Left/Right end is written
# ``_L``/``_R`` (``eyeBlink_L-37``) and integer percentages 0..100, then ``=head#rx,ry,rz,tx,ty,tz|
# rightEye#rx,ry,rz|leftEye#rx,ry,rz|`` (degrees; position in metres). Names not known are
# ignored (newer app versions add some); a packet must carry at least MIN_IFM_NAMES known ones.
# ``name&value`` items (the same app family's other form) are read too.
# The app's start request: a receiver sends this datagram to the phone's UDP port 49983 and the
# app then streams to the address and port it came from (as open receivers do); the stop request
# ends it. Both are fixed strings the app knows, nothing of ours goes out.
IFM_HANDSHAKE = b"iFacialMocap_sahuasouryya9218sauhuiayeta91555dy3719"
IFM_STOP = b"iFacialMocap_UDPTCPSTOP_sahuasouryya9218sauhuiayeta91555dy3719"
MIN_IFM_NAMES = 40
# iFacialMocap's head rotation: x = pitch (+ = chin down, as Unity's x axis), y = yaw, z = roll.
# Assumed signs (docs/live.md): pitch flipped to the contract's chin-up, yaw and roll as sent.
IFM_SIGNS = (1.0, -1.0, 1.0)  # yaw, pitch, roll


def _ifm_name(name: str) -> str:
    if name.endswith("_L"):
        return name[:-2] + "Left"
    if name.endswith("_R"):
        return name[:-2] + "Right"
    return name


def _floats(text: str, n: int) -> list[float]:
    parts = text.split(",")
    if len(parts) != n:
        raise PacketError(f"expected {n} numbers, got {len(parts)}")
    try:
        vals = [float(p) for p in parts]
    except ValueError:
        raise PacketError("a number does not parse") from None
    if not all(math.isfinite(v) for v in vals):
        raise PacketError("a number is not finite")
    return vals


def decode_ifacialmocap(data: bytes) -> FaceFrame:
    """One iFacialMocap UDP packet -> FaceFrame (PacketError when it is not one)."""
    _check_size(data)
    try:
        text = data.decode("ascii")
    except UnicodeDecodeError:
        raise PacketError("not ASCII text") from None
    shapes, sep, rest = text.partition("=")
    scores = np.zeros(52, np.float64)
    known = 0
    for item in shapes.split("|"):
        if not item:
            continue
        # FaceMotion3D-style senders write ``name&value``; values are never negative, so the
        # last '-' is the separator in iFacialMocap's own form
        name, dash, value = item.partition("&") if "&" in item else item.rpartition("-")
        if not dash or not name:
            raise PacketError("an item is not name-value")
        try:
            v = float(value)
        except ValueError:
            raise PacketError("a value does not parse") from None
        if not math.isfinite(v):
            raise PacketError("a value is not finite")
        k = _INDEX.get(_ifm_name(name))
        if k is not None:
            scores[k] = v / 100.0
            known += 1
    if known < MIN_IFM_NAMES:
        raise PacketError(f"only {known} known blendshapes (expected {MIN_IFM_NAMES}+)")
    yaw = pitch = roll = 0.0
    gaze = None
    if sep:
        eyes: dict[str, list[float]] = {}
        for item in rest.split("|"):
            if not item:
                continue
            key, hash_, value = item.partition("#")
            if not hash_:
                raise PacketError("a pose item has no #")
            if key == "head":
                rx, ry, rz = _floats(value, 6)[:3]
                yaw, pitch, roll = (_angle(a * s) for a, s in zip((ry, rx, rz), IFM_SIGNS, strict=True))
            elif key in ("rightEye", "leftEye"):
                eyes[key] = _floats(value, 3)
        if len(eyes) == 2:
            # eye x = pitch (down +), y = yaw, as the head's axes
            ex = sum(_angle(e[1], 90) for e in eyes.values()) / 2
            ey = -sum(_angle(e[0], 90) for e in eyes.values()) / 2
            gaze = (max(-1.0, min(1.0, ex / FULL_GAZE_DEG)), max(-1.0, min(1.0, ey / FULL_GAZE_DEG)))
    return FaceFrame(_scores(scores), yaw, pitch, roll, gaze, "iFacialMocap")


def encode_ifacialmocap(scores: np.ndarray, yaw: float, pitch: float, roll: float, *,
                        gaze: tuple[float, float] = (0.0, 0.0)) -> bytes:
    """The packet the app would send (integer percentages, as the app rounds them)."""
    items = []
    for name, v in zip(ARKIT_NAMES, np.asarray(scores, np.float64), strict=True):
        short = (name[:-4] + "_L" if name.endswith("Left") else
                 name[:-5] + "_R" if name.endswith("Right") else name)
        items.append(f"{short}-{int(round(float(v) * 100))}")
    rx, ry, rz = (a * s for a, s in zip((pitch, yaw, roll), (IFM_SIGNS[1], IFM_SIGNS[0], IFM_SIGNS[2]),
                                        strict=True))
    ex, ey = gaze[1] * -FULL_GAZE_DEG, gaze[0] * FULL_GAZE_DEG
    pose = (f"head#{rx:.4f},{ry:.4f},{rz:.4f},0,0,0|rightEye#{ex:.4f},{ey:.4f},0|"
            f"leftEye#{ex:.4f},{ey:.4f},0|")
    return ("|".join(items) + "|=" + pose).encode("ascii")


DECODERS = {"livelink": decode_livelink, "ifacialmocap": decode_ifacialmocap}
DEFAULT_PORTS = {"livelink": 11111, "ifacialmocap": 49983}
