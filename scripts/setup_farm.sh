#!/usr/bin/env bash
# Make .venv-farm (git-ignored) with openjd-cli, pinned in requirements/farm.txt, for the farm
# tests (tests/blender/test_farm_openjd.py runs `openjd check` / `openjd run`). Idempotent: a stamp
# of the requirements' hash skips work already done. Prints the openjd path.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3.11}
command -v "$PY" >/dev/null || PY=python3
dir=.venv-farm
stamp=$(sha256sum requirements/farm.txt | cut -c1-16)
if ! [ -f "$dir/.stamp" ] || [ "$(cat "$dir/.stamp")" != "$stamp" ]; then
  echo "setup: installing requirements/farm.txt into $dir" >&2
  [ -x "$dir/bin/python" ] || "$PY" -m venv "$dir"
  "$dir/bin/python" -m pip install -q --disable-pip-version-check -r requirements/farm.txt
  echo "$stamp" > "$dir/.stamp"
fi
echo "$dir/bin/openjd"
