"""Paste-back with torch (on the GPU when the frames are already there): the same feathered
blend as crop.paste_back, computed for a batch of generator outputs without leaving the device.

Only the crop's bounding box in the portrait is sampled: its pixels are mapped into the crop
(image -> crop affine, pixel centres as OpenCV uses them) once per portrait; the feather mask is
warped once too. Per batch: truncate the generator output to uint8 levels (as the CPU path does),
bilinear-sample it at those points (zeros outside, like cv2's constant border), blend, round,
and copy only the box back to the host.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .crop import CropGeometry


class TorchPasteBack:
    def __init__(self, portrait: np.ndarray, geom: CropGeometry, mask: np.ndarray, device: str):
        import torch

        self.torch = torch
        self.device = torch.device(device)
        self.portrait = portrait
        h, w = portrait.shape[:2]
        d = geom.dsize
        corners = geom.to_image(np.array([[0, 0], [d, 0], [d, d], [0, d]], np.float64))
        x0, y0 = np.floor(corners.min(0)).astype(int)
        x1, y1 = np.ceil(corners.max(0)).astype(int)
        self.box = (max(x0, 0), max(y0, 0), min(x1, w), min(y1, h))
        bx0, by0, bx1, by1 = self.box
        self.empty = bx1 <= bx0 or by1 <= by0
        if self.empty:
            return
        ys, xs = np.mgrid[by0:by1, bx0:bx1].astype(np.float64)
        uv = geom.to_crop(np.stack([xs, ys], -1))  # box pixel -> crop pixel (pixel-centre coords)
        grid = (2.0 * uv + 1.0) / d - 1.0  # grid_sample, align_corners=False
        self.grid = torch.from_numpy(grid.astype(np.float32))[None].to(self.device)
        m = torch.from_numpy(np.ascontiguousarray(mask, np.float32))[None, None].to(self.device)
        self.alpha = self._sample(m)[0]  # (1, bh, bw)
        region = portrait[by0:by1, bx0:bx1].astype(np.float32).transpose(2, 0, 1)
        self.region = torch.from_numpy(np.ascontiguousarray(region)).to(self.device)

    def _sample(self, img: Any) -> Any:
        grid = self.grid.expand(img.shape[0], -1, -1, -1)
        return self.torch.nn.functional.grid_sample(img, grid, mode="bilinear", padding_mode="zeros",
                                                    align_corners=False)

    def paste(self, frames01: Any) -> list[np.ndarray]:
        """(n,3,512,512) generator output in 0..1 (torch, any device) -> n full RGB uint8 frames."""
        torch = self.torch
        n = frames01.shape[0]
        if self.empty:
            return [self.portrait.copy() for _ in range(n)]
        with torch.no_grad():
            levels = torch.clamp(frames01.to(self.device, torch.float32) * 255.0, 0, 255).floor()
            warped = self._sample(levels)
            blended = warped * self.alpha + self.region[None] * (1.0 - self.alpha)
            box = torch.clamp(blended + 0.5, 0, 255).to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()
        x0, y0, x1, y1 = self.box
        out = []
        for k in range(n):
            frame = self.portrait.copy()
            frame[y0:y1, x0:x1] = box[k]
            out.append(frame)
        return out
