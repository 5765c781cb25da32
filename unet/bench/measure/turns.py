"""Worker side of paired A/B: a suite run that takes turns with the other revision's suite.

``unet-bench ab`` starts the base's and the head's ``pytest benchmarks`` side by side (two
processes per side), each with one end of a socket pair whose file descriptor is in
``UNET_BENCH_AB_FD``. They stay alive for the whole suite, so none pays interpreter start, imports
or a case's setup more than once. A worker runs only while it holds the turn: before each case,
before each round block and before finishing the session it reports where it is and waits until
the coordinator says go. So exactly one process runs at a time, and the coordinator alternates
the sides per round block (ABBA...), which makes drift hit both sides alike.

Messages are JSON lines. Worker to coordinator: ``{"hello": side, "cases": [...]}`` after
collection; ``{"case", "stage", "samples"}`` to ask for the turn, where ``stage`` is ``setup``,
a round-block index or ``final`` and ``samples`` are the per-round seconds of the round block
just finished.
Coordinator to worker: ``{"go": true|false, "blocks": n, "side_blocks": m, "share": s,
"own_share": o}``: this worker runs ``n`` of its side's ``m`` round blocks of the case (the side's
rounds, ``s`` of a suite run's, are split over ``m``), and at least ``o`` of a process's own
minimum rounds (protocol 2; absent, all of them); ``go`` false after its last round block of a
case means "stop measuring it".

The coordinator reads ``PROTOCOL`` from the base's copy of this file (or of
``unet/bench/ab/worker.py`` or ``unet/bench/abworker.py``, where it lived before) to decide
whether the base can be run this way, and sends ``own_share`` only to bases of protocol 2: a
base that ignored it would time more rounds a process than the head, and a process's median
of more rounds can sit at another level. This module must stay free of torch: the coordinator
imports it.
"""

from __future__ import annotations

import json
import math
import os
import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from unet.bench import pbcompat
from unet.bench.defaults import DEFAULT_BLOCKS

PROTOCOL = 2  # bump on any change to the messages above
PROTOCOLS = (1, 2)  # those a base may speak: 1 knows no own_share
ENV_FD = "UNET_BENCH_AB_FD"
ENV_SIDE = "UNET_BENCH_AB_SIDE"  # e.g. base-0, head-1
SETUP, FINAL = "setup", "final"
MIN_PROCESS_ROUNDS = 9  # a process's median of fewer rounds would add its own noise to the spread


class CoordinatorGone(RuntimeError):
    """The A/B coordinator closed its end (it was interrupted or failed)."""


class Channel:
    def __init__(self, fd: int, side: str) -> None:
        self.side = side
        self._sock = socket.socket(fileno=fd)
        self._in = self._sock.makefile("r", encoding="utf-8")
        self._out = self._sock.makefile("w", encoding="utf-8")
        self.blocks = (
            DEFAULT_BLOCKS // 2
        )  # this worker's round blocks of the case; set by each grant
        self.side_blocks = DEFAULT_BLOCKS  # its side's round blocks of the case
        self.share = 1.0  # the side's rounds, as a share of what a suite run would time
        self.own_share = 1.0  # of MIN_PROCESS_ROUNDS: less where more processes share a side

    @classmethod
    def from_env(cls) -> Channel | None:
        fd = os.environ.get(ENV_FD)
        return cls(int(fd), os.environ.get(ENV_SIDE, "?")) if fd else None

    def send(self, **message: object) -> None:
        self._out.write(json.dumps(message) + "\n")
        self._out.flush()

    def hello(self, cases: Sequence[str]) -> None:
        self.send(hello=self.side, protocol=PROTOCOL, cases=list(cases))

    def turn(self, case: str, stage: str | int, samples: Sequence[float] = ()) -> bool:
        """Report ``samples`` of the round block just run, wait for the turn; False means stop."""
        self.send(case=case, stage=stage, samples=list(samples))
        line = self._in.readline()
        if not line:
            raise CoordinatorGone("unet-bench ab: the coordinator went away")
        reply = json.loads(line)
        self.blocks = int(reply.get("blocks", self.blocks))
        self.side_blocks = int(reply.get("side_blocks", self.side_blocks))
        self.share = float(reply.get("share", self.share))
        self.own_share = float(reply.get("own_share", self.own_share))
        return bool(reply["go"])


@dataclass(frozen=True)
class RoundPlan:
    """The rounds pytest-benchmark would run (its max time and min rounds), and what runs
    untimed before each of them (a cold run's eviction, ``setup_s`` seconds: it counts against
    the max time, or a cold case's wall time would be many times a warm one's)."""

    max_time: float
    min_rounds: int
    setup: Callable[[], None] | None = None
    setup_s: float = 0.0

    def rounds(self, per_call: float) -> int:
        each = per_call + self.setup_s
        return max(self.min_rounds, math.ceil(self.max_time / max(each, 1e-9)))


def time_in_turns(
    channel: Channel,
    benchmark: Any,
    name: str,
    timed: Callable[[], object],
    per_call: float,
    plan: RoundPlan,
) -> dict[str, object]:
    """Time ``name`` as a paired worker: the rounds of ``plan`` for this side, split into round
    blocks that take turns with the other workers; this worker runs ``channel.blocks`` of
    them. Returns extra_info fields."""
    suite_rounds = plan.rounds(per_call)
    rounds = max(plan.min_rounds, math.ceil(suite_rounds * channel.share))
    # at least MIN_PROCESS_ROUNDS of its own (a process's median counts once in the verdict),
    # but never more than a suite run times: a slow case (a 1.7 s batch-32 round, five to a
    # suite run) would otherwise cost each generation seven suite runs' worth of its rounds.
    # A generation of more processes a side shares that minimum out (own_share): its side
    # still times as many rounds, and each process is another look at the spread
    own = math.ceil(min(MIN_PROCESS_ROUNDS, suite_rounds) * channel.own_share)
    per_block = max(math.ceil(own / max(channel.blocks, 1)), round(rounds / channel.side_blocks))
    started = 0  # rounds started so far

    def setup() -> None:
        """Untimed, before each round: at a round block's start, wait for the turn."""
        nonlocal started
        block, first = divmod(started, per_block)
        if first == 0:
            last = pbcompat.samples(benchmark)[-per_block:] if block else []
            if not channel.turn(name, block, last):
                raise RuntimeError(f"unet-bench ab: round block {block} of {name} was refused")
        started += 1
        if plan.setup is not None:  # after the turn: the eviction is this round's, untimed
            plan.setup()

    benchmark.pedantic(timed, setup=setup, rounds=channel.blocks * per_block, iterations=1)
    # report the last round block; the coordinator's answer only says that the case is done
    channel.turn(name, channel.blocks, pbcompat.samples(benchmark)[-per_block:])
    return {"ab_rounds_per_block": per_block}
