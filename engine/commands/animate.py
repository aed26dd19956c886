"""`python -m engine animate PORTRAIT DRIVING.mp4 -o OUT.mp4`: capture, then render, in one go."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..errors import EngineError
from ..progress import Progress, console_bar


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("animate", help="animate a portrait from a driving video (capture + render)")
    p.add_argument("portrait", help="portrait image (jpg, png, ...)")
    p.add_argument("video", help="driving video (mp4, mov, ...)")
    p.add_argument("-o", "--output", required=True, help="file ending in .mp4, or a folder for PNG frames")
    p.add_argument("--frames", help="driving-video frames A-B or A..B, both ends included")
    p.add_argument("--renderer", default="builtin", help="renderer (default: builtin)")
    p.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    p.add_argument("--smoothing", type=float, default=0.5, help="0 = off ... 1 = strong (One Euro)")
    p.add_argument("--save-motion", help="also keep the captured motion as this .json")
    p.add_argument("--preview", help="also write a contact sheet (.png) or animated .gif")
    p.add_argument("--overwrite", action="store_true", help="replace existing outputs")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..capture import capture
    from ..frames import capture_span
    from ..pipeline import render_motion
    from .render import preview

    out = Path(args.output)
    if out.suffix.lower() == ".mp4" and out.exists() and not args.overwrite:
        raise EngineError(f"{out} exists; pass --overwrite to replace it")
    if args.save_motion and Path(args.save_motion).exists() and not args.overwrite:
        raise EngineError(f"{args.save_motion} exists; pass --overwrite to replace it")
    start, stop = capture_span(args.frames)
    motion = capture(args.video, start=start, stop=stop, smoothing=args.smoothing,
                     progress=Progress(console_bar("capture")))
    if args.save_motion:
        motion.save(args.save_motion)
        print(f"wrote {args.save_motion}")
    render_motion(args.renderer, args.portrait, motion, out, device=args.device,
                  overwrite=args.overwrite, progress=Progress(console_bar("render")))
    print(f"wrote {out}: {motion.frame_count} frames at {motion.fps:g} fps")
    if args.preview:
        preview(out, args.preview, args.overwrite)
    return 0
