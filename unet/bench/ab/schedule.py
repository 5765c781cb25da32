"""Who runs next in paired A/B: the turn-taking of the workers, free of processes and sockets.

Per case: every worker's setup, then each side's round blocks split over its workers, base and
head alternating ABBA: B0 H0 H1 B1 B0 H0 ... (letter = side, digit = worker slot), so position
effects after a switch hit both sides alike. Exactly one worker holds the turn at a time; at the
end all are let go together to write their results. The coordinator feeds ``record`` with what
the workers ask and sends the ``Grant``s that ``decide`` returns.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

from unet.bench.measure.turns import FINAL, SETUP

SIDES = ("base", "head")


@dataclass
class WorkerState:
    """What the schedule knows of one worker process."""

    side: str  # base or head
    slot: int  # which of the side's processes in its generation (0, 1, ...)
    name: str  # e.g. head-1: its log and JSON files are named after it
    cases: list[str] = field(default_factory=list)  # its collected cases, in order
    request: dict | None = None  # where it waits for the turn; None while it runs
    done: set[str] = field(default_factory=set)  # cases it has moved past
    last_case: str = ""
    alive: bool = True  # False once its process ended

    @property
    def case(self) -> str | None:
        return self.request["case"] if self.request else None

    @property
    def finished(self) -> bool:
        return bool(self.request) and self.request["stage"] == FINAL


@dataclass(frozen=True)
class Grant:
    """The answer to a waiting worker: go (or stop measuring this case), and how many of its
    side's round blocks of the case are its own."""

    worker: WorkerState
    go: bool
    blocks: int
    side_blocks: int
    rounds_share: float = 1.0  # the side's rounds, as a share of one suite run's
    own_share: float | None = None  # of a process's minimum rounds; None: all (protocol 1)

    def message(self) -> dict[str, object]:
        # a worker of an older base ignores "share" and times a suite run's rounds: slower,
        # not wrong (each process's median counts once)
        message: dict[str, object] = {
            "go": self.go,
            "blocks": self.blocks,
            "side_blocks": self.side_blocks,
            "share": self.rounds_share,
        }
        if self.own_share is not None:
            message["own_share"] = self.own_share
        return message


@dataclass
class Schedule:
    workers: list[WorkerState]
    side_blocks: int  # round blocks per side and case
    per_side: int = 2  # worker processes per side
    rounds_share: float = 1.0  # a side's rounds of a case, as a share of one suite run's
    own_share: float | None = None  # a process's minimum rounds, as a share (see Grant)
    # side -> case -> worker -> its rounds: the process, not the round block, is the unit of a
    # verdict, because round blocks of one process share its speed
    samples: dict[str, dict[str, dict[str, list[float]]]] = field(
        default_factory=lambda: {side: {} for side in SIDES}
    )
    log: list[tuple[float, str, str, str, bool]] = field(default_factory=list)  # turns given

    @property
    def share(self) -> int:
        """Round blocks per worker and case."""
        return math.ceil(self.side_blocks / self.per_side)

    @property
    def blocks_run(self) -> int:
        """Round blocks a side runs per case: more than ``side_blocks`` where its workers do
        not divide them (four workers, two blocks each, of six): the side's rounds are split
        over these, not timed 8/6 over."""
        return self.share * self.per_side

    def _order(self, w: WorkerState) -> tuple[float, int]:
        stage = w.request["stage"]
        if stage == SETUP:
            return (-1, self.workers.index(w))
        if stage >= self.share:
            return (math.inf, self.workers.index(w))  # asks to be told it is done
        block = stage * self.per_side + w.slot  # the side's round-block number
        first = "base" if block % 2 == 0 else "head"
        return (block, 0 if w.side == first else 1)

    def record(self, w: WorkerState, message: dict) -> None:
        """A worker asks for the turn, reporting the rounds of the round block it just ran."""
        if w.last_case and message["case"] != w.last_case:
            w.done.add(w.last_case)
        w.last_case = message["case"]
        if message["samples"]:
            per_worker = self.samples[w.side].setdefault(message["case"], {})
            per_worker.setdefault(w.name, []).extend(message["samples"])
        w.request = message

    def _pending(self, case: str, live: list[WorkerState]) -> bool:
        """Whether a live worker has still to reach ``case``."""
        return any(
            w.case != case and case in w.cases and case not in w.done and not w.finished
            for w in live
        )

    def decide(self, live: list[WorkerState]) -> list[Grant]:
        """Every live worker waits: let exactly one run (all of them at the end)."""
        if all(w.finished for w in live):
            return [self._grant(w, True, 0) for w in live]
        groups: dict[str, list[WorkerState]] = {}
        for w in live:
            if not w.finished:
                groups.setdefault(w.case, []).append(w)
        # a case nobody else will still reach goes first; if every case waits on somebody, the
        # sides collected their cases in different orders: let the first group go anyway
        case = next((c for c in groups if not self._pending(c, live)), next(iter(groups)))
        w = min(groups[case], key=self._order)
        stage = w.request["stage"]
        go = stage == SETUP or stage < self.share
        self.log.append((time.monotonic(), w.name, case, str(stage), go))
        return [self._grant(w, go, self.share)]

    def _grant(self, w: WorkerState, go: bool, blocks: int) -> Grant:
        w.request = None
        return Grant(w, go, blocks, self.blocks_run, self.rounds_share, self.own_share)

    def process_samples(self, side: str, case: str) -> list[list[float]]:
        """The rounds of ``case`` on ``side``, one list per worker process."""
        return list(self.samples[side].get(case, {}).values())
