"""``unet-bench explain CASE``: one case's time attributed to operators, or with ``--base`` what
changed against a revision (both sides profiled in turns)."""

from __future__ import annotations

import argparse
import sys

from unet.bench.commands.common import add_device, add_out, output_folder
from unet.bench.values import positive_int


def add_parser(sub: argparse._SubParsersAction) -> None:
    explain = sub.add_parser(
        "explain",
        help="attribute one case's time to operators (torch.profiler); with --base, what "
        "changed against a revision, both sides profiled in turns",
    )
    explain.add_argument(
        "case", help="a case as the suite names it: 'test_model[conv=...-bs=1]' or its id alone"
    )
    explain.add_argument("--base", help="git revision to compare the working tree against")
    add_device(explain)
    explain.add_argument(
        "--turns", type=positive_int, default=2, help="profiling processes per side (default 2)"
    )
    add_out(explain, "explain")
    explain.set_defaults(handler=run, interrupted="the base worktree was removed")


def run(args: argparse.Namespace) -> int:
    from unet.bench.commands.common import device_key
    from unet.bench.explain import explain
    from unet.bench.output.render import attribution_text

    device_key(args.device)  # a bad --device is a usage error before anything starts
    out = output_folder(args.out, "explain")
    explained = explain(args.case, args.base, args.device, out, args.turns)
    if explained.attribution is None:
        print(f"{explained.case}: not attributed: {explained.note}")
    else:
        print(attribution_text(explained.attribution))
    print(f"unet-bench explain: wrote {out}/explain.md, explain.json and traces", file=sys.stderr)
    return 0
