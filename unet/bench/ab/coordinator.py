"""The coordinator of paired A/B: starts one generation of worker processes (``PAIRED_WORKERS``
per side in the first, ``LATER_PAIRED_WORKERS`` later), passes the turn between them as the
schedule decides, and stops them all on the way out, whatever happened."""

from __future__ import annotations

import json
import random
import selectors
import socket
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from unet.bench.ab.schedule import SIDES, Grant, Schedule, WorkerState
from unet.bench.ab.settings import ABError, ABSettings
from unet.bench.defaults import PAIRED_WORKERS
from unet.bench.measure import turns as worker


@dataclass
class WorkerProcess:
    """One long-lived pytest process of one side, with the coordinator's end of its socket."""

    state: WorkerState
    proc: subprocess.Popen
    sock: socket.socket
    log: Path
    buffer: bytes = b""

    def send(self, grant: Grant) -> None:
        self.sock.sendall(json.dumps(grant.message()).encode() + b"\n")

    def receive(self) -> list[dict] | None:
        """The complete messages that arrived; None when the worker closed its end."""
        data = self.sock.recv(1 << 16)
        if not data:
            return None
        self.buffer += data
        *lines, self.buffer = self.buffer.split(b"\n")
        return [json.loads(line) for line in lines if line.strip()]

    def ended(self) -> None:
        """Its process closed the socket: wait for it; a crash (not a failing case) is fatal."""
        self.state.alive = False
        self.proc.wait()
        if self.proc.returncode not in (0, 1):  # 1: failing cases were still timed
            tail = self.log.read_text()[-3000:]
            raise ABError(
                f"the {self.state.side} suite failed (exit {self.proc.returncode}):\n{tail}"
            )

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait()
        self.sock.close()


def start_worker(
    settings: ABSettings, state: WorkerState, tree: Path, cases: Sequence[str], costs: bool
) -> WorkerProcess:
    ours, theirs = socket.socketpair()
    log = settings.out / f"{state.name}.log"
    env = settings.env(
        tree,
        **{
            worker.ENV_FD: str(theirs.fileno()),
            worker.ENV_SIDE: state.name,
            # a random amount of environment moves the stack and what is laid out after it, so
            # this (known) source of a process's speed varies between processes instead of
            # differing between the sides by accident
            "UNET_BENCH_AB_PAD": "." * random.randrange(4096),
        },
    )
    command = settings.command(state.name, cases, [] if costs else ["--skip-costs"])
    with log.open("w") as sink:
        proc = subprocess.Popen(
            command,
            cwd=tree,
            env=env,
            stdout=sink,
            stderr=subprocess.STDOUT,
            pass_fds=[theirs.fileno()],
        )
    theirs.close()
    return WorkerProcess(state=state, proc=proc, sock=ours, log=log)


@dataclass(frozen=True)
class Generation:
    """How one generation's workers are started."""

    first: int = 0  # the number of its first worker a side (names go on across generations)
    per_side: int = PAIRED_WORKERS
    own_share: float | None = None  # of a process's minimum rounds (see Grant); None: all
    costs: bool = False  # whether the first worker of a side counts the cases' costs


def run_generation(
    settings: ABSettings,
    trees: dict[str, Path],
    cases: dict[str, list[str]],
    generation: Generation,
) -> tuple[Schedule, list[WorkerProcess]]:
    """One generation of paired workers through each side's ``cases`` (node ids; all when
    none)."""
    first, per_side = generation.first, generation.per_side
    started = time.monotonic()
    states = [
        WorkerState(side=side, slot=slot, name=f"{side}-{first + slot}")
        for slot in range(per_side)
        for side in SIDES
    ]
    workers: list[WorkerProcess] = []
    try:
        for s in states:
            workers.append(
                start_worker(
                    settings,
                    s,
                    trees[s.side],
                    cases.get(s.side, []),
                    generation.costs and not s.slot,
                )
            )
        schedule = Schedule(
            states, settings.blocks, per_side, settings.rounds_share, generation.own_share
        )
        _take_turns(settings, schedule, workers, started)
    finally:
        for w in workers:
            w.stop()
    settings.say(f"workers done after {time.monotonic() - started:.1f} s")
    return schedule, workers


def _take_turns(
    settings: ABSettings, schedule: Schedule, workers: list[WorkerProcess], started: float
) -> None:
    """Until every worker has ended: collect requests; when all live workers wait, grant."""
    by_state = {id(w.state): w for w in workers}
    with selectors.DefaultSelector() as selector:
        for w in workers:
            selector.register(w.sock, selectors.EVENT_READ, w)
        while any(w.state.alive for w in workers):
            live = [w.state for w in workers if w.state.alive]
            if all(s.request is not None for s in live):
                if not schedule.log:
                    settings.say(f"workers ready after {time.monotonic() - started:.1f} s")
                for grant in schedule.decide(live):
                    by_state[id(grant.worker)].send(grant)
                continue
            for key, _ in selector.select():
                w: WorkerProcess = key.data
                messages = w.receive()
                if messages is None:  # it exited
                    selector.unregister(w.sock)
                    w.ended()
                    continue
                for message in messages:
                    if "hello" in message:
                        w.state.cases = message["cases"]
                    else:
                        schedule.record(w.state, message)
