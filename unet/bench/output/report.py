"""The study's three tables from a benchmark run, beside the article's figures, and PNG plots."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

from unet.bench.output.render import table
from unet.bench.results.record import CaseRecord
from unet.bench.results.runs import Run
from unet.bench.stats.percentiles import shown_ms
from unet.bench.stats.verdict import Verdict

# The article's figures (its timings look like a CPU's).
ARTICLE_CONV = {  # params M, mult-adds M, ms at batch 1
    "standard": (14.13, 989.31, 13.0184),
    "depthwise_separable": (1.62, 120.30, 6.9928),
}
ARTICLE_NORM = {  # params, ms per application at batch 1 and 32, on (., 1024, 2, 2)
    "batch": (2048, 0.0407, 0.6520),
    "layer": (8192, 0.0366, 0.6376),
    "instance": (2048, 0.0665, 1.0005),
    "group": (2048, 0.0461, 0.9654),
}
ARTICLE_UPSAMPLE = {  # params, mult-adds M, ms; (1,1024,2,2) -> (1,512,4,4)
    "interpolate": (4_719_104, 75.51, 0.16),
    "transposed": (4_719_104, 75.51, 0.23),
}
MISSING = "–"


def _m(v: object) -> str:
    return f"{v / 1e6:.2f}" if isinstance(v, (int, float)) else MISSING


def _g(value: object) -> str:
    return f"{value:.4g}" if isinstance(value, (int, float)) else MISSING


def _ms(seconds: object, digits: int = 4) -> str:
    return f"{seconds * 1e3:.{digits}g}" if isinstance(seconds, (int, float)) else MISSING


def describe(run: Run) -> str:
    hw = run.hardware
    if hw.get("device") == "cuda":
        where = f"{hw.get('device_name')} (CUDA {hw.get('cuda')}, driver {hw.get('driver')})"
    else:
        where = f"CPU {hw.get('cpu')} with {hw.get('threads')} threads"
    return (
        f"Measured on {where}, torch {hw.get('torch')}, dtype {hw.get('dtype', 'float32')}, "
        f"hardware key `{hw.get('key')}`. Time: pytest-benchmark median over all rounds, every "
        "call synchronised, after a time-based warmup."
    )


def study_tables(run: Run) -> str:
    """Markdown: conv, norm and upsample tables, ours beside the article's."""
    records = {name: run.case(name) for name in run.cases}
    none = CaseRecord("")  # a case the run lacks: every figure missing
    cuda = run.hardware.get("device") == "cuda"
    out = ["## Study tables", "", describe(run), ""]

    # conv methods: the study's model (batch norm, interpolate), batch 1
    header = [
        "conv",
        "params M",
        "article",
        "mult-adds M",
        "article",
        "fvcore FLOPs M",
        "time ms",
        "article",
    ] + (["GPU-only ms"] if cuda else [])
    rows = []
    for conv, (p, ma, ms) in ARTICLE_CONV.items():
        r = records.get(f"test_model[conv={conv}-norm=batch-up=interpolate-bs=1]", none)
        row = [
            conv,
            _m(r.costs.params),
            f"{p:.2f}",
            _m(r.costs.mult_adds),
            f"{ma:.2f}",
            _m(r.costs.flops),
            _ms(r.median_s),
            f"{ms}",
        ]
        rows.append(row + ([_ms(r.device.device_time_s)] if cuda else []))
    out += ["### Conv methods (hourglass, batch norm, interpolate, batch 1, 3×64×64)", ""]
    out += [table(header, rows, markdown=True), ""]

    # norm methods: per application, from 1000 applications per timed call
    header = ["norm", "params", "article", "ms bs 1", "article", "ms bs 32", "article"]
    rows = []
    for norm, (p, ms1, ms32) in ARTICLE_NORM.items():
        one = records.get(f"test_norm[norm={norm}-bs=1]", none)
        many = records.get(f"test_norm[norm={norm}-bs=32]", none)
        params = one.costs.params if one.costs.params is not None else many.costs.params
        rows.append(
            [
                norm,
                f"{params:,}" if params is not None else MISSING,
                f"{p:,}",
                _ms(one.timing.per_application_s),
                f"{ms1}",
                _ms(many.timing.per_application_s),
                f"{ms32}",
            ]
        )
    out += ["### Norm methods (·,1024,2,2), per application (1000 per timed call)", ""]
    out += [table(header, rows, markdown=True), ""]

    header = [
        "upsample",
        "params",
        "article",
        "mult-adds M",
        "article",
        "fvcore FLOPs M",
        "time ms",
        "article",
    ]
    rows = []
    for up, (p, ma, ms) in ARTICLE_UPSAMPLE.items():
        r = records.get(f"test_upsample[up={up}-bs=1]", none)
        rows.append(
            [
                up,
                f"{r.costs.params:,}" if r.costs.params is not None else MISSING,
                f"{p:,}",
                _m(r.costs.mult_adds),
                f"{ma}",
                _m(r.costs.flops),
                _ms(r.median_s),
                f"{ms}",
            ]
        )
    out += ["### Upsampling (1,1024,2,2) → (1,512,4,4)", "", table(header, rows, markdown=True), ""]
    out += [
        "The study's mult-adds charge the transposed conv per *output* position, 4× its true "
        "work: a stride-2 ConvTranspose2d multiplies each of the 2×2 input positions by its "
        "3×3×1024×512 weights once, 18.87 M MACs, which is fvcore's figure.",
        "",
    ]
    return "\n".join(out)


