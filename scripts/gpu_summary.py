"""summary.md of a ``scripts/gpu_checks.sh`` run: what each stage did, and what only a GPU can
settle, case by case. Reads whatever the stages left in the folder; a missing file is a line
that says so, never a crash, because a stage stopped at its budget still leaves the others'.

Usage: python scripts/gpu_summary.py OUT   (GPU_CHECKS_STAGES: the stages' file, if any)
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DO_BENCH_NOTE = (
    "Expected direction: do_bench flushes the L2 before each call and does not time the "
    "host's synchronize. Where a case is GPU-bound and its weights fit in L2 (the separable "
    "models), ours should be the lower; where it is launch-bound (batch 1), ours includes the "
    "synchronize's latency (some µs) and the launches, which do_bench's events also span: "
    "ours a little higher. A ratio far from 1 either way is worth a look."
)


def _ms(seconds: object) -> str:
    return f"{float(seconds) * 1e3:.3f}" if isinstance(seconds, (int, float)) else "-"


def load(path: Path) -> list[dict]:
    try:
        return json.loads(path.read_text())["benchmarks"]
    except (OSError, ValueError, KeyError):
        return []


def stage_lines() -> list[str]:
    path = os.environ.get("GPU_CHECKS_STAGES")
    rows = Path(path).read_text().splitlines() if path and Path(path).exists() else []
    out = ["| stage | budget s | took s | outcome |", "|---|---|---|---|"]
    out += ["| " + " | ".join(row.split("|")) + " |" for row in rows if row.count("|") == 3]
    return out if rows else ["(no stage record)"]


def timing_lines(cases: list[dict], title: str) -> list[str]:
    if not cases:
        return [f"### {title}", "", "(no results: the stage failed or was stopped first)", ""]
    out = [
        f"### {title}",
        "",
        "| case | median ms | do_bench ms | median / do_bench | "
        "GPU-only ms | method | kernels | signature | throttled |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for c in cases:
        e, median = c.get("extra_info", {}), c["stats"]["median"]
        ref = e.get("do_bench_median_s")
        ratio = f"{median / ref:.3f}" if ref else "-"
        throttled = ", ".join((e.get("telemetry") or {}).get("throttled") or []) or "no"
        out.append(
            f"| {c['name']} | {_ms(median)} | {_ms(ref)} | {ratio} | "
            f"{_ms(e.get('device_time_s'))} | {e.get('device_time_method', '-')} | "
            f"{e.get('kernel_launches', '-')} | {e.get('kernel_signature', '-')} | {throttled} |"
        )
    return [*out, ""]


def counter_lines(cases: list[dict]) -> list[str]:
    """CUDA's exact counters beside the committed CPU ones, case by case."""
    manifest = json.loads((REPO / "benchmarks" / "cost_manifest.json").read_text())["cases"]
    same, out = 0, []
    for c in cases:
        e = c.get("extra_info", {})
        cpu = manifest.get(c["name"], {}).get("counters", {}).get("cpu/float32")
        got = {k: e.get(k) for k in ("ops", "peak_activation_bytes")}
        if cpu and got == {k: cpu.get(k) for k in got}:
            same += 1
            continue
        diff = {
            op: (cpu.get("ops", {}).get(op) if cpu else None, n)
            for op, n in (got["ops"] or {}).items()
            if not cpu or cpu.get("ops", {}).get(op) != n
        }
        out.append(
            f"- {c['name']}: ops differing (cpu, cuda) {diff}; peak bytes "
            f"{cpu and cpu.get('peak_activation_bytes')} vs {got['peak_activation_bytes']}"
        )
    head = f"{same} of {len(cases)} cases count the same on CUDA as on CPU."
    return ["### Exact counters, CUDA vs the committed CPU ones", "", head, "", *out, ""]


def compile_lines(cases: list[dict]) -> list[str]:
    out = ["### cudagraph compile mode (reduce-overhead)", ""]
    if not cases:
        return [*out, "(no results: the stage failed or was stopped first)", ""]
    for c in cases:
        e = c.get("extra_info", {})
        skips = e.get("cudagraph_skips")
        how = "fell back (skipped CUDA graphs)" if skips else "ran with CUDA graphs"
        out.append(
            f"- {c['name']}: {how}; cudagraph_skips {skips}, device time method "
            f"{e.get('device_time_method')}, compile {e.get('compile_s', 0):.1f} s"
        )
    return [*out, ""]


def main(folder: str) -> int:
    out = Path(folder)
    full, quick = load(out / "cuda-run.json"), load(out / "quick.json")
    lines = ["# GPU checks", "", *stage_lines(), ""]
    try:
        machine = json.loads((out / "cuda-run.json").read_text())["machine_info"]["unet_bench"]
        lines += ["Machine: `" + json.dumps(machine) + "`", ""]
    except (OSError, ValueError, KeyError):
        lines += ["(no machine info: the full suite wrote no run)", ""]
    lines += ["## Timings", "", DO_BENCH_NOTE, ""]
    lines += timing_lines(quick, "Quick tier")
    lines += timing_lines(full, "Full suite")
    lines += counter_lines(full or quick)
    lines += compile_lines(load(out / "compile.json"))
    (out / "summary.md").write_text("\n".join(lines) + "\n")
    print(f"gpu_summary: wrote {out / 'summary.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "gpu-checks"))
