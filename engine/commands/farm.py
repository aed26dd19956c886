"""`python -m engine farm bundle SHOT.blend -o BUNDLE/ --frames 1-100`: an Open Job Description
job bundle (farm/openjd/template.yaml + parameter values) for AWS Deadline Cloud or `openjd run`.

The engine never opens the .blend: the frame range and portrait come from the arguments (the
Blender operator "Export Farm Job" fills them from the scene). docs/farm.md explains the job.
"""

from __future__ import annotations

import argparse

from ..frames import HELP


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("farm", help="render-farm job bundles (Open Job Description / Deadline Cloud)")
    fsub = p.add_subparsers(dest="farm_command", metavar="bundle", required=True)
    b = fsub.add_parser("bundle", help="write an Open Job Description job bundle for a .blend")
    b.add_argument("blend", help="the .blend with the portrait (on storage the workers share)")
    b.add_argument("-o", "--output", required=True, help="bundle folder to write")
    b.add_argument("--frames", required=True, help=f"scene frames to render: {HELP.split(':')[0]}, "
                                                   "one range A-B, e.g. 1-250 (both ends included)")
    b.add_argument("--portrait", default="", help="portrait name (may be left out when the file has one)")
    b.add_argument("--chunk-size", type=int, default=10,
                   help="frames per render task (default 10): each task starts Blender and loads "
                        "the renderer once, so bigger chunks amortise that start-up")
    b.add_argument("--job-output",
                   help="the job's output folder on shared storage (frames/, the .mp4, the keyed .blend); "
                        "default: <the .blend's folder>/<its name>_farm")
    b.add_argument("--blender", default="blender",
                   help="Blender executable on the workers (default: blender)")
    b.add_argument("--no-check-blender", action="store_true",
                   help="do not check that --blender exists on this machine")
    b.add_argument("--device", default="cpu", choices=("cpu", "cuda", "auto"),
                   help="render device, the same on every worker (default cpu)")
    b.add_argument("--job-id", help="job id (default: a new random one)")
    b.add_argument("--input", action="append", default=[],
                   help="another file the job reads (portrait image, driving movie); repeatable")
    b.add_argument("--overwrite", action="store_true", help="replace an existing bundle's files")
    b.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..farm import bundle_parameters, check_blender, write_bundle

    if not args.no_check_blender:
        check_blender(args.blender)
    from pathlib import Path

    blend = Path(args.blend)
    job_output = args.job_output or str(blend.with_name(blend.stem + "_farm"))
    params = bundle_parameters(args.blend, frames=args.frames, output=job_output,
                               portrait=args.portrait, chunk_size=args.chunk_size,
                               blender=args.blender, device=args.device, job_id=args.job_id)
    paths = write_bundle(args.output, params, inputs=args.input, overwrite=args.overwrite)
    print(f"wrote job bundle {args.output}: {', '.join(p.name for p in paths)} "
          f"(job {params['JobId']}, frames {params['Frames']} in chunks of {params['ChunkSize']})")
    return 0
