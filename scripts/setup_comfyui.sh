#!/usr/bin/env bash
# Install the real ComfyUI server used by the ComfyUI integration tests (tests only; never shipped).
# Wraps ../shared/comfyui/setup_server.sh, which is idempotent with its own hash stamp (DEST/.ok),
# into a git-ignored folder inside the repo so `.ci/run` installs it once per machine.
#   scripts/setup_comfyui.sh            -> $TALKING_HEAD_COMFYUI_DIR or ./.comfyui/{src,venv,ws}
# First run: about 5 minutes and 3.6 GB; afterwards it returns at once.
# Without ../shared/comfyui (a checkout outside this workplace) it says so and exits 0: the tests
# then skip loudly outside CI and fail in CI (CI=1), see tests/comfyui_server.py.
set -euo pipefail
cd "$(dirname "$0")/.."
SRC=${TALKING_HEAD_COMFYUI_SRC:-../shared/comfyui}
DEST=${TALKING_HEAD_COMFYUI_DIR:-.comfyui}
if [ ! -f "$SRC/setup_server.sh" ]; then
  echo "setup_comfyui: $SRC/setup_server.sh is absent; ComfyUI server tests cannot run" >&2
  exit 0
fi
bash "$SRC/setup_server.sh" "$DEST"
