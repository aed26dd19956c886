"""Stand-in wheels for the GPU runtime installer tests (offline, a few KB): an `onnxruntime-gpu`
whose `onnxruntime` module reports the CUDA provider and records preload_dlls() calls, the
`nvidia-*` CUDA/cuDNN wheels it pulls through its [cuda,cudnn] extras, `onnx`, and fake `numpy` /
`protobuf` dependencies that must never become importable (the real ones come from Blender and
the extension's bundled wheels). Loaded by path (tests run with --import-mode=importlib)."""

from __future__ import annotations

import zipfile
from pathlib import Path

FAKE_ORT = '''__version__ = "1.31.1"
FAKE_GPU_BUILD = True
PRELOADED = []


def get_available_providers():
    return ["TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"]


def preload_dlls(cuda=True, cudnn=True, msvc=True, directory=None):
    PRELOADED.append((cuda, cudnn))
'''
POISON = "raise ImportError('a fake dependency from the GPU runtime folder was imported')\n"


def make_wheel(directory: Path, name: str, version: str, files: dict[str, str],
               requires: tuple[str, ...] = (), extras: tuple[str, ...] = ()) -> Path:
    dist = f"{name}-{version}.dist-info"
    path = directory / f"{name}-{version}-py3-none-any.whl"
    meta = f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"
    meta += "".join(f"Provides-Extra: {e}\n" for e in extras)
    meta += "".join(f"Requires-Dist: {r}\n" for r in requires)
    files = dict(files)
    files[f"{dist}/METADATA"] = meta
    files[f"{dist}/WHEEL"] = "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
    record = "".join(f"{p},,\n" for p in files) + f"{dist}/RECORD,,\n"
    with zipfile.ZipFile(path, "w") as zf:
        for p, text in files.items():
            zf.writestr(p, text)
        zf.writestr(f"{dist}/RECORD", record)
    return path


def build_wheelhouse(house: Path) -> Path:
    house.mkdir(parents=True, exist_ok=True)
    make_wheel(house, "onnxruntime_gpu", "1.31.1", {"onnxruntime/__init__.py": FAKE_ORT},
               requires=("numpy", "protobuf", 'nvidia-cuda-runtime-cu12 ; extra == "cuda"',
                         'nvidia-cudnn-cu12 ; extra == "cudnn"'), extras=("cuda", "cudnn"))
    make_wheel(house, "nvidia_cuda_runtime_cu12", "12.9.79",
               {"nvidia/cuda_runtime/__init__.py": "", "nvidia/cuda_runtime/lib/libcudart.so.12": "fake"})
    make_wheel(house, "nvidia_cudnn_cu12", "9.27.0.42",
               {"nvidia/cudnn/__init__.py": "", "nvidia/cudnn/lib/libcudnn.so.9": "fake"})
    make_wheel(house, "onnx", "1.23.2", {"onnx/__init__.py": "__version__ = '1.23.2'\n"},
               requires=("numpy", "protobuf"))
    make_wheel(house, "numpy", "99.0", {"numpy/__init__.py": POISON})
    make_wheel(house, "protobuf", "99.0", {"google/protobuf/__init__.py": POISON})
    return house
