"""Optional GPU runtime installed beside the extension, never inside its zip: a GPU onnxruntime
(what LivePortrait runs on) and, optionally, PyTorch (the built-in renderer's GPU sampler and the
GPU paste-back).

GPU onnxruntime (``install_runtime`` / ``activate_runtime``, folder ``<root>/onnxruntime``):

* Linux / Windows x64 with an NVIDIA driver: ``onnxruntime-gpu[cuda,cudnn]`` (CUDA 12) with the
  ``nvidia-*`` CUDA and cuDNN wheels, loaded by ``onnxruntime.preload_dlls()``; plus ``onnx``
  (float16 conversion of the generator).
* Windows without NVIDIA: ``onnxruntime-directml`` (any DirectX 12 GPU).
* macOS: nothing to install: the bundled onnxruntime has the CoreML provider.

Shadowing: the GPU builds install the same top-level module ``onnxruntime`` as the CPU wheel the
extension bundles (in Blender's extension site-packages). ``activate_runtime`` puts the
onnxruntime folder FIRST on sys.path, so ``import onnxruntime`` finds the GPU build; to make that
safe, the install keeps in that folder only what nothing else provides: every distribution whose
modules are already importable (numpy from Blender, protobuf/flatbuffers/packaging from the
bundled wheels, ...) is removed after pip ran, so the front of sys.path can shadow nothing but
``onnxruntime`` itself. Torch goes to ``<root>/torch`` and is appended (after Blender's own).
Activation must happen before the first ``import onnxruntime`` (the add-on's register, the CLI's
start): a process that already imported the CPU build keeps it until restarted
(``RuntimeState.restart_needed``).

The extension zip carries no torch: the CPU wheel alone is ~190 MB and a CUDA build with its
`nvidia-*` wheels is several GB per platform (wheels/README.md). The engine runs without it
(OpenCV sampling, onnxruntime networks); torch only adds an optional GPU sampler. To get it inside
Blender, the add-on calls `install()` with a directory it owns (the extension's user directory,
`bpy.utils.extension_path_user(__package__, path="gpu", create=True)`), and `activate()` with the
same directory at register time so `import torch` finds it. A torch the user already has on
Blender's Python path is used as is.

`install()` runs Blender's own Python's pip (`sys.executable -m pip install --target ...`) into a
staging directory that replaces the previous install only when pip succeeded; anything Blender's
Python already provides (numpy above all) is removed from it, so it can never shadow Blender's own.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from .errors import EngineError
from .outputs import describe_os_error
from .progress import Cancelled, Progress

DEFAULT_PACKAGES: tuple[str, ...] = ("torch",)
# Blender's Python ships these (numpy 1.26 in 4.2-5.0); a second copy on sys.path would shadow them.
BLENDER_PROVIDES = frozenset({
    "numpy", "certifi", "requests", "idna", "urllib3", "charset_normalizer", "zstandard", "cython",
})


class GpuRuntimeError(EngineError):
    pass


# Written into every folder `install()` makes: only a folder holding it is replaced without
# `overwrite` (a folder of the user's that happens to be called onnxruntime/ is never deleted).
INSTALL_MARKER = ".talking_head_gpu_install"


def is_our_install(directory: str | os.PathLike[str]) -> bool:
    return (Path(directory) / INSTALL_MARKER).is_file()


def check_replaceable(directory: str | os.PathLike[str], overwrite: bool) -> None:
    """Refuse to replace ``directory`` unless it is missing, empty, our own install, or
    ``overwrite`` says so."""
    d = Path(directory)
    if d.exists() and not d.is_dir():
        raise GpuRuntimeError(f"{d} is a file, not an install folder; move it away or choose another "
                              "--target")
    if overwrite or not d.is_dir() or is_our_install(d):
        return
    try:
        empty = not any(d.iterdir())
    except OSError as exc:
        raise GpuRuntimeError(describe_os_error(exc, d)) from exc
    if not empty:
        raise GpuRuntimeError(f"{d} already exists and was not made by `gpu install`; pass --overwrite "
                              "to replace it, or choose another --target")


@dataclass(frozen=True)
class GpuRuntimeStatus:
    directory: Path
    installed: tuple[str, ...]  # "name version" of each distribution in the directory
    torch_version: str | None  # of the torch this Python would import now, if any
    torch_origin: Path | None
    cuda: bool


def _dist_infos(directory: Path) -> list[tuple[str, str, Path]]:
    out = []
    if directory.is_dir():
        for entry in sorted(directory.glob("*.dist-info")):
            m = re.fullmatch(r"(.+?)-([^-]+)\.dist-info", entry.name)
            if m:
                out.append((m.group(1), m.group(2), entry))
    return out


def _normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "_", name).lower()


def _top_level_paths(dist_info: Path, directory: Path) -> set[Path]:
    """Top-level files/dirs a distribution put into `directory` (from its RECORD)."""
    record = dist_info / "RECORD"
    paths = {dist_info}
    if record.is_file():
        for line in record.read_text(encoding="utf-8", errors="replace").splitlines():
            rel = line.split(",", 1)[0].strip()
            if rel and not rel.startswith(".."):
                paths.add(directory / rel.split("/", 1)[0])
    return paths


def activate(directory: str | os.PathLike[str]) -> bool:
    """Make packages installed by `install()` importable (appended to sys.path, after Blender's own).
    Returns whether the directory holds an installed runtime."""
    path = Path(directory)
    if not _dist_infos(path):
        return False
    if str(path) not in sys.path:
        sys.path.append(str(path))
        importlib.invalidate_caches()
    return True


def status(directory: str | os.PathLike[str]) -> GpuRuntimeStatus:
    """What is installed in `directory`, and which torch (if any) this Python imports."""
    path = Path(directory)
    installed = tuple(f"{name} {version}" for name, version, _ in _dist_infos(path))
    spec = importlib.util.find_spec("torch")
    version = origin = None
    cuda = False
    if spec is not None and spec.origin:
        origin = Path(spec.origin).parent
        if "torch" in sys.modules:
            torch = sys.modules["torch"]
            version = str(getattr(torch, "__version__", "")) or None
            try:
                cuda = bool(torch.cuda.is_available())
            except Exception:  # noqa: BLE001 - a broken CUDA setup reads as "no CUDA"
                cuda = False
        else:
            version_file = origin / "version.py"
            if version_file.is_file():
                m = re.search(r"__version__\s*=\s*['\"]([^'\"]+)", version_file.read_text())
                version = m.group(1) if m else None
    return GpuRuntimeStatus(path, installed, version, origin, cuda)


def install(
    directory: str | os.PathLike[str],
    packages: Sequence[str] = DEFAULT_PACKAGES,
    *,
    keep_only_new: bool = False,
    index_url: str | None = None,
    extra_index_url: str | None = None,
    find_links: str | os.PathLike[str] | None = None,
    no_index: bool = False,
    python: str | None = None,
    progress: Progress | None = None,
    overwrite: bool = False,
) -> list[str]:
    """pip-install `packages` (e.g. ["torch"], or ["torch==2.13.0"] with a CUDA index_url) into
    `directory`, replacing what was there only on success. Returns the "name version" installed.
    ``keep_only_new``: also remove every distribution whose modules this Python can already
    import from elsewhere (``onnxruntime`` excepted), for a folder that goes first on sys.path.
    Raises GpuRuntimeError when pip is missing or fails, Cancelled when the progress is cancelled
    (the previous install is then left as it was). A ``directory`` that this function did not
    make (no INSTALL_MARKER) is only replaced with ``overwrite``."""
    target = Path(directory)
    check_replaceable(target, overwrite)  # before pip downloads gigabytes
    # Exclusive, unique staging and backup folders beside the target (engine.outputs naming):
    # never an existing folder, so nothing of the user's is ever deleted or renamed away.
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent))
    except OSError as exc:
        raise GpuRuntimeError(describe_os_error(exc, target)) from exc
    cmd = [python or sys.executable, "-m", "pip", "install", "--disable-pip-version-check", "--no-input",
           "--only-binary=:all:", "--target", str(staging)]
    if index_url:
        cmd += ["--index-url", index_url]
    if extra_index_url:
        cmd += ["--extra-index-url", extra_index_url]
    if find_links:
        cmd += ["--find-links", str(find_links)]
    if no_index:
        cmd += ["--no-index"]
    cmd += list(packages)

    progress = progress or Progress()
    progress.update(0, 1, f"installing {' '.join(packages)} (large download)")
    # the network policy's proxy rule for pip too: a loopback wheel server never via a proxy
    env = dict(os.environ)
    for key in ("no_proxy", "NO_PROXY"):
        env[key] = ",".join(filter(None, [env.get(key, ""), "127.0.0.1", "localhost", "::1"]))
    try:
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    except OSError as exc:
        raise GpuRuntimeError(f"cannot run {cmd[0]}: {exc}") from exc
    lines: list[str] = []

    def drain() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line.rstrip())

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    try:
        while proc.poll() is None:
            if progress.cancelled:
                proc.kill()
                proc.wait()
                raise Cancelled("GPU runtime install cancelled")
            time.sleep(0.1)
        reader.join(timeout=5)
        if proc.returncode != 0:
            tail = "\n".join(lines[-12:])
            if "No module named pip" in tail:
                raise GpuRuntimeError(
                    f"this Python has no pip: run `{cmd[0]} -m ensurepip` once, then install again"
                )
            raise GpuRuntimeError(
                f"pip could not install {' '.join(packages)} (exit {proc.returncode}); check the network "
                f"or the index URL and try again. pip said:\n{tail}"
            )
        for name, _version, dist_info in _dist_infos(staging):
            redundant = keep_only_new and _provided_elsewhere(dist_info, staging)
            if _normalize(name) in BLENDER_PROVIDES or redundant:
                for path in _top_level_paths(dist_info, staging):
                    if path.is_dir():
                        shutil.rmtree(path, ignore_errors=True)
                    elif path.exists():
                        path.unlink()
        (staging / INSTALL_MARKER).write_text("installed by Talking Head (gpu install); safe to delete\n")
        check_replaceable(target, overwrite)  # again: pip ran for minutes
        old = Path(tempfile.mkdtemp(prefix=f".{target.name}.old.", suffix=".tmp", dir=target.parent))
        old.rmdir()  # a unique free name for the previous install
        if target.exists():
            target.rename(old)
        staging.rename(target)
        if old.exists():
            shutil.rmtree(old, ignore_errors=True)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    progress.update(1, 1, "installed")
    return [f"{name} {version}" for name, version, _ in _dist_infos(target)]


# ------------------------------------------------------------------ GPU onnxruntime
ORT_DIR, TORCH_DIR = "onnxruntime", "torch"
FLAVORS = ("auto", "cuda", "directml")
#: pins: onnxruntime-gpu (CUDA 12 build on PyPI; CUDA GridSample 5-D since microsoft/onnxruntime#27201),
#: onnxruntime-directml (Windows), onnx (float16 conversion; its protobuf comes from the bundle)
ORT_GPU = "onnxruntime-gpu[cuda,cudnn]==1.31.1"
ORT_DIRECTML = "onnxruntime-directml==1.24.4"
ONNX = "onnx==1.23.2"
ENV_RUNTIME_DIR = "TALKING_HEAD_GPU_RUNTIME"


def _module_names(dist_info: Path, directory: Path) -> set[str]:
    """Importable names a distribution installed: top-level packages and modules, and for a
    namespace folder (no __init__.py: google/, nvidia/) the packages inside it."""
    names: set[str] = set()
    record = dist_info / "RECORD"
    if not record.is_file():
        return names
    for line in record.read_text(encoding="utf-8", errors="replace").splitlines():
        parts = line.split(",", 1)[0].strip().split("/")
        if not parts[0] or parts[0].startswith("..") or parts[0].endswith((".dist-info", ".data", ".libs")):
            continue
        if len(parts) == 1:
            if parts[0].endswith(".py"):
                names.add(parts[0][:-3])
        elif (directory / parts[0] / "__init__.py").is_file() or len(parts) == 2:
            names.add(parts[0])
        else:
            names.add(f"{parts[0]}.{parts[1]}")
    return {n for n in names if all(p.isidentifier() for p in n.split("."))}


def _provided_elsewhere(dist_info: Path, directory: Path) -> bool:
    """Are this distribution's modules importable without `directory` (so a copy first on sys.path
    would shadow them)? ``onnxruntime`` never counts: shadowing it is the point."""
    names = _module_names(dist_info, directory)
    if not names or "onnxruntime" in names:
        return False
    saved = list(sys.path)
    try:
        sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != directory.resolve()]
        importlib.invalidate_caches()
        for name in names:
            try:
                spec = importlib.util.find_spec(name)
            except (ImportError, ValueError):
                spec = None
            # a namespace package elsewhere (nvidia/ of another wheel) does not make these redundant
            if spec is not None and spec.origin not in (None, "namespace"):
                return True
        return False
    finally:
        sys.path[:] = saved
        importlib.invalidate_caches()


def nvidia_present() -> bool:
    """An NVIDIA driver on this machine (without importing anything heavy)."""
    if sys.platform.startswith("linux"):
        return Path("/proc/driver/nvidia/version").exists() or bool(shutil.which("nvidia-smi"))
    if sys.platform == "win32":
        system = Path(os.environ.get("SystemRoot", r"C:\Windows")) / "System32"
        return (system / "nvcuda.dll").exists() or bool(shutil.which("nvidia-smi"))
    return False


def choose_flavor(flavor: str = "auto", *, system: str | None = None, machine: str | None = None,
                  nvidia: bool | None = None) -> str | None:
    """"cuda", "directml", or None (macOS: the bundled onnxruntime's CoreML is the GPU path)."""
    system = system or sys.platform
    machine = (machine or platform.machine()).lower()
    if flavor not in FLAVORS:
        raise GpuRuntimeError(f"unknown GPU runtime flavor {flavor!r}: use {', '.join(FLAVORS)}")
    if system == "darwin":
        if flavor != "auto":
            raise GpuRuntimeError("on macOS LivePortrait uses the CoreML provider of the bundled "
                                  "onnxruntime: nothing to install (use --device coreml)")
        return None
    x64 = machine in ("x86_64", "amd64")
    if flavor == "directml" and system != "win32":
        raise GpuRuntimeError("onnxruntime-directml exists for Windows only; use --flavor cuda")
    if flavor == "cuda" and not x64:
        raise GpuRuntimeError(f"onnxruntime-gpu is published for x64 only, not {machine}")
    if flavor != "auto":
        return flavor
    if not x64:
        return None
    if nvidia if nvidia is not None else nvidia_present():
        return "cuda"
    if system == "win32":
        return "directml"
    raise GpuRuntimeError("no NVIDIA driver found: install the NVIDIA driver first (CUDA 12 capable), "
                          "or pass --flavor cuda to install anyway")


def runtime_packages(flavor: str) -> list[str]:
    return [ORT_GPU, ONNX] if flavor == "cuda" else [ORT_DIRECTML, ONNX]


def default_runtime_root() -> Path:
    """$TALKING_HEAD_GPU_RUNTIME, else beside the default model folder (the CLI's; Blender passes
    its extension user folder)."""
    env = os.environ.get(ENV_RUNTIME_DIR)
    if env:
        return Path(env).expanduser()
    from .models.store import default_models_dir

    return default_models_dir().parent / "gpu_runtime"


def install_runtime(root: str | os.PathLike[str], flavor: str = "auto", *, with_torch: bool = False,
                    extra: Sequence[str] = (), index_url: str | None = None,
                    find_links: str | os.PathLike[str] | None = None, no_index: bool = False,
                    python: str | None = None, progress: Progress | None = None,
                    system: str | None = None, nvidia: bool | None = None,
                    overwrite: bool = False, allow_network: bool = False) -> list[str]:
    """Install the GPU onnxruntime of this platform (and torch when asked) under ``root``;
    an ``onnxruntime/`` or ``torch/`` folder there that an earlier install did not make is only
    replaced with ``overwrite``. ``allow_network``: the user's consent for pip to reach a host off
    loopback (PyPI, an ``index_url`` or a ``find_links`` URL); without it only wheel folders and
    loopback work."""
    check_install_arguments(root, extra, find_links, index_url=index_url, no_index=no_index,
                            allow_network=allow_network)
    chosen = choose_flavor(flavor, system=system, nvidia=nvidia)
    if chosen is not None:
        check_replaceable(Path(root) / ORT_DIR, overwrite)
    if with_torch:
        check_replaceable(Path(root) / TORCH_DIR, overwrite)
    names: list[str] = []
    created = not Path(root).exists()
    try:
        names += _install_runtime(root, chosen, with_torch, extra, index_url, find_links, no_index, python,
                                  progress, overwrite)
    except BaseException:
        if created and Path(root).is_dir() and not any(Path(root).iterdir()):
            Path(root).rmdir()  # a failed first install leaves no empty folder behind
        raise
    return names


# A plain requirement: a name, optional extras and version clauses. No environment markers (";"),
# URLs or pip options, which pip would read as commands or answer with its own traceback.
_REQUIREMENT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*(\[[A-Za-z0-9._,-]+\])?"
                          r"(\s*(==|>=|<=|~=|!=|<|>)\s*[A-Za-z0-9.*+!_-]+\s*,?)*$")


