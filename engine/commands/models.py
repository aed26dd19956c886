"""`python -m engine models list|download|verify|install PATH`: manage downloaded model files.

Downloads happen only with --allow-network; offline machines install from a folder or .zip.
"""

from __future__ import annotations

import argparse

from ..errors import EngineError
from ..progress import Progress, console_bar


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("models", help="list, download, verify or install neural renderer models")
    p.add_argument("--models-dir", default=None,
                   help="model folder (default: $TALKING_HEAD_MODELS or the user cache dir)")
    msub = p.add_subparsers(dest="models_command", metavar="ACTION", required=True)
    ls = msub.add_parser("list", help="known model sets, their files and install state")
    ls.add_argument("--license", action="store_true", help="print each set's license text")
    dl = msub.add_parser("download", help="download a model set (needs --allow-network)")
    dl.add_argument("set", nargs="?", default="liveportrait")
    dl.add_argument("--allow-network", action="store_true",
                    help="allow this command to download from the URLs in the registry")
    dl.add_argument("--base-url", default=None, help="download from this mirror folder instead")
    vf = msub.add_parser("verify", help="rehash installed files against the registry")
    vf.add_argument("set", nargs="?", default="liveportrait")
    ins = msub.add_parser("install", help="install model files from a local folder or .zip")
    ins.add_argument("path")
    ins.add_argument("--set", default=None, help="model set (default: guessed from the file names)")
    ins.add_argument("--trust-unverified", action="store_true",
                     help="accept files that have no published checksum (you vouch for the source)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..models import registry
    from ..models.store import ModelStore

    store = ModelStore(args.models_dir, base_url=getattr(args, "base_url", None))
    cmd = args.models_command
    if cmd == "list":
        print(f"models folder: {store.root}")
        for ms in registry.MODEL_SETS.values():
            status = store.status(ms.name)
            state = "installed" if store.is_installed(ms.name) else "not installed"
            print(f"\n{ms.name}: {ms.label} [{ms.license_name}] - {state}\n  {ms.description}")
            for f in ms.files:
                size = "?" if f.size is None else f"{f.size / 1e6:.1f} MB"
                sha = "no published sha256" if f.sha256 is None else f"sha256 {f.sha256[:12]}…"
                print(f"  {status[f.name]:<10} {f.name:<36} {size:>9}  {sha}")
            if args.license:
                print("\n" + ms.license_text)
        return 0
    if cmd == "download":
        bar = Progress(console_bar(f"download {args.set}"))
        store.download(args.set, allow_network=args.allow_network, progress=bar)
        return _report(store, args.set)
    if cmd == "verify":
        return _report(store, args.set, store.verify(args.set))
    if cmd == "install":
        names = store.install_from(args.path, args.set, trust_unverified=args.trust_unverified)
        print(f"installed {len(names)} file(s): {', '.join(names)}")
        set_name = args.set or _set_of(names)
        return _report(store, set_name)
    raise EngineError(f"unknown models action {cmd!r}")


def _set_of(names: list[str]) -> str:
    from ..models import registry

    for ms in registry.MODEL_SETS.values():
        if {f.name for f in ms.files} & set(names):
            return ms.name
    return "liveportrait"


def _report(store: object, set_name: str, status: dict[str, str] | None = None) -> int:
    status = status if status is not None else store.status(set_name)  # type: ignore[attr-defined]
    for name, state in status.items():
        print(f"  {state:<10} {name}")
    bad = [n for n, s in status.items() if s not in ("ok", "trusted")]
    if bad:
        print(f"{set_name}: {len(bad)} file(s) not usable; "
              f"{store.how_to_get(set_name)}")  # type: ignore[attr-defined]
        return 1
    print(f"{set_name}: all files verified")
    return 0
