#!/usr/bin/env bash
# Make the project's virtual environments inside the repo (git-ignored) and install the pinned
# requirements. Idempotent: a stamp of the requirements' hash skips work already done.
#   scripts/setup.sh          .venv   (engine + bpy 5.0.1 + dev tools)
#   scripts/setup.sh --all    also .venv45 (bpy 4.5 LTS, for the Blender 4.5 test tier)
set -euo pipefail
cd "$(dirname "$0")/.."

PY=${PYTHON:-}
if [ -z "$PY" ]; then
  for c in python3.11 python3; do
    if command -v "$c" >/dev/null && "$c" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))'; then
      PY=$c; break
    fi
  done
fi
[ -n "$PY" ] || { echo "setup: Python 3.11 is required (Blender 4.2-5.0 use 3.11); set PYTHON=" >&2; exit 1; }

make_venv() {  # make_venv DIR REQUIREMENTS
  local dir=$1 req=$2 stamp
  stamp=$(cat "$req" requirements/engine.txt | sha256sum | cut -c1-16)
  if [ -f "$dir/.stamp" ] && [ "$(cat "$dir/.stamp")" = "$stamp" ]; then
    return 0
  fi
  echo "setup: installing $req into $dir (first run takes a few minutes)"
  [ -x "$dir/bin/python" ] || "$PY" -m venv "$dir"
  "$dir/bin/python" -m pip install -q --disable-pip-version-check -r "$req"
  echo "$stamp" > "$dir/.stamp"
}

make_venv .venv requirements/dev.txt
if [ "${1:-}" = "--all" ]; then
  make_venv .venv45 requirements/blender45.txt
fi
