"""Workflow templates: an API-format ComfyUI graph plus a binding that says where our inputs go.

Shipped templates live in ``templates/<name>.json`` with ``templates/<name>.binding.json``.
Bring your own workflow: export it in API format (ComfyUI: *Export (API)*), then EITHER put a
``<file>.binding.json`` beside it, OR title its nodes by this convention (node title, case
insensitive; ``.input`` is optional where the class has an obvious input):

    th:portrait[.input]   LoadImage (image)          the portrait (or its face crop)
    th:video[.input]      LoadVideo (file)           the drive video (guide or driving clip)
    th:audio[.input]      LoadAudio (audio)          the driving clip's audio
    th:pose[.input]       LoadVideo (file)           the body's pose video (DWPose style, from the
                                                     capture's body joints; Wan-Animate's pose_video)
    th:face[.input]       LoadVideo (file)           a face crop video of the drive (512², the guide
                                                     or driving clip; Wan-Animate's face_video)
    th:fps[.input] th:length th:seed th:width th:height   numbers we fill (value / the only widget)
    th:output             the node whose files (video or images) are the result

A binding (JSON) holds the same: ``inputs: {role: [{"node": id, "input": name}, ...]}``,
``output: {"node": id}``, plus ``drive`` (guide | driving | audio), ``length`` rule
(``{"multiple": 4, "plus": 1}`` for Wan), ``size`` rule (``{"max_side": 832, "multiple": 16}``),
``crop`` (``{"size": 512, "scale": 2.0}``: send a face crop and paste the result back),
``packs`` and ``models`` (what it needs, for Check Server and the docs).
"""

from __future__ import annotations

import copy
import json
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .client import ComfyUIError

TEMPLATES_DIR = Path(__file__).resolve().parent / "templates"
ROLES = ("portrait", "video", "audio", "pose", "face", "fps", "length", "seed", "width", "height")
DRIVES = ("guide", "driving", "audio")

# class -> default input for a role marked by title only
_DEFAULT_INPUT = {
    "LoadImage": "image", "LoadVideo": "file", "LoadAudio": "audio", "VHS_LoadVideo": "video",
    "PrimitiveInt": "value", "PrimitiveFloat": "value", "PrimitiveString": "value",
}


@dataclass
class Target:
    node: str
    input: str


@dataclass
class Workflow:
    name: str
    label: str
    graph: dict[str, Any]
    inputs: dict[str, list[Target]]
    output: str
    drive: str = "guide"
    description: str = ""
    length_rule: dict[str, int] = field(default_factory=dict)
    size_rule: dict[str, int] = field(default_factory=dict)
    crop: dict[str, float] | None = None
    seed_max: int = 2**31 - 1
    packs: list[str] = field(default_factory=list)
    models: list[str] = field(default_factory=list)
    path: str = ""

    def generated_length(self, frames: int) -> int:
        """Frames to ask the model for (Wan wants 4n+1): the smallest allowed >= ``frames``."""
        m, plus = int(self.length_rule.get("multiple", 1)), int(self.length_rule.get("plus", 0))
        if m <= 1:
            return frames
        return max(plus, math.ceil((frames - plus) / m) * m + plus)

    def generated_size(self, width: int, height: int) -> tuple[int, int]:
        """Size to ask for: the input's aspect, longest side <= max_side, multiples of ``multiple``."""
        max_side = int(self.size_rule.get("max_side", 0)) or max(width, height)
        mult = int(self.size_rule.get("multiple", 1)) or 1
        s = min(1.0, max_side / max(width, height))
        return (max(mult, round(width * s / mult) * mult), max(mult, round(height * s / mult) * mult))

    def fill(self, values: dict[str, Any]) -> dict[str, Any]:
        """A copy of the graph with each role's value put into its bound inputs."""
        graph = copy.deepcopy(self.graph)
        for role, value in values.items():
            for t in self.inputs.get(role, []):
                node = graph.get(t.node)
                if node is None:
                    raise ComfyUIError(f"workflow {self.name}: its binding names node {t.node}, "
                                       "which is not in the graph; fix the binding")
                node.setdefault("inputs", {})[t.input] = value
        return graph


def _targets(value: Any) -> list[Target]:
    items = value if isinstance(value, list) else [value]
    return [Target(str(i["node"]), str(i["input"])) for i in items if i]


def _check(wf: Workflow) -> Workflow:
    if wf.output not in wf.graph:
        raise ComfyUIError(f"workflow {wf.name}: no output node (title one node 'th:output')")
    if not wf.inputs.get("portrait"):
        raise ComfyUIError(f"workflow {wf.name}: nothing takes the portrait (title a LoadImage "
                           "node 'th:portrait')")
    if wf.drive not in DRIVES:
        raise ComfyUIError(f"workflow {wf.name}: drive must be one of {', '.join(DRIVES)}")
    for role, targets in wf.inputs.items():
        if role not in ROLES:
            raise ComfyUIError(f"workflow {wf.name}: unknown role {role!r} (known: {', '.join(ROLES)})")
        for t in targets:
            if t.node not in wf.graph:
                raise ComfyUIError(f"workflow {wf.name}: role {role} names node {t.node}, "
                                   "which is not in the graph")
    return wf


