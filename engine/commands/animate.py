"""`python -m engine animate PORTRAIT DRIVING -o OUT.mp4`: capture, then render, in one go.

DRIVING is a video (its face) or a voice (audio file, or ``--audio`` for a video's sound); a
voice-driven .mp4 gets that voice as its sound track."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..cli import face_index, unit_float
from ..progress import Progress, console_bar
from ._checks import (
    check_portrait,
    check_preview,
    check_render_output,
    refuse_inputs_as_outputs,
    require_file,
)
from .capture import (
    add_dense_arguments,
    add_voice_args,
    capture_voice,
    is_audio_source,
    make_dense,
    refuse_voice_profile,
    video_smoothing,
)
from .render import add_clip_args, add_renderer_arguments, clip_options, renderer_options


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("animate", help="animate a portrait from a driving video (capture + render)")
    p.add_argument("portrait", help="portrait image (jpg, png, ...)")
    p.add_argument("video", help="driving video (mp4, mov, ...) or voice (wav, mp3, m4a, ...)")
    p.add_argument("-o", "--output", required=True, help="file ending in .mp4, or a folder for PNG frames")
    p.add_argument("--frames", help="driving-video frames A-B or A..B, both ends included")
    p.add_argument("--renderer", default="builtin", help="renderer (default: builtin)")
    add_renderer_arguments(p)
    add_dense_arguments(p)
    p.add_argument("--smoothing", type=unit_float, default=None,
                   help="0 = off ... 1 = strong (One Euro; default 0.5; video capture only)")
    p.add_argument("--save-motion", help="also keep the captured motion as this .json")
    add_clip_args(p)
    p.add_argument("--preview", help="also write a contact sheet (.png) or animated .gif")
    p.add_argument("--face", type=face_index, default=None,
                   help="which face of the portrait to animate: 0 = leftmost (default: the largest)")
    p.add_argument("--overwrite", action="store_true", help="replace existing outputs")
    add_voice_args(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..capture import capture
    from ..frames import capture_span
    from ..media.video import load_image
    from ..pipeline import render_motion
    from .render import face_option, preview, refuse_other_renderers_options

    out = Path(args.output)
    start, stop = capture_span(args.frames)  # a typo in --frames fails before anything else
    refuse_other_renderers_options(args)
    # Every input and output is checked before the capture starts (not after it).
    check_portrait(args.portrait)
    require_file(args.video, "driving video")
    check_preview(args.preview)
    refuse_inputs_as_outputs([(args.portrait, "portrait"), (args.video, "driving video")],
                             [(args.output, "output"), (args.preview, "preview"),
                              (args.save_motion, "motion file")])
    check_render_output(args.output, args.overwrite,
                        [(args.save_motion, "motion file"), (args.preview, "preview")])
    portrait = load_image(args.portrait)
    voice = is_audio_source(args.video, args.audio)
    if voice:
        motion = capture_voice(args, start, stop)
    else:
        refuse_voice_profile(args)
        # the dense track only matters to LivePortrait: the built-in renderer would ignore it
        dense = make_dense(args) if args.renderer == "liveportrait" else None
        motion = capture(args.video, start=start, stop=stop, smoothing=video_smoothing(args),
                         progress=Progress(console_bar("capture")), dense=dense,
                         mouths=args.renderer == "builtin",  # the actor's real mouth interiors
                         creases=getattr(args, "creases", None) in ("cheeks", "all"))
    if args.save_motion:
        motion.save(args.save_motion, overwrite=args.overwrite)
        print(f"wrote {args.save_motion}")
    render_motion(args.renderer, portrait, motion, out, device=args.device,
                  overwrite=args.overwrite, progress=Progress(console_bar("render")),
                  log=print, **clip_options(args, driving=args.video,
                                           options={**face_option(args.face), **renderer_options(args)}))
    if voice and out.suffix.lower() == ".mp4":
        from ..media.audio import mux_audio

        mux_audio(out, args.video, start / motion.fps)
    print(f"wrote {out}: {motion.frame_count} frames at {motion.fps:g} fps"
          + (" with the voice as its sound" if voice and out.suffix.lower() == ".mp4" else ""))
    if args.preview:
        preview(out, args.preview, args.overwrite)
    return 0
