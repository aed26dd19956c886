"""The main job, headless, on built-in sample data (run through scripts/demo.sh).

sample portrait (engine/assets) + built-in performance (engine/sample.py)
  -> out/demo/motion.json                  the motion file (controls per frame)
  -> out/demo/talking_head.blend           a Sequencer scene: the portrait strip with its 16
                                           controls keyframed, the result strip above it
  -> out/demo/talking_head/<portrait>/r001 the rendered frames (the add-on's Render operator:
                                           it evaluates the keyed curves, like in the UI)
  -> out/demo/talking_head.mp4             the frames as H.264
The .blend refers to its files by relative paths (the portrait is copied beside it), so the
folder can be moved or opened on another machine.

The add-on runs from this source tree inside the `bpy` module of .venv, with Blender's user
resources in a temporary folder (your own Blender settings are never touched). With ``--zip``
the extension zip is installed into that folder instead, as a user would install it (Preferences ->
Get Extensions -> Install from Disk), and the demo runs on the installed copy and its bundled wheels:
`bash scripts/demo.sh --blender 5.3` does that on bpy 5.3.0 (Python 3.13). out/demo/ is the demo's
own folder and is replaced on every run.
"""

from __future__ import annotations

import argparse
import importlib
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PORTRAIT = ROOT / "engine" / "assets" / "sample_portrait.jpg"


def load_addon_from_source(tmp: Path):
    """Import this repository as the package ``talking_head`` (a symlink on sys.path) and
    register it, as Blender would register the installed extension."""
    link = tmp / "talking_head"
    link.symlink_to(ROOT, target_is_directory=True)
    sys.path.insert(0, str(tmp))
    import talking_head

    talking_head.register()
    return talking_head


def install_addon_zip(zip_path: Path):
    """Install and enable the extension zip in the (temporary) user_default repository."""
    import bpy

    result = bpy.ops.extensions.package_install_files(filepath=str(zip_path), repo="user_default",
                                                      enable_on_install=True, overwrite=True)
    module = "bl_ext.user_default.talking_head"
    if result != {"FINISHED"} or module not in bpy.context.preferences.addons:
        raise SystemExit(f"demo: error: installing {zip_path.name} failed (see the message above)")
    return sys.modules[module]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=str(ROOT / "out" / "demo"), help="output folder (replaced)")
    ap.add_argument("--seconds", type=float, default=4.0, help="length of the sample performance")
    ap.add_argument("--renderer", default="builtin", help="builtin (no downloads) or liveportrait")
    ap.add_argument("--zip", type=Path, help="install this extension zip and run the demo on it")
    args = ap.parse_args(argv)
    if args.zip is not None and not args.zip.is_file():
        ap.error(f"no such extension zip: {args.zip}")

    out = Path(args.out).resolve()
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    tmp = Path(tempfile.mkdtemp(prefix="talking-head-demo-"))
    os.environ["BLENDER_USER_RESOURCES"] = str(tmp / "user")  # read when bpy initialises
    t0 = time.perf_counter()
    try:
        th = install_addon_zip(args.zip.resolve()) if args.zip else load_addon_from_source(tmp)
        sample_performance = importlib.import_module(f"{th.__name__}.engine.sample").sample_performance

        motion = sample_performance(args.seconds)
        motion_path = out / "motion.json"
        motion.save(motion_path)
        print(f"demo: wrote {_shown(motion_path)} ({motion.frame_count} frames, "
              f"{motion.fps:g} fps)")

        blend = out / "talking_head.blend"
        frames = build_scene(th.__name__, motion, motion_path, blend, args.renderer)
        mp4 = out / "talking_head.mp4"
        encode_mp4(th.__name__, frames, motion.fps, mp4)
        print(f"demo: wrote {_shown(blend)} and {_shown(mp4)} ({len(frames)} frames) in "
              f"{time.perf_counter() - t0:.1f} s")
        if not args.zip:
            th.unregister()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


def _shown(path: Path) -> str:
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def build_scene(pkg: str, motion, motion_path: Path, blend: Path, renderer: str) -> list[Path]:
    """Sequencer scene with the portrait strip, its keyed controls and the rendered result."""
    import bpy

    compat = importlib.import_module(f"{pkg}.adapters.compat")
    strips = importlib.import_module(f"{pkg}.adapters.strips")

    bpy.ops.wm.read_homefile(use_empty=True)
    bpy.context.preferences.filepaths.save_version = 0  # no .blend1 backups in the demo folder
    image = blend.parent / PORTRAIT.name  # the .blend travels with its portrait
    shutil.copyfile(PORTRAIT, image)
    scene = bpy.context.scene
    scene.render.fps, scene.render.fps_base = int(round(motion.fps)), 1.0
    scene.frame_start, scene.frame_end = 1, motion.frame_count
    portrait = compat.strip_collection(scene).new_image("Portrait", str(image), channel=1, frame_start=1)
    compat.set_strip_timing(portrait, "duration", motion.frame_count)
    bpy.ops.wm.save_as_mainfile(filepath=str(blend))  # renders go next to it: //talking_head/
    item = strips.item_for_strip(scene, portrait, create=True)
    item.renderer = renderer
    ok = bpy.ops.talking_head.import_motion(filepath=str(motion_path), portrait=item.name)
    if ok != {"FINISHED"}:
        raise SystemExit("demo: importing the motion as keyframes failed (see the message above)")
    ok = bpy.ops.talking_head.render(portrait=item.name)
    if ok != {"FINISHED"}:
        raise SystemExit("demo: the render failed (see the message above)")
    result = strips.result_strips(scene, item)
    if not result:
        raise SystemExit("demo: the render placed no result strip")
    folder = Path(bpy.path.abspath(result[0].directory))
    bpy.ops.file.make_paths_relative()
    bpy.ops.wm.save_as_mainfile(filepath=str(blend))
    return sorted(folder.glob("frame_*.png"))


def encode_mp4(pkg: str, frames: list[Path], fps: float, mp4: Path) -> None:
    video = importlib.import_module(f"{pkg}.engine.media.video")
    Mp4Writer, load_image = video.Mp4Writer, video.load_image

    first = load_image(frames[0])
    writer = Mp4Writer(mp4, fps, (first.shape[1], first.shape[0]))
    try:
        for f in frames:
            writer.write(load_image(f))
    except BaseException:
        writer.close(keep=False)
        raise
    writer.close()


if __name__ == "__main__":
    sys.exit(main())
