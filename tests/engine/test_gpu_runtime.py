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


# ------------------------------------------------------------------ GPU onnxruntime
def _helpers():
    import importlib.util

    path = Path(__file__).resolve().parents[1] / "helpers" / "fake_ort_wheels.py"
    spec = importlib.util.spec_from_file_location("fake_ort_wheels", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.mark.parametrize(("system", "machine", "nvidia", "want"), [
    ("linux", "x86_64", True, "cuda"), ("win32", "AMD64", True, "cuda"),
    ("win32", "AMD64", False, "directml"), ("darwin", "arm64", False, None),
    ("linux", "aarch64", True, None),
])
def test_flavor_per_platform(system, machine, nvidia, want):
    assert gpu_runtime.choose_flavor("auto", system=system, machine=machine, nvidia=nvidia) == want


def test_flavor_refusals_say_what_to_do():
    with pytest.raises(gpu_runtime.GpuRuntimeError, match="NVIDIA driver"):
        gpu_runtime.choose_flavor("auto", system="linux", machine="x86_64", nvidia=False)
    with pytest.raises(gpu_runtime.GpuRuntimeError, match="Windows only"):
        gpu_runtime.choose_flavor("directml", system="linux", machine="x86_64")
    with pytest.raises(gpu_runtime.GpuRuntimeError, match="CoreML"):
        gpu_runtime.choose_flavor("cuda", system="darwin", machine="arm64")
    assert gpu_runtime.runtime_packages("cuda")[0].startswith("onnxruntime-gpu[cuda,cudnn]==")
    assert gpu_runtime.runtime_packages("directml")[0].startswith("onnxruntime-directml==")


@pytest.fixture
def isolated_ort():
    """Let a test import another `onnxruntime`, then put the real one back."""
    saved_path = list(sys.path)
    saved = {k: v for k, v in sys.modules.items() if k == "onnxruntime" or k.startswith("onnxruntime.")}
    for k in saved:
        del sys.modules[k]
    yield
    for k in [k for k in sys.modules if k == "onnxruntime" or k.startswith("onnxruntime.")]:
        del sys.modules[k]
    sys.modules.update(saved)
    sys.path[:] = saved_path


def test_gpu_onnxruntime_installs_and_shadows_the_cpu_one(tmp_path, isolated_ort):
    house = _helpers().build_wheelhouse(tmp_path / "house")
    root = tmp_path / "runtime"
    names = gpu_runtime.install_runtime(root, "auto", system="linux", nvidia=True, find_links=house,
                                        no_index=True)
    ort_dir = root / gpu_runtime.ORT_DIR
    # kept: the GPU build, its nvidia-* libraries (and onnx where this Python has none, as in
    # Blender); pruned: what this Python already has (numpy, protobuf; onnx in the dev venv)
    import importlib.util

    want = ["nvidia_cuda_runtime_cu12 12.9.79", "nvidia_cudnn_cu12 9.27.0.42", "onnxruntime_gpu 1.31.1"]
    if importlib.util.find_spec("onnx") is None:
        want.insert(2, "onnx 1.23.2")
    assert sorted(names) == want
    assert not (ort_dir / "numpy").exists() and not (ort_dir / "google").exists()
    assert (ort_dir / "nvidia" / "cudnn" / "lib" / "libcudnn.so.9").is_file()

    state = gpu_runtime.activate_runtime(root, load=True)
    assert sys.path[0] == str(ort_dir)  # first: before the CPU onnxruntime's site-packages
    import onnxruntime

    assert getattr(onnxruntime, "FAKE_GPU_BUILD", False)
    assert state.active and not state.restart_needed
    assert "CUDAExecutionProvider" in state.providers
    assert onnxruntime.PRELOADED == [(True, True)]  # nvidia-* libraries preloaded once
    assert np.__version__ != "99.0"
    from engine.render.liveportrait.providers import choose_providers

    assert choose_providers("cuda") == ["CUDAExecutionProvider", "CPUExecutionProvider"]
    trt_first = choose_providers("auto", tensorrt=True)
    assert trt_first[:2] == ["TensorrtExecutionProvider", "CUDAExecutionProvider"]


def test_restart_needed_when_the_cpu_onnxruntime_was_imported_first(tmp_path):
    import onnxruntime  # the real CPU build, imported before activation

    house = _helpers().build_wheelhouse(tmp_path / "house")
    root = tmp_path / "runtime"
    gpu_runtime.install_runtime(root, "cuda", system="linux", find_links=house, no_index=True)
    saved = list(sys.path)
    try:
        state = gpu_runtime.activate_runtime(root)
        assert state.restart_needed and not state.active
        assert sys.modules["onnxruntime"] is onnxruntime
    finally:
        sys.path[:] = saved


def test_cli_gpu_install_and_status(tmp_path, capsys):
    import onnxruntime  # noqa: F401 - the CPU build is loaded first, as in a running process

    from engine.cli import main

    root = tmp_path / "runtime"
    assert main(["gpu", "install", "--target", str(root)]) == 2
    assert "--allow-network" in capsys.readouterr().err  # nothing is downloaded without consent
    house = _helpers().build_wheelhouse(tmp_path / "house")
    saved = list(sys.path)
    try:
        assert main(["gpu", "install", "--flavor", "cuda", "--find-links", str(house), "--no-index",
                     "--target", str(root)]) == 0
        assert "onnxruntime_gpu 1.31.1" in capsys.readouterr().out
        assert (root / "onnxruntime" / "onnxruntime" / "__init__.py").is_file()
        assert main(["gpu", "status", "--target", str(root)]) == 0
        out = capsys.readouterr().out
        assert "GPU onnxruntime installed: yes (restart to use it)" in out
        assert "CPUExecutionProvider" in out
    finally:
        sys.path[:] = saved


def test_runtime_for_another_python_is_not_activated(tmp_path):
    """A runtime folder shared by Blender 4.2-5.0 (Python 3.11) and 5.1+ (3.13): a GPU build compiled for
    the other Python stays off sys.path (importing it would fail) and the state says to reinstall."""
    house = _helpers().build_wheelhouse(tmp_path / "house")
    root = tmp_path / "runtime"
    gpu_runtime.install_runtime(root, "cuda", system="linux", find_links=house, no_index=True)
    ort_dir = root / gpu_runtime.ORT_DIR
    (dist_info,) = [p for p in ort_dir.glob("onnxruntime_gpu-*.dist-info")]
    other = "3.99" if sys.version_info[:2] != (3, 99) else "3.98"
    tag = other.replace(".", "")
    (dist_info / "WHEEL").write_text(f"Wheel-Version: 1.0\nRoot-Is-Purelib: false\n"
                                     f"Tag: cp{tag}-cp{tag}-manylinux_2_28_x86_64\n")
    assert gpu_runtime.wheel_python(dist_info) == other
    saved = list(sys.path)
    try:
        state = gpu_runtime.activate_runtime(root)
        assert str(ort_dir) not in sys.path
        assert state.other_python == other and not state.active and not state.restart_needed
    finally:
        sys.path[:] = saved
    this = f"{sys.version_info.major}{sys.version_info.minor}"
    (dist_info / "WHEEL").write_text(f"Tag: cp{this}-cp{this}-manylinux_2_28_x86_64\n")
    assert gpu_runtime.wheel_python(dist_info) == f"{sys.version_info.major}.{sys.version_info.minor}"
    (dist_info / "WHEEL").write_text("Tag: cp310-abi3-manylinux_2_28_x86_64\n")
    assert gpu_runtime.wheel_python(dist_info) is None

# ------------------------------------------------------------------ network policy (engine/net_policy.py)
@pytest.mark.parametrize(("kwargs", "needle"), [
    ({"find_links": "http://192.0.2.7/wheels/", "no_index": True},
     "--find-links 192.0.2.7 is not this machine"),
    ({"find_links": "ftp://127.0.0.1/wheels/", "no_index": True}, "only http:// and https://"),
    ({"index_url": "https://mirror.example.com/simple", "no_index": False}, "--index-url mirror.example.com"),
    ({"no_index": False}, "the package index pypi.org is not this machine"),
])
def test_pip_addresses_off_loopback_need_network_consent(tmp_path, kwargs, needle):
    with pytest.raises(gpu_runtime.GpuRuntimeError, match=needle):
        gpu_runtime.install_runtime(tmp_path / "rt", "cuda", system="linux", **kwargs)
    assert not (tmp_path / "rt").exists()
    # loopback needs nothing; with consent the same addresses pass the check
    gpu_runtime.check_install_arguments(tmp_path / "rt", (), "http://127.0.0.1:9/wheels/", no_index=True)
    if "ftp" not in str(kwargs):
        gpu_runtime.check_install_arguments(tmp_path / "rt", (), kwargs.get("find_links"),
                                            index_url=kwargs.get("index_url"),
                                            no_index=kwargs["no_index"], allow_network=True)


def test_pip_never_uses_a_proxy_for_loopback(tmp_path, monkeypatch):
    monkeypatch.setenv("no_proxy", "corp.example")
    monkeypatch.setenv("http_proxy", "http://127.0.0.1:9")
    seen = tmp_path / "env.txt"
    fake_python = tmp_path / "python"
    fake_python.write_text(f"#!/bin/sh\necho \"$no_proxy|$NO_PROXY\" > {seen}\nexit 1\n")
    fake_python.chmod(0o755)
    with pytest.raises(gpu_runtime.GpuRuntimeError):
        gpu_runtime.install(tmp_path / "gpu", ["x"], python=str(fake_python), no_index=True,
                            find_links="http://127.0.0.1:9/wheels/")
    no_proxy, upper = seen.read_text().strip().split("|")
    assert no_proxy.split(",") == ["corp.example", "127.0.0.1", "localhost", "::1"]
    assert "127.0.0.1" in upper.split(",")
