"""A small inline-SVG line chart for the history page: no script, no server, no download.

Each point carries a ``<title>``, which every browser shows on hover; each series is a ``<g>``
that CSS highlights on hover. Markers are vertical lines between two points (a step) or a band
over a window (a creep)."""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from html import escape

# d3's category10, then its lighter tints: distinct for up to 20 series
PALETTE = (
    "#1f77b4",
    "#ff7f0e",
    "#2ca02c",
    "#d62728",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#7f7f7f",
    "#bcbd22",
    "#17becf",
    "#aec7e8",
    "#ffbb78",
    "#98df8a",
    "#ff9896",
    "#c5b0d5",
    "#c49c94",
    "#f7b6d2",
    "#c7c7c7",
    "#dbdb8d",
    "#9edae5",
)


@dataclass
class Series:
    name: str
    color: str
    # (commit index, value, (low, high) or None, hover text)
    points: list[tuple[int, float, tuple[float, float] | None, str]] = field(default_factory=list)
    steps: bool = False  # drawn as a staircase (exact counts)


@dataclass(frozen=True)
class Marker:
    start: int  # commit index
    end: int
    label: str
    color: str
    band: bool = False  # a creep's window instead of a step's boundary


@dataclass(frozen=True)
class Frame:
    width: int
    height: int
    left: int = 72
    right: int = 16
    top: int = 16
    bottom: int = 70

    def x(self, i: float, n: int) -> float:
        return self.left + (i + 0.5) * (self.width - self.left - self.right) / max(n, 1)

    def y(self, v: float, lo: float, hi: float) -> float:
        span = (hi - lo) or abs(hi) or 1.0
        return self.top + (hi - v) / span * (self.height - self.top - self.bottom)


def si(value: float) -> str:
    """A count as people read it on an axis: 14.1M, 989M, 1.2G."""
    for factor, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= factor:
            return f"{value / factor:.3g}{suffix}"
    return f"{value:.4g}"


def nice_ticks(lo: float, hi: float, count: int = 5) -> list[float]:
    if hi <= lo:
        return [lo]
    step = 10 ** math.floor(math.log10((hi - lo) / count))
    for m in (1, 2, 5, 10):
        if (hi - lo) / (step * m) <= count:
            step *= m
            break
    first = math.ceil(lo / step) * step
    return [first + k * step for k in range(int((hi - first) / step) + 1)]


def chart(
    series: Sequence[Series],
    labels: Sequence[str],
    unit: str,
    markers: Sequence[Marker] = (),
    frame: Frame = Frame(900, 340),
    fmt: Callable[[float], str] = "{:.4g}".format,
) -> str:
    """The SVG of ``series`` over the commits ``labels`` (x), values in ``unit`` (y)."""
    n = len(labels)
    values = [b for s in series for _, v, ci, _ in s.points for b in (ci or (v, v))]
    lo, hi = (min(values), max(values)) if values else (0.0, 1.0)
    pad = (hi - lo) * 0.08 or abs(hi) * 0.05 or 1.0
    lo, hi = lo - pad, hi + pad
    out = [
        f'<svg class="chart" viewBox="0 0 {frame.width} {frame.height}" '
        f'width="{frame.width}" height="{frame.height}" role="img">'
    ]
    out += _axes(frame, labels, lo, hi, unit, fmt)
    out += [_marker(frame, m, n, row) for row, m in enumerate(markers)]
    out += [_series(frame, s, n, lo, hi) for s in series]
    out.append("</svg>")
    return "\n".join(out)


def _axes(
    frame: Frame,
    labels: Sequence[str],
    lo: float,
    hi: float,
    unit: str,
    fmt: Callable[[float], str],
) -> list[str]:
    n, bottom = len(labels), frame.height - frame.bottom
    out = [f'<text class="unit" x="4" y="{frame.top - 4}">{escape(unit)}</text>']
    for t in nice_ticks(lo, hi):
        y = frame.y(t, lo, hi)
        out.append(
            f'<line class="grid" x1="{frame.left}" x2="{frame.width - frame.right}" '
            f'y1="{y:.1f}" y2="{y:.1f}"/><text class="tick" x="{frame.left - 6}" '
            f'y="{y + 4:.1f}" text-anchor="end">{escape(fmt(t))}</text>'
        )
    every = max(1, math.ceil(n / 40))  # at most 40 commit labels
    for i, label in enumerate(labels):
        if i % every:
            continue
        x = frame.x(i, n)
        out.append(
            f'<text class="commit" transform="translate({x:.1f},{bottom + 12}) '
            f'rotate(-45)" text-anchor="end">{escape(label)}</text>'
        )
    out.append(
        f'<line class="axis" x1="{frame.left}" x2="{frame.width - frame.right}" '
        f'y1="{bottom}" y2="{bottom}"/>'
    )
    return out


def _marker(frame: Frame, m: Marker, n: int, row: int) -> str:
    """A step's boundary (a line between its two commits) or a creep's band, labelled; labels of
    successive markers go on successive rows so they do not cover each other."""
    top, bottom = frame.top, frame.height - frame.bottom
    x0, x1 = frame.x(m.start, n), frame.x(m.end, n)
    if m.band:
        shape = (
            f'<rect class="band" x="{x0:.1f}" y="{top}" width="{x1 - x0:.1f}" '
            f'height="{bottom - top}" fill="{m.color}"/>'
        )
        tx = x0 + 3
    else:
        x = (x0 + x1) / 2
        shape = (
            f'<line class="step" x1="{x:.1f}" x2="{x:.1f}" y1="{top}" y2="{bottom}" '
            f'stroke="{m.color}"/>'
        )
        tx = x + 3
    ty = top + 10 + 13 * (row % 6)
    return shape + (
        f'<text class="marker" x="{tx:.1f}" y="{ty}" fill="{m.color}">{escape(m.label)}</text>'
    )


def _series(frame: Frame, s: Series, n: int, lo: float, hi: float) -> str:
    xy = [(frame.x(i, n), frame.y(v, lo, hi)) for i, v, _, _ in s.points]
    if s.steps:  # hold each value until the next commit that recorded one
        path = [xy[0]] if xy else []
        for (_x0, y0), (x1, y1) in itertools.pairwise(xy):
            path += [(x1, y0), (x1, y1)]
        xy_line = path
    else:
        xy_line = xy
    line = " ".join(f"{x:.1f},{y:.1f}" for x, y in xy_line)
    out = [
        f'<g class="series"><title>{escape(s.name)}</title>',
        f'<polyline points="{line}" stroke="{s.color}"/>',
    ]
    for (x, y), (_, _, ci, text) in zip(xy, s.points, strict=True):
        if ci:
            y0, y1 = frame.y(ci[0], lo, hi), frame.y(ci[1], lo, hi)
            out.append(
                f'<line class="ci" x1="{x:.1f}" x2="{x:.1f}" y1="{y0:.1f}" '
                f'y2="{y1:.1f}" stroke="{s.color}"/>'
            )
        out.append(
            f'<circle cx="{x:.1f}" cy="{y:.1f}" r="4" fill="{s.color}">'
            f"<title>{escape(text)}</title></circle>"
        )
    out.append("</g>")
    return "\n".join(out)
