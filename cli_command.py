"""`blender -c talking_head capture|render|animate ...`: headless use, e.g. on a render farm.

Two modes:
* with ``--blend FILE``: open the .blend and run the same capture/render as the panel buttons on
  one of its portraits (``--portrait NAME``; the only one if omitted), ``--frames`` in scene
  frames. Capture saves the keys into the file; render places/replaces the result strip and
  saves, or with ``--output DIR`` only writes frames there (farm chunks; the file is not changed).
* farm job steps (farm/openjd/template.yaml, farm/flamenco/talking_head.js), with ``--job-dir
  DIR --job-id ID``: ``capture --blend F --keep-keys`` claims DIR and saves the keyed copy
  DIR/talking_head_job.blend (the file itself is not changed); ``render --blend COPY --frames
  A-B`` writes DIR/frames/; ``encode --blend COPY`` makes DIR/talking_head.mp4 with the scene's
  sound. ``encode --blend F -i FRAMES -o OUT.mp4`` works without a job too.
* without: plain files, like the engine CLI: ``capture VIDEO -o motion.json``,
  ``render PORTRAIT MOTION.json -o DIR|OUT.mp4``, ``animate PORTRAIT VIDEO -o DIR|OUT.mp4``
  (``animate --blend`` = capture, then render);
  ``--frames`` in motion frames.

``--frames`` is inclusive everywhere: ``A-B`` or ``A..B`` (both ends), ``N``, or a list
``1-10,20-30`` (engine/frames.py, docs/farm.md#frame-ranges).

Exit status: 0 done, 2 a problem the message explains (missing file, bad setup), 130 cancelled.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

import bpy

from .engine.cli import exit_status, face_index, finite_float, unit_float
from .engine.commands.render import add_clip_args, clip_options
from .engine.errors import EngineError
from .engine.frames import HELP as FRAMES_HELP
from .engine.frames import frame_number
from .engine.progress import Progress, console_bar
from .engine.safe_text import printable

COMMAND = "talking_head"


def _safe(message: str) -> str:
    """What is echoed quotes names from the .blend and from files: escaped (engine/safe_text.py)."""
    return printable(message, limit=2000)


_handle = None


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # argparse would sys.exit(); Blender must not
        raise EngineError(f"{message}\n{self.format_usage().strip()}")


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog=f"blender -c {COMMAND}",
                description="Talking Head: capture a driving video's expressions and render "
                            "talking portraits without the UI.")
    sub = p.add_subparsers(dest="command", metavar="capture|render|animate|encode|bake",
                           parser_class=_Parser)

    def common(sp: argparse.ArgumentParser, job: bool = False) -> None:
        sp.add_argument("--blend", help="work on this .blend's portrait (saved afterwards)")
        sp.add_argument("--portrait", default="", help="portrait name in the .blend")
        sp.add_argument("--frames", default=None, help=FRAMES_HELP)  # "" is refused
        sp.add_argument("-o", "--output", default="", help="output file/folder")
        sp.add_argument("--debug", action="store_true", help="traceback of unexpected errors")
        if job:
            sp.add_argument("--job-dir", default="", help="farm job folder (with --blend and --job-id)")
            sp.add_argument("--job-id", default="", help="farm job id that owns --job-dir")

    c = sub.add_parser("capture", help="driving video or voice -> motion file, or keys in a .blend")
    c.add_argument("video", nargs="?", help="driving video or voice (audio file) (without --blend)")
    c.add_argument("--smoothing", type=unit_float, default=None,
                   help="0 = off ... 1 = strong (default 0.5; video capture only)")
    c.add_argument("--keep-keys", action="store_true",
                   help="with --blend: do not capture when the portrait already has keys")
    c.add_argument("--audio", action="store_true", help="capture the video's voice, not its face")
    c.add_argument("--fps", type=finite_float, default=None,
                   help="voice capture: motion frame rate (default 25)")
    c.add_argument("--seed", type=int, default=0, help="voice capture: seed of the idle life")
    common(c, job=True)
    r = sub.add_parser("render", help="portrait + motion -> frames, or a .blend portrait's curves")
    r.add_argument("portrait_image", nargs="?", metavar="PORTRAIT", help="portrait image (without --blend)")
    r.add_argument("motion", nargs="?", help="motion .json (without --blend)")
    r.add_argument("--renderer", default="builtin")
    r.add_argument("--device", default="", choices=("", "auto", "cpu", "cuda"),
                   help="render device (default: the portrait's setting, auto without --blend)")
    r.add_argument("--overwrite", action="store_true", help="replace existing frames (no --blend)")
    r.add_argument("--face", type=face_index, default=None, help="portrait face, 0 = leftmost")
    common(r, job=True)
    add_clip_args(r)
    a = sub.add_parser("animate", help="capture + render in one go (files, or a .blend portrait)")
    a.add_argument("portrait_image", nargs="?", metavar="PORTRAIT", help="portrait image (without --blend)")
    a.add_argument("video", nargs="?", help="driving video (without --blend)")
    a.add_argument("--smoothing", type=unit_float, default=0.5)
    a.add_argument("--face", type=face_index, default=None, help="portrait face, 0 = leftmost")
    a.add_argument("--renderer", default="builtin")
    a.add_argument("--device", default="", choices=("", "auto", "cpu", "cuda"))
    a.add_argument("--overwrite", action="store_true")
    common(a)
    add_clip_args(a)
    e = sub.add_parser("encode", help="a .blend portrait's rendered frames -> .mp4 with the scene's sound")
    e.add_argument("-i", "--input", default="", help="folder of frame_NNNNNN.png (default: JOB_DIR/frames)")
    e.add_argument("--overwrite", action="store_true", help="replace an existing movie")
    common(e, job=True)
    _add_bake_parser(sub)
    return p


# -- bake: a 3D character from a motion file or its configured source ------------------------


def _add_bake_parser(sub) -> None:
    b = sub.add_parser("bake", help="key a 3D character's shape keys and head bone (in a .blend)")
    b.add_argument("--blend", required=True, help="the .blend with the character (saved afterwards)")
    b.add_argument("--object", required=True, help="face mesh with shape keys")
    b.add_argument("--motion", default="", help="motion .json (default: the object's own source)")
    b.add_argument("--start", type=frame_number, default=None, help="scene frame of the motion's first frame")
    b.add_argument("--frames", default=None, help="scene frames A-B or A..B, both ends included")
    b.add_argument("--armature", default="", help="also key this armature's body bones from the "
                                                  "captured body (the motion needs one: --body)")
    b.add_argument("--bone-names", choices=("auto", "rigify", "mixamo", "vrm"), default="auto",
                   help="the armature's body bone names (default: detected)")


def _bake(args: argparse.Namespace) -> int:
    from .adapters import flows, rig

    frames = _range(args.frames)  # a typo in --frames fails before the file is opened
    _open_blend(args.blend)
    obj = bpy.data.objects.get(args.object)
    if obj is None:
        meshes = ", ".join(o.name for o in bpy.data.objects if o.type == "MESH") or "none"
        raise EngineError(f"no object {args.object!r} in {args.blend} (meshes: {meshes})")
    if args.armature:
        arm = bpy.data.objects.get(args.armature)
        if arm is None or arm.type != "ARMATURE":
            names = ", ".join(o.name for o in bpy.data.objects if o.type == "ARMATURE") or "none"
            raise EngineError(f"no armature {args.armature!r} in {args.blend} (armatures: {names})")
        st = rig.settings(obj)
        st.armature, st.bake_body, st.body_preset = arm, True, args.bone_names.upper()
    task = rig.prepare_bake(bpy.context.scene, obj, frames, motion_path=args.motion, start=args.start)
    print(_safe(flows.run_sync(task)))
    bpy.ops.wm.save_mainfile()
    return 0


def _range(text: str | None):
    """--frames: not given = every frame; given empty is refused (engine.frames.parse_given)."""
    from .engine.frames import parse_given

    return parse_given(text)


def _need(value: str | None, what: str) -> str:
    if not value:
        raise EngineError(f"missing {what}")
    return value


def _open_blend(path: str) -> None:
    import os

    if os.path.isdir(path):
        raise EngineError(f".blend file {path} is a folder; give the .blend file")
    if not os.path.isfile(path):
        raise EngineError(f".blend file not found: {path}")
    try:
        bpy.ops.wm.open_mainfile(filepath=path)
    except RuntimeError as exc:  # Blender's own "File format is not supported" & co.
        reason = str(exc).strip().splitlines()[-1].removeprefix("Error: ") if str(exc).strip() else ""
        raise EngineError(f"cannot open {path} as a .blend ({reason}); give a file saved by "
                          "Blender") from None


def _blend_item(name: str):
    from .adapters import strips

    scene = bpy.context.scene
    if name:
        item = strips.find_item(scene, name)
        if item is None:
            known = ", ".join(it.name for it in strips.items(scene)) or "none"
            raise EngineError(f"no portrait {name!r} in {bpy.data.filepath} (portraits: {known})")
        return scene, item
    alive = strips.items(scene)
    if len(alive) != 1:
        known = ", ".join(it.name for it in alive) or "none"
        raise EngineError(f"pass --portrait NAME (portraits in this file: {known})")
    return scene, alive[0]


def _has_keys(scene, item) -> bool:
    from .adapters import keyframes

    return keyframes.has_keys(scene, item)


def _job_mode(args: argparse.Namespace, scene, item, frames) -> int:
    """A farm job step (``--job-dir``): see the module doc and engine/farm.py."""
    from pathlib import Path

    from .adapters import farm as farm_steps
    from .adapters import flows
    from .engine import farm

    if not args.job_id:
        raise EngineError("--job-dir needs --job-id (the id in the bundle's parameters)")
    job = Path(args.job_dir)
    if args.command == "capture":
        print(_safe(farm_steps.save_job_blend(scene, item, str(job), args.job_id, frames, args.keep_keys)))
        return 0
    farm.check_job_folder(job, args.job_id)
    if args.command == "render":
        # the job id: this job's chunks share the frames folder's claim, other jobs are refused
        task = flows.prepare_render(scene, item, frames, args.output or str(job / farm.FRAMES_DIR),
                                    device=args.device or None, job=args.job_id)
        print(_safe(flows.run_sync(task)))
        return 0
    # encode: the job's own movie; a retried Encode step replaces it
    print(_safe(farm_steps.encode(scene, item, frames, args.input or str(job / farm.FRAMES_DIR),
                                  args.output or str(job / farm.MOVIE), overwrite=True)))
    return 0


def _blend_mode(args: argparse.Namespace) -> int:
    from .adapters import flows

    frames = _range(args.frames)  # a typo in --frames fails before the file is opened
    _open_blend(args.blend)
    scene, item = _blend_item(args.portrait)
    if getattr(args, "job_dir", ""):
        return _job_mode(args, scene, item, frames)
    if args.command == "encode":
        from .adapters import farm as farm_steps

        message = farm_steps.encode(scene, item, frames, _need(args.input, "-i/--input (the frames folder)"),
                                    _need(args.output, "-o/--output (the .mp4)"), overwrite=args.overwrite)
        print(_safe(message))
        return 0
    if args.command == "capture" and args.keep_keys and _has_keys(scene, item):
        print(_safe(f"kept the keys of {item.name!r} (--keep-keys)"))
    elif args.command in ("capture", "animate"):
        print(_safe(flows.run_sync(flows.prepare_capture(scene, item, frames))))
        bpy.ops.wm.save_mainfile()
    if args.command in ("render", "animate"):
        task = flows.prepare_render(scene, item, frames, args.output or None,
                                    device=getattr(args, "device", "") or None)
        print(_safe(flows.run_sync(task)))
        if not args.output:
            bpy.ops.wm.save_mainfile()
    return 0


def _file_mode(args: argparse.Namespace) -> int:
    from .engine.commands._checks import (
        check_portrait,
        check_render_output,
        refuse_inputs_as_outputs,
        require_file,
    )
    from .engine.frames import capture_span
    from .engine.outputs import check_outputs
    from .engine.pipeline import render_motion

    if args.command == "encode":
        raise EngineError("encode needs --blend FILE (the scene gives the frame rate and the sound)")
    if getattr(args, "job_dir", ""):
        raise EngineError("--job-dir needs --blend FILE")
    spans = _range(args.frames)  # a typo in --frames fails before any work
    if args.command in ("render", "animate"):
        from .engine.commands.render import refuse_other_renderers_options

        refuse_other_renderers_options(args)
    out = _need(args.output, "-o/--output")
    overwrite = bool(getattr(args, "overwrite", False))
    refuse_inputs_as_outputs([(getattr(args, k, None), k) for k in ("video", "portrait_image", "motion")],
                             [(out, "output")])
    if args.command == "capture":
        from .engine.capture import capture
        from .engine.capture.audio import capture_audio
        from .engine.commands.capture import is_audio_source

        video = require_file(_need(args.video, "VIDEO"), "driving video")
        check_outputs([(out, "motion file")], overwrite)  # before the capture, not after
        start, stop = capture_span(args.frames)
        span = {"start": start, "stop": stop, "progress": Progress(console_bar("capture", sys.stdout))}
        # an option the chosen capture cannot honour is refused, not silently ignored
        if is_audio_source(video, args.audio):
            if args.smoothing is not None:
                raise EngineError("--smoothing applies to capture from a face in a video, not from a "
                                  "voice; leave it out")
            motion = capture_audio(video, fps=args.fps or 25.0, seed=args.seed, **span)
        else:
            if args.fps is not None:
                raise EngineError("--fps applies to voice capture only: a video's motion keeps its "
                                  "frame rate (add --audio to capture its sound)")
            motion = capture(video, smoothing=0.5 if args.smoothing is None else args.smoothing, **span)
        motion.save(out, overwrite=overwrite)
        print(f"wrote {out}: {motion.frame_count} frames")
        return 0
    check_portrait(_need(args.portrait_image, "PORTRAIT"))
    frames = None
    if args.command == "render":
        from .engine.motion import Motion

        motion = Motion.load(require_file(_need(args.motion, "MOTION"), "motion file"))
        frames = spans.resolve(0, motion.frame_count - 1, "the motion") if spans else None
        check_render_output(out, overwrite, [], frames if frames is not None else range(motion.frame_count))
    else:
        from .engine.capture import capture

        video = require_file(_need(args.video, "VIDEO"), "driving video")
        check_render_output(out, overwrite, [])
        start, stop = capture_span(args.frames)  # animate: --frames chooses the video frames
        motion = capture(video, start=start, stop=stop, smoothing=args.smoothing,
                         progress=Progress(console_bar("capture", sys.stdout)))
    options = {} if args.face is None else {"face": args.face}
    extra = clip_options(args, driving=getattr(args, "video", None), options=options)
    if args.renderer == "comfyui":  # a remote server needs --allow-network or Blender's online access
        extra["renderer_options"]["allow_network"] |= bool(getattr(bpy.app, "online_access", False))
    path = render_motion(args.renderer, args.portrait_image, motion, out,
                         frames=frames, device=args.device or "auto", overwrite=args.overwrite,
                         progress=Progress(console_bar("render", sys.stdout)), **extra)
    print(f"wrote {path}")
    return 0


def main(argv: Sequence[str]) -> int:
    """The command's entry point (what ``blender -c talking_head ...`` calls)."""

    from .engine import notices
    from .engine.outputs import install_signal_cleanup

    argv = list(argv)
    debug = "--debug" in argv
    # A headless command (no UI): SIGTERM/SIGHUP unwind so temporaries are removed.
    install_signal_cleanup()
    notices.print_to_stderr(prefix=f"{COMMAND}: ")

    def run() -> int:
        try:
            args = build_parser().parse_args(argv)
        except SystemExit as exc:  # --help / --version: argparse printed and wants to exit
            return exc.code if isinstance(exc.code, int) else 0
        if not args.command:
            build_parser().print_help()
            return 0
        if args.command == "bake":
            return _bake(args)
        return _blend_mode(args) if args.blend else _file_mode(args)

    return exit_status(run, prefix=f"{COMMAND}: ", debug=debug)


def register() -> None:
    global _handle
    if hasattr(bpy.utils, "register_cli_command"):
        _handle = bpy.utils.register_cli_command(COMMAND, main)


def unregister() -> None:
    global _handle
    if _handle is not None:
        bpy.utils.unregister_cli_command(_handle)
        _handle = None
