"""Download the runtime wheels the extension bundles, for each platform and Python it ships for.

    python wheels/fetch_wheels.py                        # all platforms (linux-x64 windows-x64 macos-arm64)
    python wheels/fetch_wheels.py --platform linux-x64   # one platform only (what CI needs)
    python wheels/fetch_wheels.py --update-manifest      # also rewrite the manifest's `wheels = [...]`
    python wheels/fetch_wheels.py --lock                 # check requirements/bundle.txt against engine.txt

One zip per platform serves every Blender from 4.2 LTS to 5.3, so it carries wheels for both Python
ABIs Blender has shipped: CPython 3.11 (Blender 4.2 - 5.0) and 3.13 (5.1 and newer). Pure-Python and
stable-ABI (abi3) wheels serve both; a distribution with per-ABI wheels gets one pin per Python
(`name==version ; python_version == "3.11"`) in requirements/bundle.txt.

The pins come from requirements/bundle.txt (the dependency closure of requirements/engine.txt minus what
Blender already ships). Each (platform, Python) is one `pip download --only-binary=:all: --no-deps
--platform ... --python-version X --implementation cp` of the pins for that Python, so no resolver runs
at fetch time and the file names are the ones blender_manifest.toml lists. Files already in wheels/ are
not downloaded again. Needs only pip and the package index (PyPI); run it with any Python that has pip.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import NamedTuple

ROOT = Path(__file__).resolve().parent.parent
WHEELS_DIR = ROOT / "wheels"
BUNDLE_TXT = ROOT / "requirements" / "bundle.txt"
ENGINE_TXT = ROOT / "requirements" / "engine.txt"
MANIFEST = ROOT / "blender_manifest.toml"

# The Pythons of the Blender releases the manifest admits: 3.11 in 4.2 - 5.0, 3.13 from 5.1 on.
PYTHON_VERSIONS = ("3.11", "3.13")

# Blender platform name -> pip --platform tags accepted for it. pip does not widen a custom manylinux tag
# to older glibc versions, so every acceptable tag is listed. Blender 4.2+ needs glibc 2.28 on Linux.
PLATFORMS: dict[str, list[str]] = {
    "linux-x64": [f"manylinux_2_{v}_x86_64" for v in range(28, 16, -1)] + ["manylinux2014_x86_64"],
    "windows-x64": ["win_amd64"],
    # onnxruntime 1.3x publishes macOS arm64 wheels for 14.0+ only; accept up to that.
    "macos-arm64": [f"macosx_{v}_0_arm64" for v in range(14, 10, -1)]
    + [f"macosx_{v}_0_universal2" for v in range(14, 10, -1)]
    + [f"macosx_10_{v}_universal2" for v in range(15, 5, -1)],
}

# Distributions Blender's bundled Python already provides (and bpy depends on): never bundled.
# numpy in particular must stay Blender's own (1.26 in 4.2 - 5.0, 2.x from 5.1).
BLENDER_PROVIDES = {
    "numpy", "certifi", "requests", "idna", "urllib3", "charset-normalizer", "zstandard", "cython",
}
# Audio only: mediapipe imports sounddevice for its audio tasks inside try/except ImportError, and the engine
# uses vision tasks only. Leaving it out also avoids two sounddevice wheels (any + win_amd64) in one zip.
NOT_NEEDED = {"sounddevice", "cffi", "pycparser"}
# Bundled in place of what the engine's pins name: the same cv2 without its Qt GUI libraries (which can
# clash with other Qt builds loaded into Blender) and without the contrib modules the engine never calls;
# 50 MB instead of 69 MB on Linux. mediapipe declares opencv-contrib-python but only imports cv2.
SUBSTITUTES = {"opencv-contrib-python": "opencv-python-headless"}
# Distributions whose compiled parts are optional speed-ups: their pure-Python wheel serves every
# platform and Python (fonttools: 1.2 MB once instead of 5.4 MB per Python and platform).
PURE_ONLY = {"fonttools"}


class Pin(NamedTuple):
    name: str
    version: str
    python: str | None  # "3.11" / "3.13" for a per-ABI pin; None: one wheel serves every Python

    def applies_to(self, python: str) -> bool:
        return self.python is None or self.python == python


def normalize(name: str) -> str:
    """PEP 503 name normalisation (also matches wheel file names after '_' -> '-')."""
    return re.sub(r"[-_.]+", "-", name).lower()


_PIN = r'([A-Za-z0-9_.\-]+)==([A-Za-z0-9_.+\-]+)\s*(?:;\s*python_version\s*==\s*"(3\.\d+)")?'


def read_pins(path: Path = BUNDLE_TXT) -> list[Pin]:
    """Every `name==version` line of a requirements file, with an optional `; python_version == "3.X"`."""
    pins = []
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        m = re.fullmatch(_PIN, line)
        if not m:
            raise SystemExit(f"fetch_wheels: {path.name}: expected 'name==version' with an optional "
                             f"'; python_version == \"3.X\"', got {line!r}")
        pins.append(Pin(normalize(m.group(1)), m.group(2), m.group(3)))
    return pins


def check_pins(pins: list[Pin]) -> None:
    """The rules a bundle must keep, or some Blender installs the wrong wheel:

    * each distribution is pinned once for every Python (one plain pin, or one per Python);
    * where a distribution has per-Python pins, the 3.11 pin is the highest version. Blender 4.2.0
      installs wheels without looking at their Python tag: of several wheels of one distribution it
      keeps the highest version (the larger file name on a tie, which would be cp313). 4.2 runs Python
      3.11, so its wheel must win that comparison; later releases pick by Python tag first."""
    by_name: dict[str, list[Pin]] = {}
    for pin in pins:
        by_name.setdefault(pin.name, []).append(pin)
    for name, group in by_name.items():
        for python in PYTHON_VERSIONS:
            n = sum(p.applies_to(python) for p in group)
            if n != 1:
                raise SystemExit(f"fetch_wheels: {name} is pinned {n} times for Python {python} (want 1)")
        per_python = {p.python: _version_key(p.version) for p in group if p.python}
        if per_python:
            first = per_python.get(PYTHON_VERSIONS[0])
            if first is None or any(v >= first for py, v in per_python.items() if py != PYTHON_VERSIONS[0]):
                raise SystemExit(f"fetch_wheels: {name}: the Python {PYTHON_VERSIONS[0]} pin must be the "
                                 "highest version (Blender 4.2.0 installs the highest wheel of a "
                                 "distribution whatever its Python tag)")


def _version_key(version: str) -> tuple[int, ...]:
    return tuple(int(x) for x in re.findall(r"\d+", version)[:4])


def wheel_serves_python(filename: str, python: str) -> bool:
    """Whether a wheel (by its python and ABI tags) imports on CPython `python` ("3.13")."""
    python_tag, abi_tag = filename[: -len(".whl")].split("-")[-3:-1]
    major, minor = (int(x) for x in python.split("."))
    for tag in python_tag.split("."):
        m = re.fullmatch(r"(py|cp)(\d)(\d*)", tag)
        if not m or int(m.group(2)) != major:
            continue
        tag_minor = int(m.group(3)) if m.group(3) else None
        if m.group(1) == "py" and (tag_minor is None or tag_minor <= minor):
            return True
        if "abi3" in abi_tag.split(".") and tag_minor is not None and tag_minor <= minor:
            return True
        if tag_minor == minor:
            return True
    return False


def wheel_platform_matches(filename: str, platform: str) -> bool:
    """Whether a wheel file (by its platform tag) installs on a Blender platform such as 'linux-x64'."""
    tag = filename[: -len(".whl")].split("-")[-1]
    for part in tag.split("."):
        if part == "any":
            return True
        if platform == "linux-x64" and re.fullmatch(r"(many|musl)linux\w*_x86_64|linux_x86_64", part):
            return part.startswith("manylinux")
        if platform == "windows-x64" and part == "win_amd64":
            return True
        if platform == "macos-arm64" and re.fullmatch(r"macosx_\d+_\d+_(arm64|universal2)", part):
            return True
    return False


def wheels_for_platform(platform: str, pins: list[Pin], directory: Path = WHEELS_DIR) -> list[Path]:
    """The wheel files in `directory` a platform's zip carries: for each Python, one per pin that applies
    to it (a pure or abi3 wheel serves both). Raises if one is missing or ambiguous."""
    found: list[Path] = []
    files = sorted(directory.glob("*.whl"))
    for pin in pins:
        for python in PYTHON_VERSIONS:
            if not pin.applies_to(python):
                continue
            matches = [
                f for f in files
                if normalize(f.name.split("-")[0]) == pin.name and f.name.split("-")[1] == pin.version
                and wheel_platform_matches(f.name, platform) and wheel_serves_python(f.name, python)
            ]
            if len(matches) != 1:
                names = [f.name for f in matches]
                raise LookupError(f"{platform}, Python {python}: expected one wheel for "
                                  f"{pin.name}=={pin.version}, found {names}")
            if matches[0] not in found:
                found.append(matches[0])
    return found


def download(platform: str, pins: list[Pin], dest: Path = WHEELS_DIR) -> list[Path]:
    """pip-download the pinned wheels (no dependency resolution) for one Blender platform into `dest`,
    once per Python."""
    dest.mkdir(parents=True, exist_ok=True)
    for python in PYTHON_VERSIONS:
        wanted = [p for p in pins if p.applies_to(python)]
        print(f"fetch_wheels: {platform}, Python {python}: {len(wanted)} wheels -> {dest}", flush=True)
        for tags, group in ((PLATFORMS[platform], [p for p in wanted if p.name not in PURE_ONLY]),
                            (["any"], [p for p in wanted if p.name in PURE_ONLY])):
            if not group:
                continue
            cmd = [
                sys.executable, "-m", "pip", "download", "--disable-pip-version-check", "--quiet",
                "--only-binary=:all:", "--no-deps", "--python-version", python, "--implementation", "cp",
                "--dest", str(dest),
            ]
            for tag in tags:
                cmd += ["--platform", tag]
            cmd += [f"{p.name}=={p.version}" for p in group]
            subprocess.run(cmd, check=True)
    return wheels_for_platform(platform, pins, dest)


def lock(platforms: list[str]) -> dict[str, dict[str, str]]:
    """Resolve requirements/engine.txt with pip's resolver for every platform and Python; return
    {distribution: {python: version}} of the closure the extension bundles."""
    versions: dict[str, dict[str, dict[str, str]]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        # numpy is Blender's own (1.26 or 2.x by Python): resolve the rest against whichever fits.
        engine = Path(tmp) / "engine.txt"
        engine.write_text("".join(f"{p.name}=={p.version}\n" for p in read_pins(ENGINE_TXT)
                                  if p.name not in BLENDER_PROVIDES))
        for python in PYTHON_VERSIONS:
            for platform in platforms:
                report = Path(tmp) / f"{platform}-{python}.json"
                cmd = [
                    sys.executable, "-m", "pip", "install", "--disable-pip-version-check", "--quiet",
                    "--dry-run", "--ignore-installed", "--only-binary=:all:", "--python-version", python,
                    "--implementation", "cp", "--target", str(Path(tmp) / "target"), "--report", str(report),
                    "-r", str(engine),
                ]
                for tag in PLATFORMS[platform]:
                    cmd += ["--platform", tag]
                subprocess.run(cmd, check=True)
                for item in json.loads(report.read_text())["install"]:
                    name = normalize(item["metadata"]["name"])
                    version = item["metadata"]["version"]
                    versions.setdefault(name, {}).setdefault(python, {})[platform] = version
    closure: dict[str, dict[str, str]] = {}
    for name, per_python in sorted(versions.items()):
        if name in BLENDER_PROVIDES or name in NOT_NEEDED:
            continue
        for python, per_platform in per_python.items():
            if len(set(per_platform.values())) != 1 or set(per_platform) != set(platforms):
                raise SystemExit(f"fetch_wheels: {name} resolves differently per platform on Python "
                                 f"{python}: {per_platform}")
            closure.setdefault(name, {})[python] = next(iter(per_platform.values()))
    return closure


def compare_lock(closure: dict[str, dict[str, str]], pins: list[Pin]) -> list[str]:
    """What requirements/bundle.txt lacks or has beyond the resolved closure (names only: the per-Python
    versions of bundle.txt are chosen by hand within what the engine's pins admit, see check_pins)."""
    pinned = {p.name for p in pins}
    closure = {SUBSTITUTES.get(n, n): v for n, v in closure.items()}
    problems = [f"missing from bundle.txt: {n} ({closure[n]})" for n in sorted(set(closure) - pinned)]
    problems += [f"in bundle.txt but not needed: {n}" for n in sorted(pinned - set(closure))]
    return problems


def update_manifest(wheels: list[Path], manifest: Path = MANIFEST) -> None:
    """Rewrite the `wheels = [...]` array of blender_manifest.toml with the given files."""
    entries = "".join(f'  "./wheels/{w.name}",\n' for w in sorted(set(wheels), key=lambda p: p.name))
    text = manifest.read_text()
    new, n = re.subn(r"^wheels = \[.*?^\]", f"wheels = [\n{entries}]", text, count=1, flags=re.M | re.S)
    if n != 1:
        raise SystemExit(f"fetch_wheels: no 'wheels = [' block found in {manifest}")
    manifest.write_text(new)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--platform", action="append", choices=sorted(PLATFORMS),
                        help="fetch only this platform (repeatable); default: all")
    parser.add_argument("--dest", type=Path, default=WHEELS_DIR)
    parser.add_argument("--update-manifest", action="store_true",
                        help="rewrite the manifest's wheels list (needs every platform)")
    parser.add_argument("--lock", action="store_true",
                        help="resolve engine.txt for every platform and Python and compare with bundle.txt")
    args = parser.parse_args(argv)
    platforms = args.platform or list(PLATFORMS)

    pins = read_pins()
    check_pins(pins)
    if args.lock:
        closure = lock(list(PLATFORMS))
        for name, per_python in closure.items():
            found = ", ".join(f"{py}: {v}" for py, v in per_python.items())
            print(f"fetch_wheels: resolved {name}: {found}")
        problems = compare_lock(closure, pins)
        if problems:
            raise SystemExit("fetch_wheels: " + "; ".join(problems))
        print(f"fetch_wheels: {BUNDLE_TXT.relative_to(ROOT)} covers the resolved closure")
    fetched: list[Path] = []
    for platform in platforms:
        fetched += download(platform, pins, args.dest)
    if args.update_manifest:
        if set(platforms) != set(PLATFORMS):
            raise SystemExit("fetch_wheels: --update-manifest needs every platform fetched")
        update_manifest(fetched)
        print(f"fetch_wheels: updated {MANIFEST.name} ({len(set(fetched))} wheels)")
    total = sum(p.stat().st_size for p in set(fetched))
    print(f"fetch_wheels: {len(set(fetched))} wheels, {total / 1e6:.1f} MB in {args.dest}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
