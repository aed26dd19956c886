"""`python -m engine render PORTRAIT MOTION.json -o OUT`: animate a portrait with a motion file.

OUT is a folder (numbered PNGs named by motion frame index, so render-farm chunks fill one
folder) or a file ending in .mp4.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ..cli import face_index, positive_float
from ..errors import EngineError
from ..progress import Progress, console_bar
from ._checks import (
    check_portrait,
    check_preview,
    check_render_output,
    refuse_inputs_as_outputs,
    require_file,
)


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("render", help="render a portrait animated by a motion file")
    p.add_argument("portrait", help="portrait image (jpg, png, ...)")
    p.add_argument("motion", help="motion .json (from `capture` or `sample`)")
    p.add_argument("-o", "--output", required=True,
                   help="folder for frame_NNNNNN.png (motion frame index) or a file ending in .mp4")
    p.add_argument("--frames", help="motion frames, both ends included: A-B, A..B, N or a list "
                                    "1-10,20-30 (default: all)")
    p.add_argument("--renderer", default="builtin", help="renderer (default: builtin)")
    add_renderer_arguments(p)
    add_clip_args(p)
    p.add_argument("--preview", help="also write a contact sheet (.png) or animated .gif of the result")
    p.add_argument("--face", type=face_index, default=None,
                   help="which face of the portrait to animate when it shows several: 0 = leftmost "
                        "(default: the largest, most central one)")
    p.add_argument("--overwrite", action="store_true", help="replace existing frames / video")
    p.set_defaults(func=run)


def batch_size(text: str) -> int:
    """argparse type for --batch-size: 1 .. 256 frames per run."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number of frames: {text!r}") from None
    if not 1 <= value <= 256:
        raise argparse.ArgumentTypeError(f"must be between 1 and 256 frames, got {text!r}")
    return value


def crop_scale(text: str) -> float:
    """argparse type for --crop-scale: 1.5 .. 4 face sizes (the Blender property's range)."""
    value = positive_float(text)
    if not 1.5 <= value <= 4.0:
        raise argparse.ArgumentTypeError(f"must be between 1.5 and 4 face sizes, got {text!r}")
    return value


def add_renderer_arguments(p: argparse.ArgumentParser) -> None:
    from .capture import DEVICES

    p.add_argument("--device", default="auto", choices=DEVICES,
                   help="auto (first GPU provider found), cuda (onnxruntime-gpu), dml (DirectML), "
                        "coreml (macOS) or cpu; the built-in renderer uses torch CUDA or the CPU")
    b = p.add_argument_group("built-in renderer")
    b.add_argument("--rest-pose", choices=("neutral", "portrait"), default=None,
                   help="what the curves are relative to on a portrait that is not neutral (open "
                        "mouth, smile): neutral (default: values are face states, mouth_open 0 = "
                        "lips together on every portrait) or portrait (its own expression is the "
                        "rest pose, the curves offsets from it); docs/builtin_renderer.md")
    b.add_argument("--head-pose", choices=("auto", "absolute", "relative"), default=None,
                   help="where the head turns to: auto (default: the actor's absolute pose when "
                        "the portrait faces the camera about as the actor's neutral did, its own "
                        "pose plus the curves when it is turned further), absolute (always the "
                        "actor's) or relative (the curves added to the portrait's own pose)")
    b.add_argument("--mouth-source", metavar="MOTION.json|none", default=None,
                   help="whose real mouth interiors fill an opening: another capture's mouth exemplars "
                        "(e.g. a video capture for a voice motion) or none (the painted interior); "
                        "default: the motion's own when it has them")
    b.add_argument("--creases", choices=("cheeks", "all", "off"), default=None,
                   help="add the actor's expression creases kept by capture: cheeks (a smile's "
                        "folds), all (and the forehead lines of a brow raise) or off (default: "
                        "they did not measure better on the shared clips; docs/builtin_renderer.md)")
    g = p.add_argument_group("LivePortrait renderer")
    g.add_argument("--batch-size", type=batch_size, default=None,
                   help="frames per warping+generator run (default: 8 on a GPU, 1 on the CPU)")
    g.add_argument("--fp16", action="store_true", help="run the warping+generator network in float16")
    g.add_argument("--tensorrt", action="store_true",
                   help="TensorRT before CUDA when installed (the first run builds engines: minutes)")
    g.add_argument("--crop-scale", type=crop_scale, default=None,
                   help="portrait crop side in face sizes (default 2.3; larger leaves more room)")
    g.add_argument("--no-dense", action="store_true",
                   help="ignore the motion's dense LivePortrait track (controls only)")


