"""onnxruntime sessions for LivePortrait's six networks on the provider a device asks for.

Inputs and outputs are addressed by position (the published layout), not by name, so re-exports
with other tensor names work. The warping network uses a 5-D GridSample: on onnxruntime's CPU
provider it runs (see docs/liveportrait.md); on a GPU provider every session is checked when it
is created (providers.placement: a one-frame probe with profiling on): a network the provider
cannot load, or whose probe fails, runs on the CPU; nodes the provider has no kernel for run on
the CPU inside the session. Each case gives ONE warning per session (``fallbacks`` + the
``talking_head`` logger), never a silent 1000x slower path.

Throughput: the warping + generator network runs several frames per call when its batch axis is
dynamic (``batch_dynamic``), through an onnxruntime I/O binding that keeps the portrait's feature
volume on the device (uploaded once per portrait and batch size) and can write the frames
straight into a torch tensor on the GPU for the paste-back. ``fp16=True`` converts that network
to float16 at load (inputs and outputs stay float32; needs the ``onnx`` package).
"""

from __future__ import annotations

import logging
import os
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..base import RenderError
from . import providers as prov
from .providers import CPU, choose_providers  # noqa: F401 - re-exported for callers and tests

log = logging.getLogger("talking_head")

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


def _shape_ok(declared: list, expected: tuple[int, ...]) -> bool:
    if len(declared) != len(expected):
        return False
    return all(not isinstance(d, int) or d == e for d, e in zip(declared, expected, strict=True))


