"""`python -m engine capture DRIVING.mp4 -o motion.json`: driving video -> motion file."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..cli import unit_float
from ..outputs import check_outputs
from ..progress import Progress, console_bar
from ..video_io import check_image_suffix
from ._checks import refuse_inputs_as_outputs, require_file


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("capture", help="capture expression controls from a driving video")
    p.add_argument("video", help="driving video (mp4, mov, ...)")
    p.add_argument("-o", "--output", required=True, help="motion .json to write")
    p.add_argument("--frames", help="video frames A-B or A..B, both ends included (0-99 = 100 "
                                    "frames), or A- to the end")
    p.add_argument("--neutral-frame", type=int, default=None, help="calibration frame (default: auto)")
    p.add_argument("--smoothing", type=unit_float, default=0.5, help="0 = off ... 1 = strong (One Euro)")
    p.add_argument("--plot", help="also draw the control curves to this PNG (.png or .jpg)")
    p.add_argument("--sidecar", action="store_true", help="store dense arrays in a .npz sidecar")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..capture import capture
    from ..frames import capture_span

    out = Path(args.output)
    start, stop = capture_span(args.frames)  # a typo in --frames fails before anything else
    # Every input and output is checked before the (long) capture starts.
    require_file(args.video, "driving video")
    if args.plot:
        check_image_suffix(args.plot, "--plot")
    outputs = [(str(out), "motion file"), (str(out.with_suffix(".npz")) if args.sidecar else None, "sidecar"),
               (args.plot, "plot")]
    refuse_inputs_as_outputs([(args.video, "driving video")], outputs)
    check_outputs(outputs, args.overwrite)
    motion = capture(args.video, start=start, stop=stop, calibration_frame=args.neutral_frame,
                     smoothing=args.smoothing, progress=Progress(console_bar("capture")))
    motion.save(out, sidecar=args.sidecar, overwrite=args.overwrite)
    lost = int((~motion.tracked).sum())
    print(f"wrote {out}: {motion.frame_count} frames at {motion.fps:g} fps, "
          f"neutral frame {motion.calibration['frame']}, face lost in {lost} frames")
    if args.plot:
        from ..plot import plot_motion

        plot_motion(motion, args.plot)
        print(f"wrote {args.plot}")
    return 0
