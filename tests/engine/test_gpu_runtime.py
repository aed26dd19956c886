"""engine.gpu_runtime: pip --target install beside the extension, Blender's numpy never shadowed,
failed or cancelled installs keep the previous one. Offline: tiny wheels built here stand in for torch."""

from __future__ import annotations

import sys
import threading
import zipfile
from pathlib import Path

import numpy as np
import pytest

from engine import gpu_runtime
from engine.progress import Cancelled, Progress


def make_wheel(directory: Path, name: str, version: str, code: str, requires: tuple[str, ...] = ()) -> Path:
    dist = f"{name}-{version}.dist-info"
    path = directory / f"{name}-{version}-py3-none-any.whl"
    meta = f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"
    meta += "".join(f"Requires-Dist: {r}\n" for r in requires)
    files = {
        f"{name}/__init__.py": code,
        f"{dist}/METADATA": meta,
        f"{dist}/WHEEL": "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    record = "".join(f"{p},,\n" for p in files) + f"{dist}/RECORD,,\n"
    with zipfile.ZipFile(path, "w") as zf:
        for p, text in files.items():
            zf.writestr(p, text)
        zf.writestr(f"{dist}/RECORD", record)
    return path


@pytest.fixture
def wheelhouse(tmp_path):
    house = tmp_path / "house"
    house.mkdir()
    make_wheel(house, "thgpu_fake", "1.0", "VALUE = 1\n", requires=("numpy==99.0",))
    make_wheel(house, "thgpu_fake", "2.0", "VALUE = 2\n", requires=("numpy==99.0",))
    make_wheel(house, "numpy", "99.0", "raise ImportError('fake numpy must never be importable')\n")
    return house


@pytest.fixture
def clean_path():
    saved = list(sys.path)
    yield
    sys.path[:] = saved
    sys.modules.pop("thgpu_fake", None)


def test_install_then_activate_imports_it_and_drops_blender_packages(wheelhouse, tmp_path, clean_path):
    target = tmp_path / "gpu"
    assert gpu_runtime.activate(target) is False  # nothing installed yet
    seen = []
    installed = gpu_runtime.install(target, ["thgpu_fake==1.0"], no_index=True, find_links=wheelhouse,
                                    progress=Progress(lambda d, t, m: seen.append((d, t))))
    assert installed == ["thgpu_fake 1.0"]
    assert seen[0] == (0, 1) and seen[-1] == (1, 1)
    # numpy came in as a dependency and was removed: Blender's own must win.
    assert not (target / "numpy").exists() and not list(target.glob("numpy-*"))
    assert (target / "thgpu_fake" / "__init__.py").is_file()
    assert not target.with_name("gpu.partial").exists()

    assert gpu_runtime.activate(target) is True
    assert sys.path[-1] == str(target)
    import thgpu_fake

    assert thgpu_fake.VALUE == 1
    assert np.__version__ != "99.0" and sys.modules["numpy"] is np
    assert gpu_runtime.status(target).installed == ("thgpu_fake 1.0",)


def test_failed_install_keeps_previous_runtime(wheelhouse, tmp_path):
    target = tmp_path / "gpu"
    gpu_runtime.install(target, ["thgpu_fake==1.0"], no_index=True, find_links=wheelhouse)
    with pytest.raises(gpu_runtime.GpuRuntimeError, match="could not install"):
        gpu_runtime.install(target, ["thgpu_fake==3.0"], no_index=True, find_links=wheelhouse)
    assert gpu_runtime.status(target).installed == ("thgpu_fake 1.0",)
    assert not target.with_name("gpu.partial").exists()
    # A later successful install replaces it.
    assert gpu_runtime.install(target, ["thgpu_fake==2.0"], no_index=True, find_links=wheelhouse) == [
        "thgpu_fake 2.0"
    ]
    assert "VALUE = 2" in (target / "thgpu_fake" / "__init__.py").read_text()


def test_cancel_keeps_previous_runtime(wheelhouse, tmp_path):
    target = tmp_path / "gpu"
    gpu_runtime.install(target, ["thgpu_fake==1.0"], no_index=True, find_links=wheelhouse)
    progress = Progress()
    timer = threading.Timer(0.05, progress.cancel)  # pip takes well over 50 ms to start
    timer.start()
    with pytest.raises(Cancelled):
        gpu_runtime.install(target, ["thgpu_fake==2.0"], no_index=True, find_links=wheelhouse,
                            progress=progress)
    timer.join()
    assert gpu_runtime.status(target).installed == ("thgpu_fake 1.0",)
    assert not target.with_name("gpu.partial").exists()


def test_missing_pip_says_how_to_fix(tmp_path):
    fake_python = tmp_path / "python"
    fake_python.write_text("#!/bin/sh\necho '/usr/bin/python: No module named pip' >&2\nexit 1\n")
    fake_python.chmod(0o755)
    with pytest.raises(gpu_runtime.GpuRuntimeError, match="ensurepip"):
        gpu_runtime.install(tmp_path / "gpu", ["torch"], python=str(fake_python))
