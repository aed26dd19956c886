"""Contact sheets and GIFs of rendered frames, so quality can be looked at, not only measured."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from .errors import EngineError
from .media.video import VideoReader, check_image_suffix, load_image, save_image
from .outputs import atomic_output


def pick_indices(count: int, n: int) -> list[int]:
    """``n`` evenly spaced positions out of ``count`` (all of them if count <= n)."""
    if count <= n:
        return list(range(count))
    return sorted({int(round(i * (count - 1) / (n - 1))) for i in range(n)})


def contact_sheet(frames: Sequence[np.ndarray], labels: Sequence[str] | None = None, columns: int = 4,
                  thumb_width: int = 256) -> np.ndarray:
    """Tile RGB frames (any sizes) into one RGB image with an optional label on each tile."""
    import cv2

    if not frames:
        raise EngineError("no frames for the contact sheet")
    h0, w0 = frames[0].shape[:2]
    tw = int(thumb_width)
    th = max(int(round(h0 * tw / w0)), 1)
    tiles = []
    for k, f in enumerate(frames):
        t = cv2.resize(f, (tw, th), interpolation=cv2.INTER_AREA)
        if labels is not None:
            cv2.putText(t, str(labels[k]), (4, 14), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (0, 0, 0), 3, cv2.LINE_AA)
            cv2.putText(t, str(labels[k]), (4, 14), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (255, 255, 255), 1,
                        cv2.LINE_AA)
        tiles.append(t)
    columns = max(1, min(columns, len(tiles)))
    while len(tiles) % columns:
        tiles.append(np.zeros_like(tiles[0]))
    rows = [np.hstack(tiles[i:i + columns]) for i in range(0, len(tiles), columns)]
    return np.vstack(rows)


def _shrink(rgb: np.ndarray, width: int | None) -> np.ndarray:
    import cv2

    if width is None or rgb.shape[1] <= width:
        return rgb
    h = max(int(round(rgb.shape[0] * width / rgb.shape[1])), 1)
    return cv2.resize(rgb, (int(width), h), interpolation=cv2.INTER_AREA)


def read_frames(output: str | os.PathLike[str], count: int = 12, width: int | None = None
                ) -> tuple[list[np.ndarray], list[str]]:
    """Up to ``count`` evenly spaced frames of a render (a folder of frame_*.png or an .mp4),
    each shrunk to ``width`` as it is read (memory stays small for long, large renders)."""
    p = Path(output)
    if p.is_dir():
        files = sorted(p.glob("frame_*.png"))
        if not files:
            raise EngineError(f"no frame_*.png in {p}")
        chosen = [files[i] for i in pick_indices(len(files), count)]
        return ([_shrink(load_image(f), width) for f in chosen],
                [f.stem.split("_")[-1].lstrip("0") or "0" for f in chosen])
    with VideoReader(p) as reader:
        total = reader.info.frame_count or 1
        want = set(pick_indices(total, count))
        frames, labels = [], []
        for index, _ts, rgb in reader.frames():
            if index in want:
                frames.append(_shrink(rgb, width))
                labels.append(str(index))
        if not frames:
            raise EngineError(f"no frames decoded from {p.name}")
        return frames, labels


def write_preview(output: str | os.PathLike[str], preview: str | os.PathLike[str], count: int = 12,
                  thumb_width: int = 256) -> Path:
    """Write a contact sheet (.png/.jpg) or an animated GIF (.gif) of a finished render."""
    dst = Path(preview)
    check_image_suffix(dst, "preview", extra=(".gif",))
    if dst.suffix.lower() == ".gif":
        frames, _ = read_frames(output, count=100, width=thumb_width)
        save_gif(dst, frames, thumb_width=thumb_width)
        return dst
    frames, labels = read_frames(output, count, width=thumb_width)
    save_image(dst, contact_sheet(frames, labels, columns=4, thumb_width=thumb_width))
    return dst


def save_gif(path: str | os.PathLike[str], frames: Sequence[np.ndarray], fps: float = 12.5,
             thumb_width: int = 256) -> None:
    """An animated GIF (downscaled to ``thumb_width``), through Pillow."""
    import cv2

    try:
        from PIL import Image
    except ImportError as exc:  # pragma: no cover - Pillow ships with our dependencies
        raise EngineError("writing a GIF needs Pillow; use a .png sheet instead") from exc
    if not frames:
        raise EngineError("no frames for the GIF")
    h0, w0 = frames[0].shape[:2]
    size = (int(thumb_width), max(int(round(h0 * thumb_width / w0)), 1))
    images = [Image.fromarray(cv2.resize(f, size, interpolation=cv2.INTER_AREA)) for f in frames]
    with atomic_output(path) as tmp:
        images[0].save(tmp, format="GIF", save_all=True, append_images=images[1:],
                       duration=int(round(1000 / fps)), loop=0)
