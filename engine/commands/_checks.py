"""Up-front checks shared by the commands: every input and every output of a command is checked
before any work starts, so a bad name fails in a second and nothing is half-written."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from ..errors import EngineError
from ..outputs import check_output, check_outputs


def require_file(path: str | None, what: str) -> Path:
    """An input that must be an existing, readable file."""
    if not path:
        raise EngineError(f"missing {what}")
    p = Path(path)
    if p.is_dir():
        raise EngineError(f"{what} {p} is a folder; give a file")
    if not p.is_file():
        raise EngineError(f"{what} not found: {p}")
    try:
        with open(p, "rb") as fh:
            fh.read(1)
    except OSError as exc:
        raise EngineError(f"cannot read {what} {p}: {exc.strerror or exc}") from None
    return p


def check_portrait(path: str | None) -> None:
    """The portrait exists, is an image and is within the size limit (header only)."""
    from ..media.images import check_image

    check_image(require_file(path, "portrait"))


def check_preview(path: str | None) -> None:
    if path:
        from ..media.video import check_image_suffix

        check_image_suffix(path, "--preview", extra=(".gif",))


def check_render_output(output: str, overwrite: bool, others: list[tuple[str | None, str]],
                        frames: Sequence[int] | None = None) -> None:
    """A render target (an .mp4 file or a folder of frame_NNNNNN.png) plus the command's other
    outputs. Without ``overwrite`` a folder may not already hold any of the ``frames`` to render
    (render-farm chunks share a folder), or, when they are not known yet, any frame at all."""
    out = Path(output)
    if out.suffix.lower() == ".mp4":
        check_outputs([(out, "video"), *others], overwrite)
        return
    if out.suffix.lower() in (".png", ".jpg", ".jpeg", ".gif", ".mov", ".avi", ".mkv", ".webm"):
        raise EngineError(f"output {out.name}: give a folder for PNG frames or a name ending in .mp4")
    if out.exists() and not out.is_dir():
        raise EngineError(f"{out} is a file; give a folder for PNG frames or a name ending in .mp4")
    if out.is_dir():  # a job writing there now is named before its frames are ("already rendered")
        from ..output_claim import refuse_if_claimed

        refuse_if_claimed(out)
    if out.is_dir() and not overwrite:
        from ..pipeline import frame_path

        if frames is not None:
            existing = [frame_path(out, i) for i in frames if frame_path(out, i).exists()]
        else:
            existing = sorted(out.glob("frame_*.png"))
        if existing:
            raise EngineError(f"{existing[0]} exists ({len(existing)} frame(s) already rendered in {out}); "
                              "use --overwrite to replace them or choose another folder")
    check_outputs(others, overwrite)
    probe = out / "frame_000000.png"
    check_output(probe, True, what="output folder")
    for o, _ in others:
        if o is not None and Path(o).resolve().parent == out.resolve() and Path(o).name.startswith("frame_"):
            raise EngineError(f"{o} would be mixed with the rendered frames; give it another name")


def refuse_inputs_as_outputs(inputs: list[tuple[str | None, str]],
                             outputs: list[tuple[str | None, str]]) -> None:
    """An output that is one of the command's inputs is refused, even with --overwrite (the
    input would be destroyed while it is still being read)."""
    ins = {}
    for path, what in inputs:
        if path:
            ins[Path(path).resolve()] = what
    for path, what in outputs:
        if not path:
            continue
        key = Path(path).resolve()
        if key in ins:
            raise EngineError(f"{what} {path} is the {ins[key]} this command reads; give another name")