def refuse_other_renderers_options(args: argparse.Namespace) -> None:
    """Options of a renderer other than the chosen one are refused, not ignored: a user who gives
    --workflow but forgets --renderer comfyui must not get the built-in renderer's frames
    silently. A --driving clip must exist. Called before any work."""
    from .comfyui import DEFAULT_SERVER

    given = {
        "builtin": [flag for flag, on in (
            ("--rest-pose", getattr(args, "rest_pose", None) is not None),
            ("--head-pose", getattr(args, "head_pose", None) is not None),
            ("--mouth-source", getattr(args, "mouth_source", None) is not None),
            ("--creases", getattr(args, "creases", None) is not None)) if on],
        "liveportrait": [flag for flag, on in (
            ("--batch-size", getattr(args, "batch_size", None) is not None),
            ("--fp16", getattr(args, "fp16", False)), ("--tensorrt", getattr(args, "tensorrt", False)),
            ("--crop-scale", getattr(args, "crop_scale", None) is not None),
            ("--no-dense", getattr(args, "no_dense", False))) if on],
        "comfyui": [flag for flag, on in (
            ("--workflow", getattr(args, "workflow", None) is not None),
            ("--server", getattr(args, "server", DEFAULT_SERVER) != DEFAULT_SERVER),
            ("--allow-network", getattr(args, "allow_network", False)),
            ("--ca-file", getattr(args, "ca_file", None) is not None),
            ("--drive", getattr(args, "drive", None) is not None),
            ("--driving", getattr(args, "driving", None) is not None),
            ("--comfy-seed", bool(getattr(args, "comfy_seed", 0)))) if on],
    }
    for renderer, flags in given.items():
        if flags and args.renderer != renderer:
            raise EngineError(f"{', '.join(flags)} {'is an option' if len(flags) == 1 else 'are options'} "
                              f"of the {renderer} renderer: add --renderer {renderer}, or leave "
                              f"{'it' if len(flags) == 1 else 'them'} out")
    if getattr(args, "driving", None):
        require_file(args.driving, "driving clip (--driving)")
    source = getattr(args, "mouth_source", None)
    if source is not None and source.lower() != "none":
        require_file(source, "mouth source motion (--mouth-source)")


def renderer_options(args: argparse.Namespace) -> dict:
    """--batch-size & co. as LivePortrait renderer options, --rest-pose / --head-pose as the
    built-in's (each
    only for its renderer)."""
    if args.renderer == "builtin":
        opts = {"rest": args.rest_pose} if getattr(args, "rest_pose", None) else {}
        if getattr(args, "head_pose", None):
            opts["head_pose"] = args.head_pose
        source = getattr(args, "mouth_source", None)
        if source is not None:
            opts["mouth_source"] = source
        if getattr(args, "creases", None) is not None:
            opts["creases"] = args.creases
        return opts
    if args.renderer != "liveportrait":
        return {}
    opts: dict = {"fp16": args.fp16, "tensorrt": args.tensorrt, "use_dense": not args.no_dense}
    if args.batch_size:
        opts["batch_size"] = args.batch_size
    if args.crop_scale:
        opts["crop_scale"] = args.crop_scale
    if getattr(args, "models_dir", None):
        opts["models_dir"] = args.models_dir
    return opts


def run(args: argparse.Namespace) -> int:
    from ..frames import parse_given
    from ..media.video import load_image
    from ..motion import Motion
    from ..pipeline import render_motion

    spans = parse_given(args.frames)  # a typo (or an empty --frames "") fails before anything else
    refuse_other_renderers_options(args)
    # Every input and output is checked before any rendering.

    check_portrait(args.portrait)
    portrait = load_image(args.portrait)  # decoded before any output folder is made
    require_file(args.motion, "motion file")
    motion = Motion.load(args.motion)
    frames = spans.resolve(0, motion.frame_count - 1, "the motion") if spans else None
    check_preview(args.preview)
    refuse_inputs_as_outputs([(args.portrait, "portrait"), (args.motion, "motion file")],
                             [(args.output, "output"), (args.preview, "preview")])
    check_render_output(args.output, args.overwrite, [(args.preview, "preview")],
                        frames if frames is not None else range(motion.frame_count))
    out = render_motion(args.renderer, portrait, motion, args.output, frames=frames,
                        device=args.device, overwrite=args.overwrite,
                        progress=Progress(console_bar("render")),
                        log=print,
                        **clip_options(args, options={**face_option(args.face), **renderer_options(args)}))
    n = len(frames) if frames is not None else motion.frame_count
    print(f"wrote {out}: {n} frames")
    if args.preview:
        preview(out, args.preview, args.overwrite)
    return 0


def add_clip_args(p: argparse.ArgumentParser) -> None:
    """Options of clip renderers (ComfyUI workflows); see docs/comfyui.md."""
    from .comfyui import add_server_args

    g = p.add_argument_group("ComfyUI (--renderer comfyui)")
    g.add_argument("--workflow", help="template name (python -m engine comfyui templates) or an "
                                      "API-format workflow .json")
    add_server_args(g)
    g.add_argument("--drive", choices=("guide", "driving", "audio"),
                   help="what drives the workflow: a guide video rendered from the motion by the "
                        "built-in renderer, the driving clip as it is, or its audio "
                        "(default: the workflow's own)")
    g.add_argument("--driving", help="driving clip (default: the motion's captured source, if present)")
    g.add_argument("--comfy-seed", type=int, default=0,
                   help="the workflow's generation seed (0: fixed per range length)")


def clip_options(args: argparse.Namespace, driving: str | None = None, options: dict | None = None) -> dict:
    """render_motion keywords: ``renderer_options`` (``options`` plus, for ComfyUI, workflow,
    server and network permission) and the clip renderers' drive, seed and driving clip."""
    options = dict(options or {})
    if args.renderer != "comfyui":
        return {"renderer_options": options}
    options.update(workflow=args.workflow, server=args.server, allow_network=args.allow_network,
                   ca_file=args.ca_file)
    return {"renderer_options": options, "driving": args.driving or driving, "drive": args.drive,
            "seed": args.comfy_seed}


def face_option(face: int | None) -> dict:
    return {} if face is None else {"face": face}


def preview(out: Path, dst: str, overwrite: bool) -> None:
    from ..outputs import check_output
    from ..preview import write_preview

    check_output(dst, overwrite, what="preview")  # checked up front too; this catches a race
    write_preview(out, dst)
    print(f"wrote {dst}")
