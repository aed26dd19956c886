"""Validate and build the extension zips with Blender's own extension tool.

    python scripts/build_extension.py                         # every platform whose wheels are in wheels/
    python scripts/build_extension.py --platform linux-x64    # just one (fetch its wheels first)
    python scripts/build_extension.py --platform linux-x64 --fetch   # fetch missing wheels, then build
    python scripts/build_extension.py --host --fetch          # this machine's platform (the tests' zip)

The tool is `bl_pkg/cli/blender_ext.py`, a plain Python script shipped inside the `bpy` wheel (found through
the `bpy` package of the Python running this script, or --blender-ext). The repository's manifest lists the
wheels of all three platforms; the tool has no option to build a subset, so the build runs on a staging copy
of the source tree (dist/.stage) whose manifest keeps only the chosen platforms and their wheels, with
`build --split-platforms`: one `dist/talking_head-<version>-<platform>.zip` per platform. The repository's
manifest and each built zip are validated with the same tool. A zip whose inputs (staged sources + wheels)
hash the same as last time is not rebuilt (its .sha256 stamp sits beside it); --force rebuilds.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parent.parent
DIST = ROOT / "dist"
MANIFEST_NAME = "blender_manifest.toml"

# Never staged: repository plumbing, environments, outputs (the manifest's own excludes then apply on top).
STAGE_SKIP = {
    ".git", ".venv", ".venv45", ".venv-farm", "dist", "out", "wheels", "__pycache__", ".pytest_cache",
    ".ruff_cache",
}


class BuildError(RuntimeError):
    pass


def find_blender_ext() -> Path:
    """Path of blender_ext.py inside the installed bpy package (the newest version directory in it)."""
    spec = importlib.util.find_spec("bpy")
    if spec is None or not spec.submodule_search_locations:
        raise BuildError("bpy is not installed in this Python; run scripts/setup.sh or pass --blender-ext")
    found: list[Path] = []
    for location in spec.submodule_search_locations:
        found += Path(location).glob("*/scripts/addons_core/bl_pkg/cli/blender_ext.py")
    if not found:
        raise BuildError(f"no bl_pkg/cli/blender_ext.py in {list(spec.submodule_search_locations)}")
    return max(found, key=lambda p: tuple(int(x) for x in p.parents[4].name.split(".")))


def load_tool(tool: Path) -> ModuleType:
    """Import blender_ext.py as a module to reuse its wheel/platform rules (it has no import side effects)."""
    spec = importlib.util.spec_from_file_location("blender_ext", tool)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("blender_ext", module)
    spec.loader.exec_module(module)
    return module


def run_tool(tool: Path, *args: str) -> str:
    proc = subprocess.run([sys.executable, str(tool), *args], capture_output=True, text=True)
    if proc.returncode != 0 or "Error" in proc.stdout:
        raise BuildError(f"blender_ext.py {' '.join(args)} failed:\n{proc.stdout}{proc.stderr}")
    return proc.stdout


def validate(tool: Path, path: Path) -> str:
    """Run the tool's `validate` on a source directory or a built zip; raises BuildError when invalid."""
    return run_tool(tool, "validate", str(path))


def host_platform(tool: Path | None = None) -> str:
    """This machine as a Blender platform name, e.g. 'linux-x64' (the tool's own rule)."""
    return load_tool(tool or find_blender_ext()).platform_from_this_system()


def platform_wheels(tool_module: ModuleType, wheels: list[str], platform: str) -> list[str]:
    compatible = tool_module.blender_platform_compatible_with_wheel_platform_from_filepath
    return [w for w in wheels if compatible(platform, w)]


def _replace_array(text: str, key: str, values: list[str]) -> str:
    body = "".join(f'  "{v}",\n' for v in values)
    new, n = re.subn(rf"^{key} = \[.*?\]", f"{key} = [\n{body}]", text, count=1, flags=re.M | re.S)
    if n != 1:
        raise BuildError(f"{MANIFEST_NAME}: no top-level '{key} = [...]' array")
    return new


def _stage(platforms: list[str], wheels: list[str], stage: Path) -> None:
    if stage.exists():
        shutil.rmtree(stage)

    def ignore(directory: str, names: list[str]) -> set[str]:
        if Path(directory) == ROOT:
            return {n for n in names if n in STAGE_SKIP}
        return {"__pycache__"} & set(names)

    shutil.copytree(ROOT, stage, ignore=ignore)
    (stage / "wheels").mkdir()
    for wheel in wheels:
        src = ROOT / wheel
        dst = stage / wheel
        try:
            os.link(src, dst)  # same file system: no 200 MB copy
        except OSError:
            shutil.copy2(src, dst)
    text = (ROOT / MANIFEST_NAME).read_text()
    text = _replace_array(text, "platforms", platforms)
    text = _replace_array(text, "wheels", wheels)
    (stage / MANIFEST_NAME).write_text(text)


