#!/usr/bin/env bash
# Make the project's virtual environments inside the repo (git-ignored) and install the pinned
# requirements. Idempotent: a stamp of the requirements' hash skips work already done.
#   scripts/setup.sh          .venv   (engine + bpy 5.0.1 + dev tools; Python 3.11)
#   scripts/setup.sh --all    also .venv45 (bpy 4.5 LTS, Python 3.11), .venv42 (bpy 4.2.0 LTS, Python
#                             3.11) and .venv53 (bpy 5.3.0, Python 3.13) for the other Blender test tiers
set -euo pipefail
cd "$(dirname "$0")/.."

# find_python X.Y [override]: a python X.Y on PATH, from pyenv, or the override; empty if none.
find_python() {
  local want=$1 override=${2:-} c
  for c in $override "python$want" python3; do
    if command -v "$c" >/dev/null 2>&1 && "$c" -c "import sys; sys.exit(sys.version_info[:2] != tuple(map(int, '$want'.split('.'))))" 2>/dev/null; then
      command -v "$c"; return 0
    fi
  done
  local root
  root=$( (command -v pyenv >/dev/null 2>&1 && pyenv root) || echo "${PYENV_ROOT:-$HOME/.pyenv}")
  for c in $(ls -d "$root"/versions/"$want"* 2>/dev/null | sort -t. -k3 -n -r); do
    if [ -x "$c/bin/python$want" ]; then echo "$c/bin/python$want"; return 0; fi
  done
}

PY=$(find_python 3.11 "${PYTHON:-}")
[ -n "$PY" ] || { echo "setup: error: Python 3.11 is required (Blender 4.2-5.0 use 3.11); install it or set PYTHON=" >&2; exit 1; }

make_venv() {  # make_venv DIR REQUIREMENTS PYTHON
  local dir=$1 req=$2 py=$3 stamp
  stamp=$(cat "$req" requirements/engine.txt | sha256sum | cut -c1-16)
  if [ -f "$dir/.stamp" ] && [ "$(cat "$dir/.stamp")" = "$stamp" ]; then
    return 0
  fi
  echo "setup: installing $req into $dir (first run takes a few minutes)"
  [ -x "$dir/bin/python" ] || "$py" -m venv "$dir"
  "$dir/bin/python" -m pip install -q --disable-pip-version-check -r "$req"
  echo "$stamp" > "$dir/.stamp"
}

make_venv .venv requirements/dev.txt "$PY"
if [ "${1:-}" = "--all" ]; then
  make_venv .venv45 requirements/blender45.txt "$PY"
  make_venv .venv42 requirements/blender42.txt "$PY"
  PY313=$(find_python 3.13 "${PYTHON313:-}")
  [ -n "$PY313" ] || { echo "setup: error: Python 3.13 is required for the Blender 5.3 test tier (Blender 5.1+ use 3.13); install it (e.g. pyenv install 3.13) or set PYTHON313=" >&2; exit 1; }
  make_venv .venv53 requirements/blender53.txt "$PY313"
fi
