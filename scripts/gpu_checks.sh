#!/usr/bin/env bash
# Every check that needs a CUDA GPU, as one staged run that fits a short lease: each stage has
# a time budget (seconds, below) after which it is stopped (SIGINT, so pytest still writes what
# it measured), and the run goes on; the whole run stays under 8.5 minutes on an H100/H200.
# Results go to one folder, at most 8 files (what a lent machine sends back):
#   summary.md    the stages with exit codes and times, the environment and numerics settings,
#                 median / do_bench per case, kernel signatures, CUDA counters vs the committed
#                 CPU ones, the cudagraph compile modes, NVML telemetry
#   checks.log    every stage's output
#   tests.log     the unit tests that concern CUDA
#   quick.json    the quick tier with --do-bench (and NVML's energy per call)
#   cuda-run.json the full suite, saved as the GPU baseline (unet-bench save-baseline --run)
#   compile.json  the quick upsample cases under --compile=reduce-overhead
#   ab.md         an A/A of the quick tier (no change: any regression there is a false alarm)
#   explain.md    one batch-1 hourglass attributed to operators on the GPU
#
# A machine without network needs fvcore's wheels and a pytest-benchmark in the supported
# range; prepare them here with
#   bash ../shared/offline-wheels.sh torchinfo tabulate portalocker 'pytest-benchmark>=5.3.1,<6' \
#       pygal pygaljs ruptures nvidia-ml-py pyyaml zizmor
# carry .whl, and start the command with the install line that script prints.
# Usage: bash scripts/gpu_checks.sh [--out DIR] [--dry-run]
#   OUT (or --out): the folder (default gpu-checks/); GPU_CHECKS_PYTHON: the interpreter
#   (default python3); GPU_CHECKS_SCALE: multiplies every budget (tests use a small one).
set -uo pipefail
out=${OUT:-gpu-checks}
dry=0
while [ $# -gt 0 ]; do
    case $1 in
        --out) out=$2; shift 2 ;;
        --dry-run) dry=1; shift ;;
        *) echo "gpu_checks.sh: unknown argument $1 (valid: --out DIR, --dry-run)" >&2; exit 4 ;;
    esac
done
py=${GPU_CHECKS_PYTHON:-python3}
scale=${GPU_CHECKS_SCALE:-1}

# name|budget seconds|function: in the order they run, most needed first
STAGES=(
    "environment and preflight|20|stage_env"
    "unit tests on CUDA|60|stage_tests"
    "quick tier with do_bench|45|stage_quick"
    "full suite, baseline saved|150|stage_full"
    "counters and summary|15|stage_summary"
    "cudagraph compile modes|50|stage_compile"
    "explain on CUDA|40|stage_explain"
    "cold caches, quick tier|30|stage_cold"
    "A/A of the quick tier|90|stage_aa"
)

budget_of() {  # budget_of SECONDS: the stage's budget under GPU_CHECKS_SCALE, at least 1 s
    awk -v s="$1" -v k="$scale" 'BEGIN { b = s * k; printf "%.2f", (b < 1 ? 1 : b) }'
}

if [ "$dry" = 1 ]; then
    total=0
    for stage in "${STAGES[@]}"; do
        IFS='|' read -r name seconds _ <<< "$stage"
        printf '%-28s %6s s\n' "$name" "$(budget_of "$seconds")"
        total=$((total + seconds))
    done
    printf '%-28s %6s s (budgets at scale %s: %s s)\n' "total" "$total" "$scale" \
        "$(awk -v t="$total" -v k="$scale" 'BEGIN { printf "%.0f", t * k }')"
    exit 0
fi

mkdir -p "$out"
log="$out/checks.log"
stages=$(mktemp)  # one line a stage, for the summary (kept out of $out: 8 files at most)
export GPU_CHECKS_STAGES=$stages
: > "$log"

