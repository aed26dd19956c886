"""`python -m engine render PORTRAIT MOTION.json -o OUT`: animate a portrait with a motion file.

OUT is a folder (numbered PNGs named by motion frame index, so render-farm chunks fill one
folder) or a file ending in .mp4.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ..progress import Progress, console_bar


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
    p.add_argument("--overwrite", action="store_true", help="replace existing frames / video")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..motion import Motion
    from ..pipeline import parse_frame_range, render_motion

    motion = Motion.load(args.motion)
    frames = parse_frame_range(args.frames, motion.frame_count) if args.frames else None
    out = render_motion(args.renderer, args.portrait, motion, args.output, frames=frames,
                        device=args.device, overwrite=args.overwrite,
                        progress=Progress(console_bar("render")), **clip_options(args))
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


def clip_options(args: argparse.Namespace, driving: str | None = None) -> dict:
    """render_motion keywords for the chosen renderer (nothing for per-frame renderers)."""
    if args.renderer != "comfyui":
        return {}
    return {"renderer_options": {"workflow": args.workflow, "server": args.server,
                                 "allow_network": args.allow_network},
            "driving": args.driving or driving, "drive": args.drive, "seed": args.seed}


def preview(out: Path, dst: str, overwrite: bool) -> None:
    from ..errors import EngineError
    from ..preview import write_preview

    if Path(dst).exists() and not overwrite:
        raise EngineError(f"{dst} exists; pass --overwrite to replace it")
    write_preview(out, dst)
    print(f"wrote {dst}")
