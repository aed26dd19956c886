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
    p.add_argument("--frames", help="motion frames, both ends included: A-B, A..B, N or a list "
                                    "1-10,20-30 (default: all)")
    p.add_argument("--renderer", default="builtin", help="renderer (default: builtin)")
    p.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    p.add_argument("--preview", help="also write a contact sheet (.png) or animated .gif of the result")
    p.add_argument("--face", type=face_index, default=None,
                   help="which face of the portrait to animate when it shows several: 0 = leftmost "
                        "(default: the largest, most central one)")
    p.add_argument("--overwrite", action="store_true", help="replace existing frames / video")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..frames import parse_optional
    from ..motion import Motion
    from ..pipeline import render_motion
    from ..video_io import load_image

    spans = parse_optional(args.frames)  # a typo in --frames fails before anything else
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
                        renderer_options=face_option(args.face))
    n = len(frames) if frames is not None else motion.frame_count
    print(f"wrote {out}: {n} frames")
    if args.preview:
        preview(out, args.preview, args.overwrite)
    return 0


def face_option(face: int | None) -> dict:
    return {} if face is None else {"face": face}


def preview(out: Path, dst: str, overwrite: bool) -> None:
    from ..outputs import check_output
    from ..preview import write_preview

    check_output(dst, overwrite, what="preview")  # checked up front too; this catches a race
    write_preview(out, dst)
    print(f"wrote {dst}")
