"""Rebuild engine/assets/selfie_segmenter.tflite from the network inside the mediapipe 0.10.21 wheel.

MediaPipe's selfie segmentation network (Apache-2.0; the legacy Solutions API used it) ships in the
mediapipe 0.10.21 wheel on PyPI as ``mediapipe/modules/selfie_segmentation/selfie_segmentation.tflite``
(256x256 "general" variant: RGB in, one channel of person probability out, already through its
sigmoid). Unlike the pose landmark network it already carries the TFLite metadata the Tasks
ImageSegmenter needs (ImageSegmenter input, normalisation mean 0 / std 255, i.e. pixels to 0..1,
a "selfie" label, activation NONE), so it is shipped unchanged: this script copies it out of the
wheel after checking that metadata with the wheel's own MetadataDisplayer (a later wheel with
different metadata would be caught here, not as odd masks).

Usage (makes a throw-away venv under /tmp, needs PyPI; shares make_pose_bundle.py's venv step):
    python scripts/make_segmenter_model.py [-o engine/assets/selfie_segmenter.tflite] [--venv DIR]
"""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from make_pose_bundle import REPO, WHEEL_VERSION, wheel_cli  # noqa: E402

DEFAULT_OUT = REPO / "engine" / "assets" / "selfie_segmenter.tflite"


def build(out: Path) -> None:
    """Runs inside the venv that has mediapipe==0.10.21."""
    import json

    import mediapipe
    from mediapipe.tasks.python.metadata import metadata

    if mediapipe.__version__ != WHEEL_VERSION:
        raise SystemExit(f"needs mediapipe {WHEEL_VERSION}, found {mediapipe.__version__}")
    src = Path(mediapipe.__file__).parent / "modules" / "selfie_segmentation" / "selfie_segmentation.tflite"
    model = src.read_bytes()
    md = json.loads(metadata.MetadataDisplayer.with_model_buffer(model).get_metadata_json())
    norm = [u["options"] for u in md["subgraph_metadata"][0]["input_tensor_metadata"][0]["process_units"]
            if u["options_type"] == "NormalizationOptions"]
    if md.get("name") != "ImageSegmenter" or norm != [{"mean": [0.0], "std": [255.0]}]:
        raise SystemExit(f"unexpected metadata in {src.name}: {md.get('name')!r}, normalisation {norm}")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(model)
    print(f"wrote {out} (unchanged from the wheel): {len(model)} bytes, "
          f"sha256 {hashlib.sha256(model).hexdigest()}")


def main() -> int:
    return wheel_cli(__file__, __doc__, DEFAULT_OUT, build)


if __name__ == "__main__":
    sys.exit(main())
