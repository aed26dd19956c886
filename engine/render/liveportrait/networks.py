"""onnxruntime sessions for LivePortrait's six networks (CUDA when available, CPU otherwise).

Inputs and outputs are addressed by position (the published layout), not by name, so re-exports
with other tensor names work. The warping network uses a 5-D GridSample: on onnxruntime's CPU
provider it runs (see docs/liveportrait.md); whether the CUDA provider of a given
onnxruntime-gpu build runs it is checked at run time: if the warping session fails on CUDA it is
rebuilt on the CPU provider once and the fallback is recorded in ``fallbacks``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from ..base import RenderError

ROLES = ("appearance", "motion", "warping", "stitching", "eye", "lip")

#: (role) -> (input shapes, output shapes) of the published layout
SIGNATURES: dict[str, tuple[tuple[tuple[int, ...], ...], tuple[tuple[int, ...], ...]]] = {
    "appearance": (((1, 3, 256, 256),), ((1, 32, 16, 64, 64),)),
    "motion": (((1, 3, 256, 256),), ((1, 66), (1, 66), (1, 66), (1, 3), (1, 63), (1, 1), (1, 63))),
    "warping": (((1, 32, 16, 64, 64), (1, 21, 3), (1, 21, 3)), ((1, 3, 512, 512),)),
    "stitching": (((1, 126),), ((1, 65),)),
    "eye": (((1, 66),), ((1, 63),)),
    "lip": (((1, 65),), ((1, 63),)),
}


def choose_providers(device: str = "auto") -> list[str]:
    """"cpu" -> CPU only; "auto"/"cuda"/"gpu" -> CUDA first when this onnxruntime has it."""
    import onnxruntime as ort

    available = ort.get_available_providers()
    if device.lower() in ("auto", "cuda", "gpu") and "CUDAExecutionProvider" in available:
        return ["CUDAExecutionProvider", "CPUExecutionProvider"]
    if device.lower() in ("cuda", "gpu"):
        raise RenderError("CUDA was requested but this onnxruntime has no CUDA provider "
                          f"(available: {', '.join(available)}); install onnxruntime-gpu or use device='cpu'")
    return ["CPUExecutionProvider"]


def _shape_ok(declared: list, expected: tuple[int, ...]) -> bool:
    if len(declared) != len(expected):
        return False
    return all(not isinstance(d, int) or d == e for d, e in zip(declared, expected, strict=True))


class Network:
    def __init__(self, role: str, path: Path, providers: list[str], threads: int | None = None):
        import onnxruntime as ort

        self.role = role
        self.path = Path(path)
        self._threads = threads
        self.session = self._make(providers)
        ins, outs = SIGNATURES[role]
        got_in = [i.shape for i in self.session.get_inputs()]
        got_out = [o.shape for o in self.session.get_outputs()]
        if len(got_in) != len(ins) or len(got_out) != len(outs) or not all(
                _shape_ok(g, e) for g, e in zip(got_in + got_out, ins + outs, strict=True)):
            raise RenderError(f"{self.path.name} is not a LivePortrait {role} network (inputs {got_in}, "
                              f"outputs {got_out}; expected {list(ins)} -> {list(outs)}); reinstall it "
                              f"with `python -m engine models verify`")
        self.input_names = [i.name for i in self.session.get_inputs()]
        self._ort = ort

    def _make(self, providers: list[str]):  # noqa: ANN202
        import onnxruntime as ort

        so = ort.SessionOptions()
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        if self._threads:
            so.intra_op_num_threads = self._threads
        try:
            return ort.InferenceSession(str(self.path), sess_options=so, providers=providers)
        except Exception as exc:  # onnxruntime raises its own exception types
            raise RenderError(f"cannot load {self.path.name} ({exc}); run `python -m engine models "
                              f"verify` and reinstall the file if it is corrupt") from exc

    @property
    def providers(self) -> list[str]:
        return list(self.session.get_providers())

    def run(self, *inputs: np.ndarray) -> list[np.ndarray]:
        feed = {n: np.ascontiguousarray(x, np.float32) for n, x in zip(self.input_names, inputs, strict=True)}
        return self.session.run(None, feed)


class LivePortraitNetworks:
    """The six sessions. ``paths``: role -> .onnx path (from ModelStore.paths or explicit)."""

    def __init__(self, paths: Mapping[str, Path], device: str = "auto", threads: int | None = None):
        missing = [r for r in ROLES if r not in paths or not Path(paths[r]).is_file()]
        if missing:
            raise RenderError(f"LivePortrait network files missing for: {', '.join(missing)}")
        self.providers = choose_providers(device)
        threads = threads or int(os.environ.get("TALKING_HEAD_ORT_THREADS", "0")) or None
        self.fallbacks: list[str] = []
        self.nets: dict[str, Network] = {}
        for r in ROLES:
            try:
                self.nets[r] = Network(r, Path(paths[r]), self.providers, threads)
            except RenderError as exc:
                if self.providers[0] == "CPUExecutionProvider" or "not a LivePortrait" in str(exc):
                    raise
                # a GPU provider that cannot build this graph (e.g. 5-D GridSample): CPU for this one
                self.fallbacks.append(f"{r}: {self.providers[0]} could not load it ({exc}); using CPU")
                self.nets[r] = Network(r, Path(paths[r]), ["CPUExecutionProvider"], threads)

    def __getitem__(self, role: str) -> Network:
        return self.nets[role]

    def appearance(self, img: np.ndarray) -> np.ndarray:
        return self.nets["appearance"].run(img)[0]

    def motion(self, img: np.ndarray) -> list[np.ndarray]:
        return self.nets["motion"].run(img)

    def stitching(self, x: np.ndarray) -> np.ndarray:
        return self.nets["stitching"].run(x)[0].reshape(-1)

    def eye(self, x: np.ndarray) -> np.ndarray:
        return self.nets["eye"].run(x)[0].reshape(-1)

    def lip(self, x: np.ndarray) -> np.ndarray:
        return self.nets["lip"].run(x)[0].reshape(-1)

    def warp(self, feature: np.ndarray, kp_driving: np.ndarray, kp_source: np.ndarray) -> np.ndarray:
        net = self.nets["warping"]
        args = (feature, kp_driving.reshape(1, 21, 3), kp_source.reshape(1, 21, 3))
        try:
            return net.run(*args)[0]
        except Exception as exc:
            if net.providers[0] == "CPUExecutionProvider":
                raise RenderError(f"the warping network failed: {exc}") from exc
            # e.g. a CUDA provider without 5-D GridSample: rebuild this one session on the CPU
            self.fallbacks.append(f"warping: {net.providers[0]} failed ({exc}); using CPU")
            self.nets["warping"] = Network("warping", net.path, ["CPUExecutionProvider"], net._threads)
            return self.nets["warping"].run(*args)[0]

    def close(self) -> None:
        self.nets.clear()
