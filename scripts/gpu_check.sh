#!/usr/bin/env bash
# The first GPU run, as one script: the CUDA tests, then the benchmarks of docs/benchmarks.md on the device
# (plain vs ARC, lean vs autograd, float32 and bf16/fp16), then a 1-GPU torchrun training run with AMP.
# Usage: scripts/gpu_check.sh [OUTDIR]   (default runs/gpu-check; every output is also written there)
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-runs/gpu-check}
mkdir -p "$OUT"
ARC=${ARC:-arc}
PY=${PYTHON:-python}
status=0
run() {  # run NAME CMD...: print and log it, keep going on failure, remember it
  local name=$1; shift
  echo "== $name: $*"
  "$@" > "$OUT/$name.log" 2>&1
  local rc=$?
  tail -n 25 "$OUT/$name.log"; [ "$rc" -eq 0 ] || { echo "!! $name exited $rc"; status=1; }
}
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$OUT/gpu.txt"
run cuda-tests       $PY -m pytest -q -m cuda tests/test_cuda.py
run bench-layer      $ARC bench layer --device cuda --repeats 50
run bench-layer-cl   $ARC bench layer --device cuda --repeats 50 --channels-last
run bench-train-fp32 $ARC bench train --device cuda --size 224 --batch-size 8 --steps 10 --no-loader
run bench-train-bf16 $ARC bench train --device cuda --amp bf16 --size 224 --batch-size 8 --steps 10 --no-loader
run bench-train-fp16 $ARC bench train --device cuda --amp fp16 --size 224 --batch-size 8 --steps 10 --no-loader
run bench-compile    $ARC bench train --device cuda --amp bf16 --size 224 --batch-size 8 --steps 10 --no-loader --compile --impl lean
run bench-memory     $ARC bench memory --device cuda --size 224 --batch-size 8 --budget 40GiB
run ddp-train        torchrun --nproc_per_node 1 --no-python -- $ARC train --dataset synthetic --generate \
                       --backbone r18 --n 4 --device cuda --amp auto --epochs 2 --out "$OUT/ddp" --overwrite
exit $status
