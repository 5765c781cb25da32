"""``unet-bench costs``: params, FLOPs, mult-adds and exact counters of every variant."""

from __future__ import annotations

import argparse
import json

from unet.bench.errors import UsageError
from unet.bench.values import positive_int


def add_parser(sub: argparse._SubParsersAction) -> None:
    costs = sub.add_parser("costs", help="print params, FLOPs and mult-adds of every variant")
    costs.add_argument("--batch-size", type=positive_int, default=1, help="batch (default 1)")
    costs.add_argument("--input-size", type=positive_int, default=64, help="H = W (default 64)")
    costs.add_argument("--json", action="store_true", help="print JSON instead of a table")
    costs.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from unet.bench.measure.counters import model_counts
    from unet.bench.output.render import numeric_columns, table
    from unet.bench.units import mib
    from unet.config import list_variants
    from unet.costs import cost_table

    try:
        configs = list_variants(input_size=args.input_size)
    except (TypeError, ValueError) as err:
        raise UsageError(f"--input-size: {err}") from None
    rows = cost_table(configs, batch_size=args.batch_size)
    for config, row in zip(configs, rows, strict=True):
        counts = model_counts(config, args.batch_size)
        row.update(counts.as_extra("cpu/float32"))
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    print(
        f"Cost of every variant, batch {args.batch_size}, 3x{args.input_size}x{args.input_size} "
        "input. flops: fvcore, 1 multiply-add = 1 flop; mult_adds: the study's (torchinfo) "
        "convention; unsupported_ops: left out of flops; ops: ATen operators per call; "
        "peak act: activation memory at its peak (exact counters, CPU float32)."
    )
    columns = ["variant", "params", "flops", "mult_adds", "ops", "peak act", "unsupported_ops"]
    cells = [[r[c] for c in columns[:4]] for r in rows]
    for cell, r in zip(cells, rows, strict=True):
        cell += [r["total_ops"], mib(r["peak_activation_bytes"]), r["unsupported_ops"]]
    print(table(columns, cells, right=numeric_columns(cells, len(columns))))
    return 0
