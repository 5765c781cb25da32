"""All of one suite run's state in one typed object, built once from the parsed options."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn

from unet import torchcompat
from unet.bench import pbcompat
from unet.bench.measure.compiled import CUDAGRAPH_MODES
from unet.bench.measure.energy import EnergyMeter
from unet.bench.measure.environment import environment
from unet.bench.measure.hardware import hardware_info, hardware_key
from unet.bench.measure.runner import CaseRunner
from unet.bench.measure.settings import SuiteOptions
from unet.bench.measure.telemetry import Telemetry
from unet.bench.measure.timing import use_device
from unet.bench.measure.turns import Channel
from unet.bench.results.axes import key_suffix, run_axes
from unet.bench.results.expected import ExpectedChangesError, active, file_at, parse
from unet.bench.results.explained import CONFIRMED, Explained, against_saved, repro_command
from unet.bench.results.floors import FloorsError, calibration_for, tier_of
from unet.bench.results.manifest import ManifestError, load_manifest
from unet.bench.results.record import CaseRecord
from unet.bench.results.storage import compare_target, keyed_storage, storage_root
from unet.bench.stats.verdict import failed
from unet.bench.suite.gates import ComparedRun, CostGate, VerdictGate
from unet.bench.suite.paired import confirm_paired, paired_base

PLUGIN_NAME = "unet-bench"  # the plugin object holding the state, in pytest's plugin manager


@dataclass
class SuiteState:
    options: SuiteOptions
    hardware: dict[str, str]  # the fields that identify this device and its software
    key: str  # the hardware key: the storage folder's name
    folder: Path | None  # this hardware's run folder; None for non-file storage
    runner: CaseRunner
    cost_gate: CostGate | None  # None with --skip-costs
    verdict_gate: VerdictGate | None  # None without --verdict
    compare_paths: list[Path] = field(default_factory=list)  # what --benchmark-compare loads
    compared: list[ComparedRun] = field(default_factory=list)  # as pytest-benchmark loaded them
    explained: list[Explained] = field(default_factory=list)  # the flagged cases, attributed
    environment: dict[str, str] = field(default_factory=dict)  # measure.environment's
    # benchmarks this tier gives no cases (the quick tier has no capacity group): deselected
    without_cases: set[str] = field(default_factory=set)

    @property
    def device(self) -> torch.device:
        return self.options.device

    @property
    def axes(self) -> dict[str, object]:
        return run_axes(self.options)

    def measure(
        self,
        benchmark: Any,
        node: pytest.Item,
        module: nn.Module,
        x: torch.Tensor,
        info: dict[str, object],
        repeat: int = 1,
    ) -> dict[str, object]:
        """Time one case, then apply the cost gate to it."""
        extra = self.runner.run(benchmark, node.name, module, x, info, repeat)
        kept = self.runner.kept.pop(node.name, None)
        if kept is not None and self.verdict_gate is not None:
            self.verdict_gate.keep(node.name, node.nodeid, kept, self.compared)
        if self.cost_gate is not None:
            self.cost_gate.check(
                CaseRecord.from_extra(node.name, node.nodeid, extra), self.compared
            )
        return extra

    def explain_flagged(self, config: pytest.Config) -> None:
        """Attribute every case a gate flagged: confirmed regressions (--verdict), native
        --benchmark-compare-fail failures and cost changes."""
        flagged: dict[str, str] = {}
        if self.verdict_gate is not None:
            flagged.update((v.case, CONFIRMED) for v in failed(self.verdict_gate.verdicts))
        # every timed case of a compared run has a profile, so these names are all of them
        for name, why in pbcompat.compare_failures(config, self.runner.profiles).items():
            flagged.setdefault(name, f"--benchmark-compare-fail: {why}")
        if self.cost_gate is not None and not self.cost_gate.update:
            for name, *_ in self.cost_gate.changes:
                flagged.setdefault(name, "cost change")
        for name, reason in flagged.items():
            saved = next((r.run for r in self.compared if name in r.run.cases), None)
            saved_profile = saved.case(name).profile if saved else None
            # the compared run's commit; without one, the committed code (the manifest's)
            base = (saved.commit if saved else "HEAD") or None
            repro = repro_command(name, None if base == "unversioned" else base, str(self.device))
            head = self.runner.profiles.get(name)
            if saved is None:
                note = "no compared run to profile against; the repro profiles both sides"
                self.explained.append(Explained(name, reason, None, note, repro))
            else:
                self.explained.append(against_saved(name, reason, head, saved_profile, repro))


def suite_state(config: pytest.Config) -> SuiteState:
    """This run's state, from the plugin object that holds it."""
    return config.pluginmanager.get_plugin(PLUGIN_NAME).state


def check_combinations(config: pytest.Config, options: SuiteOptions) -> None:
    """Options that are valid alone but not together, or not on this machine."""
    if options.verdict and not pbcompat.compare_option(config):
        raise pytest.UsageError("--verdict compares against a saved run: add --benchmark-compare")
    if options.autocast is not None:
        if options.dtype != "float32":
            raise pytest.UsageError(
                f"--autocast {options.autocast} runs float32 weights in lower precision; "
                f"--dtype {options.dtype} casts the weights themselves. Use one: --autocast "
                "with --dtype float32 (the default), or --dtype alone"
            )
        dtype = getattr(torch, options.autocast)
        if why := torchcompat.autocast_unsupported(options.device.type, dtype):
            raise pytest.UsageError(f"--autocast {options.autocast}: {why}; run without it")
    if options.compile is not None:
        check_compile(options)
    if options.do_bench:
        if options.device.type != "cuda":
            raise pytest.UsageError("--do-bench needs a CUDA device (triton times GPU work)")
        try:
            import triton.testing  # noqa: F401
        except ImportError:
            raise pytest.UsageError("--do-bench needs triton: pip install triton") from None


