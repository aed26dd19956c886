"""GPU sanity checks for the LivePortrait backend (run by benchmarks/device_check.sh on a lent
GPU machine; prints one PASS/FAIL/SKIP line per check and a JSON summary).

1. 5-D GridSample on onnxruntime's CUDA provider (opset 20 export of torch's grid_sample):
   placement (the probe: did CUDA run the node?) and agreement with torch on the GPU.
2. The warping+generator network (LivePortrait's architecture, random weights, from --liveportrait-src)
   on CUDA: every node placed on CUDA? fp16 vs fp32 in uint8 levels (limit 2), batch 8 vs batch 1.
3. The torch paste-back on CUDA vs OpenCV's (levels) and its time.
4. Without onnxruntime's CUDA provider (e.g. an image with the CPU onnxruntime only): the same
   W+G in PyTorch on the GPU, fp32 and fp16 -- what the ONNX path should approach -- clearly
   labelled as PyTorch, not the shipped path.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

RESULTS: dict[str, object] = {}


def report(name: str, status: str, detail: str, **values: object) -> None:
    print(f"{status:<5} {name}: {detail}", flush=True)
    RESULTS[name] = {"status": status, "detail": detail, **values}


def check_grid_sample(tmp: Path, cuda_ep: bool) -> None:
    import onnxruntime as ort
    import torch

    from engine.render.liveportrait import providers as P

    class Warp3D(torch.nn.Module):
        def forward(self, vol, grid):
            return torch.nn.functional.grid_sample(vol, grid, mode="bilinear", padding_mode="zeros",
                                                   align_corners=False)

    g = torch.Generator().manual_seed(0)
    vol = torch.randn(2, 32, 16, 64, 64, generator=g)
    grid = torch.rand(2, 16, 64, 64, 3, generator=g) * 2.2 - 1.1
    path = tmp / "gs5d.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(Warp3D(), (vol, grid), str(path), input_names=["vol", "grid"], output_names=["out"],
                          opset_version=20, dynamo=False)
    if not cuda_ep:
        report("gridsample5d_cuda_ep", "SKIP", "this onnxruntime has no CUDAExecutionProvider")
        return
    provs = ["CUDAExecutionProvider", "CPUExecutionProvider"]
    session, nodes = P.placement(lambda so: ort.InferenceSession(str(path), so, providers=provs),
                                 lambda s: {"vol": vol.numpy(), "grid": grid.numpy()})
    on_cpu = P.cpu_work(nodes, provs)
    got = session.run(None, {"vol": vol.numpy(), "grid": grid.numpy()})[0]
    dev = "cuda" if torch.cuda.is_available() else "cpu"
    want = Warp3D()(vol.to(dev), grid.to(dev)).cpu().numpy()
    err = float(np.abs(got - want).max())
    ok = not on_cpu.get("GridSample") and err < 1e-4
    where = "CPU (fallback)" if on_cpu.get("GridSample") else "CUDA"
    report("gridsample5d_cuda_ep", "PASS" if ok else "FAIL",
           f"GridSample on {where}, max |ort - torch| {err:.2e}",
           nodes={k: dict(v) for k, v in nodes.items()}, max_err=err)


def build_wg(src: Path, tmp: Path):  # noqa: ANN201
    import torch

    sys.path.insert(0, str(ROOT / "benchmarks"))
    import bench_liveportrait as B

    files = B.build_from_architecture(src, tmp, ["warping"])
    sys.path.insert(0, str(src))
    from src.modules.spade_generator import SPADEDecoder
    from src.modules.warping_network import WarpingNetwork

    torch.manual_seed(0)  # the same random weights as the export (built in the same order)

    class WG(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.w = WarpingNetwork(**B.ARCH["warping_module_params"])
            self.g = SPADEDecoder(**B.ARCH["spade_generator_params"])

        def forward(self, f, kd, ks):
            return self.g(self.w(f, kd, ks)["out"])

    return files["warping"], WG().eval()


def levels(a: np.ndarray, b: np.ndarray) -> int:
    q = lambda x: np.clip(x * 255.0, 0, 255).astype(np.uint8).astype(int)  # noqa: E731
    return int(np.abs(q(a) - q(b)).max())


def check_wg_onnx(path: Path, cuda_ep: bool) -> None:
    if not cuda_ep:
        report("wg_cuda_ep", "SKIP", "this onnxruntime has no CUDAExecutionProvider")
        return
    from engine.render.liveportrait.networks import Network

    rng = np.random.default_rng(0)
    feat = rng.normal(0, 1, (1, 32, 16, 64, 64)).astype(np.float32)
    kp_s = rng.uniform(-0.7, 0.7, (21, 3)).astype(np.float32)
    kp_d = (kp_s[None] + rng.normal(0, 0.02, (8, 21, 3))).astype(np.float32)
    t0 = time.perf_counter()
    full = Network("warping", path, ["CUDAExecutionProvider", "CPUExecutionProvider"], check=True)
    load = time.perf_counter() - t0
    a8 = full.run_warp(feat, kp_d, kp_s)
    a1 = (np.concatenate([full.run_warp(feat, kp_d[i:i + 1], kp_s) for i in range(8)])
          if full.batch_dynamic else a8)
    half = Network("warping", path, ["CUDAExecutionProvider", "CPUExecutionProvider"], fp16=True, check=True)
    h8 = half.run_warp(feat, kp_d, kp_s)
    lv16, lvb = levels(a8, h8), levels(a8, a1)
    ok = not full.cpu_nodes and lv16 <= 2 and lvb <= 1
    report("wg_cuda_ep", "PASS" if ok else "FAIL",
           f"CPU nodes {dict(full.cpu_nodes) or 'none'}; fp16 vs fp32 {lv16} levels; batch 8 vs 1 {lvb} "
           f"levels; session load {load:.1f} s", fp16_levels=lv16, batch_levels=lvb,
           cpu_nodes=dict(full.cpu_nodes))


def check_wg_torch(module, cuda: bool) -> None:
    """The PyTorch reference on the GPU (not the shipped path)."""
    import torch

    if not cuda:
        report("wg_torch_cuda", "SKIP", "torch sees no CUDA device")
        return
    m = module.cuda()
    rng = np.random.default_rng(0)
    out = {}
    for bs in (1, 8):
        f = torch.from_numpy(rng.normal(0, 1, (bs, 32, 16, 64, 64)).astype(np.float32)).cuda()
        ks = torch.from_numpy(rng.uniform(-0.7, 0.7, (bs, 21, 3)).astype(np.float32)).cuda()
        kd = ks + 0.02 * torch.randn_like(ks)
        for dtype in (torch.float32, torch.float16):
            with torch.no_grad(), torch.autocast("cuda", dtype=torch.float16, enabled=dtype == torch.float16):
                for _ in range(3):
                    y = m(f, kd, ks)
                torch.cuda.synchronize()
                t0 = time.perf_counter()
                for _ in range(10):
                    y = m(f, kd, ks)
                torch.cuda.synchronize()
            out[(bs, str(dtype))] = ((time.perf_counter() - t0) / 10 / bs * 1e3, y.float().cpu().numpy())
    lv = levels(out[(8, "torch.float32")][1], out[(8, "torch.float16")][1])
    times = {f"b{bs} {d.split('.')[-1]}": round(v[0], 2) for (bs, d), v in out.items()}
    report("wg_torch_cuda", "INFO", f"PyTorch W+G ms/frame {times}; autocast fp16 vs fp32 {lv} levels",
           ms_per_frame=times, fp16_levels=lv, memory_mb=torch.cuda.max_memory_allocated() / 2**20)


def check_paste(cuda: bool) -> None:
    import torch

    from engine.render.liveportrait import crop as C
    from engine.render.liveportrait.paste_torch import TorchPasteBack
    from engine.render.liveportrait.pipeline import to_image

    if not cuda:
        report("paste_back_cuda", "SKIP", "torch sees no CUDA device")
        return
    rng = np.random.default_rng(0)
    portrait = rng.integers(0, 255, (1080, 1920, 3), np.uint8)
    lm = np.zeros((478, 3))
    lm[:, :2] = rng.uniform([800, 400], [1100, 800], (478, 2))
    lm[33, :2], lm[133, :2], lm[263, :2], lm[362, :2] = (880, 500), (930, 500), (1020, 500), (970, 500)
    lm[61, :2], lm[291, :2] = (900, 700), (1000, 700)
    g = C.crop_geometry(lm)
    mask = C.feather_mask(512)
    frames = torch.rand(8, 3, 512, 512, device="cuda")
    tp = TorchPasteBack(portrait, g, mask, "cuda")
    got = tp.paste(frames)
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    for _ in range(5):
        tp.paste(frames)
    torch.cuda.synchronize()
    ms = (time.perf_counter() - t0) / 5 / 8 * 1e3
    host = frames.cpu().numpy()
    t0 = time.perf_counter()
    ref = [C.paste_back(portrait, to_image(host[i:i + 1]), g, mask) for i in range(8)]
    ms_cpu = (time.perf_counter() - t0) / 8 * 1e3
    lv = max(int(np.abs(a.astype(int) - b.astype(int)).max()) for a, b in zip(got, ref, strict=True))
    report("paste_back_cuda", "PASS" if lv <= 2 else "FAIL",
           f"torch CUDA vs OpenCV {lv} levels; {ms:.2f} ms/frame (incl. copy to host) vs OpenCV {ms_cpu:.1f}",
           levels=lv, ms=ms, ms_cpu=ms_cpu)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--liveportrait-src", type=Path, default=None)
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    import onnxruntime as ort
    import torch

    from engine.render.liveportrait.providers import available

    have = available()  # also preloads the nvidia-* libraries of an onnxruntime-gpu
    cuda_ep = "CUDAExecutionProvider" in have
    cuda = torch.cuda.is_available()
    print(f"onnxruntime {ort.__version__} providers {have}; torch {torch.__version__} cuda {cuda}"
          + (f" ({torch.cuda.get_device_name(0)})" if cuda else ""), flush=True)
    RESULTS["env"] = {"onnxruntime": ort.__version__, "providers": have, "torch": torch.__version__,
                      "gpu": torch.cuda.get_device_name(0) if cuda else None}
    tmp = Path(tempfile.mkdtemp(prefix="gpu_check_"))
    check_grid_sample(tmp, cuda_ep)
    check_paste(cuda)
    if args.liveportrait_src and args.liveportrait_src.is_dir():
        path, module = build_wg(args.liveportrait_src, tmp)
        check_wg_onnx(path, cuda_ep)
        check_wg_torch(module, cuda)
    else:
        report("wg", "SKIP", "no --liveportrait-src (LivePortrait's src/ folder) to build W+G from")
    if args.json:
        from engine.outputs import write_text

        write_text(args.json, json.dumps(RESULTS, indent=1, default=str))
    return 1 if any(isinstance(v, dict) and v.get("status") == "FAIL" for v in RESULTS.values()) else 0


if __name__ == "__main__":
    raise SystemExit(main())
