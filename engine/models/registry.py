"""Known model sets: which files, how big, their sha256, where to get them, under what license.

A checksum is only recorded here when it was computed from the real file or read from a published
manifest that agrees with files we could hash ourselves; nothing is guessed. A file whose checksum
is unknown has ``sha256=None``: the store never marks it verified, and the user must vouch for it
explicitly (``python -m engine models install PATH --trust-unverified``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

HF_FASTER_LIVEPORTRAIT = "https://huggingface.co/warmshao/FasterLivePortrait/resolve/main/liveportrait_onnx"

LIVEPORTRAIT_LICENSE = """\
LivePortrait weights: MIT License, Copyright (c) 2024 Kuaishou Visual Generation and Interaction
Center (KwaiVGI/LivePortrait). ONNX re-export: FasterLivePortrait (warmshao), MIT License.

Permission is hereby granted, free of charge, to any person obtaining a copy of this software and
associated documentation files (the "Software"), to deal in the Software without restriction,
including without limitation the rights to use, copy, modify, merge, publish, distribute,
sublicense, and/or sell copies of the Software, and to permit persons to whom the Software is
furnished to do so, subject to the following conditions:

The above copyright notice and this permission notice shall be included in all copies or
substantial portions of the Software.

THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR IMPLIED, INCLUDING BUT
NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY, FITNESS FOR A PARTICULAR PURPOSE AND
NONINFRINGEMENT. IN NO EVENT SHALL THE AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM,
DAMAGES OR OTHER LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM, OUT
OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE SOFTWARE.

Not included and not used: LivePortrait's InsightFace face detector and landmark models
(non-commercial license). This extension crops faces with its own MediaPipe tracker instead.
"""


@dataclass(frozen=True)
class ModelFile:
    name: str  # file name inside the set's folder
    role: str  # what the code uses it for ("appearance", "motion", ...)
    url: str
    size: int | None  # bytes; None = not known (then only the checksum is checked)
    sha256: str | None  # None = no trustworthy published checksum: never marked verified
    checksum_source: str = ""  # where the checksum/size come from


@dataclass(frozen=True)
class ModelSet:
    name: str
    label: str
    description: str
    license_name: str
    license_text: str
    homepage: str
    files: tuple[ModelFile, ...] = field(default_factory=tuple)

    def file(self, name: str) -> ModelFile:
        for f in self.files:
            if f.name == name:
                return f
        raise KeyError(name)

    def by_role(self, role: str) -> ModelFile:
        for f in self.files:
            if f.role == role:
                return f
        raise KeyError(role)

    @property
    def known_size(self) -> int:
        return sum(f.size or 0 for f in self.files)


_HASHED_HERE = "sha256 and size computed from the real file (shared/reference/liveportrait_onnx)"
_VISOMASTER = ("sha256 from the published model manifest of visomaster/VisoMaster "
               "(app/processors/models_data.py), which lists the same FasterLivePortrait files and "
               "agrees with the three we hashed ourselves; size not published")


def _lp(name: str, role: str, size: int | None, sha: str | None, source: str) -> ModelFile:
    return ModelFile(name, role, f"{HF_FASTER_LIVEPORTRAIT}/{name}", size, sha, source)


MODEL_SETS: dict[str, ModelSet] = {
    "liveportrait": ModelSet(
        name="liveportrait",
        label="LivePortrait (ONNX)",
        description="Neural portrait animation: appearance features, motion extractor, warping + "
                    "SPADE generator, stitching and eye/lip retargeting MLPs (about 400 MB).",
        license_name="MIT",
        license_text=LIVEPORTRAIT_LICENSE,
        homepage="https://github.com/KwaiVGI/LivePortrait",
        files=(
            _lp("appearance_feature_extractor.onnx", "appearance", 3355896,
                "dbbbb44e4bba12302d7137bdee6a0f249b45fb6dd879509fd5baa27d70c40e32", _HASHED_HERE),
            _lp("motion_extractor.onnx", "motion", None,
                "99d4b3c9dd3fd301910de9415a29560e38c0afaa702da51398281376cc36fdd3", _VISOMASTER),
            _lp("warping_spade.onnx", "warping", None,
                "d6ee9af4352b47e88e0521eba6b774c48204afddc8d91c671a5f7b8a0dfb4971", _VISOMASTER),
            _lp("stitching.onnx", "stitching", 182363,
                "43598e9747a19f4c55d8e1604fb7d7fa70ab22377d129cb7d1fe38c9a737cc79", _HASHED_HERE),
            _lp("stitching_eye.onnx", "eye", None,
                "251004fe4a994c57c8cd9f2c50f3d89feb289fb42e6bc3af74470a3a9fa7d83b", _VISOMASTER),
            _lp("stitching_lip.onnx", "lip", 150609,
                "1ca793eac4b0dc5464f1716cdaa62e595c2c2272c9971a444e39c164578dc34b", _HASHED_HERE),
        ),
    ),
}


def get_set(name: str) -> ModelSet:
    from ..errors import EngineError

    try:
        return MODEL_SETS[name]
    except KeyError:
        raise EngineError(f"unknown model set {name!r}; known: {', '.join(sorted(MODEL_SETS))}") from None