def check_install_arguments(root: str | os.PathLike[str], extra: Sequence[str],
                            find_links: str | os.PathLike[str] | None, *, index_url: str | None = None,
                            no_index: bool = True, allow_network: bool = False) -> None:
    """Up-front checks of what the user typed, before pip starts (minutes, gigabytes). Every
    address pip would contact goes through the network policy (engine/net_policy.py): off
    loopback only with ``allow_network``."""
    from .net_policy import NetworkPolicy

    policy = NetworkPolicy(allow_network, error=GpuRuntimeError, refusal=GpuRuntimeError,
                           hint="(pass --allow-network; Blender: Preferences > System > Allow "
                                "Online Access)")
    if find_links and "://" in str(find_links):
        policy.check(str(find_links), "--find-links")
    if not no_index:
        policy.check(index_url or "https://pypi.org/simple",
                     "--index-url" if index_url else "the package index")
    if Path(root).exists() and not Path(root).is_dir():
        raise GpuRuntimeError(f"runtime folder {root} is a file; give a folder")
    for spec in extra:
        if not _REQUIREMENT.match(spec.strip()):
            raise GpuRuntimeError(f"--package {spec!r} is not a package requirement such as "
                                  "'tensorrt==10.9.0' (no options, URLs or ';' markers)")
    if find_links and "://" not in str(find_links) and not Path(find_links).is_dir():
        raise GpuRuntimeError(f"--find-links {find_links} is not a folder of wheels (or a URL)")


