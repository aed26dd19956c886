"""Optional GPU runtime (PyTorch) installed beside the extension, never inside its zip.

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
    index_url: str | None = None,
    extra_index_url: str | None = None,
    find_links: str | os.PathLike[str] | None = None,
    no_index: bool = False,
    python: str | None = None,
    progress: Progress | None = None,
) -> list[str]:
    """pip-install `packages` (e.g. ["torch"], or ["torch==2.13.0"] with a CUDA index_url) into
    `directory`, replacing what was there only on success. Returns the "name version" installed.
    Raises GpuRuntimeError when pip is missing or fails, Cancelled when the progress is cancelled
    (the previous install is then left as it was)."""
    target = Path(directory)
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
    try:
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
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
            if _normalize(name) in BLENDER_PROVIDES:
                for path in _top_level_paths(dist_info, staging):
                    if path.is_dir():
                        shutil.rmtree(path, ignore_errors=True)
                    elif path.exists():
                        path.unlink()
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
