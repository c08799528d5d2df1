#!/usr/bin/env bash
# Every GPU check and GPU benchmark of the project in one call, for a machine with a CUDA
# build of torch and nvcc (the development machines and CI have neither a GPU nor a CUDA
# torch). Each step logs to $RES/NAME.log and each benchmark section writes
# $RES/gpu_SECTION.json as soon as it finishes; after every step all of $RES is packed into
# $OUT/gpu_results.tgz (one file: the device tool returns at most 8), so a call stopped by
# its time limit keeps what finished. Steps start only while the time budget (BUDGET_S, default 450 s from the
# start) leaves room for them; the most important come first.
#
#   OUT=gpu_out bash benchmarks/gpu_session.sh              # everything
#   OUT=gpu_out bash benchmarks/gpu_session.sh all fused    # build, checks, these sections
#   OUT=gpu_out bash benchmarks/gpu_session.sh bench hist   # build, these sections
# Sections: hist fused latency train stream, then compile (latency under torch.compile) and
# train_events (the training step with the config's event windows).
#
# 1. build: `pip install --no-deps --no-build-isolation -e .` (CUDA extension for sm_90,
#    MAX_JOBS=16), `ezsr info` (must list the cuda kernel backend)
# 2. checks, side by side: the CUDA-parametrised tests (pytest -k cuda), and the CUDA
#    kernel tests under compute-sanitizer memcheck and racecheck (small sizes; the runner
#    test, with its CUDA graph and cuBLAS, left out)
# 3. benchmarks/bench_gpu.py: hist, fused, latency, train, stream (see its docstring)
# 4. latency with torch.compile, when time is left
# Needs no network. The exit status is the number of failed steps.
set -u -o pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-gpu_out}
RES=${RES:-/tmp/ezsr_gpu_results}
mkdir -p "$OUT" "$RES"
export PYTHONUNBUFFERED=1
export MAX_JOBS=${MAX_JOBS:-16}
export TORCH_CUDA_ARCH_LIST=${TORCH_CUDA_ARCH_LIST:-9.0} # Hopper (H100/H200)
PY=${PYTHON:-python3}
BUDGET_S=${BUDGET_S:-450}
# CUDA headers the toolkit may lack (cuBLAS, cuSPARSE, cuSOLVER: torch's CUDA headers include
# them) from the nvidia-* wheels beside torch, where they exist
NV_INC=$("$PY" -c "import nvidia, os; print(os.path.join(list(nvidia.__path__)[0], 'cu13', 'include'))" 2>/dev/null)
[ -n "$NV_INC" ] && [ -d "$NV_INC" ] && export CPATH="${CPATH:+$CPATH:}$NV_INC"
failed=0

left() { echo $((BUDGET_S - SECONDS)); }

pack() { # everything so far into $OUT/gpu_results.tgz (replaced atomically)
  local tmp="$OUT/.partial.$BASHPID.tgz"
  tar czf "$tmp" -C "$RES" . 2>/dev/null && mv "$tmp" "$OUT/gpu_results.tgz"
}

step() { # step NAME NEED_S LIMIT_S CMD...: run if NEED_S seconds are left, cap at LIMIT_S
  local name=$1 need=$2 limit=$3
  shift 3
  if [ "$(left)" -lt "$need" ]; then
    echo "== $name: skipped, $(left) s left of the budget (needs ~$need s)"
    return
  fi
  echo "== $name (t=${SECONDS}s): $*"
  local t0=$SECONDS
  local rc=0
  if declare -F "$1" >/dev/null; then # a function of this script: run it in a child bash
    timeout "$limit" bash -c "$(declare -f "$1"); \"\$@\"" _ "$@" >"$RES/$name.log" 2>&1 || rc=$?
  else
    timeout "$limit" "$@" >"$RES/$name.log" 2>&1 || rc=$?
  fi
  echo "$rc" >"$RES/$name.rc"
  if [ "$rc" -eq 0 ]; then
    echo "   ok $name ($((SECONDS - t0)) s)"
  else
    echo "   FAILED $name rc=$rc ($((SECONDS - t0)) s); last lines:"
    tail -n 25 "$RES/$name.log" | sed 's/^/   | /'
    failed=$((failed + 1))
  fi
  pack
}

KERNEL_TESTS=(tests/test_cuda_paths.py tests/test_simulate_windows.py tests/test_histogram.py tests/test_temporal.py tests/test_simulate.py)

