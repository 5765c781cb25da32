"""--verdict's paired confirmation: the suspects of a run against a saved one measured again by a
paired A/B (``unet-bench ab``, in a child process) of the saved run's commit against this tree.

The run and the saved run are one process each, and a process has its own speed; the A/B's
fresh processes, of both sides taking turns, are the evidence about the noise between processes
that the verdict needs. Possible when the saved run recorded a clean tree at a commit this
repository has (when that commit is HEAD and this tree is clean, it is an A/A)."""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

from unet.bench.measure.settings import SuiteOptions
from unet.bench.results.expected import run_commit
from unet.bench.results.runs import Run
from unet.bench.stats.verdict import Verdict


class PairedError(RuntimeError):
    """The paired A/B could not run or wrote no verdicts; the message says why."""


def paired_base(run: Run, repo: Path) -> tuple[str | None, str]:
    """The commit of ``run`` that a paired A/B can check out, or None and why not."""
    commit, why = run_commit(run, repo)
    return commit, why.replace("the run", "the compared run")


def axis_options(options: SuiteOptions) -> list[str]:
    """The suite options that make the same case ids as this run (the A/B selects by node id)."""
    flags = [f"--batch-sizes={','.join(map(str, options.batch_sizes))}"]
    flags += ["--quick"] if options.quick else []
    flags += [f"--dtype={options.dtype}", f"--mode={options.mode}"]
    flags += ["--channels-last"] if options.channels_last else []
    flags += [f"--autocast={options.autocast}"] if options.autocast else []
    flags += [f"--compile={options.compile}"] if options.compile else []
    flags += [f"--cache={options.cache}"] if options.cache != "warm" else []
    return flags


def confirm_paired(
    repo: Path, commit: str, node_ids: list[str], options: SuiteOptions
) -> dict[str, Verdict]:
    """The paired A/B's verdicts of ``node_ids`` (case name -> verdict), base ``commit``."""
    out = Path(tempfile.mkdtemp(prefix="unet-bench-confirm-"))
    command = [
        sys.executable,
        "-m",
        "unet.cli",
        "ab",
        f"--base={commit}",
        f"--device={options.device}",
        f"--min-effect={options.min_effect}",
        f"--gate-on={options.gate_on}",
        "--confirm",  # whether a suspect is a change, not how small it is
        f"--out={out / 'ab'}",
        "--",
        *axis_options(options),
        *node_ids,
    ]
    with (out / "ab.log").open("w") as log:
        proc = subprocess.run(command, cwd=repo, stdout=log, stderr=subprocess.STDOUT)
    result = out / "ab" / "ab.json"
    if proc.returncode not in (0, 1) or not result.exists():
        raise PairedError(f"the paired A/B failed (exit {proc.returncode}); see {out / 'ab.log'}")
    verdicts = [Verdict.from_dict(v) for v in json.loads(result.read_text()).get("verdicts", [])]
    return {v.case: v for v in verdicts}
