"""The ``unet-bench`` command line."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

from unet.config import list_variants


def format_table(rows: list[dict[str, object]], columns: Sequence[str]) -> str:
    """Plain fixed-width table; numbers right-aligned with thousands separators."""

    def cell(v: object) -> str:
        if isinstance(v, int):
            return f"{v:,}"
        if isinstance(v, (list, tuple)):
            return ", ".join(map(str, v)) or "-"
        return str(v)

    cells = [[cell(r[c]) for c in columns] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(columns)]
    numeric = [all(isinstance(r[c], int) for r in rows) for c in columns]

    def line(values: Sequence[str]) -> str:
        return "  ".join(
            v.rjust(w) if num else v.ljust(w)
            for v, w, num in zip(values, widths, numeric, strict=True)
        ).rstrip()

    return "\n".join([line(columns), line(["-" * w for w in widths]), *map(line, cells)])


def cmd_costs(args: argparse.Namespace) -> int:
    from unet.costs import cost_table  # imports fvcore/torchinfo only when needed

    try:
        configs = list_variants(input_size=args.input_size)
    except (TypeError, ValueError) as err:
        print(f"unet-bench costs: {err}", file=sys.stderr)
        return 2
    rows = cost_table(configs, batch_size=args.batch_size)
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    print(
        f"Cost of every variant, batch {args.batch_size}, 3x{args.input_size}x{args.input_size} "
        "input. flops: fvcore, 1 multiply-add = 1 flop; mult_adds: the study's (torchinfo) "
        "convention; unsupported_ops: left out of flops."
    )
    print(format_table(rows, ["variant", "params", "flops", "mult_adds", "unsupported_ops"]))
    return 0


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="unet-bench", description="What each U-Net layer choice costs in latency and FLOPs."
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    costs = sub.add_parser("costs", help="print params, FLOPs and mult-adds of every variant")
    costs.add_argument("--batch-size", type=positive_int, default=1, help="batch (default 1)")
    costs.add_argument("--input-size", type=positive_int, default=64, help="H = W (default 64)")
    costs.add_argument("--json", action="store_true", help="print JSON instead of a table")
    costs.set_defaults(func=cmd_costs)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
