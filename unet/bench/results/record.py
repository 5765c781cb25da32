"""One case's results as a typed record: what the suite measured and how, read back from any run
file written since the first release.

pytest-benchmark stores a case as ``{"name", "fullname", "group", "stats", "extra_info"}``; the
runner fills ``extra_info`` and this module is the one that knows its keys. ``CaseRecord``
groups them (identity, costs, counters, timing, compile, device figures, telemetry, profile),
``from_entry`` reads a stored case (a field a run predates is None), ``to_extra`` writes the same
``extra_info`` keys back with ``schema``. Schema 1 is everything written before the record (no
``schema`` key); 2 adds the key and nothing else, so old and new files read alike.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from typing import Any

SCHEMA = 2


@dataclass(frozen=True)
class Identity:
    """What was measured: the case's layer choices and the run's axes (part of the case id and
    the hardware key)."""

    choices: dict[str, str]  # the case's own settings, e.g. {"conv": "standard", "norm": ...}
    batch_size: int | None = None
    device: str | None = None
    dtype: str | None = None  # float32 where a run predates the field
    channels_last: bool | None = None
    mode: str | None = None  # inference or train
    autocast: str | None = None
    compile: str | None = None  # the torch.compile mode; None eager
    cache: str | None = None  # "cold": caches evicted before every timed call; None warm
    threads: int | None = None  # CPU threads (CPU runs)
    applications_per_call: int | None = None  # a layer case's applications per timed call


@dataclass(frozen=True)
class Costs:
    """The exact costs the cost gate compares (fvcore FLOPs: 1 multiply-add = 1 flop)."""

    params: int | None = None
    flops: int | None = None
    mult_adds: int | None = None  # the study's (torchinfo) convention
    unsupported_ops: tuple[str, ...] | None = None  # operators fvcore leaves out of flops
    backward_flops: int | None = None  # --mode train
    train_flops: int | None = None  # --mode train: forward + backward


@dataclass(frozen=True)
class Counters:
    """Exact ATen operator counts and peak activation memory of one call."""

    counted_on: str | None = None  # what they depend on besides the code: cpu/float32, ...
    total_ops: int | None = None
    ops: dict[str, int] | None = None
    peak_activation_bytes: int | None = None


@dataclass(frozen=True)
class Timing:
    """pytest-benchmark's statistics of the rounds, seconds per call."""

    median_s: float | None = None
    q1_s: float | None = None
    q3_s: float | None = None
    iqr_s: float | None = None
    rounds: int | None = None
    samples: tuple[float, ...] = ()  # per round; saved with --benchmark-save-data
    per_application_s: float | None = None  # layer cases: per application
    ab_rounds_per_block: int | None = None  # a paired A/B worker's rounds per turn
    p50_s: float | None = None  # percentiles of the rounds, where enough (stats.percentiles)
    p90_s: float | None = None
    p99_s: float | None = None


@dataclass(frozen=True)
class Compile:
    """--compile: the compile, apart from the rounds, and what the gate checks exactly."""

    compile_s: float | None = None
    compile_cached: bool | None = None
    graph_breaks: int | None = None
    graph_break_reasons: tuple[str, ...] | None = None
    cudagraph_skips: int | None = None  # graphs a cudagraph mode ran without CUDA graphs
    recompiles: int | None = None


@dataclass(frozen=True)
class DeviceFigures:
    """CUDA: GPU time and memory of one call, and the kernels it launched."""

    device_time_s: float | None = None
    device_time_method: str | None = None  # events or a replayed CUDA graph
    peak_memory_bytes: int | None = None
    do_bench_median_s: float | None = None
    kernel_launches: int | None = None
    kernel_signature: str | None = None
    kernel_signatures: tuple[str, ...] | None = None  # several processes' (A/B)


@dataclass(frozen=True)
class Energy:
    """Energy over the timed rounds (NVML on CUDA, RAPL on a CPU); absent where unreadable."""

    energy_j_per_call: float | None = None
    power_w: float | None = None  # average over the rounds' wall time
    energy_source: str | None = None  # nvml, or rapl and its package domains


