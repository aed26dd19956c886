"""`python -m engine sample -o motion.json`: write the built-in sample performance."""

from __future__ import annotations

import argparse

from ..sample import sample_performance


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("sample", help="write the built-in sample performance as a motion file")
    p.add_argument("-o", "--output", required=True, help="motion .json to write")
    p.add_argument("--seconds", type=float, default=4.0)
    p.add_argument("--fps", type=float, default=25.0)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    motion = sample_performance(args.seconds, args.fps)
    motion.save(args.output)
    print(f"wrote {args.output}: {motion.frame_count} frames at {motion.fps:g} fps")
    return 0
