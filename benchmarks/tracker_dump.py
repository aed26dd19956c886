"""Dump what the face tracker finds on every frame of the shared driving clips (VIDEO mode) to an
.npz, so two tracker runtimes (e.g. two MediaPipe versions) can be compared frame by frame:

    .venv/bin/python benchmarks/tracker_dump.py -o /tmp/tracker_a.npz
    .venv/bin/python benchmarks/tracker_dump.py --compare /tmp/tracker_a.npz /tmp/tracker_b.npz

Landmark differences are reported in pixels and as a fraction of the face size; blendshapes as
absolute score differences (0..1)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
SHARED = ROOT.parent / "shared" / "testdata" / "driving"


def dump(out: Path, limit: int) -> None:
    import cv2
    import mediapipe

    from engine.face_tracker import FaceTracker

    arrays: dict[str, np.ndarray] = {}
    for clip in sorted(SHARED.glob("*.mp4")):
        cap = cv2.VideoCapture(str(clip))
        fps = cap.get(cv2.CAP_PROP_FPS) or 30.0
        lms, bss, found = [], [], []
        with FaceTracker(video=True, max_faces=1) as tracker:
            i = 0
            while i < limit:
                ok, bgr = cap.read()
                if not ok:
                    break
                faces = tracker.detect(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), int(i * 1000 / fps))
                found.append(bool(faces))
                lms.append(faces[0].landmarks if faces else np.full((478, 3), np.nan, np.float32))
                bss.append(faces[0].blendshapes if faces else np.full(52, np.nan, np.float32))
                i += 1
        cap.release()
        arrays[f"{clip.stem}/landmarks"] = np.stack(lms)
        arrays[f"{clip.stem}/blendshapes"] = np.stack(bss)
        arrays[f"{clip.stem}/found"] = np.array(found)
        print(f"{clip.name}: {sum(found)}/{len(found)} frames with a face", flush=True)
    arrays["mediapipe_version"] = np.array(mediapipe.__version__)
    np.savez_compressed(out, **arrays)
    print(f"mediapipe {mediapipe.__version__}: wrote {out}")


def compare(a_path: Path, b_path: Path) -> None:
    a, b = np.load(a_path, allow_pickle=False), np.load(b_path, allow_pickle=False)
    print(f"A: mediapipe {a['mediapipe_version']}   B: mediapipe {b['mediapipe_version']}")
    print(f"{'clip':24} {'frames':>7} {'found A/B':>10} {'lm med px':>9} {'lm p99 px':>9} "
          f"{'lm max %face':>12} {'bs med':>7} {'bs max':>7}")
    clips = sorted({k.split("/")[0] for k in a.files if "/" in k})
    for clip in clips:
        la, lb = a[f"{clip}/landmarks"], b[f"{clip}/landmarks"]
        n = min(len(la), len(lb))
        both = a[f"{clip}/found"][:n] & b[f"{clip}/found"][:n]
        d = np.linalg.norm(la[:n][both, :, :2] - lb[:n][both, :, :2], axis=-1)
        size = np.ptp(la[:n][both, :, :2], axis=1).max(axis=-1)[:, None]
        bd = np.abs(a[f"{clip}/blendshapes"][:n][both] - b[f"{clip}/blendshapes"][:n][both])
        print(f"{clip:24} {n:7d} {int(a[f'{clip}/found'].sum()):5d}/{int(b[f'{clip}/found'].sum()):<4d} "
              f"{np.median(d):9.3f} {np.percentile(d, 99):9.3f} {100 * (d / size).max():11.2f}% "
              f"{np.median(bd):7.4f} {bd.max():7.4f}")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("-o", "--output", type=Path)
    p.add_argument("--limit", type=int, default=10_000, help="frames per clip at most")
    p.add_argument("--compare", nargs=2, type=Path, metavar=("A", "B"))
    args = p.parse_args()
    if args.compare:
        compare(*args.compare)
    elif args.output:
        dump(args.output, args.limit)
    else:
        p.error("give -o OUT or --compare A B")
    return 0


if __name__ == "__main__":
    sys.exit(main())
