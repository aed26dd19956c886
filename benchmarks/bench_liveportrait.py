"""LivePortrait backend: milliseconds per frame by stage at 512², through onnxruntime, per
provider and batch size (GPU memory on CUDA; fp16 vs fp32 difference with --fp16).

    .venv/bin/python benchmarks/bench_liveportrait.py [--frames 3] [--device cpu,cuda]
        [--batch-sizes 1,8] [--fp16] [--tensorrt] [--models-dir DIR]
        [--liveportrait-src PATH_TO_LivePortrait_checkout] [--portrait IMG]

end-to-end = render_frames() wall time per frame (keypoints, retargeting, stitching, W+G in
batches, paste-back), after one warm-up batch.

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
from engine.media.video import load_image  # noqa: E402
from engine.models.store import ModelStore  # noqa: E402
from engine.render.liveportrait import crop as C  # noqa: E402
from engine.render.liveportrait import pipeline as P  # noqa: E402
from engine.render.liveportrait.networks import ROLES  # noqa: E402

SHARED = ROOT.parent / "shared"
SHARED_ONNX = SHARED / "reference" / "liveportrait_onnx"
SHARED_FILES = {"appearance": "appearance_feature_extractor.onnx", "stitching": "stitching.onnx",
                "lip": "stitching_lip.onnx"}


def _export(module, args, path, inputs, outputs, opset=20, dynamic=None):
    import torch

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(module.eval(), args, str(path), input_names=inputs, output_names=outputs,
                          opset_version=opset, dynamo=False, dynamic_axes=dynamic)
    return path


# LivePortrait's src/config/models.yaml (commit 1986663), the published architecture sizes.
ARCH = {
    "appearance_feature_extractor_params": {"image_channel": 3, "block_expansion": 64, "num_down_blocks": 2,
                                            "max_features": 512, "reshape_channel": 32, "reshape_depth": 16,
                                            "num_resblocks": 6},
    "motion_extractor_params": {"num_kp": 21, "backbone": "convnextv2_tiny"},
    "warping_module_params": {
        "num_kp": 21, "block_expansion": 64, "max_features": 512, "num_down_blocks": 2,
        "reshape_channel": 32, "estimate_occlusion_map": True,
        "dense_motion_params": {"block_expansion": 32, "max_features": 1024, "num_blocks": 5,
                                "reshape_depth": 16, "compress": 4}},
    "spade_generator_params": {"upscale": 2, "block_expansion": 64, "max_features": 512,
                               "num_down_blocks": 2},
    "stitching_retargeting_module_params": {
        "stitching": {"input_size": 126, "hidden_sizes": [128, 128, 64], "output_size": 65},
        "lip": {"input_size": 65, "hidden_sizes": [128, 128, 64], "output_size": 63},
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

        kp = torch.rand(2, 21, 3) * 1.6 - 0.8
        b = {0: "batch"}  # a free batch axis: several frames per run
        files["warping"] = _export(WG(), (torch.randn(2, 32, 16, 64, 64), kp, kp * 0.98),
                                   out / "warping_spade.onnx", ["feature_3d", "kp_driving", "kp_source"],
                                   ["out"],
                                   dynamic={"feature_3d": b, "kp_driving": b, "kp_source": b, "out": b})
    if "eye" in roles:
        net = StitchingRetargetingNetwork(**cfg["stitching_retargeting_module_params"]["eye"])
        files["eye"] = _export(net, (torch.rand(1, 66),), out / "stitching_eye.onnx", ["input"], ["output"])
    # without ../shared (e.g. on a GPU machine, where only the checkout travels): F, stitching, lip too
    if "appearance" in roles:
        from src.modules.appearance_feature_extractor import AppearanceFeatureExtractor

        net = AppearanceFeatureExtractor(**cfg["appearance_feature_extractor_params"])
        files["appearance"] = _export(net, (torch.rand(1, 3, 256, 256),),
                                      out / "appearance_feature_extractor.onnx", ["img"], ["output"])
    for role, size in (("stitching", 126), ("lip", 65)):
        if role in roles:
            net = StitchingRetargetingNetwork(**cfg["stitching_retargeting_module_params"][role])
            files[role] = _export(net, (torch.rand(1, size),), out / f"{role}.onnx", ["input"], ["output"])
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
        files["warping"] = _export(WG(), args, out / "wg.onnx", ["f", "kd", "ks"], ["o"], 17)  # batch 1
    if "eye" in roles:
        files["eye"] = _export(E(), (torch.rand(1, 66),), out / "e.onnx", ["input"], ["output"], 17)
    return files


def gpu_memory_mb() -> float | None:
    """Used GPU memory of device 0 (nvidia-smi), None without one."""
    import shutil
    import subprocess

    if not shutil.which("nvidia-smi"):
        return None
    try:
        out = subprocess.run(["nvidia-smi", "--query-gpu=memory.used", "--format=csv,noheader,nounits",
                              "-i", "0"], capture_output=True, text=True, timeout=10).stdout
        return float(out.strip().splitlines()[0])
    except (OSError, ValueError, IndexError, subprocess.SubprocessError):
        return None


def controls(i: int) -> dict:
    return dict(NEUTRAL, head_yaw=10.0 * np.sin(i), mouth_open=0.5 + 0.4 * np.cos(i), eye_open_l=0.8,
                eye_open_r=0.8, mouth_smile=0.3)


def run_one(files, source, portrait, lm, device, batch, frames, fp16, tensorrt) -> dict:
    mem0 = gpu_memory_mb()
    r = P.LivePortraitRenderer(device=device, model_files=files, batch_size=batch, fp16=fp16,
                               tensorrt=tensorrt)
    t0 = time.perf_counter()
    nets = r._networks()
    t_load = time.perf_counter() - t0
    geom = C.crop_geometry(lm)
    inp = P.to_input(C.crop_image(portrait, geom, 256))
    t_f = []
    t_m = []
    for _ in range(3):
        t0 = time.perf_counter()
        nets.appearance(inp)
        t_f.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        nets.motion(inp)
        t_m.append(time.perf_counter() - t0)
    r.prepare(portrait, lm)
    items = [(controls(i), None) for i in range(frames)]
    r.render_frames(items[:batch])  # warm-up (CUDA kernels, cuDNN algorithm search, TensorRT build)
    per: dict[str, list[float]] = {}
    totals = []
    for k in range(0, frames, batch):
        chunk = items[k:k + batch]
        t0 = time.perf_counter()
        r.render_frames(chunk)
        totals.append((time.perf_counter() - t0) * 1e3 / len(chunk))
        for key, v in r.timings.items():
            per.setdefault(key, []).append(v)
    mem1 = gpu_memory_mb()
    out = {"device": device, "provider": r.provider, "batch": batch, "fp16": fp16,
           "fp16_levels": r.fp16_levels, "load_s": t_load, "F": statistics.median(t_f) * 1e3,
           "M": statistics.median(t_m) * 1e3, "total": statistics.median(totals),
           "gpu_mb": (mem1 - mem0) if mem0 is not None and mem1 is not None else None,
           "paste": "torch GPU" if r._paste is not None else "OpenCV CPU",
           "batched": r.nets["warping"].batch_dynamic, "fallbacks": list(nets.fallbacks)}
    for key in ("keypoints", "retarget", "stitching", "warp_generate", "paste_back"):
        out[key] = statistics.median(per[key])
    r.close()
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--frames", type=int, default=3, help="timed frames per configuration")
    ap.add_argument("--device", default="cpu", help="comma list of auto,cuda,dml,coreml,cpu")
    ap.add_argument("--batch-sizes", default="1", help="comma list, e.g. 1,4,8")
    ap.add_argument("--fp16", action="store_true", help="also run each configuration in fp16")
    ap.add_argument("--tensorrt", action="store_true", help="TensorRT before CUDA when installed")
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
    t0 = time.perf_counter()
    lm = P.track_landmarks(portrait)
    t_track = time.perf_counter() - t0

    have = ", ".join(ort.get_available_providers())
    print(f"\nLivePortrait on onnxruntime {ort.__version__} (available: {have}), "
          f"portrait {portrait.shape[1]}x{portrait.shape[0]}, output crop 512², {args.frames} frames per row")
    for role in ROLES:
        print(f"  {role:<11} {source[role]}")
    print(f"once per portrait: MediaPipe tracking {t_track * 1e3:.0f} ms")
    head = (f"{'provider':<22}{'batch':>6}{'fp16':>6}{'F':>8}{'M':>8}{'kp':>7}{'retgt':>7}{'stitch':>7}"
            f"{'W+G':>9}{'paste':>8}{'end2end':>9}{'GPU MB':>8}")
    print("\nms (F, M: once per portrait; the rest per frame, medians)\n" + head)
    rows = []
    for device in args.device.split(","):
        for batch in (int(b) for b in args.batch_sizes.split(",")):
            for fp16 in ((False, True) if args.fp16 else (False,)):
                row = run_one(files, source, portrait, lm, device.strip(), batch, args.frames, fp16,
                              args.tensorrt)
                rows.append(row)
                mem = f"{row['gpu_mb']:.0f}" if row["gpu_mb"] is not None else "-"
                half = "yes" if fp16 else "no"
                print(f"{row['provider']:<22}{batch:>6}{half:>6}{row['F']:>8.1f}{row['M']:>8.1f}"
                      f"{row['keypoints']:>7.1f}{row['retarget']:>7.1f}{row['stitching']:>7.1f}"
                      f"{row['warp_generate']:>9.1f}{row['paste_back']:>8.1f}{row['total']:>9.1f}{mem:>8}",
                      flush=True)
                axis = "free" if row["batched"] else "fixed (1)"
                notes = [f"paste-back: {row['paste']}", f"W+G batch axis {axis}"]
                if fp16:
                    notes.append(f"fp16 vs fp32: {row['fp16_levels']} levels max")
                print("    " + "; ".join(notes + row["fallbacks"]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