CAPACITY_REFERENCE = "standard"  # the capacity group's reference variant


def capacity_table(run: Run) -> str:
    """Markdown, "Recovering capacity": per batch size, each capacity variant's params, fvcore
    FLOPs, the study's mult-adds and median latency, with params and latency as a ratio to the
    standard model measured in the same run; empty when the run has no capacity cases."""
    by_batch: dict[int, list[CaseRecord]] = defaultdict(list)
    for name in sorted(run.cases):
        r = run.case(name)
        if name.startswith("test_capacity[") and "capacity" in r.identity.choices:
            by_batch[int(r.identity.batch_size or 0)].append(r)
    if not by_batch:
        return ""
    header = [
        "variant",
        "layers/block",
        "width",
        "params M",
        "× params",
        "fvcore FLOPs M",
        "mult-adds M",
        "median ms",
        "× latency",
    ]
    out = [
        "## Recovering capacity",
        "",
        "The study's separable hourglass (batch norm, interpolate) has 8.7× fewer parameters; "
        "here it gets them back by depth (conv-norm-ReLU layers per block) or by width "
        "(`block_expansion`, `max_features` in proportion, the narrowest that reaches the "
        "standard model's parameters), beside the standard model measured in the same run. "
        "× columns: ratio to the standard model at the same batch.",
        "",
    ]
    for bs, records in sorted(by_batch.items()):
        ref = next(
            (r for r in records if r.identity.choices["capacity"] == CAPACITY_REFERENCE), None
        )
        rows = []
        # the reference first, then by parameters: depth, then width
        records.sort(key=lambda r: (r is not ref, r.costs.params or 0))
        for r in records:
            c = r.identity.choices
            rows.append(
                [
                    c["capacity"],
                    c.get("layers_per_block", MISSING),
                    f"{c.get('block_expansion', MISSING)}/{c.get('max_features', MISSING)}",
                    _m(r.costs.params),
                    _ratio(r.costs.params, ref.costs.params if ref else None),
                    _m(r.costs.flops),
                    _m(r.costs.mult_adds),
                    _ms(r.median_s),
                    _ratio(r.median_s, ref.median_s if ref else None),
                ]
            )
        out += [f"### Batch {bs}", "", table(header, rows, markdown=True), ""]
    return "\n".join(out)


def _ratio(value: object, reference: object) -> str:
    if isinstance(value, (int, float)) and isinstance(reference, (int, float)) and reference:
        return f"{value / reference:.2f}"
    return MISSING


