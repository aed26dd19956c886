"""LivePortrait backend: milliseconds per frame by stage at 512², through onnxruntime.

    .venv/bin/python benchmarks/bench_liveportrait.py [--frames 3] [--device cpu|auto]
        [--models-dir DIR] [--liveportrait-src PATH_TO_LivePortrait_checkout] [--portrait IMG]

Which networks are timed, in order of preference, per network:
  1. installed, verified model files (``python -m engine models download/install``): the real thing;
  2. the real F, stitching and lip files in ../shared/reference/liveportrait_onnx;
  3. with --liveportrait-src: M, W+G and the eye MLP built from LivePortrait's published
     architecture (its src/modules, sizes from src/config/models.yaml) with RANDOM weights, exported here
     to ONNX (opset 20, dynamo=False). Their cost does not depend on the weight values, so the
     timings are representative; the images are noise;
  4. otherwise tiny stand-ins with the same signatures: their timings mean nothing and are
     labelled so.
The table says which source each network came from. Prints medians over --frames frames.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from engine.controls import NEUTRAL  # noqa: E402
from engine.models.store import ModelStore  # noqa: E402
from engine.render.liveportrait import crop as C  # noqa: E402
from engine.render.liveportrait import pipeline as P  # noqa: E402
from engine.render.liveportrait.networks import ROLES  # noqa: E402
from engine.video_io import load_image  # noqa: E402

SHARED = ROOT.parent / "shared"
SHARED_ONNX = SHARED / "reference" / "liveportrait_onnx"
SHARED_FILES = {"appearance": "appearance_feature_extractor.onnx", "stitching": "stitching.onnx",
                "lip": "stitching_lip.onnx"}


def _export(module, args, path, inputs, outputs, opset=20):
    import torch

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(module.eval(), args, str(path), input_names=inputs, output_names=outputs,
                          opset_version=opset, dynamo=False)
    return path


# LivePortrait's src/config/models.yaml (commit 1986663), the published architecture sizes.
ARCH = {
    "motion_extractor_params": {"num_kp": 21, "backbone": "convnextv2_tiny"},
    "warping_module_params": {
        "num_kp": 21, "block_expansion": 64, "max_features": 512, "num_down_blocks": 2,
        "reshape_channel": 32, "estimate_occlusion_map": True,
        "dense_motion_params": {"block_expansion": 32, "max_features": 1024, "num_blocks": 5,
                                "reshape_depth": 16, "compress": 4}},
    "spade_generator_params": {"upscale": 2, "block_expansion": 64, "max_features": 512,
                               "num_down_blocks": 2},
    "stitching_retargeting_module_params": {
        "eye": {"input_size": 66, "hidden_sizes": [256, 256, 128, 128, 64], "output_size": 63}},
}


def build_from_architecture(src: Path, out: Path, roles: list[str]) -> dict[str, Path]:
    """M, W+G, eye from LivePortrait's own module code with random weights (not copied here)."""
    import torch

    sys.path.insert(0, str(src))
    from src.modules.motion_extractor import MotionExtractor
    from src.modules.spade_generator import SPADEDecoder
    from src.modules.stitching_retargeting_network import StitchingRetargetingNetwork
    from src.modules.warping_network import WarpingNetwork

    cfg = ARCH
    torch.manual_seed(0)
    files: dict[str, Path] = {}
    if "motion" in roles:
        class M(torch.nn.Module):
            def __init__(self):
                super().__init__()
                self.m = MotionExtractor(**cfg["motion_extractor_params"])

            def forward(self, x):
                d = self.m(x)
                return tuple(d[k] for k in ("pitch", "yaw", "roll", "t", "exp", "scale", "kp"))

        files["motion"] = _export(M(), (torch.rand(1, 3, 256, 256),), out / "motion_extractor.onnx",
                                  ["img"], ["pitch", "yaw", "roll", "t", "exp", "scale", "kp"])
    if "warping" in roles:
        class WG(torch.nn.Module):
            def __init__(self):
                super().__init__()
                self.w = WarpingNetwork(**cfg["warping_module_params"])
                self.g = SPADEDecoder(**cfg["spade_generator_params"])

            def forward(self, f, kd, ks):
                return self.g(self.w(f, kd, ks)["out"])

        kp = torch.rand(1, 21, 3) * 1.6 - 0.8
        files["warping"] = _export(WG(), (torch.randn(1, 32, 16, 64, 64), kp, kp * 0.98),
                                   out / "warping_spade.onnx", ["feature_3d", "kp_driving", "kp_source"],
                                   ["out"])
    if "eye" in roles:
        net = StitchingRetargetingNetwork(**cfg["stitching_retargeting_module_params"]["eye"])
        files["eye"] = _export(net, (torch.rand(1, 66),), out / "stitching_eye.onnx", ["input"], ["output"])
    return files


