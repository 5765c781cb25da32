"""A case's per-operator profile as recorded, and the attribution of a change between two
profiles to the operators whose self time changed most: pure functions over records (the
profiling itself is ``measure.profile``)."""

from __future__ import annotations

from dataclasses import dataclass

OUTSIDE = "outside operators"


@dataclass(frozen=True)
class OpTime:
    calls: float  # calls of the operator per case call
    self_s: float  # its self time per case call


@dataclass(frozen=True)
class CaseProfile:
    calls: int  # case calls profiled
    wall_s: float  # wall time per case call, under the profiler
    ops: dict[str, OpTime]
    clock: str = "cpu"  # whose self time: "cpu" (host) or "cuda" (kernels on the device)

    @property
    def outside_s(self) -> float:
        return self.wall_s - sum(o.self_s for o in self.ops.values())

    def to_dict(self) -> dict[str, object]:
        """Compact JSON for a run's extra_info: ``ops`` maps operator -> [calls, self_s]."""
        ops = {name: [round(o.calls, 4), o.self_s] for name, o in self.ops.items()}
        return {"calls": self.calls, "wall_s": self.wall_s, "clock": self.clock, "ops": ops}

    @classmethod
    def from_dict(cls, data: dict) -> CaseProfile:
        ops = {name: OpTime(float(c), float(s)) for name, (c, s) in data["ops"].items()}
        return cls(int(data["calls"]), float(data["wall_s"]), ops, str(data.get("clock", "cpu")))


@dataclass(frozen=True)
class Row:
    op: str
    calls: tuple[float | None, float | None]  # base, head (None: the outside row)
    self_s: tuple[float, float]  # base, head, per case call
    share: float  # of the case's whole change

    @property
    def delta_s(self) -> float:
        return self.self_s[1] - self.self_s[0]


@dataclass(frozen=True)
class Attribution:
    case: str
    wall_s: tuple[float, float]  # base, head per case call, as profiled
    rows: list[Row]  # the operators that changed most, then the outside row
    clock: str = "cpu"
    single: bool = False  # one profile's breakdown: no base, shares of the head's call

    @property
    def delta_s(self) -> float:
        return self.wall_s[1] - self.wall_s[0]

    def to_dict(self) -> dict[str, object]:
        return {
            "case": self.case,
            "clock": self.clock,
            "single": self.single,
            "wall_s": list(self.wall_s),
            "rows": [
                {"op": r.op, "calls": list(r.calls), "self_s": list(r.self_s), "share": r.share}
                for r in self.rows
            ],
        }


def attribute(case: str, base: CaseProfile, head: CaseProfile, top: int = 10) -> Attribution:
    """The ``top`` operators by the size of their self-time change, plus the outside row; each
    with its share of the change of the case's wall time."""
    total = head.wall_s - base.wall_s
    none = OpTime(0.0, 0.0)

    def share(delta: float) -> float:
        return delta / total if total else 0.0

    rows = []
    for op in set(base.ops) | set(head.ops):
        b, h = base.ops.get(op, none), head.ops.get(op, none)
        rows.append(Row(op, (b.calls, h.calls), (b.self_s, h.self_s), share(h.self_s - b.self_s)))
    rows.sort(key=lambda r: (-abs(r.delta_s), r.op))
    outside = (base.outside_s, head.outside_s)
    rows = [*rows[:top], Row(OUTSIDE, (None, None), outside, share(outside[1] - outside[0]))]
    return Attribution(case, (base.wall_s, head.wall_s), rows, head.clock)


def breakdown(case: str, profile_: CaseProfile, top: int = 10) -> Attribution:
    """One profile alone: the operators with the most self time and their share of a call."""
    ops = sorted(profile_.ops.items(), key=lambda kv: (-kv[1].self_s, kv[0]))[:top]
    wall = profile_.wall_s or 1.0
    rows = [Row(op, (None, o.calls), (0.0, o.self_s), o.self_s / wall) for op, o in ops]
    rows.append(Row(OUTSIDE, (None, None), (0.0, profile_.outside_s), profile_.outside_s / wall))
    return Attribution(case, (0.0, profile_.wall_s), rows, profile_.clock, single=True)