def latency_table(run: Run) -> str:
    """Markdown: every case's median, IQR and rounds, by group."""
    by_group: dict[str, list[CaseRecord]] = defaultdict(list)
    for name in sorted(run.cases):
        record = run.case(name)
        by_group[record.group or ""].append(record)
    records = [r for group in by_group.values() for r in group]
    cuda = run.hardware.get("device") == "cuda"
    dobench = any(r.device.do_bench_median_s is not None for r in records)
    header = ["case", "median ms", "IQR ms", "rounds", "p90 ms", "p99 ms"]
    header += ["GPU-only ms", "peak MiB"] if cuda else []
    header += ["do_bench ms", "median / do_bench"] if dobench else []
    telemetry = any(r.telemetry is not None for r in records)
    header += ["GPU throttled"] if telemetry else []
    energy = any(r.energy.energy_j_per_call is not None for r in records)
    header += ["J/call", "W"] if energy else []
    out = ["## All cases", ""]
    for group, items in by_group.items():
        rows = []
        for r in items:
            t, med = r.timing, r.median_s or 0.0
            row = [r.name, _ms(med), _ms(t.iqr_s, 3), str(t.rounds)]
            row += [shown_ms(r.percentile(p), t.rounds or 0, p) for p in (90, 99)]
            if cuda:
                peak = r.device.peak_memory_bytes
                row += [_ms(r.device.device_time_s), f"{peak / 2**20:.1f}" if peak else MISSING]
            if dobench:
                ref = r.device.do_bench_median_s
                row += [_ms(ref), f"{med / ref - 1:+.1%}" if ref else MISSING]
            if telemetry:  # NVML saw a thermal or power slowdown around the rounds
                row.append("⚠ " + ", ".join(r.throttled) if r.throttled else "no")
            if energy:  # absent where the counter could not be read: shown as missing
                e = r.energy
                row += [_g(e.energy_j_per_call), _g(e.power_w)]
            rows.append(row)
        out += [f"### {group}", "", table(header, rows, markdown=True), ""]
    return "\n".join(out)


def plot_latency(run: Run, path: Path) -> Path:
    """Horizontal bars of each model variant's median latency, one panel per batch size."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels: dict[int, list[tuple[str, float, float]]] = defaultdict(list)
    for name in run.cases:
        r = run.case(name)
        choice = r.identity.choices
        if name.startswith("test_model[") and "conv" in choice and r.median_s is not None:
            label = f"{choice['conv']} / {choice['norm']} / {choice['upsample']}"
            spread = (r.timing.q3_s or 0.0) - (r.timing.q1_s or 0.0)
            panels[r.identity.batch_size].append((label, r.median_s * 1e3, spread * 1e3))
    if not panels:
        raise ValueError("the run has no model cases to plot")
    fig, axes = plt.subplots(1, len(panels), figsize=(7 * len(panels), 6), squeeze=False)
    for ax, (bs, rows) in zip(axes[0], sorted(panels.items()), strict=True):
        rows.sort()
        labels, medians, iqrs = zip(*rows, strict=True)
        colors = ["tab:blue" if "standard" in lb else "tab:orange" for lb in labels]
        ax.barh(labels, medians, xerr=iqrs, color=colors, capsize=2)
        ax.set_title(f"batch {bs}")
        ax.set_xlabel("median latency, ms (error bar: IQR)")
        ax.invert_yaxis()
    fig.suptitle(f"Hourglass latency per variant — {run.hardware.get('key', '')}", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_ab(verdicts: Sequence[Verdict], path: Path, title: str) -> Path:
    """Base vs head median per case with 95 % confidence intervals, relative to the base median;
    crosses mark each process's median in A/B mode."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if not verdicts:
        raise ValueError("no verdicts to plot")
    colors = {"regression": "tab:red", "improvement": "tab:green", "unsure": "tab:gray"}
    fig, ax = plt.subplots(figsize=(11, 0.35 * len(verdicts) + 1.5))
    for y, v in enumerate(verdicts):
        for offset, med, (lo, hi), color in (
            (-0.15, v.base_median, v.base_ci, "tab:blue"),
            (0.15, v.head_median, v.head_ci, colors.get(v.outcome, "tab:orange")),
        ):
            rel = [100 * (x / v.base_median - 1) for x in (med, lo, hi)]
            ax.errorbar(
                rel[0],
                y + offset,
                xerr=[[rel[0] - rel[1]], [rel[2] - rel[0]]],
                fmt="o",
                color=color,
                capsize=3,
            )
        for offset, medians in ((-0.15, v.base_processes), (0.15, v.head_processes)):
            rel_medians = [100 * (x / v.base_median - 1) for x in medians]
            ax.plot(rel_medians, [y + offset] * len(rel_medians), "x", color="black", ms=4)
    ax.set_yticks(range(len(verdicts)), [f"{v.case} ({v.outcome})" for v in verdicts], fontsize=7)
    ax.axvline(0, color="black", lw=0.8)
    ax.set_xlabel("vs base median, %  (bar: 95 % CI;  x: per-process median;  blue: base)")
    ax.invert_yaxis()
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
