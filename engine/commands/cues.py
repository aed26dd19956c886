"""`python -m engine cues motion.json -o cues.tsv|cues.json`: the mouth of a motion as Rhubarb
Lip Sync mouth cues (shapes A-H, X) for 2D characters (engine/mouth_cues.py)."""

from __future__ import annotations

import argparse

from ..cli import positive_float
from ..outputs import check_outputs
from ._checks import refuse_inputs_as_outputs, require_file


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("cues", help="export a motion's mouth as Rhubarb Lip Sync mouth cues "
                                    "(A-H, X; TSV or JSON) for 2D mouth charts")
    p.add_argument("motion", help="motion .json (from a voice or a video capture)")
    p.add_argument("-o", "--output", required=True,
                   help="cue file to write: .tsv (Rhubarb's 'time<TAB>shape') or .json (Rhubarb's "
                        "metadata + mouthCues)")
    p.add_argument("--shapes", default="ABCDEFGHX",
                   help="the mouth chart's shapes: A-F always, plus any of G, H, X (default "
                        "ABCDEFGHX); a missing extended shape falls back as in Rhubarb (G->B, "
                        "H->C, X->A)")
    p.add_argument("--fps", type=positive_float, default=None,
                   help="resample the motion to this frame rate first (default: the motion's own)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from collections import Counter
    from pathlib import Path

    from .. import mouth_cues
    from ..errors import EngineError
    from ..motion import Motion

    shapes = mouth_cues.target_shapes(args.shapes)
    if Path(args.output).suffix.lower() not in (".tsv", ".txt", ".json"):
        raise EngineError(f"cue file {args.output}: give a name ending in .tsv or .json")
    require_file(args.motion, "motion")
    refuse_inputs_as_outputs([(args.motion, "motion")], [(args.output, "cue file")])
    check_outputs([(args.output, "cue file")], args.overwrite)
    motion = Motion.load(args.motion)
    if args.fps is not None and abs(args.fps - motion.fps) > 1e-9:
        motion = mouth_cues.resample(motion, args.fps)
    cue_list = mouth_cues.cues(motion, shapes)
    mouth_cues.write(args.output, cue_list, motion.duration, shapes=shapes,
                     sound_file=str(motion.source.get("path", "")), overwrite=args.overwrite)
    seconds = Counter()
    for c in cue_list:
        seconds[c.value] += c.end - c.start
    share = ", ".join(f"{s} {100 * seconds[s] / max(motion.duration, 1e-9):.0f}%"
                      for s in shapes if seconds[s])
    print(f"wrote {args.output}: {len(cue_list)} mouth cues over {motion.duration:.2f} s ({share})")
    return 0