stage_env() {
    nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm,compute_mode \
        --format=csv || echo "no nvidia-smi"
    "$py" -c "
import json, torch
from unet.bench.measure import precision
from unet.bench.measure.hardware import hardware_info, resolve_device
device = resolve_device('cuda')  # the preflight: exit here with the reason if the GPU refuses
print('torch', torch.__version__, 'cuda', torch.version.cuda)
print(json.dumps({**hardware_info(device), 'numerics': precision.settings()}, indent=1))
"
}
stage_tests() {
    local deselect=()
    if ! "$py" -c "import zizmor" 2> /dev/null && ! command -v zizmor > /dev/null; then
        echo "zizmor is not installed here: its workflow audit is deselected" | tee -a "$log"
        deselect=(--deselect tests/test_workflows.py::test_zizmor_reports_no_findings)
    fi
    "$py" -m pytest -q -p no:cacheprovider "${deselect[@]}" tests/test_gpu_paths.py \
        tests/test_model.py tests/test_counters.py tests/test_attribution.py \
        tests/test_bench_helpers.py tests/test_telemetry.py tests/test_workflows.py \
        > "$out/tests.log" 2>&1
}
suite() { "$py" -m pytest benchmarks -q -p no:cacheprovider --device cuda "$@"; }
stage_quick() { suite --quick --do-bench --benchmark-json="$out/quick.json"; }
stage_full() {
    suite --do-bench --benchmark-json="$out/cuda-run.json" \
        --benchmark-storage="file:///tmp/unet-bench-runs"
}
stage_summary() { "$py" scripts/gpu_summary.py "$out"; }
stage_compile() {
    suite --quick -k test_upsample --compile=reduce-overhead --benchmark-json="$out/compile.json"
}
stage_explain() {
    "$py" -m unet.cli explain 'conv=standard-norm=batch-up=interpolate-bs=1' --device cuda \
        --out /tmp/unet-bench-explain && cp /tmp/unet-bench-explain/explain.md "$out/"
}
stage_cold() {  # L2 flushed before every call, side by side with the warm quick tier (checks.log)
    suite --quick --cache cold --benchmark-json=/tmp/unet-bench-cold.json &&
        "$py" -m unet.cli report "$out/quick.json" --vs /tmp/unet-bench-cold.json |
        sed -n '/^## Against/,$p'
}
stage_aa() {
    # A/B needs git history (it checks out a base revision): a copied tree without one gets one
    if ! git rev-parse --git-dir > /dev/null 2>&1; then
        git init -q && git add -A && git -c user.name=gpu-checks \
            -c user.email=gpu-checks@localhost commit -qm "snapshot of the copied tree"
    fi
    "$py" -m unet.cli ab --base HEAD --quick --device cuda --out /tmp/unet-bench-aa
    cp /tmp/unet-bench-aa/ab.md "$out/" 2> /dev/null
}

run_stage() {  # run_stage NAME SECONDS FUNCTION: within its budget, noted whatever happens
    local name=$1 budget start rc status
    budget=$(budget_of "$2")
    start=$(date +%s.%N)
    echo "=== $name (budget $budget s)" >> "$log"
    # the stage in its own shell, so the timeout stops it and its children
    timeout --signal=INT --kill-after=10 "$budget" bash -c "$(declare -f "$3" suite); \
        out='$out' log='$log' py='$py' $3" >> "$log" 2>&1
    rc=$?
    case $rc in
        0) status=ok ;;
        124 | 137) status="stopped at its budget" ;;
        *) status="failed (exit $rc)" ;;
    esac
    local took
    took=$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
    echo "$name|$budget|$took|$status" >> "$stages"
    echo "$name: $status, $took s of $budget s" | tee -a "$log"
}

for stage in "${STAGES[@]}"; do
    IFS='|' read -r name seconds fn <<< "$stage"
    run_stage "$name" "$seconds" "$fn"
done
# the summary again, now with every stage's line (its own stage wrote it before the last ones)
"$py" scripts/gpu_summary.py "$out" >> "$log" 2>&1 || echo "summary failed" | tee -a "$log"
rm -f "$stages"