# the sections whose fields are extra_info keys of the same name
SECTIONS = {
    "costs": Costs,
    "counters": Counters,
    "compile": Compile,
    "device": DeviceFigures,
    "energy": Energy,
}
COST_FIELDS = ("params", "flops", "mult_adds", "unsupported_ops")  # gated in every run
# gated where recorded: --mode train's FLOPs, --compile's graph breaks
TRAIN_FIELDS = ("backward_flops", "train_flops", "graph_breaks")
EXACT_FIELDS = (  # exact numbers a run records per case, plotted and stepped exactly
    "params",
    "flops",
    "mult_adds",
    "total_ops",
    "peak_activation_bytes",
    "backward_flops",
    "train_flops",
    "graph_breaks",
)
_IDENTITY = [f.name for f in fields(Identity) if f.name != "choices"]
_TIMING_STATS = {"median_s": "median", "q1_s": "q1", "q3_s": "q3", "iqr_s": "iqr"}
# the timing fields the suite writes into extra_info itself
_TIMING_EXTRA = ("per_application_s", "ab_rounds_per_block", "p50_s", "p90_s", "p99_s")
_TUPLES = {"unsupported_ops", "graph_break_reasons", "kernel_signatures"}


@dataclass(frozen=True)
class CaseRecord:
    name: str  # test_model[conv=standard-...-bs=1]
    fullname: str = ""  # the node id
    group: str | None = None
    identity: Identity = field(default_factory=lambda: Identity({}))
    costs: Costs = field(default_factory=Costs)
    counters: Counters = field(default_factory=Counters)
    timing: Timing = field(default_factory=Timing)
    compile: Compile = field(default_factory=Compile)
    device: DeviceFigures = field(default_factory=DeviceFigures)
    energy: Energy = field(default_factory=Energy)
    telemetry: dict[str, Any] | None = None  # NVML readings around the rounds (CUDA)
    profile: dict[str, Any] | None = None  # per-operator profile (stats.attribution)
    schema: int = 1

    def percentile(self, p: int) -> float | None:
        """The ``p``-th percentile of the rounds: as recorded, or from the raw samples of a run
        that predates the field; None with too few rounds (``stats.percentiles``)."""
        from unet.bench.stats.percentiles import field as percentile_field
        from unet.bench.stats.percentiles import percentile

        recorded = getattr(self.timing, percentile_field(p))
        return recorded if recorded is not None else percentile(self.timing.samples, p)

    @property
    def median_s(self) -> float | None:
        return self.timing.median_s

    @property
    def kernel_signatures(self) -> list[str]:
        """The kernel signatures of the case's processes (one for a single run; none off
        CUDA)."""
        if self.device.kernel_signatures:
            return list(self.device.kernel_signatures)
        return [self.device.kernel_signature] if self.device.kernel_signature else []

    def cost_entry(self) -> dict[str, Any]:
        """The costs as the cost manifest holds them: the cost fields, the train fields where
        recorded and the exact counters under what they were counted on."""
        costs = asdict(self.costs)
        entry: dict[str, Any] = {f: costs[f] for f in COST_FIELDS}
        entry["unsupported_ops"] = sorted(entry["unsupported_ops"] or [])
        recorded = {**costs, "graph_breaks": self.compile.graph_breaks}
        entry.update((f, recorded[f]) for f in TRAIN_FIELDS if recorded[f] is not None)
        c = self.counters
        if c.counted_on is not None:
            entry["counters"] = {
                c.counted_on: {
                    "total_ops": c.total_ops,
                    "ops": dict(c.ops or {}),
                    "peak_activation_bytes": c.peak_activation_bytes,
                }
            }
        return entry

    @property
    def counted(self) -> bool:
        """Whether this run counted the case's costs (A/B's extra workers and profiling
        processes do not)."""
        return all(getattr(self.costs, f) is not None for f in COST_FIELDS)

    @property
    def throttled(self) -> list[str]:
        """Why the GPU ran throttled during the rounds; none without telemetry."""
        return list((self.telemetry or {}).get("throttled") or [])

    def exact(self) -> dict[str, float]:
        """The EXACT_FIELDS this run recorded, as numbers."""
        values = {**asdict(self.costs), **asdict(self.counters), **asdict(self.compile)}
        return {f: float(values[f]) for f in EXACT_FIELDS if isinstance(values.get(f), int | float)}

    @classmethod
    def from_extra(
        cls, name: str, fullname: str, extra: Mapping[str, Any], strict: bool = False
    ) -> CaseRecord:
        """The record of a case being run, from the fields its runner's stages produced;
        ``strict``: a field the record does not declare is an error, not dropped."""
        if strict and (unknown := sorted(undeclared(extra))):
            raise ValueError(f"{name}: fields the record does not declare: {', '.join(unknown)}")
        return cls.from_entry({"name": name, "fullname": fullname, "extra_info": extra})

    @classmethod
    def from_entry(cls, entry: Mapping[str, Any]) -> CaseRecord:
        """A case as pytest-benchmark stored it (``benchmarks[i]`` of a run file)."""
        extra = dict(entry.get("extra_info") or {})
        stats = entry.get("stats") or {}
        known = {*_IDENTITY, *_all_section_fields(), "telemetry", "profile", "schema"}
        known |= set(_TIMING_EXTRA)
        identity = Identity(
            choices={k: v for k, v in extra.items() if k not in known and isinstance(v, str)},
            **{k: extra[k] for k in _IDENTITY if extra.get(k) is not None},
        )
        timing = Timing(
            **{k: stats.get(s) for k, s in _TIMING_STATS.items()},
            rounds=stats.get("rounds"),
            samples=tuple(stats.get("data") or ()),
            **{k: extra.get(k) for k in _TIMING_EXTRA},
        )
        sections = {name: _section(kind, extra) for name, kind in SECTIONS.items()}
        return cls(
            name=str(entry.get("name", "")),
            fullname=str(entry.get("fullname", "")),
            group=entry.get("group"),
            identity=identity,
            timing=timing,
            telemetry=extra.get("telemetry"),
            profile=extra.get("profile"),
            schema=int(extra.get("schema", 1)),
            **sections,
        )

    def to_extra(self) -> dict[str, Any]:
        """The ``extra_info`` keys of this record (None fields left out), with ``schema``."""
        extra: dict[str, Any] = dict(self.identity.choices)
        identity = asdict(self.identity)
        extra.update((k, identity[k]) for k in _IDENTITY if identity[k] is not None)
        for name in SECTIONS:
            for key, value in asdict(getattr(self, name)).items():
                if value is not None:
                    extra[key] = list(value) if key in _TUPLES else value
        for key in _TIMING_EXTRA:
            if (value := getattr(self.timing, key)) is not None:
                extra[key] = value
        for key in ("telemetry", "profile"):
            if (value := getattr(self, key)) is not None:
                extra[key] = value
        extra["schema"] = SCHEMA
        return extra


