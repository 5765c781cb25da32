"""Options, case parametrisation, hardware-keyed storage and the cost gate of the suite.

Run: pytest benchmarks [--device auto|cpu|cuda] [--dtype float32|float16|bfloat16]
     [--channels-last] [--batch-sizes 1,32] [--quick] [--benchmark-compare] ...
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from benchmarks.cases import DEFAULT_BATCH_SIZES, model_cases, norm_cases, upsample_cases
from unet.bench.abworker import FINAL, SETUP, Channel
from unet.bench.hardware import differing_fields, hardware_info, hardware_key, resolve_device
from unet.bench.manifest import cost_changes, format_changes, load_manifest, write_manifest
from unet.bench.runner import DTYPES, CaseRunner
from unet.bench.runs import history_spread
from unet.bench.storage import (
    committed_baselines,
    keyed_storage,
    saved_runs,
    storage_root,
    unreadable,
)
from unet.bench.timing import rerun_samples
from unet.bench.verdict import (
    MIN_EFFECT,
    REGRESSION,
    compare_samples,
    confirm,
    failed,
    format_verdicts,
)
from unet.choices import unsupported

MANIFEST = Path(__file__).with_name("cost_manifest.json")
STATE = "unet_bench_state"  # attribute on the pytest config holding this run's state


def pytest_addoption(parser: pytest.Parser) -> None:
    g = parser.getgroup("unet-bench")
    g.addoption("--device", default="auto", help="auto (CUDA when present, else CPU), cpu, cuda")
    g.addoption("--dtype", default="float32", help="float32 (default), float16 or bfloat16")
    g.addoption("--channels-last", action="store_true", help="NHWC memory format")
    g.addoption(
        "--batch-sizes",
        default=",".join(map(str, DEFAULT_BATCH_SIZES)),
        help="comma-separated batch sizes of the model and norm cases (default 1,32)",
    )
    g.addoption(
        "--quick",
        action="store_true",
        help="CPU-CI tier: 4 model variants covering every choice, batch = first batch size",
    )
    g.addoption(
        "--warmup-time",
        type=float,
        default=None,
        help="seconds of warmup per case (default 0.3 on CUDA, 0.05 on CPU)",
    )
    g.addoption(
        "--update-cost-manifest",
        action="store_true",
        help="rewrite benchmarks/cost_manifest.json with this run's costs (intended changes)",
    )
    g.addoption(
        "--cost-manifest",
        type=Path,
        default=MANIFEST,
        help="the cost manifest to check against (default benchmarks/cost_manifest.json)",
    )
    g.addoption(
        "--verdict",
        action="store_true",
        help="decide each case against the compared run with a rank test on raw samples; "
        "re-measure suspected regressions; exit 1 only on a confirmed one "
        "(needs --benchmark-compare against a run saved with --benchmark-save-data)",
    )
    g.addoption(
        "--min-effect",
        type=float,
        default=MIN_EFFECT,
        help=f"smallest relative median change --verdict counts (default {MIN_EFFECT})",
    )
    g.addoption(
        "--do-bench",
        action="store_true",
        help="CUDA only: also time each case with triton.testing.do_bench (median) and record "
        "do_bench_median_s, to check this suite's timings against it",
    )
    g.addoption(
        "--skip-costs",
        action="store_true",
        help="do not count costs (no cost gate); for A/B timing blocks, which count them once",
    )
    g.addoption(
        "--allow-other-hardware",
        action="store_true",
        help="compare against a run from different hardware (latencies will not be comparable)",
    )


# --- configuration: device, storage, baselines ------------------------------------------------


def _batch_sizes(text: str) -> tuple[int, ...]:
    try:
        sizes = tuple(int(s) for s in text.split(","))
    except ValueError:
        sizes = ()
    if not sizes or min(sizes) < 1:
        raise pytest.UsageError(
            f"--batch-sizes {text!r}: expected comma-separated positive integers, e.g. 1,32"
        )
    return sizes


def _check_compare_target(config: pytest.Config, folder: Path, key: str) -> None:
    """Make --benchmark-compare find this hardware's run, or stop with a message saying why not."""
    compare = config.option.benchmark_compare
    if not compare:
        return
    explicit = Path(str(compare))
    if compare is not True and explicit.is_file():
        candidates = [explicit]
    else:
        candidates = saved_runs(folder, None if compare is True else str(compare))
        if not candidates and compare is True and committed_baselines(key):
            # nothing local yet: compare against the baseline the project committed for this key
            candidates = committed_baselines(key)[-1:]
            config.option.benchmark_compare = str(candidates[0])
    if not candidates:
        what = "" if compare is True else f" matching {compare!r}"
        raise pytest.UsageError(
            f"--benchmark-compare: no saved run{what} for this hardware (key {key}) in {folder} "
            f"or benchmarks/baselines/{key}. Record one "
            "first: `unet-bench run` or `pytest benchmarks --benchmark-autosave`."
        )
    # pytest-benchmark loads every run file of the folder; a broken one would end in a traceback
    for path in {*candidates, *saved_runs(folder)}:
        why = unreadable(path)
        if why:
            raise pytest.UsageError(
                f"--benchmark-compare: cannot use {path}: {why}. Move or delete that file."
            )


