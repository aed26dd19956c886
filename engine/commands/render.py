"""`python -m engine render PORTRAIT MOTION.json -o OUT`: animate a portrait with a motion file.

OUT is a folder (numbered PNGs named by motion frame index, so render-farm chunks fill one
folder) or a file ending in .mp4.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ..cli import face_index
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
    p.add_argument("--frames", help="motion frame range A-B (B exclusive), e.g. 0-100")
    p.add_argument("--renderer", default="builtin", help="renderer (default: builtin)")
    p.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    add_clip_args(p)
    p.add_argument("--preview", help="also write a contact sheet (.png) or animated .gif of the result")
    p.add_argument("--face", type=face_index, default=None,
                   help="which face of the portrait to animate when it shows several: 0 = leftmost "
                        "(default: the largest, most central one)")
    p.add_argument("--overwrite", action="store_true", help="replace existing frames / video")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..motion import Motion
    from ..pipeline import parse_frame_range, render_motion

    # Every input and output is checked before any rendering.
    from ..video_io import load_image

    check_portrait(args.portrait)
    portrait = load_image(args.portrait)  # decoded before any output folder is made
    require_file(args.motion, "motion file")
    motion = Motion.load(args.motion)
    frames = parse_frame_range(args.frames, motion.frame_count) if args.frames else None
    check_preview(args.preview)
    refuse_inputs_as_outputs([(args.portrait, "portrait"), (args.motion, "motion file")],
                             [(args.output, "output"), (args.preview, "preview")])
    check_render_output(args.output, args.overwrite, [(args.preview, "preview")],
                        frames if frames is not None else range(motion.frame_count))
    out = render_motion(args.renderer, portrait, motion, args.output, frames=frames,
                        device=args.device, overwrite=args.overwrite,
                        progress=Progress(console_bar("render")),
                        **clip_options(args, options=face_option(args.face)))
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
    g.add_argument("--seed", type=int, default=0, help="generation seed (0: fixed per range length)")


def clip_options(args: argparse.Namespace, driving: str | None = None, options: dict | None = None) -> dict:
    """render_motion keywords: ``renderer_options`` (``options`` plus, for ComfyUI, workflow,
    server and network permission) and the clip renderers' drive, seed and driving clip."""
    options = dict(options or {})
    if args.renderer != "comfyui":
        return {"renderer_options": options}
    options.update(workflow=args.workflow, server=args.server, allow_network=args.allow_network)
    return {"renderer_options": options, "driving": args.driving or driving, "drive": args.drive,
            "seed": args.seed}


def face_option(face: int | None) -> dict:
    return {} if face is None else {"face": face}


def preview(out: Path, dst: str, overwrite: bool) -> None:
    from ..outputs import check_output
    from ..preview import write_preview

    check_output(dst, overwrite, what="preview")  # checked up front too; this catches a race
    write_preview(out, dst)
    print(f"wrote {dst}")
