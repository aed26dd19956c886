"""The real extension: manifest, zip built by Blender's tool, install in Blender, enable, disable, uninstall.

Runs on every Blender tier (bpy 5.0.1 in .venv, 4.5 LTS in .venv45, 4.2.0 LTS in .venv42 - Python 3.11,
numpy 1.26 - and 5.3.0 in .venv53 - Python 3.13, numpy 2). The one zip per platform carries wheels for
both Pythons; each tier checks that Blender installs the right ones. The session builds and installs the
zip once (conftest); the uninstall test is ordered last by conftest.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import os
import re
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SHARED = ROOT.parent / "shared"
PKG_ID = "talking_head"
ADDON_MODULE = f"bl_ext.user_default.{PKG_ID}"
MANIFEST = tomllib.loads((ROOT / "blender_manifest.toml").read_text())
REQUIRED_OPERATORS = {"capture", "render", "clear"}
BUNDLED_IMPORTS = ("cv2", "mediapipe", "onnxruntime", "imageio_ffmpeg")


PYTHON = f"{sys.version_info.major}.{sys.version_info.minor}"
_fspec = importlib.util.spec_from_file_location("fetch_wheels", ROOT / "wheels" / "fetch_wheels.py")
fetch = sys.modules.setdefault("fetch_wheels", importlib.util.module_from_spec(_fspec))
_fspec.loader.exec_module(fetch)


def _bundle_for(platform: str, wheels: list[str]) -> dict[str, list[str]]:
    """Python version -> the wheels of `wheels` Blender needs on `platform` for it, one per bundle pin
    (asserting there is exactly one)."""
    out: dict[str, list[str]] = {}
    for python in fetch.PYTHON_VERSIONS:
        for pin in fetch.read_pins():
            if not pin.applies_to(python):
                continue
            hits = [w for w in wheels if _wheel_name(w) == (pin.name, pin.version)
                    and fetch.wheel_platform_matches(Path(w).name, platform)
                    and fetch.wheel_serves_python(Path(w).name, python)]
            assert len(hits) == 1, (platform, python, pin, hits)
            out.setdefault(python, []).append(hits[0])
    return out


def _wheel_name(wheel: str) -> tuple[str, str]:
    name, version = Path(wheel).name.split("-")[:2]
    return re.sub(r"[-_.]+", "-", name).lower(), version


@pytest.fixture
def ext_site_packages(user_resources) -> Path:
    """Where Blender extracts the wheels of user extensions."""
    return user_resources / "extensions" / ".local" / "lib" / f"python{PYTHON}" / "site-packages"


# --- manifest (source) ------------------------------------------------------------------------------------


def test_manifest_fields():
    m = MANIFEST
    assert m["schema_version"] == "1.0.0"
    assert (m["id"], m["name"], m["version"]) == ("talking_head", "Talking Head", "0.1.0")
    assert m["type"] == "add-on"
    assert m["blender_version_min"] == "4.2.0"
    assert m["license"] == ["SPDX:GPL-3.0-or-later"]
    assert set(m["permissions"]) == {"files", "network"}
    assert "LivePortrait" in m["permissions"]["network"]
    assert set(m["platforms"]) == {"linux-x64", "windows-x64", "macos-arm64"}
    excludes = m["build"]["paths_exclude_pattern"]
    for pattern in ("/tests/", "/benchmarks/", "/scripts/", ".*", "__pycache__/", "/dist/"):
        assert pattern in excludes


def test_manifest_wheels_are_the_pinned_bundle_for_every_platform_and_python(build_script):
    """Each platform gets, for Python 3.11 and 3.13 each, exactly one wheel per pin of
    requirements/bundle.txt, and nothing else."""
    wheels = MANIFEST["wheels"]
    assert all(w.startswith("./wheels/") and w.endswith(".whl") for w in wheels)
    for platform in MANIFEST["platforms"]:
        # split by our rule, which is the current tool's (test_fetch_rule_agrees_with_blender_tool)
        ours = [w for w in wheels if fetch.wheel_platform_matches(Path(w).name, platform)]
        per_python = _bundle_for(platform, ours)
        assert set(per_python) == {"3.11", "3.13"}
        assert sorted({w for ws in per_python.values() for w in ws}) == sorted(ours), platform
    # The engine's own pins are bundled at the same versions for 3.11 (what the engine tests run on);
    # numpy stays Blender's.
    pins = fetch.read_pins()
    engine = {p.name: p.version for p in fetch.read_pins(ROOT / "requirements" / "engine.txt")}
    assert engine.pop("numpy") and "numpy" not in {p.name for p in pins}
    for name, version in engine.items():
        name = fetch.SUBSTITUTES.get(name, name)
        assert [p for p in pins if p.name == name and p.version == version and p.applies_to("3.11")], name
    fetch.check_pins(pins)  # one pin per Python, the 3.11 one highest (Blender 4.2.0 picks the highest)


def test_manifest_admits_both_pythons_and_every_blender_from_4_2(build_script):
    """Blender derives the Pythons an extension supports from its wheels' tags and refuses to install
    it on any other: the manifest must admit 3.11 (4.2-5.0) and 3.13 (5.1+), and set no upper version."""
    tool = build_script.load_tool(build_script.find_blender_ext())
    if not hasattr(tool, "python_versions_from_wheels"):
        pytest.skip("this Blender's tool (4.2.0) derives no Python versions from wheels: it installs "
                    "the zip on any Python")
    versions = tool.python_versions_from_wheels(MANIFEST["wheels"])
    assert not isinstance(versions, str), versions
    assert {(3, 11), (3, 13)} <= set(versions)
    assert "blender_version_max" not in MANIFEST


def test_blender_42_without_python_filter_keeps_the_311_wheels(build_script):
    """Blender 4.2.0 installs a platform's wheels without looking at their Python tag and, of several
    wheels of one distribution, keeps the highest version (wheel_manager's de-duplication, unchanged
    since 4.2). Run that very function over each platform's wheels: what survives must all be 3.11."""
    import bpy  # noqa: F401  (puts Blender's own modules on sys.path)

    wheel_manager = importlib.import_module("_bpy_internal.extensions.wheel_manager")
    for platform in MANIFEST["platforms"]:
        wheels = [w for w in MANIFEST["wheels"] if fetch.wheel_platform_matches(Path(w).name, platform)]
        skip = wheel_manager.wheel_list_deduplicate_as_skip_set([("talking_head", wheels)])
        kept = [w for w in wheels if w not in skip]
        assert len(kept) == len({_wheel_name(w)[0] for w in wheels}), platform
        assert all(fetch.wheel_serves_python(Path(w).name, "3.11") for w in kept), (platform, kept)