def pytest_configure(config: pytest.Config) -> None:
    # Runs before pytest-benchmark's own (trylast) configure, so the storage option it reads
    # already points at this hardware's folder.
    if not hasattr(config.option, "device"):
        return  # benchmarks/conftest.py loaded without its options (not a benchmarks run)
    try:
        device = resolve_device(config.option.device)
    except ValueError as err:
        raise pytest.UsageError(str(err)) from None
    if config.option.dtype not in DTYPES:
        raise pytest.UsageError(unsupported("--dtype", config.option.dtype, sorted(DTYPES)))
    batch_sizes = _batch_sizes(config.option.batch_sizes)
    if config.option.verdict and not config.option.benchmark_compare:
        raise pytest.UsageError("--verdict compares against a saved run: add --benchmark-compare")
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True  # autotuned once per shape during warmup
    if config.option.do_bench:
        if device.type != "cuda":
            raise pytest.UsageError("--do-bench needs a CUDA device (triton times GPU work)")
        try:
            import triton.testing  # noqa: F401
        except ImportError:
            raise pytest.UsageError("--do-bench needs triton: pip install triton") from None
    info = hardware_info(device)
    key = hardware_key(info)
    root = storage_root(config.option.benchmark_storage)
    folder = None
    if root is not None:
        folder = keyed_storage(root, key)
        config.option.benchmark_storage = f"file://{folder}"
        _check_compare_target(config, folder, key)
    try:
        manifest = load_manifest(config.option.cost_manifest)
    except ValueError as err:
        raise pytest.UsageError(
            f"{err}. Restore it from git or rerun --update-cost-manifest."
        ) from None
    warmup = config.option.warmup_time
    channel = Channel.from_env()  # set when `unet-bench ab` runs this suite as a paired worker
    if warmup is None:  # seconds; none in a paired A/B worker: the other workers keep it busy
        warmup = 0.0 if channel else 0.3 if device.type == "cuda" else 0.05
    setattr(
        config,
        STATE,
        {
            "device": device,
            "batch_sizes": batch_sizes,
            "hardware": info,
            "key": key,
            "folder": folder,
            "manifest": manifest,
            "runner": CaseRunner(
                device=device,
                dtype_name=config.option.dtype,
                channels_last=config.option.channels_last,
                warmup_s=warmup,
                # calls, counting the output check: CUDA several for autotuning and clocks;
                # CPU the check plus one more (a 400 ms batch-32 case needs no more), or just
                # the check in a paired A/B worker, whose rounds come in blocks that each
                # start after another process ran, on both sides alike
                warmup_iters=3 if device.type == "cuda" else (1 if channel else 2),
                costs=not config.option.skip_costs,
                keep=config.option.verdict,
                do_bench=config.option.do_bench,
                max_time=float(config.option.benchmark_max_time),
                min_rounds=config.option.benchmark_min_rounds,
                channel=channel,
            ),
            "costs": {},  # case name -> cost entry of this run
            "changes": [],  # (case, field, old, new) against manifest or saved run
            "unchecked": [],  # cases the manifest does not know
            "verdicts": [],  # noise-aware verdicts (--verdict)
            "verdict_notes": [],
        },
    )