def check_compile(options: SuiteOptions) -> None:
    """--compile needs a torch that compiles on this Python, and its cudagraph modes CUDA
    graphs where they run on a GPU."""
    if why := torchcompat.compile_unsupported():
        raise pytest.UsageError(f"--compile: {why}; run without --compile")
    cudagraphs = options.compile in CUDAGRAPH_MODES and options.device.type == "cuda"
    if cudagraphs and (why := torchcompat.cuda_graphs_unsupported()):
        raise pytest.UsageError(f"--compile {options.compile}: {why}; use another mode")


def _storage(config: pytest.Config, key: str) -> tuple[Path | None, list[Path]]:
    """Point pytest-benchmark's storage at this hardware's folder and resolve what
    --benchmark-compare will load (a committed baseline when there is no local run)."""
    root = storage_root(pbcompat.storage_option(config))
    if root is None:
        return None, []
    folder = keyed_storage(root, key)
    pbcompat.point_storage_at(config, folder)
    compare = pbcompat.compare_option(config)
    if not compare:
        return folder, []
    try:
        paths, baseline = compare_target(compare, folder, key)
    except ValueError as err:
        raise pytest.UsageError(str(err)) from None
    if baseline is not None:
        pbcompat.compare_with(config, baseline)
    return folder, paths


def build_state(config: pytest.Config) -> SuiteState:
    options = SuiteOptions.from_config(config)
    check_combinations(config, options)
    if options.device.type == "cuda":
        use_device(options.device)  # events, graphs and do_bench time the chosen GPU
        torch.backends.cudnn.benchmark = True  # autotuned once per shape during warmup
    info = hardware_info(options.device)
    key = hardware_key(info) + key_suffix(run_axes(options))  # other axes, other folder
    folder, compare_paths = _storage(config, key)
    cost_gate = None
    if not options.skip_costs:
        path = options.cost_manifest
        try:
            manifest = load_manifest(path, missing_ok=options.update_cost_manifest)
        except ManifestError as err:
            raise pytest.UsageError(str(err)) from None
        cost_gate = CostGate(path, manifest, update=options.update_cost_manifest)
    runner = make_runner(config, options)
    verdict_gate = (
        verdict_gate_for(config, options, key, runner.warmup_s) if options.verdict else None
    )
    state = SuiteState(options, info, key, folder, runner, cost_gate, verdict_gate, compare_paths)
    state.environment = environment(runner.telemetry)
    if verdict_gate is not None:  # what each compared run's environment is diffed against
        verdict_gate.here = {**info, "environment": state.environment}
    return state


def verdict_gate_for(
    config: pytest.Config, options: SuiteOptions, key: str, warmup_s: float
) -> VerdictGate:
    """--verdict's gate: this key's calibrated floors, and paired confirmation from this
    tree's repository."""
    try:
        calibration = calibration_for(key, tier_of(options.quick), options.noise_floors)
    except FloorsError as err:
        raise pytest.UsageError(str(err)) from None
    repo = config.rootpath
    try:  # the working tree's file, checked before anything runs
        parse(file_at(repo, None))
    except ExpectedChangesError as err:
        raise pytest.UsageError(str(err)) from None
    return VerdictGate(
        options.min_effect,
        calibration,
        warmup_s,
        paired=lambda commit, ids: confirm_paired(repo, commit, ids, options),
        statistic=options.gate_on,
        base_commit=lambda run: paired_base(run, repo),
        expected_for=lambda run: active(repo, paired_base(run, repo)[0]),
    )


def make_runner(config: pytest.Config, options: SuiteOptions) -> CaseRunner:
    cuda = options.device.type == "cuda"
    channel = Channel.from_env()  # set when `unet-bench ab` runs this suite as a paired worker
    warmup = options.warmup_time
    if warmup is None:  # seconds; none in a paired A/B worker: the other workers keep it busy
        warmup = 0.0 if channel else 0.3 if cuda else 0.05
    telemetry = Telemetry.open(options.device)  # None without NVML or a GPU
    return CaseRunner(
        options,
        warmup_s=warmup,
        # calls, counting the output check: CUDA several for autotuning and clocks; CPU the
        # check plus one more (a 400 ms batch-32 case needs no more; in a paired A/B worker,
        # whose round blocks each start after another process ran, the one that sizes them)
        warmup_iters=3 if cuda else 2,
        budget=pbcompat.timing_budget(config),
        channel=channel,
        # a saved run keeps its cases' profiles: a later comparison attributes its changes
        # against them, as it cannot re-run the saved code
        record_profiles=pbcompat.saves_run(config) or bool(pbcompat.compare_option(config)),
        telemetry=telemetry,
        energy=EnergyMeter.open(options.device, telemetry),  # None where no counter is readable
    )