def _load_graph(path: Path) -> dict[str, Any]:
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ComfyUIError(f"cannot read workflow {path}: {exc.strerror or exc}") from exc
    except ValueError as exc:
        raise ComfyUIError(f"workflow {path} is not valid JSON ({exc})") from exc
    if isinstance(doc, dict) and "nodes" in doc and "links" in doc:
        raise ComfyUIError(f"{path.name} is a UI workflow; in ComfyUI use Workflow > Export (API) "
                           "and give that file")
    if isinstance(doc, dict) and isinstance(doc.get("prompt"), dict):
        doc = doc["prompt"]
    if not isinstance(doc, dict) or not doc or not all(
            isinstance(n, dict) and "class_type" in n for n in doc.values()):
        raise ComfyUIError(f"{path.name} is not an API-format ComfyUI workflow "
                           "(Workflow > Export (API))")
    return doc


def _from_binding(name: str, graph: dict, binding: dict, path: Path) -> Workflow:
    return _check(Workflow(
        name=binding.get("name", name), label=binding.get("label", name), graph=graph,
        inputs={role: _targets(v) for role, v in (binding.get("inputs") or {}).items()},
        output=str((binding.get("output") or {}).get("node", "")),
        drive=binding.get("drive", "guide"), description=binding.get("description", ""),
        length_rule=binding.get("length") or {}, size_rule=binding.get("size") or {},
        crop=binding.get("crop"), seed_max=int(binding.get("seed_max") or 2**31 - 1),
        packs=list(binding.get("packs") or []),
        models=list(binding.get("models") or []), path=str(path)))


def _from_titles(name: str, graph: dict, path: Path) -> Workflow:
    inputs: dict[str, list[Target]] = {}
    output = ""
    for node_id, node in graph.items():
        title = str((node.get("_meta") or {}).get("title", "")).strip()
        if not title.lower().startswith("th:"):
            continue
        role, _, input_name = title[3:].strip().partition(".")
        role = role.strip().lower()
        if role == "output":
            output = node_id
            continue
        if not input_name:
            input_name = _DEFAULT_INPUT.get(node.get("class_type", ""), "")
        if not input_name:
            widgets = [k for k, v in (node.get("inputs") or {}).items() if not isinstance(v, list)]
            if len(widgets) != 1:
                raise ComfyUIError(f"workflow {path.name}: node {node_id} titled {title!r} has "
                                   f"several inputs; title it 'th:{role}.<input name>'")
            input_name = widgets[0]
        inputs.setdefault(role, []).append(Target(node_id, input_name))
    if not output and not inputs:
        raise ComfyUIError(f"workflow {path.name} has no binding file and no node titled th:... "
                           "(see docs/comfyui.md, bring your own workflow)")
    drive = "audio" if "audio" in inputs and not set(inputs) & {"video", "face"} else "guide"
    return _check(Workflow(name=name, label=f"{name} (own workflow)", graph=graph, inputs=inputs,
                           output=output, drive=drive, path=str(path)))


def shipped_templates() -> list[str]:
    return sorted(p.name[: -len(".binding.json")] for p in TEMPLATES_DIR.glob("*.binding.json"))


def load_workflow(name_or_path: str | Path) -> Workflow:
    """A shipped template by name, or an API-format workflow file (binding beside it or titles)."""
    text = str(name_or_path)
    shipped = TEMPLATES_DIR / f"{text}.json"
    if "/" not in text and "\\" not in text and not text.endswith(".json"):
        if not shipped.is_file():
            raise ComfyUIError(f"no workflow template {text!r}; shipped: {', '.join(shipped_templates())} "
                               "(or give the path of an API-format workflow .json)")
        path = shipped
    else:
        path = Path(text)
        if not path.is_file():
            raise ComfyUIError(f"workflow file not found: {path}")
    graph = _load_graph(path)
    binding_path = path.with_name(path.stem + ".binding.json")
    if binding_path.is_file():
        try:
            binding = json.loads(binding_path.read_text(encoding="utf-8"))
        except ValueError as exc:
            raise ComfyUIError(f"binding {binding_path} is not valid JSON ({exc})") from exc
        return _parsed(binding_path, lambda: _from_binding(path.stem, graph, binding, path))
    return _parsed(path, lambda: _from_titles(path.stem, graph, path))


def _parsed(path: Path, parse: Callable[[], Workflow]) -> Workflow:
    """``parse()``, with a hand-edited file of the wrong shape (a list where an object belongs, a
    missing "input" key, "seed_max": "abc", a "_meta" that is text) reported as one sentence
    naming the file instead of surfacing as a Python error."""
    try:
        return parse()
    except ComfyUIError:
        raise
    except (AttributeError, KeyError, TypeError, ValueError) as exc:
        detail = f"missing key {exc}" if isinstance(exc, KeyError) else str(exc)
        kind = "binding" if path.name.endswith(".binding.json") else "API-format workflow"
        raise ComfyUIError(f"{path.name} is not shaped like a ComfyUI {kind} ({detail}); see "
                           "docs/comfyui.md (bring your own workflow)") from None


def template_labels() -> list[tuple[str, str, str]]:
    """(name, label, description) of every shipped template, for menus."""
    out = []
    for name in shipped_templates():
        try:
            wf = load_workflow(name)
            out.append((name, wf.label, wf.description))
        except ComfyUIError:
            continue
    return out
