"""The ``unet-bench`` command line: one parser per command (``unet.bench.commands``), and one
map from what a command raises to its exit code (``unet.bench.errors``)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from unet.bench.commands import COMMANDS
from unet.bench.errors import (
    INTERRUPTED,
    TOOL_FAILED,
    USAGE,
    ToolError,
    UsageError,
    sigterm_as_interrupt,
)


class Parser(argparse.ArgumentParser):
    """argparse's parser, with a bad argument a usage error like any other: exit 4."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.print_usage(sys.stderr)
        self.exit(USAGE, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="unet-bench",
        description="What each U-Net layer choice costs in latency and FLOPs.",
        epilog="Exit codes, every command: 0 nothing found, 1 a regression or cost change "
        "found, 2 the tool failed, 4 usage error (nothing created), 130 interrupted.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in COMMANDS:
        command.add_parser(sub)
    return parser


def check_torch() -> None:
    import torch

    from unet import torchcompat

    if problem := torchcompat.version_problem(torch.__version__):
        raise UsageError(problem)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)  # --help and bad arguments end here, without torch
    name = f"unet-bench {args.command}"
    try:
        with sigterm_as_interrupt():
            check_torch()
            return int(args.handler(args))
    except UsageError as err:
        print(f"{name}: {err}", file=sys.stderr)
        return USAGE
    except ToolError as err:
        print(f"{name}: {err}", file=sys.stderr)
        return TOOL_FAILED
    except KeyboardInterrupt:
        cleaned = getattr(args, "interrupted", "")
        print(f"{name}: interrupted{'; ' + cleaned if cleaned else ''}", file=sys.stderr)
        return INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
