#!/usr/bin/env bash
# LivePortrait GPU check, prepared for a lent GPU machine (device tool). Short: ~5 minutes.
#   run from the repo root:  bash benchmarks/device_check.sh
# Optional carried folders (name them in the device call's `carry`):
#   .lpsrc/src   LivePortrait's src/ (MIT; `git archive HEAD src | tar -x -C .lpsrc` from a checkout):
#                W+G with its published architecture (random weights) for the W+G checks and timings
#   .whl/        wheels to install first (e.g. onnxruntime-gpu + nvidia-* if they fit the 64 MiB carry)
# Results: $OUT/gpu_check.json, $OUT/bench.txt (or ./device_out when $OUT is unset).
set -uo pipefail
OUT="${OUT:-device_out}"
mkdir -p "$OUT"
PY="${PYTHON:-python3}"
export PYTHONUNBUFFERED=1
if compgen -G ".whl/*.whl" >/dev/null; then
    $PY -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
        && export PYTHONPATH=/tmp/site${PYTHONPATH:+:$PYTHONPATH}
fi
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
SRC=()
[ -d .lpsrc/src ] && SRC=(--liveportrait-src .lpsrc)
# 1) sanity: 5-D GridSample on the CUDA EP, W+G placement / fp16 / batching, GPU paste-back
timeout 240 $PY benchmarks/gpu_check.py "${SRC[@]}" --json "$OUT/gpu_check.json"
rc=$?
# 2) timings per provider and batch size (CUDA only when this onnxruntime has it; CPU row for scale)
DEVICES=cpu
$PY -c "import onnxruntime as o, sys; sys.exit('CUDAExecutionProvider' not in o.get_available_providers())" \
    && DEVICES=cuda
BATCHES=1; [ "$DEVICES" = cuda ] && BATCHES=1,4,8,16
timeout 300 $PY benchmarks/bench_liveportrait.py "${SRC[@]}" --device "$DEVICES" --batch-sizes "$BATCHES" \
    --frames 16 $([ "$DEVICES" = cuda ] && echo --fp16) 2>&1 | grep -v -E "^(W|I)0000" | tee "$OUT/bench.txt"
exit $rc