def test_repository_manifest_validates_with_blender_tool(build_script):
    out = build_script.validate(build_script.find_blender_ext(), ROOT)
    assert "Success" in out


def test_engine_cli_help_from_repository_root():
    proc = subprocess.run([sys.executable, "-m", "engine", "--help"], cwd=ROOT, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "usage: python -m engine" in proc.stdout
    assert "capture" in proc.stdout


# --- the built zip ----------------------------------------------------------------------------------------


def test_zip_validates_with_blender_tool(extension_zip, build_script):
    out = build_script.validate(build_script.find_blender_ext(), extension_zip)
    assert "Success" in out


def test_zip_contents(extension_zip, build_script):
    with zipfile.ZipFile(extension_zip) as zf:
        names = zf.namelist()
        manifest = tomllib.loads(zf.read("blender_manifest.toml").decode())
        task = zf.read("engine/assets/face_landmarker.task")
    tops = {n.split("/", 1)[0] for n in names}
    for dev in ("tests", "benchmarks", "scripts", "docs", "requirements", "dist", "pyproject.toml"):
        assert dev not in tops
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc") or "/." in "/" + n]
    assert {"__init__.py", "blender_manifest.toml", "LICENSE", "engine/__init__.py", "operators/__init__.py",
            "panels/__init__.py", "engine/assets/NOTICE.md",
            "engine/assets/LICENSE-APACHE-2.0.txt"} <= set(names)
    assert task == (ROOT / "engine" / "assets" / "face_landmarker.task").read_bytes()
    # No test media from ../shared: no videos, and no file identical to a shared portrait.
    assert not [n for n in names if n.lower().endswith((".mp4", ".mov", ".mkv", ".avi", ".webm"))]
    shared = SHARED / "testdata" / "portraits"
    if shared.is_dir():
        shared_hashes = {hashlib.sha256(p.read_bytes()).hexdigest() for p in shared.iterdir() if p.is_file()}
        with zipfile.ZipFile(extension_zip) as zf:
            media = [n for n in names if n.lower().endswith((".jpg", ".jpeg", ".png", ".webp"))]
            assert not {hashlib.sha256(zf.read(n)).hexdigest() for n in media} & shared_hashes
    # This platform's zip: its wheels only (split by the tool), each listed in the generated manifest section.
    platform = build_script.host_platform()
    generated = manifest["build"]["generated"]
    assert generated["platforms"] == [platform]
    zipped_wheels = sorted("./" + n for n in names if n.endswith(".whl"))
    assert sorted(generated["wheels"]) == zipped_wheels
    assert not [w for w in zipped_wheels if _wheel_name(w)[0] == "numpy"]
    per_python = _bundle_for(platform, zipped_wheels)
    assert sorted({w for ws in per_python.values() for w in ws}) == zipped_wheels


def test_installed_wheels_are_this_pythons(addon, ext_site_packages):
    """Blender extracted, of the zip's two sets, the wheels of the Python it runs: one dist-info per
    bundled distribution, each at the version pinned for this Python."""
    pins = {p.name: p.version for p in fetch.read_pins() if p.applies_to(PYTHON)}
    found = {}
    for info in ext_site_packages.glob("*.dist-info"):
        name, version = info.name[: -len(".dist-info")].rsplit("-", 1)
        found[fetch.normalize(name)] = version
    assert found == pins


# --- installed in Blender ---------------------------------------------------------------------------------


def test_installed_files_and_enabled(addon, user_repo):
    import bpy

    assert addon == ADDON_MODULE
    assert addon in bpy.context.preferences.addons
    installed = user_repo / PKG_ID
    assert (installed / "blender_manifest.toml").is_file()
    assert (installed / "engine" / "assets" / "face_landmarker.task").is_file()
    assert Path(sys.modules[addon].__file__).resolve() == (installed / "__init__.py").resolve()


def test_operators_and_panels_registered(addon, addon_module):
    import bpy

    ops = set(dir(bpy.ops.talking_head))
    assert REQUIRED_OPERATORS <= ops, ops
    operator_classes = addon_module.operators.CLASSES
    assert operator_classes and all(cls.is_registered for cls in operator_classes)
    assert {cls.bl_idname.split(".", 1)[1] for cls in operator_classes} <= ops

    panel_classes = addon_module.panels.CLASSES
    assert panel_classes and all(cls.is_registered for cls in panel_classes)
    spaces = {cls.bl_space_type for cls in panel_classes}
    assert {"SEQUENCE_EDITOR", "NODE_EDITOR"} <= spaces
    for cls in panel_classes:
        assert "_PT_talking_head" in cls.__name__
        assert getattr(bpy.types, cls.__name__) is cls
    # Preferences are keyed by the installed package name (bl_idname = __package__).
    assert bpy.context.preferences.addons[addon].preferences is not None


def test_engine_dependencies_come_from_bundled_wheels(addon, ext_site_packages):
    """cv2, mediapipe, onnxruntime, imageio_ffmpeg import inside Blender; a package the test venv lacks
    (all of them on the bpy 4.5 tier) must be the copy Blender extracted from the zip's wheels."""
    site = ext_site_packages
    venv_site = Path(sys.prefix) / "lib" / f"python{PYTHON}" / "site-packages"
    for name in BUNDLED_IMPORTS:
        assert (site / name).is_dir(), f"{name} not extracted into {site}"
        module = importlib.import_module(name)
        origin = Path(module.__file__).resolve()
        if not (venv_site / name).exists():
            assert origin.is_relative_to(site.resolve()), (name, origin)
    assert not (site / "numpy").exists(), "numpy must stay Blender's own"
    import onnxruntime

    assert "CPUExecutionProvider" in onnxruntime.get_available_providers()


def test_installed_engine_writes_h264_with_bundled_ffmpeg(addon, ext_site_packages, tmp_path):
    """Blender extracts wheels without file modes; the engine must still find imageio-ffmpeg's binary."""
    import numpy as np

    video_io = importlib.import_module(f"{addon}.engine.media.video")
    exe = video_io.ffmpeg_exe()
    assert exe and os.access(exe, os.X_OK), exe
    if not (Path(sys.prefix) / "lib" / f"python{PYTHON}" / "site-packages" / "imageio_ffmpeg").exists():
        assert Path(exe).resolve().is_relative_to(ext_site_packages.resolve()), exe
    out = tmp_path / "clip.mp4"
    with video_io.Mp4Writer(out, 24, (64, 48)) as writer:
        for i in range(6):
            writer.write(np.full((48, 64, 3), 40 * i, np.uint8))
    head = out.read_bytes()[:4096]
    assert b"ftyp" in head and b"avc1" in out.read_bytes()


def test_installed_engine_tracks_the_sample_portrait(addon, user_repo):
    """The installed add-on's own engine (relative package bl_ext...talking_head.engine) runs MediaPipe with
    the vendored model from the zip on the vendored sample portrait."""
    face_tracker = importlib.import_module(f"{addon}.engine.face_tracker")
    video_io = importlib.import_module(f"{addon}.engine.media.video")
    installed = user_repo / PKG_ID
    rgb = video_io.load_image(installed / "engine" / "assets" / "sample_portrait.jpg")
    tracker = face_tracker.FaceTracker(video=False)
    try:
        faces = tracker.detect(rgb, 0)
    finally:
        close = getattr(tracker, "close", None)
        if close:
            close()
    assert len(faces) == 1
    assert faces[0].landmarks.shape == (478, 3)
    h, w = rgb.shape[:2]
    xs, ys = faces[0].landmarks[:, 0], faces[0].landmarks[:, 1]
    assert 0 <= xs.min() < xs.max() <= w and 0 <= ys.min() < ys.max() <= h


def test_gpu_runtime_installs_into_extension_user_directory(addon, tmp_path):
    """The add-on's route to torch: engine.gpu_runtime pip-installs into the extension's user directory
    (here a stand-in wheel from a local folder, offline) and activate() makes it importable in Blender."""
    import bpy

    gpu_runtime = importlib.import_module(f"{addon}.engine.gpu_runtime")
    house = tmp_path / "house"
    house.mkdir()
    dist = "thgpu_probe-1.0.dist-info"
    files = {"thgpu_probe/__init__.py": "VALUE = 7\n", f"{dist}/METADATA": "Metadata-Version: 2.1\n"
             "Name: thgpu_probe\nVersion: 1.0\n", f"{dist}/WHEEL": "Wheel-Version: 1.0\nGenerator: test\n"
             "Root-Is-Purelib: true\nTag: py3-none-any\n"}
    with zipfile.ZipFile(house / "thgpu_probe-1.0-py3-none-any.whl", "w") as zf:
        for name, text in files.items():
            zf.writestr(name, text)
        zf.writestr(f"{dist}/RECORD", "".join(f"{n},,\n" for n in files) + f"{dist}/RECORD,,\n")
    target = Path(bpy.utils.extension_path_user(addon, path="gpu", create=True))
    assert target.is_relative_to(Path(bpy.utils.resource_path("USER")))
    saved = list(sys.path)
    try:
        installed = gpu_runtime.install(target, ["thgpu_probe"], no_index=True, find_links=house)
        assert installed == ["thgpu_probe 1.0"]
        assert gpu_runtime.activate(target)
        assert importlib.import_module("thgpu_probe").VALUE == 7
    finally:
        sys.path[:] = saved
        sys.modules.pop("thgpu_probe", None)


@pytest.mark.uninstalls_addon
def test_disable_then_uninstall_leaves_nothing(addon, addon_module, user_repo, ext_site_packages):
    import bpy

    operator_classes = addon_module.operators.CLASSES
    panel_classes = addon_module.panels.CLASSES
    bpy.ops.preferences.addon_disable(module=addon)
    assert addon not in bpy.context.preferences.addons
    assert not REQUIRED_OPERATORS & set(dir(bpy.ops.talking_head))
    assert not [cls for cls in (*operator_classes, *panel_classes) if cls.is_registered]
    assert not [cls for cls in panel_classes if hasattr(bpy.types, cls.__name__)]

    installed = user_repo / PKG_ID
    assert installed.is_dir()
    result = bpy.ops.extensions.package_uninstall(repo_directory=str(user_repo), pkg_id=PKG_ID)
    assert result == {"FINISHED"}, result
    assert not installed.exists()
    assert addon not in bpy.context.preferences.addons
    # The extracted wheels belonged to this extension only: Blender removes them with it.
    assert not [n for n in BUNDLED_IMPORTS if (ext_site_packages / n).exists()]


def test_fetch_rule_agrees_with_blender_tool(build_script):
    """wheels/fetch_wheels.py picks a platform's wheels by the same rule Blender's tool splits zips with."""
    import bpy

    tool = build_script.load_tool(build_script.find_blender_ext())
    assert set(fetch.PLATFORMS) == set(MANIFEST["platforms"])
    for wheel in MANIFEST["wheels"]:
        for platform in MANIFEST["platforms"]:
            ours = fetch.wheel_platform_matches(Path(wheel).name, platform)
            theirs = tool.blender_platform_compatible_with_wheel_platform_from_filepath(platform, wheel)
            if bpy.app.version[:2] == (4, 2) and "universal2" in wheel and platform == "macos-arm64":
                # 4.2.0's tool (and installer) take no universal2 wheel for Apple silicon; the zips
                # are built with the current tool, and the one such wheel (protobuf) is not imported
                # at run time (onnxruntime's tools and onnx need it, not capture or rendering)
                assert ours and not theirs and Path(wheel).name.startswith("protobuf-"), wheel
                continue
            assert ours == theirs, (wheel, platform)
