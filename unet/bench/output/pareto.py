"""The layer-choice picture: each model variant's median latency against its FLOPs, with the
Pareto front (the variants no other variant beats on both) marked and labelled; the capacity
group's variants (the separable model given its parameters back) drawn apart."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from unet.bench.output.render import table
from unet.bench.results.runs import Run
from unet.bench.units import mib

LEGEND = {"std": "standard conv", "dws": "depthwise-separable conv"}
SHORT = {
    "standard": "std",
    "depthwise_separable": "dws",
    "interpolate": "interp",
    "transposed": "transp",
}


@dataclass(frozen=True)
class VariantPoint:
    label: str  # conv / norm / upsample, short
    batch_size: int
    flops: int  # fvcore, 1 multiply-add = 1 flop
    median_s: float
    total_ops: int | None  # ATen operators per call
    peak_activation_bytes: int | None

    @property
    def gflops_per_s(self) -> float:
        return self.flops / self.median_s / 1e9


def variant_points(run: Run, benchmark: str = "test_model") -> list[VariantPoint]:
    """The cases of ``benchmark`` in ``run`` that have both a median and FLOPs: the model
    matrix, or (``test_capacity``) the capacity group, labelled by its variant names."""
    points = []
    for name in sorted(run.cases):
        r = run.case(name)
        if not name.startswith(f"{benchmark}[") or not r.costs.flops or r.median_s is None:
            continue
        choice = r.identity.choices
        label = choice.get("capacity") or "/".join(
            SHORT.get(choice[k], choice[k]) for k in ("conv", "norm", "upsample")
        )
        points.append(
            VariantPoint(
                label,
                int(r.identity.batch_size or 0),
                int(r.costs.flops),
                float(r.median_s),
                r.counters.total_ops,
                r.counters.peak_activation_bytes,
            )
        )
    return points


def pareto_front(points: Sequence[VariantPoint]) -> list[VariantPoint]:
    """The points that no other point matches or beats on both FLOPs and latency (one strictly),
    by increasing FLOPs."""

    def dominated(p: VariantPoint) -> bool:
        return any(
            q.flops <= p.flops
            and q.median_s <= p.median_s
            and (q.flops < p.flops or q.median_s < p.median_s)
            for q in points
        )

    return sorted((p for p in points if not dominated(p)), key=lambda p: p.flops)


def variant_table(run: Run) -> str:
    """Markdown, one table per batch size: FLOPs, ops per call, peak activation, median and
    achieved GFLOP/s of every variant, the Pareto front marked."""
    by_batch: dict[int, list[VariantPoint]] = defaultdict(list)
    for p in variant_points(run):
        by_batch[p.batch_size].append(p)
    out = []
    header = [
        "variant (conv/norm/up)",
        "GFLOPs",
        "ops/call",
        "peak act",
        "median ms",
        "GFLOP/s",
        "Pareto",
    ]
    for bs, points in sorted(by_batch.items()):
        front = set(pareto_front(points))
        rows = [
            [
                p.label,
                f"{p.flops / 1e9:.3f}",
                p.total_ops if p.total_ops is not None else "–",
                mib(p.peak_activation_bytes) if p.peak_activation_bytes is not None else "–",
                f"{p.median_s * 1e3:.3f}",
                f"{p.gflops_per_s:.1f}",
                "★" if p in front else "",
            ]
            for p in sorted(points, key=lambda p: p.median_s)
        ]
        out += [f"### Batch {bs}", "", table(header, rows, markdown=True), ""]
    return "\n".join(out)


def plot_pareto(run: Run, path: Path) -> Path:
    """One panel per batch size: median latency against FLOPs, the front joined and labelled."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter

    by_batch: dict[int, list[VariantPoint]] = defaultdict(list)
    for p in variant_points(run):
        by_batch[p.batch_size].append(p)
    if not by_batch:
        raise ValueError("the run has no model cases with FLOPs to plot")
    capacity: dict[int, list[VariantPoint]] = defaultdict(list)
    for p in variant_points(run, "test_capacity"):
        capacity[p.batch_size].append(p)
    fig, axes = plt.subplots(1, len(by_batch), figsize=(7 * len(by_batch), 5.5), squeeze=False)
    plain = FuncFormatter(lambda v, _: f"{v:g}")
    for ax, (bs, points) in zip(axes[0], sorted(by_batch.items()), strict=True):
        front = pareto_front(points)
        for kind, color in (("std", "tab:blue"), ("dws", "tab:orange")):
            mine = [p for p in points if p.label.startswith(kind)]
            ax.scatter(
                [p.flops / 1e9 for p in mine],
                [p.median_s * 1e3 for p in mine],
                s=28,
                color=color,
                zorder=3,
                label=LEGEND[kind],
            )
        ax.plot(
            [p.flops / 1e9 for p in front],
            [p.median_s * 1e3 for p in front],
            "o--",
            color="tab:red",
            mfc="none",
            ms=10,
            lw=1,
            zorder=4,
            label="Pareto front",
        )
        _plot_capacity(ax, capacity.get(bs, []))
        for i, p in enumerate(front):  # labels staggered: front points can sit close together
            ax.annotate(
                p.label,
                (p.flops / 1e9, p.median_s * 1e3),
                fontsize=8,
                xytext=(12, -14 + 14 * (i % 3)),
                textcoords="offset points",
                arrowprops={"arrowstyle": "-", "color": "gray", "lw": 0.6},
            )
        ax.set_xscale("log")
        ax.set_yscale("log")
        for axis in (ax.xaxis, ax.yaxis):
            axis.set_major_formatter(plain)
            axis.set_minor_formatter(plain)
        ax.tick_params(which="minor", labelsize=7)
        extra = f" + {len(capacity[bs])} of the capacity group" if capacity.get(bs) else ""
        ax.set_title(f"batch {bs}: {len(points)} variants{extra}")
        ax.set_xlabel("GFLOPs per call (fvcore, 1 multiply-add = 1 flop), log")
        ax.set_ylabel("median latency, ms, log")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(loc="lower right", fontsize=8)
    fig.suptitle(f"Latency vs FLOPs per variant — {run.hardware.get('key', '')}", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _plot_capacity(ax, points: Sequence[VariantPoint]) -> None:
    """The capacity group on a matrix panel: black diamonds, each labelled, not on the front
    (they are a question about the separable model, not more layer choices)."""
    if not points:
        return
    ax.scatter(
        [p.flops / 1e9 for p in points],
        [p.median_s * 1e3 for p in points],
        s=40,
        marker="D",
        facecolor="none",
        edgecolor="black",
        zorder=5,
        label="capacity group",
    )
    for p in points:
        ax.annotate(
            p.label,
            (p.flops / 1e9, p.median_s * 1e3),
            fontsize=7,
            xytext=(6, 4),
            textcoords="offset points",
        )
