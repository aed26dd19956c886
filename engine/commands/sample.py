"""`python -m engine sample -o motion.json`: write the built-in sample performance."""

from __future__ import annotations

import argparse

from ..cli import positive_float
from ..sample import sample_performance


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("sample", help="write the built-in sample performance as a motion file")
    p.add_argument("-o", "--output", required=True, help="motion .json to write")
    p.add_argument("--seconds", type=positive_float, default=4.0)
    p.add_argument("--fps", type=positive_float, default=25.0)
    p.add_argument("--overwrite", action="store_true", help="replace an existing output")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..outputs import check_outputs

    check_outputs([(args.output, "motion file")], args.overwrite)
    if args.seconds * args.fps > 10_000_000:
        from ..errors import EngineError

        raise EngineError("--seconds x --fps is above 10 million frames; give a shorter performance")
    motion = sample_performance(args.seconds, args.fps)
    motion.save(args.output, overwrite=args.overwrite)
    print(f"wrote {args.output}: {motion.frame_count} frames at {motion.fps:g} fps")
    return 0