def build_tiny(out: Path, roles: list[str]) -> dict[str, Path]:
    import torch

    class M(torch.nn.Module):
        def forward(self, x):
            m = x.mean().reshape(1, 1)
            z = lambda n: m.expand(1, n) * 0.01  # noqa: E731
            return z(66), z(66), z(66), z(3), z(63), m * 0 + 1, z(63)

    class WG(torch.nn.Module):
        def forward(self, f, kd, ks):
            v = f.mean() + kd.mean() - ks.mean()
            return torch.sigmoid(v).reshape(1, 1, 1, 1).expand(1, 3, 512, 512)

    class E(torch.nn.Module):
        def forward(self, x):
            return x[:, :63] * 0.0

    files = {}
    if "motion" in roles:
        files["motion"] = _export(M(), (torch.rand(1, 3, 256, 256),), out / "m.onnx", ["img"],
                                  ["pitch", "yaw", "roll", "t", "exp", "scale", "kp"], 17)
    if "warping" in roles:
        args = (torch.randn(1, 32, 16, 64, 64), torch.rand(1, 21, 3), torch.rand(1, 21, 3))
        files["warping"] = _export(WG(), args, out / "wg.onnx", ["f", "kd", "ks"], ["o"], 17)
    if "eye" in roles:
        files["eye"] = _export(E(), (torch.rand(1, 66),), out / "e.onnx", ["input"], ["output"], 17)
    return files


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--frames", type=int, default=3)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--models-dir", default=None)
    ap.add_argument("--liveportrait-src", type=Path, default=None)
    ap.add_argument("--portrait", type=Path, default=SHARED / "testdata" / "portraits" / "photo_woman.jpg")
    args = ap.parse_args()

    import onnxruntime as ort

    files: dict[str, Path] = {}
    source: dict[str, str] = {}
    store = ModelStore(args.models_dir)
    status = store.status("liveportrait")
    for role, path in store.paths("liveportrait").items():
        if status[path.name] in ("ok", "trusted"):
            files[role], source[role] = path, "real (model store)"
    for role, name in SHARED_FILES.items():
        if role not in files and (SHARED_ONNX / name).is_file():
            files[role], source[role] = SHARED_ONNX / name, "real (shared/reference)"
    tmp = Path(tempfile.mkdtemp(prefix="bench_lp_"))
    need = [r for r in ROLES if r not in files]
    if need and args.liveportrait_src:
        t0 = time.perf_counter()
        built = build_from_architecture(args.liveportrait_src, tmp, need)
        print(f"exported {', '.join(built)} from the published architecture in "
              f"{time.perf_counter() - t0:.0f} s", flush=True)
        for r, p in built.items():
            files[r], source[r] = p, "architecture, random weights"
    need = [r for r in ROLES if r not in files]
    if need:
        for r, p in build_tiny(tmp, need).items():
            files[r], source[r] = p, "TINY STAND-IN (timing meaningless)"

    portrait = load_image(args.portrait) if args.portrait.exists() else load_image(
        ROOT / "engine" / "assets" / "sample_portrait.jpg")
    r = P.LivePortraitRenderer(device=args.device, model_files=files)
    t0 = time.perf_counter()
    lm = P.track_landmarks(portrait)
    t_track = time.perf_counter() - t0
    nets = r._networks()
    geom = C.crop_geometry(lm)
    t0 = time.perf_counter()
    crop = C.crop_image(portrait, geom, 256)
    t_crop = time.perf_counter() - t0
    inp = P.to_input(crop)
    t0 = time.perf_counter()
    nets.appearance(inp)
    t_f = time.perf_counter() - t0
    t0 = time.perf_counter()
    nets.motion(inp)
    t_m = time.perf_counter() - t0
    r.prepare(portrait, lm)

    per: dict[str, list[float]] = {}
    totals = []
    for i in range(args.frames):
        c = dict(NEUTRAL, head_yaw=10.0 * np.sin(i), mouth_open=0.5 + 0.4 * np.cos(i), eye_open_l=0.8,
                 eye_open_r=0.8, mouth_smile=0.3)
        t0 = time.perf_counter()
        r.render_frame(c)
        totals.append((time.perf_counter() - t0) * 1e3)
        for k, v in r.timings.items():
            per.setdefault(k, []).append(v)

    print(f"\nLivePortrait on onnxruntime {ort.__version__}, providers {nets.providers}, "
          f"portrait {portrait.shape[1]}x{portrait.shape[0]}, output crop 512², {args.frames} frames")
    for role in ROLES:
        print(f"  {role:<11} {source[role]}")
    print("\nonce per portrait (ms):")
    print(f"  {'track (MediaPipe)':<24}{t_track * 1e3:10.1f}")
    print(f"  {'crop 512 -> 256':<24}{t_crop * 1e3:10.1f}")
    print(f"  {'F appearance':<24}{t_f * 1e3:10.1f}   [{source['appearance']}]")
    print(f"  {'M motion':<24}{t_m * 1e3:10.1f}   [{source['motion']}]")
    print("\nper frame, median ms:")
    for k, label, role in (("keypoints", "controls -> keypoints", None),
                           ("retarget", "eye + lip MLPs", "eye"), ("stitching", "stitching MLP", "stitching"),
                           ("warp_generate", "W+G", "warping"), ("paste_back", "paste-back", None)):
        tag = f"   [{source[role]}]" if role else ""
        if role == "eye":
            tag = f"   [eye: {source['eye']}; lip: {source['lip']}]"
        print(f"  {label:<24}{statistics.median(per[k]):10.1f}{tag}")
    print(f"  {'total':<24}{statistics.median(totals):10.1f}")
    if nets.fallbacks:
        print("fallbacks:", *nets.fallbacks, sep="\n  ")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
