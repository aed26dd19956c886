"""onnxruntime execution providers for LivePortrait: which one a device request means, and whether
a session really runs every node on it.

Devices (CLI ``--device``, Blender's Device menu): ``cuda`` (onnxruntime-gpu, NVIDIA; TensorRT
first when asked for and installed), ``dml`` (onnxruntime-directml, any DirectX 12 GPU on
Windows), ``coreml`` (the CoreML provider of the standard onnxruntime on macOS), ``cpu``, and
``auto`` = the first of CUDA, DirectML, CoreML that this onnxruntime has, else the CPU.

Placement check: onnxruntime silently runs a node on the CPU when the GPU provider has no kernel
for it (e.g. a 5-D GridSample on a CUDA build without volumetric support), copying tensors to
and fro every frame. ``placement()`` runs one probe through a session with profiling on and reads
which provider ran each node; the caller warns once per session when real work landed on the CPU.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..base import RenderError

DEVICES = ("auto", "cuda", "dml", "coreml", "cpu")
CPU = "CPUExecutionProvider"
CUDA = "CUDAExecutionProvider"
TENSORRT = "TensorrtExecutionProvider"
DML = "DmlExecutionProvider"
COREML = "CoreMLExecutionProvider"
PROVIDER_OF = {"cuda": CUDA, "dml": DML, "coreml": COREML, "cpu": CPU}
LABELS = {CUDA: "CUDA", TENSORRT: "TensorRT", DML: "DirectML", COREML: "CoreML", CPU: "CPU"}
HOW_TO_GET = {
    "cuda": "install the GPU runtime (add-on preferences > Install GPU Runtime, or `python -m engine "
            "gpu install`; needs an NVIDIA driver for CUDA 12)",
    "dml": "install the GPU runtime on Windows (`python -m engine gpu install --flavor directml`)",
    "coreml": "CoreML comes with the standard onnxruntime on macOS only",
}
#: ops a GPU provider deliberately leaves on the CPU (small shape arithmetic): not worth a warning
SHAPE_OPS = frozenset({
    "Shape", "Size", "Gather", "Unsqueeze", "Squeeze", "Concat", "Reshape", "Slice", "Cast",
    "ConstantOfShape", "Range", "Equal", "Where", "Expand", "Identity", "Constant", "MemcpyToHost",
    "MemcpyFromHost", "Add", "Mul", "Sub", "Div", "Floor", "Ceil",
})


def available() -> list[str]:
    import onnxruntime as ort

    from ...gpu_runtime import preload

    have = list(ort.get_available_providers())
    preload(ort, have)  # the CUDA/cuDNN libraries of the nvidia-* wheels, before any CUDA session
    return have


def choose_providers(device: str = "auto", tensorrt: bool = False,
                     have: Sequence[str] | None = None) -> list[str]:
    """Provider names in priority order for a device request, CPU always last."""
    device = (device or "auto").lower()
    if device == "gpu":
        device = "cuda"
    if device not in DEVICES:
        raise RenderError(f"unknown device {device!r}: use one of {', '.join(DEVICES)}")
    have = list(available() if have is None else have)
    if device == "cpu":
        return [CPU]
    if device == "auto":
        wanted = next((d for d in ("cuda", "dml", "coreml") if PROVIDER_OF[d] in have), None)
        if wanted is None:
            return [CPU]
    else:
        wanted = device
        if PROVIDER_OF[wanted] not in have:
            raise RenderError(f"{LABELS[PROVIDER_OF[wanted]]} was requested but this onnxruntime has no "
                              f"{PROVIDER_OF[wanted]} (available: {', '.join(have)}); "
                              f"{HOW_TO_GET[wanted]}, or use device 'cpu'")
    out = [PROVIDER_OF[wanted]]
    if wanted == "cuda" and tensorrt and TENSORRT in have:
        out.insert(0, TENSORRT)
    return out + [CPU]


def provider_options(providers: Sequence[str], *, fp16: bool = False,
                     cache_dir: str | os.PathLike[str] | None = None) -> list[dict[str, Any]]:
    """Per-provider options: TensorRT caches its engines (the first build takes minutes);
    CUDA searches the fastest convolution algorithms once (LivePortrait's shapes are fixed)."""
    opts: list[dict[str, Any]] = []
    for p in providers:
        if p == TENSORRT:
            o: dict[str, Any] = {"trt_fp16_enable": bool(fp16), "trt_engine_cache_enable": True}
            if cache_dir:
                o["trt_engine_cache_path"] = str(cache_dir)
            opts.append(o)
        elif p == CUDA:
            opts.append({"cudnn_conv_algo_search": "EXHAUSTIVE", "do_copy_in_default_stream": True})
        else:
            opts.append({})
    return opts


def label(providers: Sequence[str]) -> str:
    return LABELS.get(providers[0], providers[0]) if providers else "none"


def io_device(providers: Sequence[str]) -> str:
    """The onnxruntime device type an I/O binding should use for this session's tensors."""
    return "cuda" if providers and providers[0] in (CUDA, TENSORRT) else "cpu"


def parse_profile(events: list[Mapping[str, Any]]) -> dict[str, Counter]:
    """Profile events -> provider -> Counter(op type) of the nodes that provider ran."""
    out: dict[str, Counter] = {}
    seen: set[str] = set()
    for ev in events:
        args = ev.get("args") or {}
        if ev.get("cat") != "Node" or "provider" not in args:
            continue
        name = str(ev.get("name", "")).rsplit("_kernel_time", 1)[0]
        if name in seen:
            continue
        seen.add(name)
        out.setdefault(str(args["provider"]), Counter())[str(args.get("op_name", "?"))] += 1
    return out


def placement(make_session: Callable[[Any], Any], feed_for: Callable[[Any], Mapping[str, np.ndarray]]
              ) -> tuple[Any, dict[str, Counter]]:
    """Build a session with profiling on (``make_session(session_options)``), run one probe
    (``feed_for(session)``) and return (session, provider -> op counts of the nodes each ran).
    Profiling stops after the probe (onnxruntime's end_profiling)."""
    import onnxruntime as ort

    with tempfile.TemporaryDirectory(prefix="th_ort_profile_") as tmp:
        so = ort.SessionOptions()
        so.enable_profiling = True
        so.profile_file_prefix = str(Path(tmp) / "probe")
        session = make_session(so)
        session.run(None, dict(feed_for(session)))
        path = session.end_profiling()
        try:
            events = json.loads(Path(path).read_text(encoding="utf-8")) if path else []
        except (OSError, ValueError):
            events = []
    return session, parse_profile(events)


def cpu_work(nodes: Mapping[str, Counter], providers: Sequence[str]) -> Counter:
    """Op counts that ran on the CPU although the session asked for a GPU provider first,
    shape arithmetic excepted."""
    if not providers or providers[0] == CPU:
        return Counter()
    return Counter({op: n for op, n in nodes.get(CPU, Counter()).items() if op not in SHAPE_OPS})
