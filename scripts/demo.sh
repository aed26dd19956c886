#!/usr/bin/env bash
# Set up the project's venv and run the main job headlessly on the built-in sample data:
# sample portrait + built-in performance → motion.json → rendered frames → talking_head.mp4 and a
# .blend with the keyframed controls and the result strip. Output: out/demo/ (replaced each run).
#   bash scripts/demo.sh                 the add-on from this tree on bpy 5.0.1 (Python 3.11)
#   bash scripts/demo.sh --blender 5.3   this platform's extension zip, installed into bpy 5.3.0
#                                        (Python 3.13, numpy 2) as a user would install it
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "${1:-}" = "--blender" ] && [ "${2:-}" = "5.3" ]; then
  shift 2
  bash scripts/setup.sh --all
  .venv53/bin/python scripts/build_extension.py --host --fetch
  zip=$(ls -t dist/talking_head-*.zip | head -1)
  exec .venv53/bin/python scripts/demo.py --zip "$zip" "$@"
fi
bash scripts/setup.sh
.venv/bin/python scripts/demo.py "$@"
