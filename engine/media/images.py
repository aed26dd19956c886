"""Image input: one checked path from a file on disk to an RGB uint8 array.

The size is read from the file's header *before* anything is decoded, so a small file that
claims a huge size (a 30000x30000 PNG of 1 MB) is refused without allocating gigabytes or letting
a native decoder, the face tracker or ``cv2.remap`` see it. Then:

- EXIF orientation is applied (phone photos are stored sideways with a tag that says so);
- 16-bit images are scaled to 8 bits, float images (TIFF ``F`` / float RGB) are normalised
  (0..1 as is, larger ranges by their maximum; NaN/inf become 0) instead of loading black;
- alpha is composited over black, palette / grayscale / CMYK are converted to RGB;
- JPEGs above the pixel limit are decoded at a reduced scale (libjpeg's DCT scaling: cheap);
  other formats above it are refused with a message saying the limit.

Pillow reads the header (``Image.open`` is lazy) and decodes what it supports; float RGB TIFFs,
which Pillow cannot open, are sized by a small TIFF header reader and decoded by OpenCV.
"""

from __future__ import annotations

import os
import struct
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

import numpy as np

from ..errors import EngineError
from ..limits import MAX_IMAGE_PIXELS, MAX_IMAGE_SIDE  # the caps live in engine/limits.py

if TYPE_CHECKING:
    from PIL import Image


class ImageError(EngineError):
    """An image that cannot be used (missing, corrupt, too large, unsupported); names the file."""


def _limits_message(p: Path, w: int, h: int) -> str:
    return (f"image {p.name} is {w}x{h} pixels, above the limit of {MAX_IMAGE_PIXELS // 1_000_000} "
            f"megapixels or {MAX_IMAGE_SIDE} pixels a side; scale it down (a portrait needs about "
            f"1000-4000 pixels a side)")


def _too_big(w: int, h: int) -> bool:
    return w * h > MAX_IMAGE_PIXELS or max(w, h) > MAX_IMAGE_SIDE


