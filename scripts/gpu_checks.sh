#!/usr/bin/env bash
# Every check that needs a CUDA GPU, in one run that fits a short lease (about 6-8 minutes on an
# H100/H200); results go to $OUT (default gpu-checks/), at most 8 files:
#   gpu.txt               the GPU, driver and torch build
#   tests.log             the unit tests, CUDA ones included (they skip on a CPU machine)
#   cuda-run.json         the full suite on CUDA with --do-bench (our median vs triton's do_bench)
#   report/report.md      the study tables from that run, and the do_bench agreement per case
#   report/latency.png
#   ab-quality-cuda.json  A/A and injected-slowdown A/B runs on the GPU (scripts/ab_quality.py)
#   counters.txt          the exact counters on CUDA against the committed CPU ones, per case,
#                         and the NVML telemetry (throttled cases)
#   explain.md            one batch-1 hourglass attributed to operators on the GPU
#   checks.log            what ran, with exit codes
#
# A machine without network needs fvcore's wheels, and a pytest-benchmark in the supported range
# (the suite stops with exit 4 otherwise; see unet/bench/pbcompat.py): prepare them here with
#   bash ../shared/offline-wheels.sh torchinfo tabulate portalocker 'pytest-benchmark>=5.3.1,<6' \
#       pygal pygaljs ruptures nvidia-ml-py
# carry .whl, and start the command with the install line that script prints.
# Usage: bash scripts/gpu_checks.sh [A/B runs, default 5]
set -uo pipefail
out=${OUT:-gpu-checks}
runs=${1:-5}
mkdir -p "$out/report"
log="$out/checks.log"
step() {  # step NAME COMMAND...: run it, note its exit code and wall time, go on either way
    local name=$1 start rc
    shift
    start=$(date +%s)
    "$@"
    rc=$?
    echo "$name: exit $rc, $(($(date +%s) - start)) s" | tee -a "$log"
}

{
    nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv
    python3 -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda)"
} > "$out/gpu.txt" 2>&1
step "unit tests" bash -c "python3 -m pytest tests -q -p no:cacheprovider > '$out/tests.log' 2>&1"
step "full suite on CUDA with do_bench" python3 -m pytest benchmarks -q -p no:cacheprovider \
    --device cuda --do-bench --benchmark-json="$out/cuda-run.json" \
    --benchmark-storage="file:///tmp/unet-bench-runs"
step "report" python3 -m unet.cli report "$out/cuda-run.json" --out "$out/report"
# the counters are meant to be device-independent: compare CUDA's with the committed CPU ones
step "counters on CUDA vs CPU" python3 -c "
import json, sys
cpu = json.load(open('benchmarks/cost_manifest.json'))['cases']
run = json.load(open(sys.argv[1]))['benchmarks']
same = 0
for b in run:
    e, want = b['extra_info'], cpu.get(b['name'], {}).get('counters', {}).get('cpu/float32')
    got = {k: e.get(k) for k in ('ops', 'peak_activation_bytes')}
    if want and got == {k: want[k] for k in got}:
        same += 1
    else:
        print(b['name'], 'cuda:', got, 'cpu:', want)
    print(b['name'], 'kernel_launches', e.get('kernel_launches'))
print(same, 'of', len(run), 'cases count the same on CUDA as on CPU')
# NVML telemetry (nvidia-ml-py): recorded per case when pynvml imports; throttled cases listed
tele = [b for b in run if 'telemetry' in b['extra_info']]
print(len(tele), 'of', len(run), 'cases have NVML telemetry; first:',
      tele[0]['extra_info']['telemetry'] if tele else None)
for b in tele:
    if b['extra_info']['telemetry']['throttled']:
        print('throttled:', b['name'], b['extra_info']['telemetry']['throttled'])
" "$out/cuda-run.json" > "$out/counters.txt" 2>&1
# A/B needs git history (it checks out a base revision): a copied tree without .git gets one
if ! command -v git > /dev/null; then
    echo "A/B quality bars: skipped, no git on this machine" | tee -a "$log"
    exit 0
fi
if ! git rev-parse --git-dir > /dev/null 2>&1; then
    git init -q && git add -A && git -c user.name=gpu-checks -c user.email=gpu-checks@localhost \
        commit -qm "snapshot of the copied tree"
fi
step "explain on CUDA" bash -c "python3 -m unet.cli explain conv=standard-norm=batch-up=interpolate-bs=1 \
    --device cuda --out /tmp/explain > /dev/null 2>&1; cp /tmp/explain/explain.md '$out/'"
step "A/B quality bars on CUDA" python3 scripts/ab_quality.py --device cuda --case model \
    --runs "$runs" --slowdowns 0.05 --out "$out/ab-quality-cuda.json"
