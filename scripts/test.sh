#!/usr/bin/env bash
# Set up and run every test tier: lint, engine (no Blender), Blender 5.0 integration, Blender 4.5
# integration. Exits non-zero if any tier fails.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --all
# the real ComfyUI server of the ComfyUI backend tests (once per machine, cached in .comfyui/)
bash scripts/setup_comfyui.sh
export TALKING_HEAD_REQUIRE_COMFYUI=1  # those tests fail, never skip, when the server is missing

echo "== lint (ruff)"
.venv/bin/ruff check .

echo "== engine tests (no Blender)"
.venv/bin/python -m pytest tests/engine

echo "== extension zip for this platform (fetch its pinned wheels, validate + build with Blender's tool)"
.venv/bin/python scripts/build_extension.py --host --fetch

echo "== Blender 5.0 integration tests (bpy 5.0.1)"
.venv/bin/python -m pytest tests/blender

echo "== Blender 4.5 LTS integration tests (bpy 4.5)"
.venv45/bin/python -m pytest tests/blender
