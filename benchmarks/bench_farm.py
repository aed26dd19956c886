"""Farm chunking cost: one process rendering N frames versus the same frames in 3 chunks (3
processes, run one after another as `openjd run` does on one machine), through the `blender`
launcher over the bpy module (tests/blender/blender_launcher.py) and the add-on from this tree.

Run: .venv/bin/python benchmarks/bench_farm.py [--frames 30] [--scale 50] [--repeat 3] [--openjd]
Prints medians over --repeat runs: the start-up of one process (Blender + add-on, no work), one
process for all frames, 3 chunk processes, the chunking overhead, and (with --openjd, needs
scripts/setup_farm.sh) the Render step of the real bundle under `openjd run`. From those:
start-up S and per-frame t, and the chunk size that keeps S under 10 % (9·S/t).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PORTRAIT = ROOT.parent / "shared" / "testdata" / "portraits" / "photo_woman.jpg"


def timed(cmd: list, env: dict) -> float:
    t = time.perf_counter()
    r = subprocess.run([str(c) for c in cmd], env=env, capture_output=True, text=True)
    if r.returncode != 0:
        raise SystemExit(f"failed: {' '.join(map(str, cmd))}\n{r.stdout[-2000:]}\n{r.stderr[-2000:]}")
    return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--frames", type=int, default=30)
    ap.add_argument("--scale", type=int, default=50, help="portrait resolution %%")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--openjd", action="store_true", help="also time `openjd run` of the Render step")
    args = ap.parse_args()
    if args.frames < 3:
        raise SystemExit("--frames must be at least 3 (3 chunks)")

    tmp = Path(tempfile.mkdtemp(prefix="bench_farm_"))
    os.symlink(ROOT, tmp / "talking_head")
    sys.path.insert(0, str(tmp))
    os.environ["BLENDER_USER_RESOURCES"] = str(tmp / "user")
    import bpy
    import numpy as np
    import talking_head
    from talking_head.adapters import compat, keyframes, strips
    from talking_head.engine.frames import chunks
    from talking_head.engine.sample import sample_performance

    talking_head.register()
    n = args.frames
    scene = bpy.context.scene
    scene.render.fps, scene.frame_start, scene.frame_end = 30, 1, n
    por = compat.strip_collection(scene).new_image("Portrait", str(PORTRAIT), channel=2, frame_start=1)
    por.frame_final_duration = n
    item = strips.item_for_strip(scene, por, create=True)
    item.scale = args.scale
    motion = sample_performance(n / 30 + 1, 30).slice(0, n)
    keyframes.write_controls(scene, item, np.arange(1, n + 1), motion.to_array())
    blend = tmp / "shot.blend"
    bpy.ops.wm.save_as_mainfile(filepath=str(blend))
    talking_head.unregister()

    blender = tmp / "blender"
    blender.write_text(f"#!{sys.executable}\n" + (ROOT / "tests/blender/blender_launcher.py").read_text())
    blender.chmod(0o755)
    env = dict(os.environ, PYTHONPATH=str(tmp), TALKING_HEAD_ADDON_MODULE="talking_head")
    render = [blender, "-b", blend, "-c", "talking_head", "render", "--blend", blend, "--device", "cpu"]
    size = -(-n // 3)
    parts = chunks(1, n, size)

    startup, single, chunked, openjd = [], [], [], []
    for k in range(args.repeat):
        startup.append(timed([blender, "-b", blend, "-c", "talking_head", "--help"], env))
        out = tmp / f"single{k}"
        single.append(timed(render + ["--frames", f"1-{n}", "-o", out], env))
        out = tmp / f"chunks{k}"
        chunked.append(sum(timed(render + ["--frames", f"{a}-{b}", "-o", out], env) for a, b in parts))
        for name in os.listdir(tmp / f"single{k}"):
            if name.startswith("frame_"):
                assert (tmp / f"single{k}" / name).read_bytes() == (out / name).read_bytes(), name
        if args.openjd:
            openjd.append(time_openjd(tmp, blend, blender, env, n, size, k))
    s, one, three = (statistics.median(x) for x in (startup, single, chunked))
    print(f"Blender {bpy.app.version_string}, {n} frames at {args.scale} %, built-in renderer, CPU, "
          f"{os.cpu_count()} cores; medians of {args.repeat}")
    print(f"start-up (Blender + add-on, --help):  {s:6.2f} s")
    print(f"one process, {n} frames:              {one:6.2f} s")
    print(f"3 chunks ({', '.join(f'{a}-{b}' for a, b in parts)}), one after another: {three:6.2f} s  "
          f"(x{three / one:.2f}, +{three - one:.2f} s)")
    if openjd:
        print(f"openjd run --step Render (3 chunks):  {statistics.median(openjd):6.2f} s")
    fixed = max((three - one) / 2, 0.0)  # two extra processes' fixed cost
    print(f"fixed cost per process ~{fixed:.2f} s, per frame ~{(one - fixed) / n:.3f} s -> chunks of "
          f">= {9 * fixed / max((one - fixed) / n, 1e-9):.0f} frames keep the fixed cost under 10 %")
    print("(all frames of the chunks equal the single render byte for byte)")
    shutil.rmtree(tmp, ignore_errors=True)


def time_openjd(tmp: Path, blend: Path, blender: Path, env: dict, n: int, size: int, k: int) -> float:
    from talking_head.engine import farm

    openjd = ROOT / ".venv-farm" / "bin" / "openjd"
    if not openjd.is_file():
        raise SystemExit("--openjd needs scripts/setup_farm.sh")
    job, bundle = tmp / f"job{k}", tmp / f"bundle{k}"
    params = farm.bundle_parameters(blend, frames=f"1-{n}", output=job, chunk_size=size,
                                    blender=str(blender), device="cpu")
    farm.write_bundle(bundle, params)
    base = [openjd, "run", bundle / "template.yaml", "-p", f"file://{bundle / 'job_params.json'}",
            "--no-run-dependencies", "--step"]
    timed(base + ["Capture"], env)
    return timed(base + ["Render"], env)


if __name__ == "__main__":
    main()