def _state(config: pytest.Config) -> dict:
    return getattr(config, STATE)


# --- paired A/B worker (see unet/bench/abworker.py): take turns with the other revision ---------


def _channel(config: pytest.Config) -> Channel | None:
    return _state(config)["runner"].channel if hasattr(config, STATE) else None


def pytest_collection_finish(session: pytest.Session) -> None:
    channel = _channel(session.config)
    if channel is not None:
        channel.hello([item.name for item in session.items])


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None):
    channel = _channel(item.config)
    if channel is not None:
        channel.turn(item.name, SETUP)  # building the case's model is work too: wait for the turn
    yield


@pytest.hookimpl(hookwrapper=True)
def pytest_runtestloop(session: pytest.Session):
    yield
    channel = _channel(session.config)
    if channel is not None:
        channel.turn("", FINAL)  # write results only once the other side has measured its last


def pytest_report_header(config: pytest.Config) -> list[str]:
    if not hasattr(config, STATE):
        return []
    s = _state(config)
    lines = [f"unet-bench: hardware key {s['key']}", f"unet-bench: {s['hardware']}"]
    if s["device"].type == "cpu":
        lines.append(f"unet-bench: CPU threads {torch.get_num_threads()}")
    return lines


def pytest_benchmark_update_machine_info(config: pytest.Config, machine_info: dict) -> None:
    s = _state(config)
    machine_info["unet_bench"] = {
        **s["hardware"],
        "key": s["key"],
        "dtype": config.option.dtype,
        "channels_last": config.option.channels_last,
    }


def pytest_benchmark_compare_machine_info(
    config: pytest.Config, benchmarksession: object, machine_info: dict, compared_benchmark: dict
) -> None:
    ours = _state(config)["hardware"]
    theirs = compared_benchmark.get("machine_info", {}).get("unet_bench", {})
    diff = differing_fields(ours, theirs)
    if diff and not config.option.allow_other_hardware:
        fields = "; ".join(f"{f}: saved {old!r}, here {new!r}" for f, (old, new) in diff.items())
        raise pytest.UsageError(
            f"--benchmark-compare: the saved run is from other hardware ({fields}). Its latencies "
            "are not comparable with this machine's; compare against a run of this hardware, or "
            "pass --allow-other-hardware to compare anyway."
        )


# --- cases --------------------------------------------------------------------------------------


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    config = metafunc.config
    if not hasattr(config, STATE):
        return
    quick, sizes = config.option.quick, _state(config)["batch_sizes"]
    for fixture, cases in (
        ("model_case", lambda: model_cases(sizes, quick)),
        ("norm_case", lambda: norm_cases(sizes, quick)),
        ("upsample_case", lambda: upsample_cases(quick)),
    ):
        if fixture in metafunc.fixturenames:
            params = cases()
            metafunc.parametrize(fixture, params, ids=[c.id for c in params])


@pytest.fixture
def run_case(request: pytest.FixtureRequest, benchmark):
    """``run_case(case, module, x, info, repeat=1)``: time one case, then apply the cost gate."""
    config = request.config
    state = _state(config)
    name = request.node.name

    def run(case, module, x, info, repeat=1):
        benchmark.group = case.group
        extra = state["runner"].run(benchmark, name, module, x, info, repeat)
        if not config.option.skip_costs:
            state["costs"][name] = extra
            _cost_gate(config, request.node, name, extra)
        return extra

    return run


def _compared_runs(config: pytest.Config, fullname: str) -> list[tuple[str, dict]]:
    bs = getattr(config, "_benchmarksession", None)
    mapping = getattr(bs, "compared_mapping", None) or {}
    return [(str(p), runs[fullname]) for p, runs in mapping.items() if fullname in runs]


