"""Packaging costs the Blender test tiers pay: fetch this platform's wheels, build the zip with
Blender's tool, install + enable it in a Blender started from bpy. Prints per-step medians.

    .venv/bin/python benchmarks/bench_package.py [--repeat 3] [--python .venv45/bin/python]

Fetching goes to a temporary folder with pip's cache off (the index is whatever pip is configured
with, so the figure depends on the network); building writes to a temporary folder (--force); each
install runs in a fresh Python process with its own BLENDER_USER_RESOURCES.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

INSTALL = r"""
import os, sys, time
import bpy
t = time.perf_counter()
r = bpy.ops.extensions.package_install_files(
    filepath=sys.argv[1], repo="user_default", enable_on_install=True)
dt = time.perf_counter() - t
assert r == {"FINISHED"} and "bl_ext.user_default.talking_head" in bpy.context.preferences.addons, r
print(f"INSTALL {dt:.3f}")
"""


def timed(cmd: list[str], env: dict[str, str] | None = None) -> tuple[float, str]:
    t = time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
    dt = time.perf_counter() - t
    if proc.returncode != 0:
        raise SystemExit(f"failed: {' '.join(cmd)}\n{proc.stdout}\n{proc.stderr}")
    return dt, proc.stdout


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--python", default=sys.executable, help="Python with bpy for the install step")
    parser.add_argument("--platform", default="linux-x64")
    args = parser.parse_args()

    fetch, build, install_proc, install_op = [], [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        for i in range(args.repeat):
            dest = tmp_path / f"wheels{i}"
            env = dict(os.environ, PIP_NO_CACHE_DIR="1")
            dt, _ = timed([sys.executable, "wheels/fetch_wheels.py", "--platform", args.platform,
                           "--dest", str(dest)], env)
            fetch.append(dt)
            size = sum(p.stat().st_size for p in dest.glob("*.whl"))
            for p in dest.glob("*.whl"):
                p.unlink()

            out = tmp_path / f"dist{i}"
            dt, _ = timed([args.python, "scripts/build_extension.py", "--platform", args.platform,
                           "--output-dir", str(out), "--force"])
            build.append(dt)
            (zip_path,) = out.glob("*.zip")
            zip_size = zip_path.stat().st_size

            user = tmp_path / f"user{i}"
            env = dict(os.environ, BLENDER_USER_RESOURCES=str(user))
            dt, stdout = timed([args.python, "-c", INSTALL, str(zip_path)], env)
            install_proc.append(dt)
            install_op.append(float(stdout.split("INSTALL ")[1].split()[0]))
            extracted = sum(p.stat().st_size for p in user.rglob("*") if p.is_file())
            subprocess.run(["rm", "-rf", str(user), str(out)], check=True)

    print(f"cpus: {os.cpu_count()}, repeats: {args.repeat}, platform: {args.platform}, bpy: {args.python}")
    print(f"wheels fetched: {size / 1e6:.1f} MB; zip: {zip_size / 1e6:.1f} MB; "
          f"installed (extracted) size: {extracted / 1e6:.0f} MB")
    for label, values in (("fetch wheels (pip download, no cache)", fetch),
                          ("build + validate zip (Blender's tool)", build),
                          ("install+enable operator", install_op),
                          ("install process incl. bpy start", install_proc)):
        med = statistics.median(values)
        print(f"{label:40s} median {med:6.2f} s  (min {min(values):.2f}, max {max(values):.2f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
