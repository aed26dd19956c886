"""Download the runtime wheels the extension bundles, for each platform it ships for.

    python wheels/fetch_wheels.py                        # all platforms (linux-x64 windows-x64 macos-arm64)
    python wheels/fetch_wheels.py --platform linux-x64   # one platform only (what CI needs)
    python wheels/fetch_wheels.py --update-manifest      # also rewrite the manifest's `wheels = [...]`
    python wheels/fetch_wheels.py --lock                 # re-resolve requirements/bundle.txt from engine.txt

The pins come from requirements/bundle.txt (the dependency closure of requirements/engine.txt minus what
Blender already ships). Each platform is one `pip download --only-binary=:all: --no-deps --platform ...
--python-version 3.11 --implementation cp` of those exact pins, so no resolver runs at fetch time and the
file names are the ones blender_manifest.toml lists. Files already in wheels/ are not downloaded again.
Needs only pip and the package index (PyPI); run it with any Python that has pip.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WHEELS_DIR = ROOT / "wheels"
BUNDLE_TXT = ROOT / "requirements" / "bundle.txt"
ENGINE_TXT = ROOT / "requirements" / "engine.txt"
MANIFEST = ROOT / "blender_manifest.toml"

PYTHON_VERSION = "3.11"  # Blender 4.2 .. 5.0

# Blender platform name -> pip --platform tags accepted for it. pip does not widen a custom manylinux tag
# to older glibc versions, so every acceptable tag is listed. Blender 4.2+ needs glibc 2.28 on Linux.
PLATFORMS: dict[str, list[str]] = {
    "linux-x64": [f"manylinux_2_{v}_x86_64" for v in range(28, 16, -1)] + ["manylinux2014_x86_64"],
    "windows-x64": ["win_amd64"],
    # onnxruntime 1.32 publishes macOS arm64 wheels for 14.0+ only; accept up to that.
    "macos-arm64": [f"macosx_{v}_0_arm64" for v in range(14, 10, -1)]
    + [f"macosx_{v}_0_universal2" for v in range(14, 10, -1)]
    + [f"macosx_10_{v}_universal2" for v in range(15, 5, -1)],
}

# Distributions Blender's bundled Python already provides (and bpy depends on): never bundled.
# numpy in particular must stay Blender's own (1.26 in 4.2..5.0).
BLENDER_PROVIDES = {
    "numpy", "certifi", "requests", "idna", "urllib3", "charset-normalizer", "zstandard", "cython",
}
# Audio only: mediapipe imports sounddevice for its audio tasks inside try/except ImportError, and the engine
# uses vision tasks only. Leaving it out also avoids two sounddevice wheels (any + win_amd64) in one zip.
NOT_NEEDED = {"sounddevice", "cffi", "pycparser"}


def normalize(name: str) -> str:
    """PEP 503 name normalisation (also matches wheel file names after '_' -> '-')."""
    return re.sub(r"[-_.]+", "-", name).lower()


def read_pins(path: Path = BUNDLE_TXT) -> list[tuple[str, str]]:
    """(name, version) for every `name==version` line of a requirements file."""
    pins = []
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        m = re.fullmatch(r"([A-Za-z0-9_.\-]+)==([A-Za-z0-9_.+\-]+)", line)
        if not m:
            raise SystemExit(f"fetch_wheels: {path.name}: expected 'name==version', got {line!r}")
        pins.append((m.group(1), m.group(2)))
    return pins


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


def wheels_for_platform(
    platform: str, pins: list[tuple[str, str]], directory: Path = WHEELS_DIR
) -> list[Path]:
    """The wheel file in `directory` for each pin on `platform`; raises if one is missing or ambiguous."""
    found = []
    files = sorted(directory.glob("*.whl"))
    for name, version in pins:
        matches = [
            f for f in files
            if normalize(f.name.split("-")[0]) == normalize(name) and f.name.split("-")[1] == version
            and wheel_platform_matches(f.name, platform)
        ]
        if len(matches) != 1:
            names = [f.name for f in matches]
            raise LookupError(f"{platform}: expected one wheel for {name}=={version}, found {names}")
        found.append(matches[0])
    return found


def download(platform: str, pins: list[tuple[str, str]], dest: Path = WHEELS_DIR) -> list[Path]:
    """pip-download the pinned wheels (no dependency resolution) for one Blender platform into `dest`."""
    dest.mkdir(parents=True, exist_ok=True)
    cmd = [
        sys.executable, "-m", "pip", "download", "--disable-pip-version-check", "--quiet",
        "--only-binary=:all:", "--no-deps", "--python-version", PYTHON_VERSION, "--implementation", "cp",
        "--dest", str(dest),
    ]
    for tag in PLATFORMS[platform]:
        cmd += ["--platform", tag]
    cmd += [f"{name}=={version}" for name, version in pins]
    print(f"fetch_wheels: {platform}: {len(pins)} wheels -> {dest}", flush=True)
    subprocess.run(cmd, check=True)
    return wheels_for_platform(platform, pins, dest)


def lock(platforms: list[str]) -> list[tuple[str, str]]:
    """Resolve requirements/engine.txt for every platform with pip's resolver; return the bundled closure."""
    versions: dict[str, dict[str, str]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for platform in platforms:
            report = Path(tmp) / f"{platform}.json"
            cmd = [
                sys.executable, "-m", "pip", "install", "--disable-pip-version-check", "--quiet", "--dry-run",
                "--ignore-installed", "--only-binary=:all:", "--python-version", PYTHON_VERSION,
                "--implementation", "cp", "--target", str(Path(tmp) / "target"), "--report", str(report),
                "-r", str(ENGINE_TXT),
            ]
            for tag in PLATFORMS[platform]:
                cmd += ["--platform", tag]
            subprocess.run(cmd, check=True)
            for item in json.loads(report.read_text())["install"]:
                name = normalize(item["metadata"]["name"])
                versions.setdefault(name, {})[platform] = item["metadata"]["version"]
    pins = []
    for name, per_platform in sorted(versions.items()):
        if name in BLENDER_PROVIDES or name in NOT_NEEDED:
            continue
        if len(set(per_platform.values())) != 1 or set(per_platform) != set(platforms):
            raise SystemExit(f"fetch_wheels: {name} resolves differently per platform: {per_platform}")
        pins.append((name, next(iter(per_platform.values()))))
    return pins


def write_lock(pins: list[tuple[str, str]], path: Path = BUNDLE_TXT) -> None:
    engine = {normalize(n) for n, _ in read_pins(ENGINE_TXT)}
    lines = [line for line in path.read_text().splitlines() if line.startswith("#") and "pins" not in line]
    head = [line for line in lines if not line.startswith("# The engine") and not line.startswith("# Their")]
    out = head + ["# The engine pins (same versions as requirements/engine.txt):"]
    out += [f"{n}=={v}" for n, v in pins if n in engine]
    out += ["# Their runtime dependencies:"] + [f"{n}=={v}" for n, v in pins if n not in engine]
    path.write_text("\n".join(out) + "\n")


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
    parser.add_argument("--lock", action="store_true", help="re-resolve requirements/bundle.txt, then fetch")
    args = parser.parse_args(argv)
    platforms = args.platform or list(PLATFORMS)

    if args.lock:
        write_lock(lock(list(PLATFORMS)))
        print(f"fetch_wheels: wrote {BUNDLE_TXT.relative_to(ROOT)}")
    pins = read_pins()
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
