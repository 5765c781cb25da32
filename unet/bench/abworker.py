"""Worker side of paired A/B: a suite run that takes turns with the other revision's suite.

``unet-bench ab`` starts the base's and the head's ``pytest benchmarks`` side by side (two
processes per side), each with one end of a socket pair whose file descriptor is in
``UNET_BENCH_AB_FD``. They stay alive for the whole suite, so none pays interpreter start, imports
or a case's setup more than once. A worker runs only while it holds the turn: before each case,
before each round block and before finishing the session it reports where it is and waits until
the coordinator says go. So exactly one process runs at a time, and the coordinator alternates
the sides per block (ABBA...), which makes drift hit both sides alike.

Messages are JSON lines. Worker to coordinator: ``{"hello": side, "cases": [...]}`` after
collection; ``{"case", "stage", "samples"}`` to ask for the turn, where ``stage`` is ``setup``,
a block index or ``final`` and ``samples`` are the per-round seconds of the block just finished.
Coordinator to worker: ``{"go": true|false, "blocks": n, "side_blocks": m}``: this worker runs
``n`` of its side's ``m`` blocks of the case (the side's rounds are split over ``m``); ``go``
false after its last block of a case means "stop measuring it".

This module must not import torch: the coordinator reads ``PROTOCOL`` from the base's copy of
this file to decide whether the base can be run this way.
"""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Sequence

PROTOCOL = 1  # bump on any change to the messages above
ENV_FD = "UNET_BENCH_AB_FD"
ENV_SIDE = "UNET_BENCH_AB_SIDE"  # e.g. base-0, head-1
SETUP, FINAL = "setup", "final"
DEFAULT_BLOCKS = 6  # round blocks per case and side: even (ABBA), and at least 5 rounds in all


class CoordinatorGone(RuntimeError):
    """The A/B coordinator closed its end (it was interrupted or failed)."""


class Channel:
    def __init__(self, fd: int, side: str) -> None:
        self.side = side
        self._sock = socket.socket(fileno=fd)
        self._in = self._sock.makefile("r", encoding="utf-8")
        self._out = self._sock.makefile("w", encoding="utf-8")
        self.blocks = DEFAULT_BLOCKS // 2  # this worker's blocks of the case; set by each grant
        self.side_blocks = DEFAULT_BLOCKS  # its side's blocks of the case

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
        """Report ``samples`` of the block just run, wait for the turn; False means stop."""
        self.send(case=case, stage=stage, samples=list(samples))
        line = self._in.readline()
        if not line:
            raise CoordinatorGone("unet-bench ab: the coordinator went away")
        reply = json.loads(line)
        self.blocks = int(reply.get("blocks", self.blocks))
        self.side_blocks = int(reply.get("side_blocks", self.side_blocks))
        return bool(reply["go"])