def tiff_size(fh: BinaryIO) -> tuple[int, int] | None:
    """(width, height) of the first image of a TIFF file from its header, or None if not a TIFF."""
    def read(offset: int, n: int) -> bytes:
        fh.seek(offset)
        return fh.read(n)

    head = read(0, 8)
    if len(head) < 8 or head[:2] not in (b"II", b"MM"):
        return None
    end = "<" if head[:2] == b"II" else ">"
    if struct.unpack(end + "H", head[2:4])[0] != 42:
        return None
    off = struct.unpack(end + "I", head[4:8])[0]
    raw = read(off, 2)
    if len(raw) < 2:
        return None
    count = min(struct.unpack(end + "H", raw)[0], 4096)
    entries = read(off + 2, 12 * count)
    size: dict[int, int] = {}
    for k in range(len(entries) // 12):
        e = entries[12 * k:12 * k + 12]
        tag, typ = struct.unpack(end + "HH", e[:4])
        if tag in (256, 257):
            fmt = "H" if typ == 3 else "I"
            size[tag] = struct.unpack(end + fmt, e[8:8 + struct.calcsize(fmt)])[0]
    if 256 in size and 257 in size:
        return size[256], size[257]
    return None


def _normalise(arr: np.ndarray) -> np.ndarray:
    """Any numeric array -> uint8, keeping the picture visible (not black, not white)."""
    if arr.dtype == np.uint8:
        return arr
    if arr.dtype == np.uint16:
        return (arr.astype(np.uint32) // 257).astype(np.uint8)
    a = np.nan_to_num(arr.astype(np.float32), nan=0.0, posinf=0.0, neginf=0.0)
    if np.issubdtype(arr.dtype, np.integer):  # 32-bit int (Pillow's "I" mode of 16-bit greys)
        top = 65535.0 if a.max(initial=0) > 255 else 255.0
        return (a / top * 255.0).clip(0, 255).astype(np.uint8)
    lo, hi = float(a.min(initial=0)), float(a.max(initial=0))
    if lo >= 0.0 and hi <= 1.0 + 1e-6:
        scale = 255.0  # the usual 0..1 float image
    else:
        a = a - min(lo, 0.0)
        hi = hi - min(lo, 0.0)
        scale = 255.0 / hi if hi > 0 else 0.0
    return (a * scale + 0.5).clip(0, 255).astype(np.uint8)


def _to_rgb(arr: np.ndarray, bgr: bool) -> np.ndarray:
    """(H, W), (H, W, 1|2|3|4) numeric -> RGB uint8; alpha composited over black."""
    import cv2

    if arr.ndim == 3 and arr.shape[2] in (2, 4):
        alpha = arr[:, :, -1:]
        colour = arr[:, :, :-1]
        a = _normalise(alpha).astype(np.float32) / 255.0
        arr = (_normalise(colour).astype(np.float32) * a + 0.5).astype(np.uint8)
    else:
        arr = _normalise(arr)
    if arr.ndim == 2 or arr.shape[2] == 1:
        return cv2.cvtColor(arr.reshape(arr.shape[0], arr.shape[1]), cv2.COLOR_GRAY2RGB)
    if arr.shape[2] != 3:
        raise ImageError(f"images with {arr.shape[2]} channels are not supported")
    return cv2.cvtColor(arr, cv2.COLOR_BGR2RGB) if bgr else np.ascontiguousarray(arr)


def _orient(rgb: np.ndarray, orientation: int) -> np.ndarray:
    """Apply an EXIF orientation tag (1-8) to an array."""
    ops = {2: lambda a: a[:, ::-1], 3: lambda a: a[::-1, ::-1], 4: lambda a: a[::-1],
           5: lambda a: a.transpose(1, 0, 2), 6: lambda a: np.rot90(a, -1),
           7: lambda a: a[::-1, ::-1].transpose(1, 0, 2), 8: lambda a: np.rot90(a, 1)}
    op = ops.get(orientation)
    return rgb if op is None else np.ascontiguousarray(op(rgb))


def image_size(path: str | os.PathLike[str]) -> tuple[int, int]:
    """(width, height) from the header only (before EXIF rotation); ImageError if unreadable."""
    size, im = _open_header(Path(path))
    if im is not None:
        im.close()
    return size


def check_image(path: str | os.PathLike[str]) -> tuple[int, int]:
    """Header-only check that ``load_image`` will accept the file (an up-front input check)."""
    p = Path(path)
    (w, h), im = _open_header(p)
    fmt = im.format if im is not None else "TIFF"
    if im is not None:
        im.close()
    if w <= 0 or h <= 0:
        raise ImageError(f"image {p.name} has no pixels ({w}x{h})")
    if _too_big(w, h) and not (fmt == "JPEG" and not _too_big(-(-w // 8), -(-h // 8))):
        raise ImageError(_limits_message(p, w, h))
    return w, h


def _open_header(p: Path) -> tuple[tuple[int, int], Image.Image | None]:
    from PIL import Image, UnidentifiedImageError

    if not p.is_file():
        raise ImageError(f"image not found: {p}")
    if p.stat().st_size == 0:
        raise ImageError(f"image {p.name} is empty (0 bytes)")
    try:
        # Our own, lower limit is applied to the header's size by the callers; Pillow's own
        # check would raise DecompressionBombError before we can say what the limit is.
        Image.MAX_IMAGE_PIXELS = None
        im = Image.open(p)
        return im.size, im
    except UnidentifiedImageError:
        with open(p, "rb") as fh:
            size = tiff_size(fh)
        if size is None:
            raise ImageError(f"cannot read image {p.name}: not an image, corrupt, or an unsupported "
                             "format (use PNG, JPEG, TIFF, WebP or BMP)") from None
        return size, None
    except (OSError, ValueError, SyntaxError) as exc:  # Pillow's header parsers raise these
        raise ImageError(f"cannot read image {p.name}: corrupt header ({exc})") from None


def load_image(path: str | os.PathLike[str]) -> np.ndarray:
    """An image file as RGB uint8 (H, W, 3), upright; size checked before decoding."""

    p = Path(path)
    (w, h), im = _open_header(p)
    if w <= 0 or h <= 0:
        raise ImageError(f"image {p.name} has no pixels ({w}x{h})")
    if im is None:  # a TIFF Pillow cannot decode (float RGB): OpenCV, size now known to be sane
        if _too_big(w, h):
            raise ImageError(_limits_message(p, w, h))
        return _decode_cv(p)
    try:
        with im:
            if _too_big(w, h):
                if im.format != "JPEG":
                    raise ImageError(_limits_message(p, w, h))
                scale = 1  # libjpeg decodes at 1/2, 1/4 or 1/8 scale for the price of a thumbnail
                while _too_big(-(-w // scale), -(-h // scale)):
                    scale *= 2
                im.draft("RGB", (-(-w // scale), -(-h // scale)))
                if _too_big(*im.size):
                    raise ImageError(_limits_message(p, w, h))
            orientation = 1
            try:
                orientation = int(im.getexif().get(0x0112, 1) or 1)
            except (ValueError, TypeError, OSError, SyntaxError):
                orientation = 1  # a broken EXIF block: keep the pixels as stored
            im.load()
            rgb = _pil_to_rgb(im)
    except ImageError:
        raise
    except (OSError, ValueError, SyntaxError, EOFError, MemoryError) as exc:
        raise ImageError(f"cannot read image {p.name}: corrupt or truncated ({exc})") from None
    return _orient(rgb, orientation)


def _pil_to_rgb(im: Image.Image) -> np.ndarray:
    mode = im.mode
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        return _to_rgb(np.asarray(im), bgr=False)
    if mode in ("RGBA", "LA", "PA", "La", "RGBa") or (mode == "P" and "transparency" in im.info):
        return _to_rgb(np.asarray(im.convert("RGBA")), bgr=False)
    if mode != "RGB":
        im = im.convert("RGB")  # L, 1, P, CMYK, YCbCr, LAB, HSV
    return np.ascontiguousarray(np.asarray(im))


def _decode_cv(p: Path) -> np.ndarray:
    import cv2

    data = np.fromfile(str(p), dtype=np.uint8)
    try:
        img = cv2.imdecode(data, cv2.IMREAD_UNCHANGED)
    except cv2.error:
        img = None
    if img is None:
        raise ImageError(f"cannot read image {p.name}: not an image, corrupt, or an unsupported "
                         "sample format")
    return _to_rgb(img, bgr=True)