# What each extra_info key means: the record's field reference, generated into the README
# (``field_reference``; tests/test_record.py fails when the two differ or a field has no entry).
FIELD_DOCS: dict[str, dict[str, str]] = {
    "identity": {
        "conv, norm, upsample": "the case's layer choices (model cases; a layer case has its own)",
        "capacity, layers_per_block, block_expansion, max_features": (
            "a capacity case's variant name and the settings that make it (strings)"
        ),
        "batch_size": "the input's batch",
        "device": "cpu or cuda",
        "dtype": "weights and input dtype (float32 where a run predates the field)",
        "channels_last": "NHWC model and input",
        "mode": "inference, or train (each timed application a training step)",
        "autocast": "torch.autocast dtype around each forward, or none",
        "compile": "the torch.compile mode, or none (eager)",
        "cache": "cold: the caches evicted before every timed call, untimed (absent: warm)",
        "threads": "CPU threads (CPU runs)",
        "applications_per_call": "a layer case's applications per timed call (1000 for norms)",
    },
    "costs": {
        "params": "parameters",
        "flops": "fvcore's FLOPs, one multiply-add = one flop",
        "mult_adds": "the study's (torchinfo) multiply-adds",
        "unsupported_ops": "operators fvcore leaves out of flops",
        "backward_flops": "--mode train: the backward's convolution multiply-adds",
        "train_flops": "--mode train: flops + backward_flops",
    },
    "counters": {
        "counted_on": "what the counters depend on besides the code, e.g. cpu/float32",
        "total_ops": "ATen operators per call",
        "ops": "calls per ATen operator",
        "peak_activation_bytes": "activation memory at its peak during one call",
    },
    "timing": {
        "per_application_s": "the median per application (layer cases)",
        "ab_rounds_per_block": "a paired A/B worker's rounds per turn",
        "p50_s, p90_s, p99_s": (
            "percentiles of the rounds, each only with enough rounds (5, 64, 662: MLPerf's "
            "floors for p90 and p99)"
        ),
    },
    "compile": {
        "compile_s": "the first call's compile time, apart from the rounds",
        "compile_cached": "inductor reused a graph from its on-disk cache",
        "graph_breaks": "dynamo's graph breaks (gated exactly)",
        "graph_break_reasons": "each break's reason and source line",
        "cudagraph_skips": "graphs a cudagraph mode ran without CUDA graphs",
        "recompiles": "compiles after the first (each fails the case)",
    },
    "device": {
        "device_time_s": "CUDA: GPU-only time per call",
        "device_time_method": "CUDA: events, or a replayed CUDA graph",
        "peak_memory_bytes": "CUDA: the allocator's peak above what the case held before",
        "do_bench_median_s": "CUDA, --do-bench: triton's do_bench median",
        "kernel_launches": "CUDA: kernels one call launches",
        "kernel_signature": "CUDA: a hash of their names, in order",
        "kernel_signatures": "CUDA, A/B: every process's signature when they differ",
    },
    "energy": {
        "energy_j_per_call": "joules per call over the timed rounds (NVML; RAPL on a CPU)",
        "power_w": "average watts over the timed rounds",
        "energy_source": "the counter read: nvml, or rapl and its package domains",
    },
    "run": {
        "telemetry": "CUDA with NVML: clocks, temperature, power and throttle reasons",
        "profile": "per-operator calls and self time of warm calls (saved and compared runs)",
        "schema": f"the record's version ({SCHEMA}; files without it are 1)",
    },
}


