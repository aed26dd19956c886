"""Rebuild engine/assets/pose_landmarker_full.task from the networks inside the mediapipe 0.10.21 wheel.

Google publishes the Pose Landmarker bundle only as a download that is not reachable from here, but
the same Apache-2.0 networks ship inside the mediapipe 0.10.21 wheel on PyPI (the legacy Solutions
API used them): ``mediapipe/modules/pose_detection/pose_detection.tflite`` and
``mediapipe/modules/pose_landmark/pose_landmark_full.tflite``. The Tasks API wants (1) a bundle, an
uncompressed zip of ``pose_detector.tflite`` + ``pose_landmarks_detector.tflite``, and (2) image
input normalisation metadata on a float model, which the legacy landmark model lacks (the legacy
graph normalised the image itself). This script adds that metadata with the wheel's own metadata
writer (mean 0, std 255: pixels to 0..1, as the legacy graph did; five feature outputs) and zips
with the wheel's ``model_asset_bundle_utils``, with fixed zip timestamps so that the bundle's
sha256 is the same on every run.

Usage (makes a throw-away venv under /tmp, needs PyPI):
    python scripts/make_pose_bundle.py [-o engine/assets/pose_landmarker_full.task]
The script re-runs itself inside that venv (``--inside``) for the actual work.
"""

from __future__ import annotations

import argparse
import hashlib
import subprocess
import sys
import tempfile
import venv
from pathlib import Path

WHEEL_VERSION = "0.10.21"
REPO = Path(__file__).resolve().parents[1]
DEFAULT_OUT = REPO / "engine" / "assets" / "pose_landmarker_full.task"
# The landmark model has five outputs (39 points × 5 in the 256² crop, the pose presence flag, the
# segmentation logits, a heatmap, 39 × 3 world coordinates); the Tasks graph reads them by position,
# so each gets a plain feature entry (the writer fills in default names).
OUTPUT_COUNT = 5


def build(out: Path) -> None:
    """Runs inside the venv that has mediapipe==0.10.21."""
    import zipfile

    import mediapipe
    from mediapipe.tasks.python.metadata.metadata_writers import metadata_writer, model_asset_bundle_utils

    if mediapipe.__version__ != WHEEL_VERSION:
        raise SystemExit(f"needs mediapipe {WHEEL_VERSION}, found {mediapipe.__version__}")
    modules = Path(mediapipe.__file__).parent / "modules"
    detector = (modules / "pose_detection" / "pose_detection.tflite").read_bytes()
    landmarks = (modules / "pose_landmark" / "pose_landmark_full.tflite").read_bytes()
    writer = metadata_writer.MetadataWriter.create(bytearray(landmarks))
    writer.add_general_info("pose_landmarks_detector",
                            "MediaPipe BlazePose GHUM 3D full landmark model, from the mediapipe "
                            f"{WHEEL_VERSION} wheel, with image input metadata added")
    writer.add_image_input(norm_mean=[0.0], norm_std=[255.0])
    for _ in range(OUTPUT_COUNT):
        writer.add_feature_output()
    landmarks_md, _ = writer.populate()
    # ZipInfo keys with a fixed date: the wheel's helper would stamp the current time otherwise
    # and no two runs would give the same bytes.
    stamp = (1980, 1, 1, 0, 0, 0)
    members = {zipfile.ZipInfo("pose_detector.tflite", stamp): detector,
               zipfile.ZipInfo("pose_landmarks_detector.tflite", stamp): bytes(landmarks_md)}
    out.parent.mkdir(parents=True, exist_ok=True)
    model_asset_bundle_utils.create_model_asset_bundle(members, str(out))
    for name, data in (("pose_detection.tflite (wheel)", detector), ("pose_landmark_full.tflite (wheel)",
                                                                    landmarks)):
        print(f"{name}: {len(data)} bytes, sha256 {hashlib.sha256(data).hexdigest()}")
    data = out.read_bytes()
    print(f"wrote {out}: {len(data)} bytes, sha256 {hashlib.sha256(data).hexdigest()}")


def in_wheel_venv(script: Path, output: Path, venv_dir: Path | None) -> None:
    """Re-run ``script --inside -o output`` in a venv that has mediapipe==WHEEL_VERSION (a new one
    in /tmp unless ``venv_dir`` is given); shared with scripts/make_segmenter_model.py."""
    with tempfile.TemporaryDirectory(prefix="mediapipe_wheel_venv_") as tmp:
        env_dir = venv_dir or Path(tmp) / "venv"
        py = env_dir / ("Scripts/python.exe" if sys.platform == "win32" else "bin/python")
        if not py.exists():
            venv.create(env_dir, with_pip=True)
        subprocess.run([str(py), "-m", "pip", "install", "-q", f"mediapipe=={WHEEL_VERSION}"], check=True)
        subprocess.run([str(py), str(script.resolve()), "--inside", "-o", str(output.resolve())], check=True)


def wheel_cli(script: str, doc: str, default_out: Path, build_fn) -> int:  # noqa: ANN001
    """The command line of a script that extracts a model from the wheel: it re-runs itself
    (``--inside``) in the wheel's venv, where ``build_fn(output)`` does the work."""
    p = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    p.add_argument("-o", "--output", type=Path, default=default_out)
    p.add_argument("--inside", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--venv", type=Path, default=None, help="reuse this venv (default: a new one in /tmp)")
    args = p.parse_args()
    if args.inside:
        build_fn(args.output.resolve())
        return 0
    in_wheel_venv(Path(script), args.output, args.venv)
    return 0


def main() -> int:
    return wheel_cli(__file__, __doc__, DEFAULT_OUT, build)


if __name__ == "__main__":
    sys.exit(main())
