"""`python -m engine pose-video motion.json -o pose.mp4`: the body of a capture as an OpenPose /
DWPose-style pose video (engine/pose_video.py; the format is in docs/body.md)."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..cli import positive_float
from ..errors import EngineError
from ..outputs import check_outputs
from ..progress import Progress, console_bar
from ._checks import refuse_inputs_as_outputs, require_file


def video_size(text: str) -> tuple[int, int]:
    """argparse type for --size: WxH in pixels."""
    from ..limits import MAX_IMAGE_PIXELS, MAX_IMAGE_SIDE

    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a size: {text!r} (give WxH, e.g. 832x480)") from None
    if not (16 <= w <= MAX_IMAGE_SIDE and 16 <= h <= MAX_IMAGE_SIDE and w * h <= MAX_IMAGE_PIXELS):
        raise argparse.ArgumentTypeError(f"size {text} is outside 16 to {MAX_IMAGE_SIDE} pixels a side")
    return w, h


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("pose-video", help="draw a capture's body as an OpenPose/DWPose-style pose video")
    p.add_argument("motion", help="motion .json captured with --body")
    p.add_argument("-o", "--output", required=True, help="pose video to write (.mp4)")
    p.add_argument("--size", type=video_size, default=None,
                   help="video size WxH (default: the captured clip's size); the pose is stretched "
                        "to it like the clip would be")
    p.add_argument("--fps", type=positive_float, default=None,
                   help="frame rate of the video (default: the motion's); other rates take the "
                        "nearest captured frame, e.g. 16 for Wan models")
    p.add_argument("--hands", action="store_true",
                   help="also draw the hands (DWPose style; BlazePose gives wrist and three knuckles)")
    p.add_argument("--face", action="store_true",
                   help="also draw the face points (DWPose style; the eye and mouth corners, nose tip)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..media.video import Mp4Writer
    from ..motion import Motion
    from ..pose_video import pose_frame

    out = Path(args.output)
    require_file(args.motion, "motion file")
    if out.suffix.lower() != ".mp4":
        raise EngineError(f"output {out.name}: the pose video is written as .mp4")
    refuse_inputs_as_outputs([(args.motion, "motion file")], [(str(out), "pose video")])
    check_outputs([(str(out), "pose video")], args.overwrite)
    motion = Motion.load(args.motion)
    body = motion.body
    if body is None:
        raise EngineError(f"{Path(args.motion).name} has no body: capture it with "
                          "`python -m engine capture CLIP --body -o MOTION.json`")
    size = args.size
    if size is None:
        w, h = motion.source.get("width"), motion.source.get("height")
        size = (int(w), int(h)) if isinstance(w, int) and isinstance(h, int) and w > 0 and h > 0 \
            else (512, 512)
    fps = args.fps or motion.fps
    frames = resample_frames(body.frame_count, motion.fps, fps)
    progress = Progress(console_bar("pose video"))
    with Mp4Writer(out, fps, size, overwrite=args.overwrite) as writer:
        for done, i in enumerate(frames, 1):
            writer.write(pose_frame(body.joints[i], body.confidence[i], size, hands=args.hands,
                                    face=args.face))
            progress.update(done, len(frames), f"frame {i}")
    print(f"wrote {out}: {len(frames)} frames at {fps:g} fps, {size[0]}x{size[1]}")
    return 0


def resample_frames(count: int, fps_in: float, fps_out: float) -> list[int]:
    """Motion frame shown at each output frame: the nearest in time, over the same duration."""
    n_out = max(1, int(round(count * fps_out / fps_in)))
    return [min(count - 1, int(round(k * fps_in / fps_out))) for k in range(n_out)]
