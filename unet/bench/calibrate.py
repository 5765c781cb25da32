"""``unet-bench calibrate``'s work: the working tree's suite in ``n`` processes of the same code,
taking turns as A/B's paired workers do (``ab.coordinator``: one process times at a time, so
they do not slow each other down), and per case the floor those processes' medians give
(``stats.floors``). Generations run one after another, so the floors also hold the drift of
the machine over the minutes they took, as two saved runs made apart do."""

from __future__ import annotations

import math
import statistics
import time
from dataclasses import dataclass, field

from unet.bench.ab.coordinator import Generation, run_generation
from unet.bench.ab.git import toplevel
from unet.bench.ab.schedule import SIDES
from unet.bench.ab.settings import ABError, ABSettings
from unet.bench.defaults import PAIRED_WORKERS
from unet.bench.results.floors import Calibration, tier_of
from unet.bench.results.runs import load_run
from unet.bench.stats.floors import MIN_PROCESSES, calibrated_floor

PER_GENERATION = 2 * PAIRED_WORKERS  # the processes one generation of workers runs


@dataclass
class CalibrationRun:
    key: str  # the hardware key the workers measured under (axes included)
    calibration: Calibration
    medians: dict[str, list[float]] = field(default_factory=dict)  # case -> process medians
    seconds: float = 0.0


def generations_for(processes: int) -> int:
    """Generations of ``PER_GENERATION`` processes that give at least ``processes``."""
    if processes < MIN_PROCESSES:
        raise ValueError(f"--runs {processes}: a floor needs at least {MIN_PROCESSES} processes")
    return math.ceil(processes / PER_GENERATION)


def calibrate(settings: ABSettings, processes: int, commit: str | None) -> CalibrationRun:
    """Run the suite of ``settings.repo`` in at least ``processes`` processes; the floors."""
    tree = toplevel(settings.repo)
    settings.out.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    medians: dict[str, list[float]] = {}
    by_generation: dict[str, list[list[float]]] = {}  # the same medians, a list per generation
    generations = generations_for(processes)
    for g in range(generations):
        settings.say(f"generation {g + 1} of {generations}: {PER_GENERATION} processes")
        trees = {side: tree for side in SIDES}  # both "sides" run the same code
        schedule, _ = run_generation(settings, trees, {}, Generation(first=g * PAIRED_WORKERS))
        for side in SIDES:
            for case in schedule.samples[side]:
                group = by_generation.setdefault(case, [])
                if len(group) <= g:
                    group.append([])
                for rounds in schedule.process_samples(side, case):
                    medians.setdefault(case, []).append(statistics.median(rounds))
                    group[g].append(statistics.median(rounds))
    first = settings.result_path(f"{SIDES[0]}-0")
    if not first.exists():
        raise ABError(f"the suite wrote no results; see {settings.out / 'base-0.log'}")
    key = load_run(first).hardware.get("key", "?")
    floors = {
        c: calibrated_floor(m, generations=by_generation[c])
        for c, m in medians.items()
        if len(m) >= MIN_PROCESSES
    }
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    return CalibrationRun(
        key,
        Calibration(floors, stamp, commit, tier=tier_of(settings.quick)),
        medians,
        time.monotonic() - started,
    )
