"""ComfyUI backend: the client's overhead per frame on loopback, at 512² and 1080p.

Phases, each timed on its own (median of --repeats runs, ms per frame):
  encode    drive frames -> H.264 mp4 (crf 10) for upload
  upload    portrait PNG + drive mp4 through /upload/image
  server    queue -> websocket -> execution_success of the core round-trip workflow (the
            server's own work; not client overhead, shown for scale)
  download  the result mp4 through /view
  decode    result mp4 -> RGB frames
  conform   fps/count/size conform (+ paste-back of a face crop, 512² only: "paste")
Client overhead = encode + upload + download + decode + conform.

Run: .venv/bin/python benchmarks/bench_comfyui.py [--frames 24] [--repeats 3] [--server URL]
Without --server it starts the test server from scripts/setup_comfyui.sh (.comfyui/) on a free
loopback port and stops it at the end.
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
PORTRAIT = ROOT.parent / "shared" / "testdata" / "portraits" / "photo_woman.jpg"


def frames_at(size: int, n: int):  # noqa: ANN201 - benchmark helper
    import cv2
    import numpy as np

    from engine.media.video import load_image

    img = load_image(PORTRAIT if PORTRAIT.is_file() else ROOT / "engine" / "assets" / "sample_portrait.jpg")
    if size == 512:
        base = cv2.resize(img, (512, 512), interpolation=cv2.INTER_AREA)
    else:
        h, w = img.shape[:2]
        s = size / h
        face = cv2.resize(img, (round(w * s), size), interpolation=cv2.INTER_CUBIC)
        pad = (1920 - face.shape[1]) // 2
        base = cv2.copyMakeBorder(face, 0, 0, pad, 1920 - face.shape[1] - pad, cv2.BORDER_REPLICATE)
    # a moving drive: shift the frame a little each time so h264 has real motion to encode
    return base, [np.roll(base, k * 3, axis=1) for k in range(n)]


def run_once(client, wf, base, drive, fps: float, tmp: str, crop: bool) -> dict[str, float]:
    from engine.render.comfyui import media
    from engine.render.comfyui.renderer import _output_files

    t = {}
    t0 = time.perf_counter()
    data = media.encode_mp4(drive, fps, tmp)
    t["encode"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    values = {"portrait": client.upload(media.encode_png(base), ".png"), "video": client.upload(data, ".mp4")}
    t["upload"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    result = client.run(wf.fill(values))
    t["server"] = time.perf_counter() - t0
    f = _output_files(result.outputs[wf.output])[0]
    t0 = time.perf_counter()
    blob = client.view(f["filename"], f["subfolder"], f["type"])
    t["download"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    frames, got_fps = media.decode_output(blob, f["filename"])
    t["decode"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    h, w = base.shape[:2]
    out, _ = media.conform(frames, got_fps, len(drive), fps, (w, h))
    if crop:
        box = media.CropBox(w // 4, h // 4, w // 2)
        out = [media.paste_back(base, box, cv2_resize(fr, box.size)) for fr in out]
    t["conform"] = time.perf_counter() - t0
    return t


def cv2_resize(rgb, side: int):  # noqa: ANN201 - benchmark helper
    import cv2

    return cv2.resize(rgb, (side, side), interpolation=cv2.INTER_AREA)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--frames", type=int, default=24)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--server", help="a running ComfyUI server (default: start the test server)")
    args = ap.parse_args()

    from engine.render.comfyui.client import ComfyClient
    from engine.render.comfyui.workflow import load_workflow

    server = None
    url = args.server
    if not url:
        spec = importlib.util.spec_from_file_location("comfyui_server", ROOT / "tests" / "comfyui_server.py")
        helper = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(helper)
        if helper.missing_reason():
            print(helper.missing_reason())
            return 2
        server = helper.start(Path(tempfile.mkdtemp(prefix="bench_comfyui_")))
        url = server.url
    try:
        client = ComfyClient(url)
        wf = load_workflow("core_roundtrip")
        print(f"server {url}; {args.frames} frames at 25 fps; median of {args.repeats} runs; ms per frame")
        print(f"{'size':>10} {'encode':>7} {'upload':>7} {'download':>8} {'decode':>7} {'conform':>8} "
              f"{'client':>7} {'server':>7}")
        for size in (512, 1080):
            base, drive = frames_at(size, args.frames)
            runs = []
            with tempfile.TemporaryDirectory() as tmp:
                for _ in range(args.repeats):
                    runs.append(run_once(client, wf, base, drive, 25.0, tmp, crop=size == 512))
            med = {k: statistics.median(r[k] for r in runs) * 1000 / args.frames for k in runs[0]}
            client_ms = sum(med[k] for k in ("encode", "upload", "download", "decode", "conform"))
            label = f"{base.shape[1]}x{base.shape[0]}"
            print(f"{label:>10} {med['encode']:7.1f} {med['upload']:7.1f} {med['download']:8.1f} "
                  f"{med['decode']:7.1f} {med['conform']:8.1f} {client_ms:7.1f} {med['server']:7.1f}"
                  + ("   (conform incl. paste-back of a crop)" if size == 512 else ""))
    finally:
        if server is not None:
            server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