def _install_runtime(root: str | os.PathLike[str], chosen: str | None, with_torch: bool, extra: Sequence[str],
                     index_url: str | None, find_links: str | os.PathLike[str] | None, no_index: bool,
                     python: str | None, progress: Progress | None, overwrite: bool) -> list[str]:
    names: list[str] = []
    if chosen is not None:
        names += install(Path(root) / ORT_DIR, runtime_packages(chosen) + list(extra), keep_only_new=True,
                         index_url=index_url, find_links=find_links, no_index=no_index, python=python,
                         progress=progress, overwrite=overwrite)
    if with_torch:
        names += install(Path(root) / TORCH_DIR, DEFAULT_PACKAGES, index_url=index_url,
                         find_links=find_links, no_index=no_index, python=python, progress=progress,
                         overwrite=overwrite)
    if chosen is None and not with_torch:
        raise GpuRuntimeError("nothing to install here: this platform's GPU path (CoreML) comes with the "
                              "bundled onnxruntime")
    return names


@dataclass(frozen=True)
class RuntimeState:
    root: Path
    onnxruntime_dir: Path | None  # the installed GPU onnxruntime folder, if any
    active: bool  # `import onnxruntime` now finds that folder's build
    restart_needed: bool  # installed, but this process imported another onnxruntime first
    providers: tuple[str, ...]  # of the onnxruntime this process imports (empty: not loaded)
    version: str | None
    # "3.11" when the installed GPU build is for another Python than this process's (a runtime folder
    # shared by Blender 4.2-5.0 and 5.1+): it is then left off sys.path and must be installed again
    other_python: str | None = None


