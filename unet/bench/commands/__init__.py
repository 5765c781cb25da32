"""The ``unet-bench`` commands, one module each: ``add_parser(sub)`` declares its arguments
(with the shared ones from ``common``) and ``run(args)`` does its work and returns the exit code.
Only ``run`` imports torch and the rest, so ``--help`` is instant. ``unet.cli.main`` parses,
calls ``run`` and maps the errors to exit codes, one contract for all (``unet.bench.errors``)."""

from unet.bench.commands import (
    ab,
    bisect,
    calibrate,
    compare,
    costs,
    explain,
    history,
    report,
    run,
    save_baseline,
)

COMMANDS = (
    costs,
    run,
    compare,
    calibrate,
    report,
    ab,
    explain,
    save_baseline,
    history,
    bisect,
)
