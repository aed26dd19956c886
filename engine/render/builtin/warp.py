"""Control-point motion -> a dense backward sampling map -> sampled pixels.

The smooth warp is a thin-plate spline whose control points have FIXED source positions (the
portrait's), so the spline's system inverse and its kernel on the working grid are computed once
per portrait: each frame costs one small matrix product. The forward field (source -> output) is
inverted on the working grid by fixed-point iteration and upsampled to full resolution, so the
portrait is sampled once, at its own resolution.

Sampling: ``cv2.remap`` on the CPU (fastest there), or torch ``grid_sample`` (CUDA when present,
or when asked for with ``sampler="torch"``). torch is optional: the engine works without it.
"""

from __future__ import annotations

import numpy as np

from ..base import RenderError


def _tps_kernel(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    d2 = ((a[:, None, :] - b[None, :, :]) ** 2).sum(-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        k = 0.5 * d2 * np.log(d2)
    k[~np.isfinite(k)] = 0.0
    return k


class SmoothWarp:
    """Thin-plate spline warp on a working grid over ``box`` (x0, y0, x1, y1; pixels)."""

    def __init__(self, src: np.ndarray, box: tuple[int, int, int, int], cell: float,
                 falloff: np.ndarray | None = None, scale: float = 1.0, regularization: float = 1e-3,
                 extra_points: np.ndarray | None = None):
        x0, y0, x1, y1 = box
        self.box = box
        bw, bh = x1 - x0, y1 - y0
        self.gx = int(min(max(np.ceil(bw / cell), 8), 160))
        self.gy = int(min(max(np.ceil(bh / cell), 8), 160))
        # Node i sits where cv2.resize puts source pixel i when upsampling gx -> bw.
        xs = x0 + (np.arange(self.gx) + 0.5) * bw / self.gx - 0.5
        ys = y0 + (np.arange(self.gy) + 0.5) * bh / self.gy - 0.5
        gxx, gyy = np.meshgrid(xs, ys)
        self.grid = np.stack([gxx, gyy], axis=-1)  # (gy, gx, 2) pixels
        self._sx, self._sy = self.gx / bw, self.gy / bh
        centre = src.mean(axis=0)
        s = np.asarray(src, np.float64)
        sn = (s - centre) / scale
        n = len(sn)
        lmat = np.zeros((n + 3, n + 3))
        lmat[:n, :n] = _tps_kernel(sn, sn) + regularization * np.eye(n)
        lmat[:n, n] = 1.0
        lmat[:n, n + 1:] = sn
        lmat[n, :n] = 1.0
        lmat[n + 1:, :n] = sn.T
        try:
            linv = np.linalg.inv(lmat)[:, :n]  # (n+3, n): displacements -> coefficients
        except np.linalg.LinAlgError as exc:  # pragma: no cover - degenerate landmarks
            raise RenderError("cannot fit the face warp to this portrait's landmarks") from exc

        def evaluator(points: np.ndarray) -> np.ndarray:
            pn = (np.asarray(points, np.float64).reshape(-1, 2) - centre) / scale
            a = np.hstack([_tps_kernel(pn, sn), np.ones((len(pn), 1)), pn])
            return a @ linv  # float64: tiny, and keeps results identical across thread counts

        self._grid_op = evaluator(self.grid)  # (gy*gx, n)
        self._falloff = None if falloff is None else falloff(self.grid).reshape(-1, 1).astype(np.float32)
        self._extra = None
        self._extra_falloff = None
        if extra_points is not None:
            self._extra = evaluator(extra_points)
            self._extra_falloff = (np.ones((len(extra_points), 1), np.float32) if falloff is None
                                   else falloff(extra_points).reshape(-1, 1).astype(np.float32))
        self.src = s

    @property
    def falloff_grid(self) -> np.ndarray:
        """The motion weight (gy, gx) at the grid nodes (ones without a falloff)."""
        if self._falloff is None:
            return np.ones((self.gy, self.gx), np.float32)
        return self._falloff.reshape(self.gy, self.gx)

    def forward_grid(self, dst: np.ndarray) -> np.ndarray:
        """Forward displacement (gy, gx, 2) at the grid nodes for control targets ``dst``."""
        disp = np.asarray(dst, np.float64) - self.src
        # One matrix-vector product per axis: with only two right-hand columns OpenBLAS's
        # matrix-matrix kernel runs ~5x slower (1.0 vs 0.2 ms at 3600 x 217 on one core).
        d = np.stack([self._grid_op @ disp[:, 0], self._grid_op @ disp[:, 1]], axis=-1).astype(np.float32)
        if self._falloff is not None:
            d *= self._falloff
        return d.reshape(self.gy, self.gx, 2)

    def forward_extra(self, dst: np.ndarray) -> np.ndarray:
        """Forward displacement at the extra points given at construction."""
        disp = np.asarray(dst, np.float64) - self.src
        return (self._extra @ disp).astype(np.float32) * self._extra_falloff

    def backward_grid(self, forward: np.ndarray, iterations: int = 6) -> np.ndarray:
        """Backward displacement B at the grid nodes: output y samples source y + B(y).

        Solves x + D(x) = y for x by Newton's method with the forward field's Jacobian
        (finite differences on the grid), so it converges where the warp stretches as well
        as where it compresses (plain fixed-point iteration diverges on strong stretch)."""
        import cv2

        x0, y0 = self.box[0], self.box[1]
        hx, hy = 1.0 / self._sx, 1.0 / self._sy  # grid spacing in pixels
        ddx_dx, ddy_dx = (np.gradient(forward[..., k], hx, axis=1) for k in (0, 1))
        ddx_dy, ddy_dy = (np.gradient(forward[..., k], hy, axis=0) for k in (0, 1))
        # the field and its Jacobian side by side: one remap per iteration reads both
        field = np.concatenate([forward, np.stack([1.0 + ddx_dx, ddx_dy, ddy_dx, 1.0 + ddy_dy], axis=-1)],
                               axis=-1).astype(np.float32)
        step_max = 2.0 * max(hx, hy)
        b = -forward.copy()
        for _ in range(iterations):
            px = self.grid[..., 0] + b[..., 0]
            py = self.grid[..., 1] + b[..., 1]
            mx = ((px - x0 + 0.5) * self._sx - 0.5).astype(np.float32)
            my = ((py - y0 + 0.5) * self._sy - 0.5).astype(np.float32)
            # Outside the grid the field continues as at its edge (the box may be cut by the
            # image border while the head still moves there).
            f = cv2.remap(field, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
            d, j = f[..., :2], f[..., 2:]
            rx, ry = -b[..., 0] - d[..., 0], -b[..., 1] - d[..., 1]  # y - F(x)
            det = j[..., 0] * j[..., 3] - j[..., 1] * j[..., 2]
            det = np.where(np.abs(det) < 0.05, np.where(det < 0, -0.05, 0.05), det)
            sx = (j[..., 3] * rx - j[..., 1] * ry) / det
            sy = (-j[..., 2] * rx + j[..., 0] * ry) / det
            b[..., 0] += np.clip(sx, -step_max, step_max)
            b[..., 1] += np.clip(sy, -step_max, step_max)
        # Where Newton did not converge (a fold: no unique inverse), use the first-order inverse.
        px = self.grid[..., 0] + b[..., 0]
        py = self.grid[..., 1] + b[..., 1]
        mx = ((px - x0 + 0.5) * self._sx - 0.5).astype(np.float32)
        my = ((py - y0 + 0.5) * self._sy - 0.5).astype(np.float32)
        d = cv2.remap(forward, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        residual = np.hypot(b[..., 0] + d[..., 0], b[..., 1] + d[..., 1])
        bad = residual > 0.25 * min(hx, hy)
        if bad.any():
            b[bad] = -forward[bad]
        return b

    def dense_map(self, backward: np.ndarray, ident: np.ndarray) -> np.ndarray:
        """Full-resolution absolute sampling map (bh, bw, 2) float32 for the box."""
        import cv2

        x0, y0, x1, y1 = self.box
        up = cv2.resize(backward, (x1 - x0, y1 - y0), interpolation=cv2.INTER_LINEAR)
        up += ident
        return up


def _nvidia_driver_present() -> bool:
    """Cheap check before importing torch (slow, ~300 MB) just to learn there is no GPU."""
    import os
    import shutil
    import sys

    if sys.platform == "darwin":
        return False
    if sys.platform.startswith("linux"):
        return os.path.exists("/proc/driver/nvidia/version")
    system_root = os.environ.get("SystemRoot", r"C:\Windows")
    return os.path.exists(os.path.join(system_root, "System32", "nvcuda.dll")) or bool(
        shutil.which("nvidia-smi"))


def resolve_device(device: str, sampler: str | None = None) -> str:
    """'cv2' (CPU, OpenCV), 'torch-cpu' or 'torch-cuda' for a device request."""
    device = (device or "auto").lower()
    if device in ("dml", "coreml"):
        device = "cpu"  # onnxruntime providers (LivePortrait); this renderer's GPU is torch CUDA only
    if device not in ("auto", "cpu", "cuda"):
        raise RenderError(f"unknown device {device!r}: use auto, cuda, dml, coreml or cpu")
    want_torch = (sampler or "").lower() == "torch"
    if device == "cpu":
        return "torch-cpu" if want_torch else "cv2"
    if device == "auto" and not want_torch and not _nvidia_driver_present():
        return "cv2"
    try:
        import torch

        has_cuda = bool(torch.cuda.is_available())
    except ImportError:
        has_cuda = False
        if want_torch:
            raise RenderError("sampler='torch' needs PyTorch, which is not installed") from None
    if device == "cuda" and not has_cuda:
        raise RenderError("device 'cuda' asked for, but no CUDA GPU is available to PyTorch; "
                          "use --device cpu or auto")
    if has_cuda:
        return "torch-cuda"
    return "torch-cpu" if want_torch else "cv2"


class Sampler:
    """Bilinear sampling of one image (the portrait) at absolute pixel positions."""

    def __init__(self, image: np.ndarray, backend: str):
        self.image = image
        self.backend = backend
        self._tensor = None
        if backend.startswith("torch"):
            import torch

            dev = "cuda" if backend == "torch-cuda" else "cpu"
            self._torch = torch
            self._dev = dev
            t = torch.from_numpy(np.array(image, copy=True)).to(dev)  # writable (read-only input)
            self._tensor = t.permute(2, 0, 1)[None].float()

    def sample(self, xy: np.ndarray) -> np.ndarray:
        """``xy`` (h, w, 2) float32 absolute (x, y) -> (h, w, 3) uint8."""
        if self._tensor is None:
            import cv2

            return cv2.remap(self.image, xy, None, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        torch = self._torch
        h, w = self.image.shape[:2]
        g = torch.from_numpy(np.ascontiguousarray(xy, dtype=np.float32)).to(self._dev)
        g = torch.stack([g[..., 0] * (2.0 / max(w - 1, 1)) - 1.0,
                         g[..., 1] * (2.0 / max(h - 1, 1)) - 1.0], -1)
        out = torch.nn.functional.grid_sample(self._tensor, g[None], mode="bilinear",
                                              padding_mode="border", align_corners=True)
        return out[0].permute(1, 2, 0).round_().clamp_(0, 255).to(torch.uint8).cpu().numpy()