def wheel_python(dist_info: Path) -> str | None:
    """The CPython version ("3.13") a compiled distribution was built for, from its WHEEL file's
    Tag lines (cp313-cp313-...); None for pure-Python or stable-ABI ones, which import anywhere."""
    wheel = dist_info / "WHEEL"
    if not wheel.is_file():
        return None
    for line in wheel.read_text(errors="replace").splitlines():
        m = re.fullmatch(r"Tag:\s*cp(\d)(\d+)-(cp\d+\w*)-\S+", line.strip())
        if m and m.group(3) != "abi3":
            return f"{m.group(1)}.{m.group(2)}"
    return None


def _runtime_python(ort_dir: Path) -> str | None:
    """The Python the GPU onnxruntime in ``ort_dir`` was installed for (None if any would do)."""
    for name, _version, dist_info in _dist_infos(ort_dir):
        if name.lower().replace("-", "_").startswith("onnxruntime"):
            return wheel_python(dist_info)
    return None


def _this_python() -> str:
    return f"{sys.version_info.major}.{sys.version_info.minor}"


def activate_runtime(root: str | os.PathLike[str], *, load: bool = False) -> RuntimeState:
    """Put ``<root>/onnxruntime`` first and ``<root>/torch`` last on sys.path. ``load``: also import
    onnxruntime now, preload the CUDA/cuDNN libraries of the nvidia-* wheels, and report its
    providers."""
    root = Path(root)
    ort_dir = root / ORT_DIR
    has_ort = bool(_dist_infos(ort_dir))
    built_for = _runtime_python(ort_dir) if has_ort else None
    if has_ort and built_for in (None, _this_python()) and str(ort_dir) not in sys.path:
        sys.path.insert(0, str(ort_dir))
        importlib.invalidate_caches()
    activate(root / TORCH_DIR)
    return runtime_state(root, load=load)


