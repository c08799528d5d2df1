#!/usr/bin/env bash
# Every GPU check and GPU benchmark of the project, for a machine with a CUDA build of torch
# and nvcc (none of the development machines has one). Results and logs go to $OUT
# (default ./gpu_out). Stages, each well under 10 minutes on a 16-core H100/H200 machine,
# so they can run as separate calls on a lent GPU machine whose build outputs persist:
#
#   bash benchmarks/gpu_session.sh build      # CUDA extension in place + CMake core + ctest
#   bash benchmarks/gpu_session.sh test       # the whole pytest suite (CUDA params included)
#   bash benchmarks/gpu_session.sh sanitize   # compute-sanitizer memcheck on the CUDA tests
#   bash benchmarks/gpu_session.sh bench      # the GPU sections of every benchmark
#   bash benchmarks/gpu_session.sh all        # all four in order
#
# Needs no network: the build uses the installed torch (--no-build-isolation semantics:
# `setup.py build_ext --inplace`), and packages the machine lacks are skipped by the tests
# that need them. A failing step is logged and the next one still runs; the exit status is
# the number of failed steps.
set -u -o pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-gpu_out}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1 PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
export MAX_JOBS=${MAX_JOBS:-16}
export TORCH_CUDA_ARCH_LIST=${TORCH_CUDA_ARCH_LIST:-9.0}  # Hopper (H100/H200)
PY=${PYTHON:-python3}
failed=0

step() {  # step NAME CMD...: run, log to $OUT/NAME.log, report
  local name=$1
  shift
  echo "== $name: $*"
  local t0=$SECONDS
  if "$@" >"$OUT/$name.log" 2>&1; then
    echo "   ok ($((SECONDS - t0)) s)"
  else
    echo "   FAILED ($((SECONDS - t0)) s); last lines:"
    tail -n 15 "$OUT/$name.log" | sed 's/^/   | /'
    failed=$((failed + 1))
  fi
}

stage_build() {
  step device "$PY" -c "import torch, sys; print(sys.version); print(torch.__version__, \
torch.version.cuda, torch.cuda.get_device_name(0), torch.cuda.get_device_capability(0))"
  step build_ext "$PY" setup.py build_ext --inplace
  step info "$PY" -m ezsr.cli info
  step ctest bash -c "cmake -S . -B build/core-gpu -DEZSR_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES=90 \
&& cmake --build build/core-gpu -j $MAX_JOBS && ctest --test-dir build/core-gpu --output-on-failure"
}

stage_test() {
  step pytest "$PY" -m pytest -q -p no:cacheprovider tests
}

stage_sanitize() {
  # the CUDA-parametrised tests of the kernel families, under memcheck (leak check off:
  # torch's caching allocator keeps memory on purpose)
  step sanitize compute-sanitizer --tool memcheck --leak-check no --error-exitcode 1 \
    "$PY" -m pytest -q -p no:cacheprovider -k cuda \
    tests/test_histogram.py tests/test_temporal.py tests/test_simulate.py \
    tests/test_ezsr_preprocess.py tests/test_representations.py
}

stage_bench() {
  step bench_representations "$PY" benchmarks/bench_representations.py --json "$OUT/bench_repr.json"
  step bench_simulate "$PY" benchmarks/bench_simulate.py --json "$OUT/bench_simulate.json"
  step bench_latency "$PY" benchmarks/bench_latency.py --json "$OUT/bench_latency.json" \
    --plot "$OUT/latency.png" --models ViT-B/16 --batches 1,8
  step bench_training "$PY" benchmarks/bench_training.py --json "$OUT/bench_training.json"
  step bench_zeroshot "$PY" benchmarks/bench_zeroshot.py --device cuda --json "$OUT/bench_zeroshot.json"
}

case "${1:-all}" in
  build) stage_build ;;
  test) stage_test ;;
  sanitize) stage_sanitize ;;
  bench) stage_bench ;;
  all) stage_build; stage_test; stage_sanitize; stage_bench ;;
  *) echo "usage: $0 [build|test|sanitize|bench|all]" >&2; exit 2 ;;
esac
echo "$failed step(s) failed; logs in $OUT/"
exit "$failed"