SAN=(compute-sanitizer --error-exitcode 1 --print-limit 20)

per_file() { # per_file PYTEST_ARGS... -- FILES...: one pytest process per file (a crash in
  # one file must not hide the others); the status is the number of failing files
  local args=() bad=0
  while [ "$1" != "--" ]; do args+=("$1"); shift; done
  shift
  for f in "$@"; do
    echo "---- $f"
    local rc=0
    "${args[@]}" "$f" || rc=$?
    [ "$rc" -eq 0 ] || [ "$rc" -eq 5 ] || bad=$((bad + 1)) # 5: pytest selected no test
  done
  return "$bad"
}

stage_build() {
  step device 30 30 bash -c "nvidia-smi; $PY -c 'import torch, sys; print(sys.version); \
print(torch.__version__, torch.version.cuda, torch.cuda.get_device_name(0), \
torch.cuda.get_device_capability(0))'"
  step build 120 300 "$PY" -m pip install --no-deps --no-build-isolation --no-index -v -e .
  step info 10 60 bash -c "$PY -m ezsr.cli info && $PY -c 'from ezsr import _ext; \
b = _ext.kernel_backends(); print(b); assert \"cuda\" in b, b'"
}

stage_checks() {
  [ "$(left)" -lt 60 ] && { echo "== checks: skipped"; return; }
  echo "== checks (t=${SECONDS}s): pytest -k cuda, memcheck, racecheck side by side"
  (step pytest_cuda 60 120 per_file "$PY" -m pytest -q -p no:cacheprovider -rs -k cuda -- \
    "${KERNEL_TESTS[@]}" tests/test_fidelity_simulate.py tests/test_training.py \
    tests/test_export.py) &
  local san_tests=("$PY" -m pytest -q -p no:cacheprovider -k "cuda and not runner")
  (step memcheck 60 150 per_file "${SAN[@]}" --tool memcheck --leak-check no \
    "${san_tests[@]}" -- "${KERNEL_TESTS[@]}") &
  # racecheck on ezsr's kernels only: torch's own reduce_kernel reports shared-memory
  # hazards of its own (pytorch/pytorch#162995)
  (step racecheck 60 150 per_file "${SAN[@]}" --tool racecheck --kernel-name kns=ezsr \
    "${san_tests[@]}" -- "${KERNEL_TESTS[@]}") &
  wait
  for n in pytest_cuda memcheck racecheck; do
    [ "$(cat "$RES/$n.rc" 2>/dev/null || echo 1)" = 0 ] || failed=$((failed + 1))
    echo "-- $n: $(tail -n 1 "$RES/$n.log" 2>/dev/null)"
    grep -h "ERROR SUMMARY\|RACECHECK SUMMARY" "$RES/$n.log" 2>/dev/null | tail -n 2
  done
}

bench() { # bench SECTION NEED_S LIMIT_S [ARGS...]
  local s=$1 need=$2 limit=$3
  shift 3
  step "bench_$s$([ $# -gt 0 ] && echo _more)" "$need" "$limit" \
    "$PY" benchmarks/bench_gpu.py "$s" --out "$RES" "$@"
}

stage_bench() {
  local sections=("$@")
  [ ${#sections[@]} -eq 0 ] && sections=(hist fused latency train stream)
  for s in "${sections[@]}"; do
    case $s in
      hist) bench hist 30 90 ;;
      fused) bench fused 30 120 ;;
      latency) bench latency 40 120 ;;
      train) bench train 60 150 ;;
      train_events) bench train 60 120 --train-window events --train-steps 3 ;;
      stream) bench stream 60 180 ;;
      compile) bench latency 90 180 --compile ;;
    esac
  done
}

case "${1:-all}" in
  build) stage_build ;;
  checks) stage_build && stage_checks ;;
  bench) shift; stage_build; stage_bench "$@" ;;
  all)
    shift
    stage_build
    stage_checks
    if [ $# -gt 0 ]; then stage_bench "$@"; else
      stage_bench
      stage_bench compile train_events
    fi
    ;;
  *) echo "usage: $0 [all|build|checks|bench] [SECTION...]" >&2; exit 2 ;;
esac
pack
echo "$failed step(s) failed; t=${SECONDS}s; logs and results in $OUT/gpu_results.tgz"
exit "$failed"
