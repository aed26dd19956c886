"""`python -m engine gpu install|status`: the optional GPU runtime (engine/gpu_runtime.py).

install: onnxruntime-gpu (CUDA 12, with its nvidia-* wheels) on Linux/Windows x64 with an NVIDIA
driver, onnxruntime-directml on Windows without one; `--with-torch` adds PyTorch. Nothing is
downloaded without --allow-network (a local wheel folder works with --find-links --no-index).
status: what is installed and which onnxruntime providers this process gets.
"""

from __future__ import annotations

import argparse

from ..errors import EngineError
from ..progress import Progress, console_bar


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("gpu", help="install or inspect the optional GPU runtime (onnxruntime-gpu, ...)")
    gsub = p.add_subparsers(dest="gpu_command", metavar="ACTION")
    i = gsub.add_parser("install", help="install the GPU onnxruntime for this machine")
    i.add_argument("--flavor", choices=("auto", "cuda", "directml"), default="auto",
                   help="auto: CUDA with an NVIDIA driver, DirectML on other Windows GPUs")
    i.add_argument("--with-torch", action="store_true", help="also install PyTorch (large)")
    i.add_argument("--package", action="append", default=[], metavar="SPEC",
                   help="extra pip requirement for the onnxruntime folder (e.g. TensorRT libraries)")
    i.add_argument("--allow-network", action="store_true", help="allow pip to download (large)")
    i.add_argument("--find-links",
                   help="local folder of wheels (a URL off this machine needs --allow-network)")
    i.add_argument("--no-index", action="store_true", help="only --find-links, no package index")
    i.add_argument("--index-url", help="another package index")
    i.add_argument("--overwrite", action="store_true",
                   help="replace an onnxruntime/ or torch/ folder in --target not made by `gpu install`")
    _target(i)
    i.set_defaults(func=run_install)
    s = gsub.add_parser("status", help="what is installed and which providers onnxruntime offers")
    _target(s)
    s.set_defaults(func=run_status)
    p.set_defaults(func=lambda args: p.print_help() or 0)


def _target(p: argparse.ArgumentParser) -> None:
    p.add_argument("--target", help="runtime folder (default: $TALKING_HEAD_GPU_RUNTIME or beside the "
                                    "model cache)")


def _root(args: argparse.Namespace):  # noqa: ANN202
    from pathlib import Path

    from ..gpu_runtime import default_runtime_root

    return Path(args.target) if args.target else default_runtime_root()


def run_install(args: argparse.Namespace) -> int:
    from ..gpu_runtime import install_runtime

    if not (args.allow_network or args.no_index):
        raise EngineError("installing the GPU runtime downloads about 1-3 GB: pass --allow-network, "
                          "or --find-links FOLDER --no-index for local wheels")
    root = _root(args)
    names = install_runtime(root, args.flavor, with_torch=args.with_torch, extra=args.package,
                            index_url=args.index_url, find_links=args.find_links, no_index=args.no_index,
                            progress=Progress(console_bar("gpu")), overwrite=args.overwrite,
                            allow_network=args.allow_network)
    print(f"installed into {root}: {', '.join(names)}")
    print("restart running Blender / engine processes to use it; check with `python -m engine gpu status`")
    return 0


def run_status(args: argparse.Namespace) -> int:
    from ..gpu_runtime import activate_runtime

    st = activate_runtime(_root(args), load=True)
    print(f"runtime folder: {st.root}")
    print(f"GPU onnxruntime installed: {'yes' if st.onnxruntime_dir else 'no'}"
          + (" (in use)" if st.active else " (restart to use it)" if st.restart_needed
             else f" for Python {st.other_python}, not this one: run `gpu install` again" if st.other_python
             else ""))
    print(f"onnxruntime {st.version or '?'} providers: {', '.join(st.providers) or 'none'}")
    return 0