def _cost_gate(config: pytest.Config, node: pytest.Item, name: str, extra: dict) -> None:
    state = _state(config)
    references = []
    if name in state["manifest"]:
        references.append(("cost manifest", state["manifest"][name]))
    else:
        state["unchecked"].append(name)
    for path, saved in _compared_runs(config, node.nodeid):
        references.append((Path(path).name, saved.get("extra_info", {})))
    failures = []
    for source, old in references:
        for field, before, after in cost_changes(old, extra):
            state["changes"].append((name, field, before, after))
            failures.append(f"{field}: {before!r} -> {after!r} (vs {source})")
    if failures and not config.option.update_cost_manifest:
        pytest.fail(f"{name}: cost changed: " + "; ".join(failures), False)


def _decide(config: pytest.Config, state: dict) -> None:
    """Noise-aware verdict per case against the compared run; suspects are measured again."""
    runner = state["runner"]
    # the scatter of this hardware's saved runs bounds what one run against another can prove
    floors = history_spread(saved_runs(state["folder"])) if state["folder"] else {}
    saved_by_name = {}
    for runs in (getattr(config._benchmarksession, "compared_mapping", None) or {}).values():
        saved_by_name.update({entry["name"]: entry for entry in runs.values()})
    for name, (timed, iterations, samples) in runner.kept.items():
        saved = saved_by_name.get(name)
        if saved is None:
            state["verdict_notes"].append(f"{name}: not in the compared run")
            continue
        base = saved["stats"].get("data")
        if not base:
            state["verdict_notes"].append(
                f"{name}: the compared run has no raw samples; save runs with "
                "--benchmark-save-data (unet-bench run does)"
            )
            continue
        options = {"min_effect": config.option.min_effect, "noise_floor": floors.get(name, 0.0)}
        verdict = compare_samples(name, base, samples, **options)
        if verdict.verdict == REGRESSION:  # confirm-by-rerun before failing the run
            with torch.no_grad():
                again = rerun_samples(timed, len(samples), iterations, runner.warmup_s)
            verdict = confirm(verdict, compare_samples(name, base, again, **options))
        state["verdicts"].append(verdict)


def pytest_sessionfinish(session: pytest.Session) -> None:
    config = session.config
    if not hasattr(config, STATE):
        return
    state = _state(config)
    if config.option.verdict and state["runner"].kept:
        _decide(config, state)
        if failed(state["verdicts"]) and session.exitstatus == pytest.ExitCode.OK:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED
    if config.option.update_cost_manifest and state["costs"]:
        write_manifest(config.option.cost_manifest, {**state["manifest"], **state["costs"]})


def pytest_terminal_summary(terminalreporter, config: pytest.Config) -> None:
    if not hasattr(config, STATE):
        return
    state = _state(config)
    tr = terminalreporter
    if state["changes"]:
        verb = "recorded" if config.option.update_cost_manifest else "COST REGRESSION"
        tr.section(
            f"unet-bench: cost changes ({verb})",
            sep="-",
            red=not config.option.update_cost_manifest,
        )
        tr.write_line(format_changes(state["changes"]))
    if state["verdicts"] or state["verdict_notes"]:
        tr.section("unet-bench: noise-aware verdicts", sep="-")
        tr.write_line(format_verdicts(state["verdicts"]))
        for note in state["verdict_notes"]:
            tr.write_line(note)
        regressions = failed(state["verdicts"])
        if regressions:
            names = ", ".join(v.case for v in regressions)
            tr.write_line(f"unet-bench: confirmed regression in {names}", red=True)
    if config.option.update_cost_manifest and state["costs"]:
        tr.write_line(
            f"unet-bench: wrote {len(state['costs'])} cases to {config.option.cost_manifest}"
        )
    elif state["unchecked"]:
        tr.write_line(
            f"unet-bench: {len(state['unchecked'])} cases are not in the cost manifest "
            "(add them with --update-cost-manifest)"
        )
