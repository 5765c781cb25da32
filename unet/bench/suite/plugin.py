"""The suite's pytest plugin (registered by ``benchmarks/conftest.py`` through ``pytest_plugins``).

Module-level hooks add the options and, once they are parsed, build the run's ``SuiteState`` and
register one ``UnetBenchPlugin`` object holding it; that object's hooks report the hardware,
stamp saved runs, refuse comparisons across hardware, let a paired A/B worker take turns, run the
gates' end-of-session work and print their summaries.
"""

from __future__ import annotations

import pytest
import torch

from unet import torchcompat
from unet.bench import pbcompat
from unet.bench.measure import precision
from unet.bench.measure.hardware import differing_fields, other_hardware_message
from unet.bench.measure.turns import FINAL, SETUP
from unet.bench.output.render import (
    attribution_table,
    cost_change_table,
    verdict_summary,
    verdict_table,
)
from unet.bench.results.axes import differing_axes, other_axes_message
from unet.bench.results.environment import diff_lines
from unet.bench.results.expected import stale_lines
from unet.bench.results.floors import tier_of
from unet.bench.results.runs import run_from_json
from unet.bench.stats.verdict import failed
from unet.bench.suite.gates import ComparedRun
from unet.bench.suite.options import add_options
from unet.bench.suite.state import PLUGIN_NAME, SuiteState, build_state


def pytest_addoption(parser: pytest.Parser) -> None:
    add_options(parser)


def pytest_configure(config: pytest.Config) -> None:
    # Runs before pytest-benchmark's own (trylast) configure, so the storage and compare options
    # it reads already point at this hardware's runs.
    if config.option.help or getattr(config.option, "version", False):
        return  # pytest only prints; the options' defaults are not parsed values then
    pbcompat.check_version()
    if problem := torchcompat.version_problem(torch.__version__):
        raise pytest.UsageError(problem)
    config.pluginmanager.register(UnetBenchPlugin(build_state(config)), PLUGIN_NAME)


