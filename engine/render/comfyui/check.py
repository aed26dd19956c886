"""Check Server: a workflow against the server's ``/object_info``, before anything is uploaded.

Reports node classes the server lacks (named with the pack that provides them), model files it
lacks (loader inputs whose file is not in the server's list) and other values the server would
refuse. Inputs our binding fills at render time (portrait, video, audio, numbers) are skipped.

Note: upstream ComfyUI lists the model files on disk; some forks also list models they can
download on first use, which then count as present.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ...safe_text import printable
from .packs import MODEL_INPUTS, pack_for_class
from .workflow import Workflow


@dataclass
class CheckReport:
    workflow: str
    label: str
    missing_nodes: dict[str, str] = field(default_factory=dict)  # class -> pack (or "")
    missing_models: list[tuple[str, str, str]] = field(default_factory=list)  # file, folder, node
    bad_values: list[str] = field(default_factory=list)
    # what the job needs beyond the server, and inputs left unconnected: said, not blocking
    notes: list[str] = field(default_factory=list)

    @property
    def ready(self) -> bool:
        return not (self.missing_nodes or self.missing_models or self.bad_values)

    @property
    def missing_packs(self) -> list[str]:
        return sorted({p for p in self.missing_nodes.values() if p})

    def summary(self, notes: bool = True) -> str:
        """One sentence: ready, or what to install; then the notes (the job's needs) in brackets."""
        tail = "".join(f" ({n})" for n in self.notes) if notes else ""
        if self.ready:
            return f"{self.workflow}: ready{tail}"
        parts = []
        if self.missing_nodes:
            packs = self.missing_packs
            unknown = [c for c, p in self.missing_nodes.items() if not p]
            if packs:
                parts.append("needs pack " + ", ".join(packs))
            if unknown:
                parts.append("needs the node pack(s) providing " + ", ".join(sorted(unknown)))
        if self.missing_models:
            parts.append("missing model file(s) " + ", ".join(
                f"{folder}/{name}" for name, folder, _ in self.missing_models))
        if self.bad_values:
            parts.append("; ".join(self.bad_values))
        return f"{self.workflow}: " + "; ".join(parts) + tail


def _options(spec: Any) -> list | None:
    """The allowed values of a combo input spec (old list form or V3 ``["COMBO", {"options"}]``)."""
    if not isinstance(spec, (list, tuple)) or not spec:
        return None
    if isinstance(spec[0], list):
        return spec[0]
    if spec[0] == "COMBO" and len(spec) > 1 and isinstance(spec[1], dict):
        options = spec[1].get("options")
        return options if isinstance(options, list) else None
    return None


def _specs(cls: str, info: Any) -> dict[str, Any]:
    """The input specs of one /object_info entry; one sentence when the server's answer is not
    shaped like ComfyUI's (it is untrusted, like every reply)."""
    inputs = info.get("input") if isinstance(info, dict) else None
    inputs = {} if inputs is None and isinstance(info, dict) else inputs
    shaped = isinstance(inputs, dict)
    required, optional = (inputs.get("required"), inputs.get("optional")) if shaped else (1, 1)
    if not all(isinstance(part, (dict, type(None))) for part in (required, optional)):
        from .client import ComfyUIError

        raise ComfyUIError(f"the server's /object_info entry for {printable(cls, 60)} is not shaped "
                           "like ComfyUI's; is this a ComfyUI server?")
    return {**(required or {}), **(optional or {})}


def check_workflow(wf: Workflow, object_info: dict[str, Any]) -> CheckReport:
    report = CheckReport(wf.name, wf.label)
    bound = {(t.node, t.input) for targets in wf.inputs.values() for t in targets}
    for node_id, node in wf.graph.items():
        cls = node.get("class_type", "")
        info = object_info.get(cls)
        if info is None:
            report.missing_nodes[cls] = (pack_for_class(cls) or "").split(" (")[0]
            continue
        specs = _specs(cls, info)
        models = MODEL_INPUTS.get(cls, {})
        for name, value in (node.get("inputs") or {}).items():
            if (node_id, name) in bound or isinstance(value, list) or not isinstance(value, str):
                continue
            options = _options(specs.get(name))
            if options is None or value in options:
                continue
            if name in models:
                report.missing_models.append((value, models[name], node_id))
            else:
                report.bad_values.append(f"node {node_id} ({cls}) {name}={value!r} is not offered "
                                         "by the server")
    _pose_notes(wf, report)
    return report


# Wan-Animate's conditioning node, whose video inputs carry the performance
_WAN_ANIMATE = "WanAnimateToVideo"


def _pose_notes(wf: Workflow, report: CheckReport) -> None:
    """Name the pose input: a Wan-Animate node with nothing on ``pose_video`` follows only the
    face (the body will not drive it); a workflow that takes the pose video needs a capture with
    the body."""
    for node_id, node in wf.graph.items():
        if node.get("class_type") != _WAN_ANIMATE:
            continue
        inputs = node.get("inputs") or {}
        if not isinstance(inputs.get("pose_video"), list):
            report.notes.append(f"node {node_id} ({_WAN_ANIMATE}) has no pose_video connected: the "
                                "body will not drive it")
        if not isinstance(inputs.get("face_video"), list):
            report.notes.append(f"node {node_id} ({_WAN_ANIMATE}) has no face_video connected")
    if wf.inputs.get("pose"):
        report.notes.append("takes the pose video: the motion needs the body (capture with Body / --body)")
