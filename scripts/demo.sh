#!/usr/bin/env bash
# Set up the project's venv and run the main job headlessly on the built-in sample data:
# sample portrait + built-in performance → motion.json → rendered frames → talking_head.mp4 and a
# .blend with the keyframed controls and the result strip. Output: out/demo/ (replaced each run).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/python scripts/demo.py "$@"
