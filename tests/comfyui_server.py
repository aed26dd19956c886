"""Start and stop the real ComfyUI test server (installed by scripts/setup_comfyui.sh).

Used by tests/engine and tests/blender fixtures: a free loopback port, a fresh working folder
per server (its models/, input/, output/), ready when /system_stats answers, stopped by pid.
Without the installed server the tests skip with a loud reason, except when CI or
TALKING_HEAD_REQUIRE_COMFYUI=1 (scripts/test.sh sets it): then they fail.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
COMFY_DIR = Path(os.environ.get("TALKING_HEAD_COMFYUI_DIR") or ROOT / ".comfyui")
if not COMFY_DIR.is_absolute():
    COMFY_DIR = ROOT / COMFY_DIR
EXE = COMFY_DIR / "venv" / "bin" / "comfyui"
PYTHON = COMFY_DIR / "venv" / "bin" / "python"
SLOW_MODEL = "th_test_slow_2x.safetensors"


def required() -> bool:
    return bool(os.environ.get("CI") or os.environ.get("TALKING_HEAD_REQUIRE_COMFYUI"))


def missing_reason() -> str | None:
    if EXE.is_file():
        return None
    return (f"!!! ComfyUI server tests NOT RUN: no server in {COMFY_DIR} "
            "(run scripts/setup_comfyui.sh; needs ../shared/comfyui) !!!")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, workdir: Path):
        self.workdir = Path(workdir)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen | None = None
        self.log = self.workdir / "server.log"

    def start(self, timeout: float = 120.0) -> Server:
        (self.workdir / "ws").mkdir(parents=True, exist_ok=True)
        self._log = open(self.log, "wb")
        self.proc = subprocess.Popen(
            [str(EXE), "--cpu", "--listen", "127.0.0.1", "--port", str(self.port),
             "--cwd", str(self.workdir / "ws")],
            stdout=self._log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"ComfyUI exited with {self.proc.returncode}; log: {self.tail()}")
            try:
                with urllib.request.urlopen(self.url + "/system_stats", timeout=2) as r:
                    if r.status == 200:
                        return self
            except OSError:
                time.sleep(0.5)
        self.stop()
        raise RuntimeError(f"ComfyUI did not answer within {timeout:.0f} s; log: {self.tail()}")

    def tail(self) -> str:
        try:
            return self.log.read_text(errors="replace")[-2000:]
        except OSError:
            return ""

    def stop(self, kill: bool = False) -> None:
        """Terminate (or ``kill``: a crash, as a lost GPU box would look) and wait, by pid."""
        if self.proc is not None and self.proc.poll() is None:
            if kill:
                self.proc.kill()
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        if getattr(self, "_log", None):
            self._log.close()

    @property
    def models(self) -> Path:
        return self.workdir / "ws" / "models"

    def add_slow_upscale_model(self) -> str:
        """A tiny random-weight 2x upscaler (spandrel's Compact arch, saved as safetensors, never
        pickle): ImageUpscaleWithModel then runs slowly enough on this CPU and reports progress."""
        folder = self.models / "upscale_models"
        folder.mkdir(parents=True, exist_ok=True)
        target = folder / SLOW_MODEL
        if not target.is_file():
            code = (
                "import sys, torch\n"
                "from safetensors.torch import save_file\n"
                "from spandrel.architectures.Compact import Compact\n"
                "torch.manual_seed(0)\n"
                "m = Compact(num_in_ch=3, num_out_ch=3, num_feat=48, num_conv=12, upscale=2)\n"
                "save_file({k: v.contiguous() for k, v in m.state_dict().items()}, sys.argv[1])\n")
            subprocess.run([str(PYTHON), "-c", code, str(target)], check=True)
        return SLOW_MODEL


def start(workdir: Path) -> Server:
    return Server(workdir).start()


if __name__ == "__main__":  # manual use: python tests/comfyui_server.py DIR
    srv = start(Path(sys.argv[1]))
    print(srv.url, srv.proc.pid)