def _hash_tree(stage: Path, tool: Path) -> str:
    h = hashlib.sha256(str(tool).encode())
    for path in sorted(p for p in stage.rglob("*") if p.is_file()):
        rel = path.relative_to(stage).as_posix()
        h.update(rel.encode() + b"\0")
        if path.suffix == ".whl":  # pinned, immutable names: name + size is enough
            h.update(str(path.stat().st_size).encode())
        else:
            h.update(path.read_bytes())
    return h.hexdigest()


def build(
    platforms: list[str] | None = None,
    *,
    output_dir: Path = DIST,
    tool: Path | None = None,
    fetch: bool = False,
    force: bool = False,
) -> list[Path]:
    """Build one zip per platform (default: every platform whose wheels are all present); return the zips."""
    tool = tool or find_blender_ext()
    tool_module = load_tool(tool)
    validate(tool, ROOT)
    manifest = tomllib.loads((ROOT / MANIFEST_NAME).read_text())
    all_wheels: list[str] = [w.removeprefix("./") for w in manifest.get("wheels", [])]
    declared: list[str] = manifest["platforms"]

    requested = platforms or declared
    unknown = sorted(set(requested) - set(declared))
    if unknown:
        raise BuildError(f"platform(s) {unknown} are not in the manifest's platforms {declared}")

    missing = {p: [w for w in platform_wheels(tool_module, all_wheels, p) if not (ROOT / w).is_file()]
               for p in requested}
    if fetch and any(missing.values()):
        need = [p for p in requested if missing[p]]
        cmd = [sys.executable, str(ROOT / "wheels" / "fetch_wheels.py")]
        for p in need:
            cmd += ["--platform", p]
        subprocess.run(cmd, check=True)
        missing = {p: [w for w in platform_wheels(tool_module, all_wheels, p) if not (ROOT / w).is_file()]
                   for p in requested}
    if platforms:
        bad = {p: m for p, m in missing.items() if m}
        if bad:
            first = next(iter(bad))
            raise BuildError(f"wheels missing for {sorted(bad)} (e.g. {bad[first][0]}): "
                             f"run python wheels/fetch_wheels.py --platform {first}")
        chosen = list(platforms)
    else:
        chosen = [p for p in declared if not missing[p]]
        if not chosen:
            raise BuildError("no platform has all its wheels in wheels/: run python wheels/fetch_wheels.py")
    wheels = sorted({w for p in chosen for w in platform_wheels(tool_module, all_wheels, p)})

    output_dir.mkdir(parents=True, exist_ok=True)
    stage = output_dir / ".stage" / manifest["id"]
    _stage(chosen, [f"./{w}" if not w.startswith("./") else w for w in wheels], stage)
    # The manifest the tool sees lists paths as "./wheels/x.whl"; the files sit at stage/wheels/x.whl.
    digest = _hash_tree(stage, tool)

    zips = [output_dir / f"{manifest['id']}-{manifest['version']}-{p.replace('-', '_')}.zip" for p in chosen]
    stamps = [z.with_name(z.name + ".sha256") for z in zips]
    if not force and all(z.is_file() and s.is_file() and s.read_text().strip() == digest
                         for z, s in zip(zips, stamps, strict=True)):
        print(f"build_extension: up to date: {', '.join(z.name for z in zips)}")
        shutil.rmtree(stage.parent)
        return zips

    for s in stamps:
        s.unlink(missing_ok=True)
    print(f"build_extension: building {', '.join(chosen)} with {tool}", flush=True)
    run_tool(tool, "build", "--source-dir", str(stage), "--output-dir", str(output_dir), "--split-platforms")
    shutil.rmtree(stage.parent)
    for z, s in zip(zips, stamps, strict=True):
        if not z.is_file():
            raise BuildError(f"the tool did not write {z}")
        validate(tool, z)
        s.write_text(digest + "\n")
        print(f"build_extension: {z.relative_to(ROOT) if z.is_relative_to(ROOT) else z} "
              f"({z.stat().st_size / 1e6:.1f} MB, validated)")
    return zips


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--platform", action="append", help="build only this platform (repeatable)")
    parser.add_argument("--host", action="store_true", help="build only this machine's platform")
    parser.add_argument("--output-dir", type=Path, default=DIST)
    parser.add_argument(
        "--blender-ext", type=Path, help="path of bl_pkg/cli/blender_ext.py (default: from bpy)"
    )
    parser.add_argument("--fetch", action="store_true", help="download missing wheels first")
    parser.add_argument("--force", action="store_true", help="rebuild even if the inputs did not change")
    parser.add_argument("--validate-only", action="store_true", help="validate the manifest and stop")
    args = parser.parse_args(argv)
    try:
        tool = args.blender_ext or find_blender_ext()
        if args.validate_only:
            print(validate(tool, ROOT).strip())
            return 0
        platforms = (args.platform or []) + ([host_platform(tool)] if args.host else [])
        build(platforms or None, output_dir=args.output_dir.resolve(), tool=tool, fetch=args.fetch,
              force=args.force)
    except BuildError as exc:
        print(f"build_extension: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
