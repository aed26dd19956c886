#!/usr/bin/env bash
# Set up and run every test tier: lint, engine (no Blender), then the Blender integration tiers on
# 5.0 (Python 3.11), 5.3 (Python 3.13, numpy 2), 4.5 LTS and 4.2 LTS (Python 3.11). Exits non-zero if
# any tier fails; prints each tier's time.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --all
bash scripts/setup_farm.sh >/dev/null   # .venv-farm: openjd-cli for the farm tests
# openjd-cli was just installed: the farm bundle test must run (a missing tool fails, never skips).
export TALKING_HEAD_CI=1
# the real ComfyUI server of the ComfyUI backend tests (once per machine, cached in .comfyui/)
bash scripts/setup_comfyui.sh
export TALKING_HEAD_REQUIRE_COMFYUI=1  # those tests fail, never skip, when the server is missing

tier() {  # tier NAME COMMAND...: run one tier, report its wall time
  local name=$1 t0=$SECONDS; shift
  echo "== $name"
  "$@"
  echo "== $name: $((SECONDS - t0)) s"
}

echo "== lint (ruff)"
.venv/bin/ruff check .

tier "engine tests (no Blender; includes the Flamenco job type under node)" \
  .venv/bin/python -m pytest tests/engine

tier "extension zip for this platform (fetch its pinned wheels, validate + build with Blender's tool)" \
  .venv/bin/python scripts/build_extension.py --host --fetch

tier "Blender 5.0 integration tests (bpy 5.0.1, Python 3.11; includes openjd run of the farm bundle)" \
  .venv/bin/python -m pytest tests/blender

tier "Blender 5.3 integration tests (bpy 5.3.0, Python 3.13, numpy 2)" \
  .venv53/bin/python -m pytest tests/blender

tier "Blender 4.5 LTS integration tests (bpy 4.5)" \
  .venv45/bin/python -m pytest tests/blender

# 4.2: without the uninstall test (uninstall, then quit, crashes Blender 4.2 at exit: tests/blender/conftest.py)
tier "Blender 4.2 LTS integration tests (bpy 4.2.0)" \
  .venv42/bin/python -m pytest tests/blender -m "not uninstalls_addon"