class Network:
    """One onnxruntime session with the published signature of ``role``."""

    def __init__(self, role: str, path: Path, providers: Sequence[str], threads: int | None = None,
                 *, fp16: bool = False, check: bool | None = None, trt_cache: Path | None = None):
        self.role = role
        self.path = Path(path)
        self._threads = threads
        self.fp16 = fp16
        self.trt_cache = trt_cache
        self.cpu_nodes: Counter = Counter()
        self.nodes: dict[str, Counter] = {}
        self._feature: tuple | None = None  # (id(feature), batch, device OrtValue, feature)
        self.session = self._make(list(providers), check)
        ins, outs = SIGNATURES[role]
        got_in = [i.shape for i in self.session.get_inputs()]
        got_out = [o.shape for o in self.session.get_outputs()]
        if len(got_in) != len(ins) or len(got_out) != len(outs) or not all(
                _shape_ok(g, e) for g, e in zip(got_in + got_out, ins + outs, strict=True)):
            raise RenderError(f"{self.path.name} is not a LivePortrait {role} network (inputs {got_in}, "
                              f"outputs {got_out}; expected {list(ins)} -> {list(outs)}); reinstall it "
                              f"with `python -m engine models verify`")
        self.input_names = [i.name for i in self.session.get_inputs()]
        self.output_names = [o.name for o in self.session.get_outputs()]
        #: several frames per run only when the export left the batch axis free
        self.batch_dynamic = not isinstance(got_in[0][0], int)

    def _model(self) -> str | bytes:
        if not self.fp16:
            return str(self.path)
        try:
            import onnx
            from onnxruntime.transformers.float16 import convert_float_to_float16
        except ImportError as exc:
            raise RenderError("fp16 needs the onnx package: install the GPU runtime "
                              "(`python -m engine gpu install`) or turn fp16 off") from exc
        model = convert_float_to_float16(onnx.load(str(self.path)), keep_io_types=True)
        return model.SerializeToString()

    def _options(self, so=None, providers: Sequence[str] = ()):  # noqa: ANN001, ANN202
        import onnxruntime as ort

        so = so or ort.SessionOptions()
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        so.log_severity_level = 3  # errors only: fallbacks are reported by us, once, in words
        if providers and providers[0] == prov.DML:
            # the DirectML provider supports neither memory patterns nor parallel execution
            so.enable_mem_pattern = False
            so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        if self._threads:
            so.intra_op_num_threads = self._threads
        return so

    def probe_feed(self, session) -> dict[str, np.ndarray]:  # noqa: ANN001
        """Zeros of the declared input shapes (free axes = 1): one frame through the network."""
        return {i.name: np.zeros([d if isinstance(d, int) else 1 for d in i.shape], np.float32)
                for i in session.get_inputs()}

    def _make(self, providers: list[str], check: bool | None):  # noqa: ANN202
        import onnxruntime as ort

        model = self._model()
        opts = prov.provider_options(providers, fp16=self.fp16, cache_dir=self.trt_cache)

        def make(so=None):  # noqa: ANN001, ANN202
            return ort.InferenceSession(model, sess_options=self._options(so, providers),
                                        providers=providers, provider_options=opts)

        if check is None:
            check = providers[0] != CPU
        try:
            if not check:
                return make()
            loaded: list[Any] = []

            def make_probed(so):  # noqa: ANN001, ANN202
                loaded.append(make(so))
                return loaded[-1]

            try:
                session, self.nodes = prov.placement(make_probed, self.probe_feed)
            except Exception as exc:
                if loaded:  # loaded, but the probe frame failed on this provider
                    raise _ProbeFailed(str(exc)) from exc
                raise
            self.cpu_nodes = prov.cpu_work(self.nodes, providers)
            return session
        except _ProbeFailed as exc:
            raise RenderError(f"{self.path.name} loads on {prov.label(providers)} but a probe frame "
                              f"failed ({exc})") from exc
        except Exception as exc:  # onnxruntime raises its own exception types
            raise RenderError(f"cannot load {self.path.name} ({exc}); run `python -m engine models "
                              f"verify` and reinstall the file if it is corrupt") from exc

    @property
    def providers(self) -> list[str]:
        return list(self.session.get_providers())

    def run(self, *inputs: np.ndarray) -> list[np.ndarray]:
        feed = {n: np.ascontiguousarray(x, np.float32) for n, x in zip(self.input_names, inputs, strict=True)}
        return self.session.run(None, feed)

    def run_warp(self, feature: np.ndarray, kp_driving: np.ndarray, kp_source: np.ndarray,
                 out: Any = None) -> Any:
        """(n,21,3) driving keypoints -> (n,3,512,512) float32 frames, through an I/O binding.
        The feature volume stays on the device between calls (same array object, same n).
        ``out``: a contiguous float32 torch tensor on the CUDA device to write the frames into."""
        import onnxruntime as ort

        n = kp_driving.shape[0]
        dev = prov.io_device(self.providers)
        if self._feature is None or self._feature[:2] != (id(feature), n):
            vol = np.ascontiguousarray(np.broadcast_to(feature, (n,) + tuple(feature.shape[1:])), np.float32)
            # the array itself is kept too, so its id cannot be reused by another portrait's
            self._feature = (id(feature), n, ort.OrtValue.ortvalue_from_numpy(vol, dev, 0), feature)
        io = self.session.io_binding()
        io.bind_ortvalue_input(self.input_names[0], self._feature[2])
        io.bind_cpu_input(self.input_names[1], np.ascontiguousarray(kp_driving, np.float32))
        io.bind_cpu_input(self.input_names[2], np.ascontiguousarray(
            np.broadcast_to(kp_source.reshape(1, 21, 3), (n, 21, 3)), np.float32))
        if out is not None:
            io.bind_output(self.output_names[0], "cuda", out.device.index or 0, np.float32,
                           tuple(out.shape), out.data_ptr())
        else:
            io.bind_output(self.output_names[0], dev)
        self.session.run_with_iobinding(io)
        return out if out is not None else io.copy_outputs_to_cpu()[0]


class _ProbeFailed(Exception):
    pass