def runtime_state(root: str | os.PathLike[str], *, load: bool = False) -> RuntimeState:
    root = Path(root)
    ort_dir = root / ORT_DIR
    has_ort = bool(_dist_infos(ort_dir))
    mod = sys.modules.get("onnxruntime")
    if mod is None and load:
        try:
            mod = importlib.import_module("onnxruntime")
        except ImportError:
            mod = None
    providers: tuple[str, ...] = ()
    version = None
    origin = None
    if mod is not None:
        origin = Path(getattr(mod, "__file__", "") or ".").resolve()
        version = str(getattr(mod, "__version__", "")) or None
        try:
            providers = tuple(mod.get_available_providers())
        except Exception:  # noqa: BLE001 - a broken build reads as "no providers"
            providers = ()
        if load:
            preload(mod, providers)
    built_for = _runtime_python(ort_dir) if has_ort else None
    other = built_for if built_for not in (None, _this_python()) else None
    active = bool(has_ort and origin is not None and origin.is_relative_to(ort_dir.resolve()))
    restart = bool(has_ort and mod is not None and not active and other is None)
    return RuntimeState(root, ort_dir if has_ort else None, active, restart, providers, version, other)


_PRELOADED: set[int] = set()


def preload(ort_module, providers: Sequence[str]) -> None:  # noqa: ANN001
    """onnxruntime-gpu >= 1.21 loads the CUDA/cuDNN libraries of the nvidia-* wheels itself
    (once per process)."""
    if id(ort_module) in _PRELOADED:
        return
    _PRELOADED.add(id(ort_module))
    if "CUDAExecutionProvider" in providers and hasattr(ort_module, "preload_dlls"):
        try:
            ort_module.preload_dlls()
        except Exception:  # noqa: BLE001 - then CUDA falls back to the system libraries
            pass
