"""The motion model: per-frame expression controls, from capture to keyframes to renderers.

One versioned file format (MOTION_SPEC.md): a JSON document, optionally with a `.npz` sidecar for
the dense arrays. Never pickle: the sidecar is read with ``allow_pickle=False``.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .body import BodyError, BodyTrack
from .controls import CONTROL_NAMES, CONTROLS_BY_NAME, NEUTRAL
from .errors import EngineError
from .limits import MAX_JSON_NUMBER_CHARS, MAX_MOTION_FRAMES, MAX_MOTION_JSON_BYTES
from .npz_reader import ArchiveLimitError, load_npz

FORMAT = "talking_head.motion"
# Version 2 added the optional `body` object; a file without a body is still written as version 1,
# so engines that predate the body keep reading face-only captures.
VERSION = 2
BODY_VERSION = 2
# Files larger than this are refused before parsing (the caps live in engine/limits.py).
MAX_JSON_BYTES = MAX_MOTION_JSON_BYTES


#: ``calibration.head_pose``: the neutral frame's absolute head pose (angles in degrees) and
#: where its face was in the frame (fractions of the image), MOTION_SPEC.md
HEAD_POSE_ANGLES = ("yaw", "pitch", "roll")
HEAD_POSE_PLACE = ("x", "y", "width", "place_x", "place_y")


def check_head_pose(value: Any) -> dict[str, float]:
    """A ``calibration.head_pose`` object checked (MotionError otherwise): the three angles
    required, finite, within ±180°; the place keys optional, finite, within 0..4 (x, y may lie
    a little outside the frame)."""
    if not isinstance(value, dict):
        raise MotionError("calibration.head_pose must be an object of numbers")
    out: dict[str, float] = {}
    for key in HEAD_POSE_ANGLES + HEAD_POSE_PLACE:
        if key not in value:
            if key in HEAD_POSE_ANGLES:
                raise MotionError(f"calibration.head_pose lacks {key!r}")
            continue
        v = value[key]
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
            raise MotionError(f"calibration.head_pose.{key} must be a finite number, got {v!r}")
        lo, hi = (-180.0, 180.0) if key in HEAD_POSE_ANGLES else (-4.0, 4.0)
        if not lo <= v <= hi:
            raise MotionError(f"calibration.head_pose.{key} = {v} is outside {lo:g}..{hi:g}")
        out[key] = float(v)
    return out


class MotionError(EngineError, ValueError):
    """A motion file or object that breaks the contract; the message says what and where."""


@dataclass
class Motion:
    """Per-frame controls of one performance.

    ``controls[name]`` is a float32 array of ``frame_count`` values for each of the 16 controls.
    ``confidence`` (0..1) and ``tracked`` (False where the face was lost and the values were
    interpolated) are per frame. ``blendshapes`` keeps the tracker's raw 52 scores (or None) so
    that 3D rigs can be driven later. ``extras`` holds renderer-specific dense arrays, e.g.
    ``liveportrait_exp`` of shape (frame_count, 63). ``body`` (or None) holds the body joints,
    their confidence and the body controls when the capture tracked the body (engine/body.py).
    """

    fps: float
    controls: dict[str, np.ndarray]
    confidence: np.ndarray | None = None
    tracked: np.ndarray | None = None
    blendshapes: np.ndarray | None = None
    blendshape_names: list[str] = field(default_factory=list)
    source: dict[str, Any] = field(default_factory=dict)
    calibration: dict[str, Any] = field(default_factory=dict)
    filter: dict[str, Any] = field(default_factory=dict)
    extras: dict[str, np.ndarray] = field(default_factory=dict)
    body: BodyTrack | None = None
    #: the actor's mouth interiors (engine/capture/mouth_exemplars.py ``MouthExemplars``) or
    #: None; saved as ``<stem>.mouths.npz`` beside the JSON, named with its sha256
    mouths: Any = None
    #: the actor's expression creases (engine/capture/creases.py ``Creases``) or None; saved as
    #: ``<stem>.creases.npz`` beside the JSON, named with its sha256
    creases: Any = None

    def __post_init__(self) -> None:
        self.controls = {k: np.asarray(v, dtype=np.float32) for k, v in self.controls.items()}
        n = self.frame_count
        if self.confidence is None:
            self.confidence = np.ones(n, dtype=np.float32)
        if self.tracked is None:
            self.tracked = np.ones(n, dtype=bool)
        self.confidence = np.asarray(self.confidence, dtype=np.float32)
        self.tracked = np.asarray(self.tracked, dtype=bool)
        if self.blendshapes is not None:
            self.blendshapes = np.asarray(self.blendshapes, dtype=np.float32)
        self.extras = {k: np.asarray(v, dtype=np.float32) for k, v in self.extras.items()}
        self.validate()

    # -- construction -------------------------------------------------------------------------

    @classmethod
    def neutral(cls, frame_count: int, fps: float = 25.0) -> Motion:
        """A performance that holds the neutral pose for ``frame_count`` frames."""
        return cls(fps=fps, controls={k: np.full(frame_count, v, np.float32)
                                      for k, v in NEUTRAL.items()})

    @classmethod
    def from_array(cls, values: np.ndarray, fps: float, **kw: Any) -> Motion:
        """Build from a (frame_count, 16) array in CONTROL_NAMES order."""
        values = np.asarray(values, dtype=np.float32)
        if values.ndim != 2 or values.shape[1] != len(CONTROL_NAMES):
            raise MotionError(f"expected shape (n, {len(CONTROL_NAMES)}), got {values.shape}")
        return cls(fps=fps, controls={k: values[:, i] for i, k in enumerate(CONTROL_NAMES)}, **kw)

    # -- access -------------------------------------------------------------------------------

    @property
    def frame_count(self) -> int:
        first = next(iter(self.controls.values()), None)
        return 0 if first is None else int(first.shape[0])

    @property
    def duration(self) -> float:
        return self.frame_count / self.fps

    def to_array(self) -> np.ndarray:
        """(frame_count, 16) float32 in CONTROL_NAMES order."""
        return np.stack([self.controls[k] for k in CONTROL_NAMES], axis=1)

    def frame(self, index: int) -> dict[str, float]:
        """Control values at one frame (clamped to the clip's ends); with a body, its controls too
        (engine/body.py), which the built-in renderer moves the torso with."""
        i = min(max(int(index), 0), self.frame_count - 1)
        values = {k: float(self.controls[k][i]) for k in CONTROL_NAMES}
        if self.body is not None:
            values.update({k: float(v[i]) for k, v in self.body.controls.items()})
        return values

    def slice(self, start: int, stop: int) -> Motion:
        """Frames [start, stop) as a new Motion (same metadata)."""
        s = np.s_[start:stop]
        return Motion(
            fps=self.fps, controls={k: v[s] for k, v in self.controls.items()},
            confidence=self.confidence[s], tracked=self.tracked[s],
            blendshapes=None if self.blendshapes is None else self.blendshapes[s],
            blendshape_names=list(self.blendshape_names), source=dict(self.source),
            calibration=dict(self.calibration), filter=dict(self.filter),
            extras={k: v[s] for k, v in self.extras.items()},
            body=None if self.body is None else self.body.slice(start, stop),
            mouths=self.mouths,  # not per frame: every part of the take keeps the actor's mouths
            creases=self.creases,
        )

    # -- validation ---------------------------------------------------------------------------

    def validate(self) -> None:
        if not (isinstance(self.fps, (int, float)) and math.isfinite(self.fps) and self.fps > 0):
            raise MotionError(f"fps must be a positive number, got {self.fps!r}")
        missing = [k for k in CONTROL_NAMES if k not in self.controls]
        if missing:
            raise MotionError(f"missing controls: {', '.join(missing)}")
        unknown = [k for k in self.controls if k not in CONTROLS_BY_NAME]
        if unknown:
            raise MotionError(f"unknown controls: {', '.join(unknown)}")
        n = self.frame_count
        if n < 1:
            raise MotionError("a motion needs at least one frame")
        if n > MAX_MOTION_FRAMES:
            raise MotionError(_too_many_frames(n))
        for k, v in self.controls.items():
            if v.shape != (n,):
                raise MotionError(f"control {k!r} has shape {v.shape}, expected ({n},)")
            if not np.all(np.isfinite(v)):
                raise MotionError(f"control {k!r} contains NaN or infinite values")
        for name, arr in (("confidence", self.confidence), ("tracked", self.tracked)):
            if arr.shape != (n,):
                raise MotionError(f"{name} has shape {arr.shape}, expected ({n},)")
        if self.blendshapes is not None:
            if self.blendshapes.ndim != 2 or self.blendshapes.shape[0] != n:
                raise MotionError(f"blendshapes has shape {self.blendshapes.shape}, expected ({n}, k)")
            if len(self.blendshape_names) != self.blendshapes.shape[1]:
                raise MotionError("blendshape_names does not match the blendshapes columns")
        for k, v in self.extras.items():
            if v.ndim < 1 or v.shape[0] != n:
                raise MotionError(f"extra {k!r} has shape {v.shape}, first axis must be {n}")
        # NaN would reach renderers and rigs (and non-standard JSON): refuse it everywhere.
        for name, arr in (("confidence", self.confidence), ("blendshapes", self.blendshapes),
                          *((f"extra {k!r}", v) for k, v in self.extras.items())):
            if arr is not None and not np.all(np.isfinite(arr)):
                raise MotionError(f"{name} contains NaN or infinite values")
        if self.body is not None:
            try:
                self.body.validate(n)
            except BodyError as exc:
                raise MotionError(str(exc)) from None

    # -- files --------------------------------------------------------------------------------

    def to_dict(self, arrays_inline: bool = True) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "format": FORMAT,
            "version": BODY_VERSION if self.body is not None else 1,
            "fps": float(self.fps),
            "frame_count": self.frame_count,
            "source": self.source,
            "calibration": self.calibration,
            "filter": self.filter,
            "blendshape_names": list(self.blendshape_names),
        }
        if arrays_inline:
            doc["controls"] = {k: _round_list(self.controls[k]) for k in CONTROL_NAMES}
            doc["confidence"] = _round_list(self.confidence)
            doc["tracked"] = [bool(x) for x in self.tracked]
            doc["blendshapes"] = None if self.blendshapes is None else \
                [_round_list(row) for row in self.blendshapes]
            doc["extras"] = {k: v.tolist() for k, v in self.extras.items()}
        if self.body is not None:
            doc["body"] = self.body.to_dict(arrays_inline)
        return doc

    def save(self, path: str | os.PathLike[str], sidecar: bool = False, *, overwrite: bool = True) -> Path:
        """Write the JSON file (and ``<stem>.npz`` when ``sidecar``), each atomically through an
        exclusive temporary (engine.outputs). Strict JSON: a non-finite number is refused, never
        written as a ``NaN`` literal."""
        from .outputs import atomic_output, write_text

        path = Path(path)
        doc = self.to_dict(arrays_inline=not sidecar)
        if sidecar:
            npz = path.with_suffix(".npz")
            arrays: dict[str, np.ndarray] = {f"controls/{k}": self.controls[k] for k in CONTROL_NAMES}
            arrays["confidence"] = self.confidence
            arrays["tracked"] = self.tracked
            if self.blendshapes is not None:
                arrays["blendshapes"] = self.blendshapes
            for k, v in self.extras.items():
                arrays[f"extras/{k}"] = v
            if self.body is not None:
                arrays.update(self.body.arrays())
            doc["arrays"] = npz.name
        try:
            text = json.dumps(doc, indent=1, allow_nan=False)
        except ValueError as exc:
            raise MotionError(f"cannot save {path.name}: the motion holds a non-finite number "
                              f"(NaN or infinity) in its metadata ({exc})") from None
        if self.mouths is not None:
            from .capture.mouth_exemplars import sidecar_path

            mouths = sidecar_path(path)
            digest = self.mouths.save(mouths, overwrite=overwrite)
            doc["mouth_exemplars"] = self.mouths.reference(mouths.name, digest)
            text = json.dumps(doc, indent=1, allow_nan=False)
        if self.creases is not None:
            from .capture.creases import sidecar_path as crease_path

            creases = crease_path(path)
            digest = self.creases.save(creases, overwrite=overwrite)
            doc["crease_details"] = self.creases.reference(creases.name, digest)
            text = json.dumps(doc, indent=1, allow_nan=False)
        if sidecar:
            with atomic_output(npz, overwrite=overwrite) as tmp, open(tmp, "wb") as fh:
                np.savez_compressed(fh, **arrays)
        write_text(path, text, overwrite=overwrite)
        return path

    @classmethod
    def from_dict(cls, doc: Any, arrays: dict[str, np.ndarray] | None = None) -> Motion:
        if not isinstance(doc, dict):
            raise MotionError("a motion file must hold a JSON object")
        if doc.get("format") != FORMAT:
            raise MotionError(f"not a motion file (format is {doc.get('format')!r}, expected {FORMAT!r})")
        version = doc.get("version")
        if not isinstance(version, int) or version < 1:
            raise MotionError(f"bad version {version!r}")
        if version > VERSION:
            raise MotionError(f"motion file version {version} is newer than this engine reads "
                              f"({VERSION}); update the extension")
        declared = doc.get("frame_count")
        if isinstance(declared, int) and declared > MAX_MOTION_FRAMES:  # before any array is built
            raise MotionError(_too_many_frames(declared))
        try:
            if arrays is not None:
                controls = {k[len("controls/"):]: arrays[k] for k in arrays if k.startswith("controls/")}
                confidence = arrays.get("confidence")
                tracked = arrays.get("tracked")
                blendshapes = arrays.get("blendshapes")
                extras = {k[len("extras/"):]: arrays[k] for k in arrays if k.startswith("extras/")}
            else:
                raw = doc.get("controls")
                if not isinstance(raw, dict):
                    raise MotionError("'controls' must be an object of arrays")
                controls = {k: np.asarray(v, dtype=np.float32) for k, v in raw.items()}
                confidence = _opt_array(doc.get("confidence"), np.float32)
                tracked = _opt_array(doc.get("tracked"), bool)
                blendshapes = _opt_array(doc.get("blendshapes"), np.float32)
                extras = {k: np.asarray(v, dtype=np.float32) for k, v in (doc.get("extras") or {}).items()}
            body_doc = doc.get("body")
            if body_doc is not None and version < BODY_VERSION:
                raise MotionError(f"a version {version} motion file cannot hold a body (added in "
                                  f"version {BODY_VERSION})")
            body = None if body_doc is None else BodyTrack.from_dict(body_doc, arrays)
            motion = cls(
                fps=doc.get("fps"), controls=controls, confidence=confidence, tracked=tracked,
                blendshapes=blendshapes, blendshape_names=list(doc.get("blendshape_names") or []),
                source=dict(doc.get("source") or {}), calibration=dict(doc.get("calibration") or {}),
                filter=dict(doc.get("filter") or {}), extras=extras, body=body,
            )
        except BodyError as exc:
            raise MotionError(str(exc)) from None
        except MotionError:
            raise
        except (TypeError, ValueError, KeyError) as exc:
            raise MotionError(f"malformed motion data: {exc}") from exc
        if "head_pose" in motion.calibration:
            motion.calibration["head_pose"] = check_head_pose(motion.calibration["head_pose"])
        if declared is not None and declared != motion.frame_count:
            raise MotionError(f"frame_count says {declared} but the arrays hold {motion.frame_count}")
        return motion

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Motion:
        path = Path(path)
        if not path.is_file():
            raise MotionError(f"motion file not found: {path}")
        size = path.stat().st_size
        if size > MAX_JSON_BYTES:
            raise MotionError(f"{path.name} is too large to be a motion file ({size / 1e6:,.0f} MB; "
                              f"the limit is {MAX_JSON_BYTES / 1e6:,.0f} MB: save long captures "
                              "with --sidecar)")
        try:
            doc = json.loads(path.read_text(encoding="utf-8"), parse_int=_json_int,
                             parse_float=_json_float)
        except MotionError as exc:
            raise MotionError(f"{path.name}: {exc}") from None
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise MotionError(f"{path.name} is not valid JSON: {exc}") from None
        except RecursionError:
            raise MotionError(f"{path.name} is nested too deeply to be a motion file") from None
        arrays = None
        if isinstance(doc, dict) and doc.get("arrays"):
            name = str(doc["arrays"])
            if Path(name).name != name:
                raise MotionError("'arrays' must name a file beside the motion file")
            npz = path.with_name(name)
            if not npz.is_file():
                raise MotionError(f"sidecar {name} is missing next to {path.name}")
            try:
                arrays = load_npz(npz)  # sizes checked before anything is inflated
            except ArchiveLimitError as exc:
                raise MotionError(f"sidecar {name} {exc}; it is damaged or not a motion sidecar") from None
            except (ValueError, OSError, EOFError, KeyError) as exc:
                raise MotionError(f"sidecar {name} is unreadable: {exc}") from None
            except Exception as exc:  # noqa: BLE001 - zipfile.BadZipFile, zlib.error: a damaged .npz
                raise MotionError(f"sidecar {name} is damaged ({type(exc).__name__}: {exc})") from None
        try:
            motion = cls.from_dict(doc, arrays)
        except MotionError as exc:
            raise MotionError(f"{path.name}: {exc}") from None
        if isinstance(doc, dict) and doc.get("mouth_exemplars") is not None:
            motion.mouths = _load_mouths(path, doc["mouth_exemplars"])
        if isinstance(doc, dict) and doc.get("crease_details") is not None:
            motion.creases = _load_creases(path, doc["crease_details"])
        return motion


def _load_creases(path: Path, ref: Any) -> Any:
    """The ``crease_details`` file a motion names (MOTION_SPEC.md), checked."""
    from .capture import creases

    return _load_named_file(path, ref, "crease_details", "crease details", creases.VERSION,
                            creases.Creases.load, creases.CreaseError)


def _load_mouths(path: Path, ref: Any) -> Any:
    """The ``mouth_exemplars`` file a motion names (MOTION_SPEC.md), checked."""
    from .capture import mouth_exemplars as mx

    return _load_named_file(path, ref, "mouth_exemplars", "mouth exemplars", mx.VERSION,
                            mx.MouthExemplars.load, mx.MouthExemplarError)


def _load_named_file(path: Path, ref: Any, key: str, what: str, version: int,
                     load: Any, error: type[Exception]) -> Any:
    """A file beside the motion that its JSON names under ``key`` ({version, file, sha256}):
    the reference checked (a newer version, a name that leaves the folder), then ``load``."""
    if not (isinstance(ref, dict) and isinstance(ref.get("file"), str)
            and isinstance(ref.get("sha256"), str)):
        raise MotionError(f"{path.name}: '{key}' must be an object with 'file' and 'sha256'")
    if not isinstance(ref.get("version"), int) or ref["version"] > version:
        raise MotionError(f"{path.name}: {what} version {ref.get('version')!r} is newer than this "
                          f"engine reads ({version}); update the extension")
    name = ref["file"]
    if Path(name).name != name or not name:
        raise MotionError(f"{path.name}: '{key}' must name a file beside the motion file")
    try:
        return load(path.with_name(name), sha256=ref["sha256"])
    except error as exc:
        raise MotionError(f"{path.name}: {exc}") from None


def _too_many_frames(n: int) -> str:
    return (f"{n} frames is more than any Blender timeline holds ({MAX_MOTION_FRAMES}); the file is "
            "damaged or not a motion file")


def _number_text(text: str) -> str:
    if len(text) > MAX_JSON_NUMBER_CHARS:
        raise MotionError(f"it holds a number of {len(text)} characters ({text[:12]}...); a motion "
                          f"file's numbers have at most {MAX_JSON_NUMBER_CHARS}: the file is damaged "
                          "or not a motion file")
    return text


def _json_int(text: str) -> int:
    return int(_number_text(text))


def _json_float(text: str) -> float:
    return float(_number_text(text))


def _round_list(a: np.ndarray) -> list[float]:
    # 5 decimals keeps files small and diffable; far below any visible change.
    return [round(float(x), 5) for x in a]


def _opt_array(value: Any, dtype: Any) -> np.ndarray | None:
    return None if value is None else np.asarray(value, dtype=dtype)