def field_reference() -> str:
    """The Markdown table of every extra_info key, by section of the record."""
    rows = ["| section | field | meaning |", "|---|---|---|"]
    for section, docs in FIELD_DOCS.items():
        rows += [f"| {section} | `{key}` | {meaning} |" for key, meaning in docs.items()]
    return "\n".join(rows)


def undeclared(extra: Mapping[str, Any]) -> set[str]:
    """The keys of ``extra`` that no field of the record holds (a layer choice is a string)."""
    known = {*_IDENTITY, *_all_section_fields(), *_TIMING_EXTRA}
    known |= {"telemetry", "profile", "schema"}
    return {k for k, v in extra.items() if k not in known and not isinstance(v, str)}


def _all_section_fields() -> set[str]:
    return {f.name for kind in SECTIONS.values() for f in fields(kind)}


def _section(kind: type, extra: Mapping[str, Any]) -> Any:
    values = {}
    for f in fields(kind):
        if f.name in extra and extra[f.name] is not None:
            value = extra[f.name]
            values[f.name] = tuple(value) if f.name in _TUPLES else value
    return kind(**values)


def merge_entry(target: dict[str, Any], entry: Mapping[str, Any]) -> None:
    """Fold another process's run of the same case into ``target`` (both as stored): the rounds
    concatenated, fields ``target`` lacks taken (the costs: from the counting process), throttle
    reasons and kernel signatures joined so that any process's show."""
    stats, extra = target["stats"], target.setdefault("extra_info", {})
    other = entry.get("extra_info") or {}
    stats["data"] = [*(stats.get("data") or []), *CaseRecord.from_entry(entry).timing.samples]
    for key, value in other.items():
        extra.setdefault(key, value)
    reasons = (other.get("telemetry") or {}).get("throttled")
    if reasons and "telemetry" in extra:
        joined = set(extra["telemetry"].get("throttled") or []) | set(reasons)
        extra["telemetry"] = {**extra["telemetry"], "throttled": sorted(joined)}
    seen = CaseRecord.from_entry(target).kernel_signatures
    seen += CaseRecord.from_entry(entry).kernel_signatures
    if seen:
        extra["kernel_signatures"] = sorted(set(seen))


if __name__ == "__main__":  # the table docs/reference/record-fields.md shows (unet.bench.docs)
    print(field_reference())
