"""`python -m engine comfyui templates|check`: the ComfyUI backend's workflows and servers.

    python -m engine comfyui templates
    python -m engine comfyui check http://127.0.0.1:8188 [--workflow NAME|PATH ...] [--allow-network]

``check`` asks the server's /object_info whether each workflow (default: every shipped template)
can run there: missing node classes are named with the pack to install, missing model files with
their models/ folder. Exit 0 when all checked workflows are ready, 1 when some are not.
The server token comes from $TALKING_HEAD_COMFYUI_TOKEN (never from the command line, where
it would land in shell history and process lists).
"""

from __future__ import annotations

import argparse
import os

DEFAULT_SERVER = "http://127.0.0.1:8188"


def add_server_args(p: argparse.ArgumentParser, positional: bool = False) -> None:
    if positional:
        p.add_argument("server", help="ComfyUI server URL, e.g. http://127.0.0.1:8188")
    else:
        p.add_argument("--server", default=DEFAULT_SERVER,
                       help="ComfyUI server URL (comfyui renderer; default http://127.0.0.1:8188)")
    p.add_argument("--allow-network", action="store_true",
                   help="allow a ComfyUI server that is not on this machine (loopback needs nothing); "
                        "token: $TALKING_HEAD_COMFYUI_TOKEN")
    p.add_argument("--ca-file", metavar="PEM",
                   help="trust this CA certificate for an https server (e.g. a self-signed reverse "
                        "proxy); certificates are always verified")


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("comfyui", help="ComfyUI render backend: list templates, check a server")
    s = p.add_subparsers(dest="comfyui_command", metavar="templates|check")
    t = s.add_parser("templates", help="list the shipped workflow templates")
    t.set_defaults(func=run_templates)
    c = s.add_parser("check", help="can this server run these workflows? (node packs, model files)")
    add_server_args(c, positional=True)
    c.add_argument("--workflow", action="append", default=[],
                   help="template name or API-format workflow .json (repeatable; default: all templates)")
    c.set_defaults(func=run_check)
    p.set_defaults(func=lambda args: (p.print_help(), 0)[1])


def run_templates(args: argparse.Namespace) -> int:
    from ..render.comfyui.workflow import load_workflow, shipped_templates

    for name in shipped_templates():
        wf = load_workflow(name)
        needs = ", ".join(wf.packs) or "core nodes only"
        print(f"{name:24s} {wf.label}  [drive: {wf.drive}; {needs}]")
    return 0


def run_check(args: argparse.Namespace) -> int:
    from ..render.comfyui.check import check_workflow
    from ..render.comfyui.client import ComfyClient
    from ..render.comfyui.renderer import TOKEN_ENV
    from ..render.comfyui.workflow import load_workflow, shipped_templates
    from ..safe_text import printable

    # The workflow files are read before the server is asked: a typo fails at once, offline too.
    workflows = [load_workflow(name) for name in args.workflow or shipped_templates()]
    client = ComfyClient(args.server, os.environ.get(TOKEN_ENV), allow_network=args.allow_network,
                         ca_file=args.ca_file)
    stats = client.system_stats()
    system = stats.get("system") if isinstance(stats.get("system"), dict) else {}
    version = printable(system.get("comfyui_version", "?"), 40)  # server text: escaped
    info = client.object_info()
    print(f"{client.url}: ComfyUI {version}, {len(info)} node types")
    ready = True
    for workflow in workflows:
        report = check_workflow(workflow, info)
        ready &= report.ready
        print(report.summary())
    return 0 if ready else 1