class UnetBenchPlugin:
    def __init__(self, state: SuiteState) -> None:
        self.state = state

    def pytest_collection_modifyitems(self, config: pytest.Config, items: list[pytest.Item]):
        """Deselect a benchmark that this tier gives no cases, instead of pytest's skipped
        'empty parameter set' item that would be counted and reported as a case."""
        dropped = [i for i in items if getattr(i, "originalname", None) in self.state.without_cases]
        if dropped:
            config.hook.pytest_deselected(items=dropped)
            items[:] = [i for i in items if i not in dropped]

    # --- what the run is, for the header and for saved runs --------------------------------

    def pytest_report_header(self, config: pytest.Config) -> list[str]:
        s = self.state
        lines = [f"unet-bench: hardware key {s.key}", f"unet-bench: {s.hardware}"]
        if s.device.type == "cpu":
            lines.append(f"unet-bench: CPU threads {torch.get_num_threads()}")
        if note := torchcompat.version_note(torch.__version__):
            lines.append(f"unet-bench: {note}")
        if s.runner.evictor is not None:
            lines.append(f"unet-bench: {s.runner.evictor.describe()}")
        if s.runner.telemetry is not None and s.runner.telemetry.note:
            lines.append(f"unet-bench: telemetry: {s.runner.telemetry.note}")
        return lines

    def pytest_benchmark_update_machine_info(self, config: pytest.Config, machine_info: dict):
        machine_info["unet_bench"] = {
            **self.state.hardware,
            "key": self.state.key,
            "tier": tier_of(self.state.options.quick),  # the floors that apply (results.floors)
            **self.state.axes,
            "environment": self.state.environment,  # diffed beside every comparison
        }
        if self.state.device.type == "cuda":  # TF32 and cuDNN flags, as in force (precision.py)
            machine_info["unet_bench"]["numerics"] = precision.settings()

    def pytest_benchmark_compare_machine_info(
        self, config: pytest.Config, machine_info: dict, compared_benchmark: dict
    ) -> None:
        """Called once per compared run, in the order of ``state.compare_paths``."""
        s = self.state
        theirs = compared_benchmark.get("machine_info", {}).get("unet_bench", {})
        diff = differing_fields(s.hardware, theirs)
        if diff and not s.options.allow_other_hardware:
            subject = "--benchmark-compare: the saved run is from other hardware"
            raise pytest.UsageError(other_hardware_message(subject, diff))
        other = differing_axes(s.axes, theirs)
        if other and not s.options.allow_other_hardware:
            subject = "--benchmark-compare: the saved run measured other settings"
            raise pytest.UsageError(other_axes_message(subject, other))
        index = len(s.compared)
        path = s.compare_paths[index] if index < len(s.compare_paths) else None
        label = path.name if path else f"compared run {index + 1}"
        s.compared.append(ComparedRun(label, run_from_json(compared_benchmark, path)))

    # --- paired A/B worker (unet/bench/measure/turns.py): take turns with the other revision ----

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        if self.state.runner.channel is not None:
            self.state.runner.channel.hello([item.name for item in session.items])

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_protocol(self, item: pytest.Item, nextitem: pytest.Item | None):
        if self.state.runner.channel is not None:
            # building the case's model is work too: wait for the turn
            self.state.runner.channel.turn(item.name, SETUP)
        yield

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtestloop(self, session: pytest.Session):
        outcome = yield
        s = self.state
        if s.runner.channel is not None:
            # write results only once the other side has measured its last
            s.runner.channel.turn("", FINAL)
        if outcome.excinfo is not None:  # interrupted: no more measuring or profiling
            return
        # Before pytest-benchmark's session finish, which saves the run: the last timing
        # (re-measured suspects), then what profiles the cases, which must not precede timing.
        if s.verdict_gate is not None:
            s.verdict_gate.decide(s.compared)
        s.runner.finish()

    # --- end of the session: the gates' verdicts and summaries ------------------------------

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        s = self.state
        confirmed = s.verdict_gate is not None and failed(s.verdict_gate.verdicts)
        if confirmed and session.exitstatus == pytest.ExitCode.OK:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED
        if s.cost_gate is not None:
            s.cost_gate.finish()
        s.explain_flagged(session.config)

    def pytest_terminal_summary(self, terminalreporter) -> None:
        tr, cost = terminalreporter, self.state.cost_gate
        if cost is not None and cost.changes:
            verb = "recorded" if cost.update else "COST REGRESSION"
            tr.section(f"unet-bench: cost changes ({verb})", sep="-", red=not cost.update)
            tr.write_line(cost_change_table(cost.changes))
        self._verdicts(tr)
        if cost is not None and cost.update and cost.costs:
            tr.write_line(f"unet-bench: wrote {len(cost.costs)} cases to {cost.manifest_path}")
        elif cost is not None and cost.missing:
            tr.write_line(cost.missing_message(), red=True)
        self._attribution(tr)
        if self.state.runner.throttles:  # their timings are suspect, and verdicts say unsure
            tr.section("unet-bench: GPU throttled during the rounds", sep="-", yellow=True)
            for case, reasons in self.state.runner.throttles.items():
                tr.write_line(f"{case}: {', '.join(reasons)}")
        if cost is not None and cost.uncounted and not cost.update:
            tr.write_line(cost.uncounted_message(), yellow=True)

    def _verdicts(self, tr) -> None:
        gate = self.state.verdict_gate
        if gate is None or not (gate.verdicts or gate.notes):
            return
        tr.section("unet-bench: noise-aware verdicts", sep="-")
        tr.write_line(verdict_table(gate.verdicts))
        for note in gate.notes:
            tr.write_line(note)
        for line in stale_lines(gate.stale):
            tr.write_line(line, yellow=True)
        if gate.verdicts:
            tr.write_line("\n".join(diff_lines(gate.environment, markdown=False)))
        changes = self.state.cost_gate.changes if self.state.cost_gate is not None else []
        tr.write_line("")
        tr.write_line(verdict_summary(gate.verdicts, changes))
        if regressions := failed(gate.verdicts):
            names = ", ".join(v.case for v in regressions)
            tr.write_line(f"unet-bench: confirmed regression in {names}", red=True)

    def _attribution(self, tr) -> None:
        if not self.state.explained:
            return
        tr.section("unet-bench: attribution of flagged cases", sep="-")
        for explained in self.state.explained:
            tr.write_line(f"{explained.case} ({explained.reason})")
            if explained.attribution is not None:
                tr.write_line(attribution_table(explained.attribution, shares=explained.confirmed))
            else:
                tr.write_line(f"  not attributed: {explained.note}")
            tr.write_line(f"  repro: {explained.repro}")
            tr.write_line("")