class LivePortraitNetworks:
    """The sessions. ``paths``: role -> .onnx path (from ModelStore.paths or explicit).

    ``roles``: which networks to load (capture needs only "motion"). ``check``: run the placement
    probe (None = on GPU providers only). ``fp16``: the warping network in float16.
    ``on_warning``: called with each fallback message (once per session)."""

    def __init__(self, paths: Mapping[str, Path], device: str = "auto", threads: int | None = None, *,
                 roles: Sequence[str] = ROLES, fp16: bool = False, tensorrt: bool = False,
                 check: bool | None = None, on_warning: Callable[[str], None] | None = None):
        missing = [r for r in roles if r not in paths or not Path(paths[r]).is_file()]
        if missing:
            raise RenderError(f"LivePortrait network files missing for: {', '.join(missing)}")
        self.providers = choose_providers(device, tensorrt=tensorrt)
        self.threads = threads or int(os.environ.get("TALKING_HEAD_ORT_THREADS", "0")) or None
        self.fallbacks: list[str] = []
        self._on_warning = on_warning
        self._fp16 = fp16
        self._check = check
        trt = self.providers[0] == prov.TENSORRT
        self._trt_cache = Path(paths[roles[0]]).parent / ".trt_cache" if trt else None
        self.nets: dict[str, Network] = {}
        for r in roles:
            self.nets[r] = self._load(r, Path(paths[r]))

    def _warn(self, msg: str) -> None:
        self.fallbacks.append(msg)
        log.warning("LivePortrait: %s", msg)
        if self._on_warning is not None:
            self._on_warning(msg)

    def _load(self, role: str, path: Path) -> Network:
        fp16 = self._fp16 and role == "warping"
        try:
            net = Network(role, path, self.providers, self.threads, fp16=fp16, check=self._check,
                          trt_cache=self._trt_cache)
        except RenderError as exc:
            if self.providers[0] == CPU or "not a LivePortrait" in str(exc) or "fp16 needs" in str(exc):
                raise
            # a GPU provider that cannot build or run this graph: the CPU for this network only
            self._warn(f"{role}: {prov.label(self.providers)} cannot run it ({exc}); this network "
                       f"runs on the CPU")
            return Network(role, path, [CPU], self.threads, fp16=fp16, check=False)
        if net.cpu_nodes:
            ops = ", ".join(f"{op} x{n}" for op, n in sorted(net.cpu_nodes.items()))
            self._warn(f"{role}: {prov.label(self.providers)} has no kernel for {ops}; those nodes run "
                       f"on the CPU inside this session (tensors copied every frame)")
        return net

    def __getitem__(self, role: str) -> Network:
        return self.nets[role]

    @property
    def label(self) -> str:
        """Where the networks run, for the panel, the CLI and the log: "CUDA", "CPU",
        "CUDA (warping on CPU)"..."""
        main = prov.label(self.providers)
        off = [r for r, n in self.nets.items() if n.providers[0] != self.providers[0]]
        mixed = [r for r, n in self.nets.items() if n.cpu_nodes]
        notes = [f"{', '.join(off)} on CPU"] if off else []
        notes += [f"{', '.join(mixed)} partly on CPU"] if mixed else []
        return main + (f" ({'; '.join(notes)})" if notes else "")

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

    def warp(self, feature: np.ndarray, kp_driving: np.ndarray, kp_source: np.ndarray,
             out: Any = None) -> Any:
        """Frames for (21,3) or (n,21,3) driving keypoints: (n,3,512,512) float32 on the host, or
        written into ``out`` (torch tensor on the GPU) when given and the session runs there."""
        kp_d = np.asarray(kp_driving, np.float32).reshape(-1, 21, 3)
        kp_s = np.asarray(kp_source, np.float32).reshape(21, 3)
        net = self.nets["warping"]
        try:
            return self._warp_on(net, feature, kp_d, kp_s, out)
        except Exception as exc:
            if net.providers[0] == CPU:
                raise RenderError(f"the warping network failed: {exc}") from exc
            # e.g. a CUDA kernel that refuses 5-D GridSample at run time: rebuild on the CPU once
            self._warn(f"warping: {prov.label(net.providers)} failed ({exc}); this network runs on the CPU")
            self.nets["warping"] = Network("warping", net.path, [CPU], net._threads, fp16=net.fp16,
                                           check=False)
            res = self._warp_on(self.nets["warping"], feature, kp_d, kp_s, None)
            if out is not None:
                import torch

                out.copy_(torch.from_numpy(res))
                return out
            return res

    @staticmethod
    def _warp_on(net: Network, feature: np.ndarray, kp_d: np.ndarray, kp_s: np.ndarray, out: Any) -> Any:
        on_gpu = prov.io_device(net.providers) == "cuda"
        if out is not None and not on_gpu:
            res = LivePortraitNetworks._warp_on(net, feature, kp_d, kp_s, None)
            import torch

            out.copy_(torch.from_numpy(res))
            return out
        if kp_d.shape[0] > 1 and not net.batch_dynamic:  # a batch-1 export: one frame per run
            if out is not None:
                for i in range(kp_d.shape[0]):
                    net.run_warp(feature, kp_d[i:i + 1], kp_s, out[i:i + 1])
                return out
            return np.concatenate([net.run_warp(feature, kp_d[i:i + 1], kp_s) for i in range(kp_d.shape[0])])
        return net.run_warp(feature, kp_d, kp_s, out)

    def close(self) -> None:
        self.nets.clear()
