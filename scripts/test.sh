#!/usr/bin/env bash
# Set up and run every test tier: lint, engine (no Blender), Blender 5.0 integration, Blender 4.5
# integration. Exits non-zero if any tier fails.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --all
bash scripts/setup_farm.sh >/dev/null   # .venv-farm: openjd-cli for the farm tests
# openjd-cli was just installed: the farm bundle test must run (a missing tool fails, never skips).
export TALKING_HEAD_CI=1
# the real ComfyUI server of the ComfyUI backend tests (once per machine, cached in .comfyui/)
bash scripts/setup_comfyui.sh
export TALKING_HEAD_REQUIRE_COMFYUI=1  # those tests fail, never skip, when the server is missing

echo "== lint (ruff)"
.venv/bin/ruff check .

echo "== engine tests (no Blender; includes the Flamenco job type under node, skipped without node)"
.venv/bin/python -m pytest tests/engine

echo "== extension zip for this platform (fetch its pinned wheels, validate + build with Blender's tool)"
.venv/bin/python scripts/build_extension.py --host --fetch

echo "== Blender 5.0 integration tests (bpy 5.0.1; includes openjd run of the farm bundle)"
.venv/bin/python -m pytest tests/blender

echo "== Blender 4.5 LTS integration tests (bpy 4.5)"
.venv45/bin/python -m pytest tests/blender
