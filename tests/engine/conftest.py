"""Fixtures of the engine tier. ``comfyui`` (session): the real ComfyUI test server on a free
loopback port (tests/comfyui_server.py), stopped by pid at the end."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

_spec = importlib.util.spec_from_file_location(
    "comfyui_server", Path(__file__).resolve().parents[1] / "comfyui_server.py")
comfyui_server = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(comfyui_server)


@pytest.fixture(scope="session")
def comfyui_module():
    return comfyui_server


@pytest.fixture(scope="session")
def comfyui(tmp_path_factory):
    reason = comfyui_server.missing_reason()
    if reason:
        if comfyui_server.required():
            pytest.fail(reason)
        pytest.skip(reason)
    server = comfyui_server.start(tmp_path_factory.mktemp("comfyui"))
    try:
        yield server
    finally:
        server.stop()
