"""The CUDA paths, checked here without a GPU: a faked two-GPU ``torch.cuda``, recorded-shape
profiler events, a fake NVML, fake benchmarks. Each test names the defect it guards (issue 16's
table); ``scripts/gpu_checks.sh`` settles on a real GPU what these cannot."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
import types
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from test_bench_helpers import H200
from torch import nn
from torch.autograd import DeviceType

from unet.bench.measure import hardware, precision, timing
from unet.bench.measure.compiled import CompiledCase, graph_use
from unet.bench.measure.counters import count_call, counted_as
from unet.bench.measure.hardware import (
    differing_fields,
    driver_from_proc,
    hardware_key,
    resolve_device,
)
from unet.bench.measure.kept import KeptCase, Placement
from unet.bench.measure.profile import device_kernels, kernel_signature, self_times
from unet.bench.measure.runner import CaseRunner
from unet.bench.measure.settings import SuiteOptions
from unet.bench.measure.telemetry import Telemetry, power_capped, throttle_reasons
from unet.bench.measure.workload import workload

REPO = Path(__file__).resolve().parents[1]


# --- 1, 8, 10: a faked two-GPU torch.cuda ------------------------------------------------------


class FakeCuda:
    """The ``torch.cuda`` calls the timing code makes, each noted with the device index it
    acts on: the explicit one, else the current device (as CUDA events, graphs and streams do)."""

    def __init__(self, fail_capture_end: Exception | None = None) -> None:
        self.current, self.seen, self.fail = 0, [], fail_capture_end
        self.defaults: dict[int, SimpleNamespace] = {}  # each device's default stream
        self.stream: SimpleNamespace | None = None  # set_stream's, else the default
        self.captures = 0
        fake = self

        class Event:
            def __init__(self, enable_timing: bool = False) -> None:
                fake.note("event")

            def record(self) -> None:
                fake.note("record")

            def synchronize(self) -> None:
                fake.note("event sync")

            def elapsed_time(self, other: object) -> float:
                return 1.0

        class CUDAGraph:
            def capture_begin(self) -> None:
                fake.captures += 1
                fake.note("capture_begin")

            def capture_end(self) -> None:
                if fake.fail is not None:
                    raise fake.fail
                fake.note("capture_end")

            def replay(self) -> None:
                fake.note("replay")

        self.Event, self.CUDAGraph = Event, CUDAGraph

    def index(self, device: object = None) -> int:
        if device is None:
            return self.current
        device = torch.device(device) if not isinstance(device, int) else device
        if isinstance(device, int):
            return device
        return self.current if device.index is None else device.index

    def note(self, what: str, device: object = None) -> None:
        self.seen.append((what, self.index(device)))

    def set_device(self, device: object) -> None:
        self.current = self.index(device)

    def current_device(self) -> int:
        return self.current

    def Stream(self, device: object = None):
        stream = SimpleNamespace(index=self.index(device), wait_stream=lambda other: None)
        self.note("stream", stream.index)
        return stream

    def current_stream(self, device: object = None):
        self.note("current_stream", device)
        index = self.index(device)
        if self.stream is not None and self.stream.index == index:
            return self.stream
        return self.defaults.setdefault(
            index, SimpleNamespace(index=index, wait_stream=lambda other: None)
        )

    def set_stream(self, stream) -> None:
        self.note("set_stream", stream.index)
        self.stream = stream

    def synchronize(self, device: object = None) -> None:
        self.note("synchronize", device)

    def memory_allocated(self, device: object = None) -> int:
        self.note("memory_allocated", device)
        return 100  # weights, input, earlier cases' models

    def reset_peak_memory_stats(self, device: object = None) -> None:
        self.note("reset_peak", device)

    def max_memory_allocated(self, device: object = None) -> int:
        self.note("max_memory_allocated", device)
        return 300


@pytest.fixture
def fake_cuda(monkeypatch) -> FakeCuda:
    fake = FakeCuda()
    for name in (
        "Event",
        "CUDAGraph",
        "set_device",
        "current_device",
        "Stream",
        "current_stream",
        "set_stream",
        "synchronize",
        "memory_allocated",
        "reset_peak_memory_stats",
        "max_memory_allocated",
    ):
        monkeypatch.setattr(torch.cuda, name, getattr(fake, name))
    testing = types.ModuleType("triton.testing")
    testing.do_bench = lambda fn, return_mode="mean": (fake.note("do_bench"), fn(), 1.0)[2]
    monkeypatch.setitem(sys.modules, "triton", types.ModuleType("triton"))
    monkeypatch.setitem(sys.modules, "triton.testing", testing)
    return fake


def test_1_every_cuda_call_of_a_cuda_1_run_acts_on_device_1(fake_cuda):
    device = torch.device("cuda", 1)
    timing.use_device(device)  # what the suite's set-up does (state.build_state)
    figures = timing.device_figures(lambda: fake_cuda.note("kernel"), device, "try", True)
    assert figures["device_time_method"] == "cuda_graph"
    assert {what for what, _ in fake_cuda.seen} >= {"capture_begin", "replay", "do_bench"}
    assert {index for _, index in fake_cuda.seen} == {1}, fake_cuda.seen


def test_10_peak_memory_is_the_calls_own_not_what_was_allocated_before(fake_cuda):
    assert timing.peak_memory_bytes(lambda: None, torch.device("cuda", 0)) == 300 - 100


@pytest.mark.parametrize("error", [RuntimeError("capture invalidated"), ValueError("other")])
def test_8_a_failing_capture_falls_back_to_events_with_the_stream_restored(fake_cuda, error):
    fake_cuda.fail = error
    before = fake_cuda.current_stream(0)
    seconds, method = timing.device_time(lambda: None, torch.device("cuda", 0))
    assert method == f"cuda_events (capture failed: {type(error).__name__})"
    assert fake_cuda.stream is before  # not left on the capture stream
    assert seconds > 0


def test_8_no_capture_around_a_cudagraph_compile_mode_or_a_training_step(fake_cuda):
    for mode in ("reduce-overhead", "max-autotune"):
        graph = graph_use(False, mode)
        _, method = timing.device_time(lambda: None, torch.device("cuda", 0), graph=graph)
        assert method == "cuda_events (compiled with CUDA graphs)"
    _, method = timing.device_time(
        lambda: None, torch.device("cuda", 0), graph=graph_use(True, None)
    )
    assert method == "cuda_events (training step)"
    assert fake_cuda.captures == 0
    assert graph_use(False, "max-autotune-no-cudagraphs") == graph_use(False, None) == "try"


# --- 2, 3, 13: hardware --------------------------------------------------------------------------

PROPRIETARY = (
    "NVRM version: NVIDIA UNIX x86_64 Kernel Module  570.86.15  Wed Jan 22 18:41:58 UTC 2025\n"
    "GCC version:  gcc version 12.2.0 (Debian 12.2.0-14)"
)
OPEN = (
    "NVRM version: NVIDIA UNIX Open Kernel Module for x86_64  580.65.06  Release Build  "
    "(dvs-builder@U16-I3-B03-4-3)  Sun Jul 27 06:54:38 UTC 2025\nGCC version:  gcc 12"
)


def test_2_the_driver_version_is_read_from_both_kernel_module_strings():
    assert driver_from_proc(PROPRIETARY) == "570.86.15"
    assert driver_from_proc(OPEN) == "580.65.06"
    assert driver_from_proc("no version here") == "unknown"


@pytest.fixture
def torch_numerics():
    """torch's TF32 and cuDNN flags restored after the test."""
    flags = (
        torch.backends.cudnn.allow_tf32,
        torch.backends.cuda.matmul.allow_tf32,
        torch.backends.cudnn.deterministic,
    )
    yield
    (
        torch.backends.cudnn.allow_tf32,
        torch.backends.cuda.matmul.allow_tf32,
        torch.backends.cudnn.deterministic,
    ) = flags


def test_3_tf32_and_cudnn_flags_are_recorded_and_part_of_the_identity(monkeypatch, torch_numerics):
    monkeypatch.delenv("NVIDIA_TF32_OVERRIDE", raising=False)
    assert precision.numerics_identity() == precision.DEFAULTS  # torch's defaults
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cudnn.deterministic = True
    assert precision.numerics_identity() == {
        "tf32_conv": "off",
        "tf32_matmul": "off",
        "cudnn_deterministic": "on",
    }
    torch.backends.cudnn.allow_tf32 = True
    torch.backends.cuda.matmul.allow_tf32 = True
    monkeypatch.setenv("NVIDIA_TF32_OVERRIDE", "0")  # off in every library, whatever torch says
    assert precision.numerics_identity()["tf32_conv"] == "off"
    assert precision.numerics_identity()["tf32_matmul"] == "off"
    recorded = precision.settings()
    assert recorded["NVIDIA_TF32_OVERRIDE"] == "0"
    assert {"cudnn_benchmark", "float32_matmul_precision"} <= set(recorded)


def test_3_a_comparison_across_numerics_settings_names_them():
    off = {**H200, "tf32_conv": "off"}
    assert differing_fields({**H200, "tf32_conv": "on"}, off) == {"tf32_conv": ("off", "on")}
    # a run recorded before these fields was at torch's defaults
    assert differing_fields(H200, {**H200, **precision.DEFAULTS}) == {}
    assert hardware_key(off).endswith("-tf32_conv_off")
    assert hardware_key(H200) == hardware_key({**H200, **precision.DEFAULTS})


def test_4_full_fp32_turns_tf32_off_inside_and_restores_it(torch_numerics):
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = True
    with precision.full_fp32():
        assert precision.numerics_identity()["tf32_conv"] == "off"
        assert precision.numerics_identity()["tf32_matmul"] == "off"
    assert torch.backends.cudnn.allow_tf32
    assert torch.backends.cuda.matmul.allow_tf32


@pytest.fixture
def one_gpu(monkeypatch):
    """A CPU machine that says it has one GPU, cuda:0, in the given compute mode."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    monkeypatch.setattr(torch.cuda, "current_device", lambda: 0)
    mode = {"now": "default"}
    monkeypatch.setattr(hardware, "compute_mode", lambda index: mode["now"])
    monkeypatch.setattr(hardware, "_touch", lambda device: None)
    return mode


def test_13_an_index_the_machine_lacks_is_a_sentence_not_an_assertion(one_gpu):
    with pytest.raises(ValueError) as err:
        resolve_device("cuda:1")
    assert str(err.value) == (
        "--device cuda:1: this machine has 1 CUDA device(s) (cuda:0); choose one of them, or "
        "--device cuda for the current one."
    )
    assert resolve_device("cuda:0") == torch.device("cuda", 0)


def test_13_a_gpu_that_refuses_work_or_is_prohibited_is_named(one_gpu, monkeypatch):
    def busy(device):
        raise RuntimeError("CUDA error: all CUDA-capable devices are busy or unavailable\nmore")

    monkeypatch.setattr(hardware, "_touch", busy)
    one_gpu["now"] = "exclusive_process"
    with pytest.raises(
        ValueError,
        match=r"--device cuda: the GPU refused a first allocation "
        r"\(CUDA error: all CUDA-capable devices are busy or unavailable\): "
        r"another process holds it in exclusive-process mode",
    ):
        resolve_device("cuda")
    assert resolve_device("cuda", touch=False).type == "cuda"  # a parent process never touches
    one_gpu["now"] = "prohibited"
    with pytest.raises(ValueError, match="'prohibited' compute mode"):
        resolve_device("cuda", touch=False)


def test_13_ab_refuses_an_exclusive_process_gpu_before_any_worker_starts(one_gpu, tmp_path):
    from unet.cli import main

    one_gpu["now"] = "exclusive_process"
    out = tmp_path / "out"
    assert main(["ab", "--base", "HEAD", "--device", "cuda", "--out", str(out)]) == 4
    assert not out.exists()
    why = hardware.exclusive_process_refusal("cuda", 4)
    assert "exclusive-process compute mode" in why
    assert "4 worker processes" in why
    one_gpu["now"] = "default"
    assert hardware.exclusive_process_refusal("cuda", 4) is None


# --- 5: the tests' own suites run on the CPU -----------------------------------------------------


def test_5_every_suite_a_test_starts_names_the_cpu():
    """A subprocess of the suite or a command, built in tests/, passes ``*CPU`` or --device;
    drive.suite adds --device=cpu itself."""
    unpinned = []
    for path in sorted((REPO / "tests").glob("test_*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.List):
                continue
            texts = [e.value for e in node.elts if isinstance(e, ast.Constant)]
            if "unet.cli" not in texts or texts[texts.index("unet.cli") + 1 :][:1] not in (
                ["run"],
                ["ab"],
                ["bisect"],
                ["explain"],
            ):
                continue
            starred = [ast.unparse(e) for e in node.elts if isinstance(e, ast.Starred)]
            named = any(str(t).startswith("--device") for t in texts)
            if not named and "*CPU" not in starred:
                unpinned.append(f"{path.name}:{node.lineno}")
    assert unpinned == []
    drive = (REPO / "tests" / "drive.py").read_text()
    assert 'CPU = ("--device=cpu",)' in drive
    assert "*device," in drive


# --- 6, 7, §2: profiler events -------------------------------------------------------------------


class Event:
    """A profiler event with the methods of torch's ``_KinetoEvent`` that profile.py reads."""

    def __init__(
        self,
        name,
        start,
        dur,
        corr=0,
        linked=0,
        device=DeviceType.CPU,
        annotation=False,
        hidden=False,
    ):
        self._name, self._start, self._dur = name, start, dur
        self._corr, self._linked, self._device = corr, linked, device
        self._annotation, self._hidden = annotation, hidden

    def name(self):
        return self._name

    def start_ns(self):
        return self._start

    def duration_ns(self):
        return self._dur

    def end_ns(self):
        return self._start + self._dur

    def correlation_id(self):
        return self._corr

    def linked_correlation_id(self):
        return self._linked

    def device_type(self):
        return self._device

    def start_thread_id(self):
        return 1

    def is_user_annotation(self):
        return self._annotation

    def is_hidden_event(self):
        return self._hidden


GPU = DeviceType.CUDA
# as a compiled batch-1 call records it: an eager conv launched through the runtime API, a
# Triton kernel through the driver API, a GPU-side user annotation spanning both
EVENTS = [
    Event("Torch-Compiled Region", 0, 1000, corr=1),
    Event("aten::convolution", 10, 300, corr=2),
    Event("cudaLaunchKernel", 20, 10, corr=90, linked=2),
    Event("aten::add", 400, 300, corr=3),
    Event("cuLaunchKernel", 410, 10, corr=91, linked=3),
    Event("profiler::_record_function_exit", 900, 1, corr=4),
    Event("hidden", 950, 1, corr=5, hidden=True),
    Event("Torch-Compiled Region", 15, 900, linked=1, device=GPU, annotation=True),
    Event("sm90_xmma_fprop_implicit_gemm", 30, 200, linked=2, device=GPU),
    Event("triton_poi_fused_add_0", 430, 50, linked=3, device=GPU),
    Event("Memcpy HtoD", 500, 5, linked=3, device=GPU),
]


def test_6_kernels_belong_to_their_launching_operator_whatever_the_launch_api():
    calls, self_ns = self_times(EVENTS, cuda=True)
    assert self_ns["aten::convolution"] == 200
    assert self_ns["aten::add"] == 50 + 5  # its Triton kernel (and its copy)
    assert "cuLaunchKernel" not in calls
    assert "cudaLaunchKernel" not in calls


def test_7_user_annotations_and_hidden_events_are_no_kernels_and_no_operators():
    calls, self_ns = self_times(EVENTS, cuda=True)
    assert self_ns["Torch-Compiled Region"] == 0  # the annotation's 900 ns are its kernels'
    assert sum(self_ns.values()) == 200 + 50 + 5
    assert "hidden" not in calls
    assert "profiler::_record_function_exit" not in calls


def test_kernel_signature_tells_other_kernel_choices_apart():
    names = device_kernels(EVENTS)
    assert names == ["sm90_xmma_fprop_implicit_gemm", "triton_poi_fused_add_0"]
    signature = kernel_signature(names)
    assert signature.startswith("2:")
    assert signature == kernel_signature(list(names))
    assert kernel_signature(["sm80_xmma_fprop_other_algo", names[1]]) != signature


def test_ab_lists_cases_whose_processes_launched_other_kernels():
    from unet.bench.ab.result import ABResult
    from unet.bench.ab.summary import kernel_notes
    from unet.bench.results.runs import merge_runs, run_from_json

    def run(signature: str):
        case = {
            "name": "c",
            "group": "g",
            "stats": {"median": 1e-3, "data": [1e-3]},
            "extra_info": {"kernel_signature": signature},
        }
        return run_from_json({"machine_info": {}, "benchmarks": [case]})

    base, head = merge_runs([run("9:aaa"), run("9:bbb")]), merge_runs([run("9:aaa"), run("9:aaa")])
    assert base.cases["c"]["extra_info"]["kernel_signatures"] == ["9:aaa", "9:bbb"]
    notes = kernel_notes(ABResult("HEAD", base=base, head=head))
    assert any(
        "`c`: kernels differ between processes (base 9:aaa, 9:bbb; head 9:aaa)" in n for n in notes
    )
    same = merge_runs([run("9:aaa")])
    assert kernel_notes(ABResult("HEAD", base=same, head=same)) == []


# --- 9, 10, 12: the runner -----------------------------------------------------------------------


class FakeBenchmark:
    """pytest-benchmark's fixture as the runner uses it: a few rounds of the timed call."""

    def __init__(self, log: list[str]) -> None:
        self.disabled, self.extra_info, self.log = False, {}, log
        self.stats = None

    def __call__(self, fn) -> None:
        for _ in range(3):
            fn()
        self.log.append("timed")
        data = SimpleNamespace(data=[1e-3] * 3, median=1e-3)
        self.stats = SimpleNamespace(stats=data, iterations=1)


def test_9_a_compiled_case_gets_the_full_warmup_after_its_compile(monkeypatch):
    cpu = SuiteOptions.defaults(torch.device("cpu"), compile="default", skip_costs=True)
    runner = CaseRunner(cpu, warmup_s=0.25)
    budgets = []
    monkeypatch.setattr(
        "unet.bench.measure.runner.warmup", lambda fn, s, n: budgets.append(s) or [1e-3]
    )
    module, x = nn.Conv2d(3, 3, 3), torch.zeros(1, 3, 8, 8)

    def compile_case(options, name, module, x, repeat):
        return workload(options, module, x, repeat), CompiledCase("default", compile_s=12.0)

    monkeypatch.setattr("unet.bench.measure.runner.compile_case", compile_case)
    monkeypatch.setattr("unet.bench.measure.runner.check_recompiles", lambda *a: None)
    runner.run(FakeBenchmark([]), "c", module, x, {})
    assert budgets == [0.25]  # not 0.25 - 12 s of compiling


def test_12_profiles_wait_until_every_case_is_timed(monkeypatch):
    log: list[str] = []
    monkeypatch.setattr(
        "unet.bench.measure.profile.profile_call",
        lambda *a, **k: log.append("profiled") or SimpleNamespace(to_dict=lambda: {"calls": 1}),
    )
    cpu = SuiteOptions.defaults(torch.device("cpu"), skip_costs=True)
    runner = CaseRunner(cpu, record_profiles=True, warmup_s=0)
    benches = [FakeBenchmark(log), FakeBenchmark(log)]
    for name, bench in zip(("a", "b"), benches, strict=True):
        runner.run(bench, name, nn.Conv2d(3, 3, 3), torch.zeros(1, 3, 8, 8), {})
    assert log == ["timed", "timed"]
    assert "profile" not in benches[0].extra_info
    runner.finish()  # the suite calls it once the last case is timed
    assert log == ["timed", "timed", "profiled", "profiled"]
    assert benches[0].extra_info["profile"] == runner.profiles["a"] == {"calls": 1}


def test_10_a_kept_cuda_model_waits_in_host_memory_and_comes_back_to_re_measure():
    moves: list[str] = []
    module = SimpleNamespace(to=lambda device: moves.append(str(device)))
    placement = Placement(module, torch.device("cuda", 1))  # type: ignore[arg-type]
    placement.park()
    with KeptCase(lambda: None, 1, [1e-3], placement=placement).on_device():
        assert moves == ["cpu", "cuda:1"]
    assert moves == ["cpu", "cuda:1", "cpu"]
    Placement(module, torch.device("cuda", 1), movable=False).park()  # compiled: stays
    Placement(module, torch.device("cpu")).park()
    assert moves == ["cpu", "cuda:1", "cpu"]


# --- 11, 15: telemetry and counters --------------------------------------------------------------


def reading(clock=1980, slowdowns=(), power=0, thermal=0):
    return {
        "sm_clock_mhz": clock,
        "max_sm_clock_mhz": 1980,
        "slowdowns": list(slowdowns),
        "violation_ns": {"power": power, "thermal": thermal},
    }


def test_11_a_power_capped_board_is_not_throttled_but_a_clock_drop_or_heat_is():
    # an L4 at its power cap for the whole of 1 s of rounds, clock at 88 % of its maximum
    capped = reading(1740, ["sw_power_cap"]), reading(1740, ["sw_power_cap"], power=10**9)
    assert throttle_reasons(*capped, rounds_s=1.0) == []
    assert power_capped(*capped, rounds_s=1.0) == {"reason_seen": True, "violation_share": 1.0}
    drop = throttle_reasons(reading(), reading(clock=1400), rounds_s=1.0)
    assert drop == ["SM clock 1400 MHz < 75% of 1980 MHz"]
    assert throttle_reasons(reading(), reading(slowdowns=["hw_slowdown"]), 1.0) == ["hw_slowdown"]
    hot = throttle_reasons(reading(), reading(thermal=200_000_000), rounds_s=1.0)
    assert hot == ["thermal violation 200 ms of 1000 ms"]
    assert throttle_reasons(reading(), reading(thermal=50_000_000), rounds_s=1.0) == []


class FakeMigNVML:
    """NVML on a machine whose CUDA device 0 is a MIG instance: torch's UUID of it is known
    to NVML as ``MIG-…`` only."""

    def __init__(self) -> None:
        self.asked: list[str] = []

    def nvmlInit(self) -> None:
        pass

    def nvmlDeviceGetHandleByUUID(self, uuid: str) -> str:
        self.asked.append(uuid)
        if uuid.startswith("MIG-"):
            return "mig-handle"
        if uuid == "GPU-0a1b":
            return "gpu-handle"
        raise RuntimeError("NVML_ERROR_NOT_FOUND")

    def nvmlDeviceGetDeviceHandleFromMigDeviceHandle(self, handle: str) -> str:
        return "parent-handle"


def test_15_a_mig_instance_reads_its_parent_gpu_and_says_so():
    nvml = FakeMigNVML()
    uuid = "1f0b8a2e-5c3d-5a7e-9b1c-2d3e4f5a6b7c"  # as torch prints a MIG instance's
    telemetry = Telemetry.for_uuid(nvml, uuid, 0)
    assert telemetry is not None
    assert telemetry.handle == "parent-handle"
    assert nvml.asked == [f"GPU-{uuid}", f"MIG-{uuid}"]
    assert "MIG instance" in telemetry.note
    assert "whole GPU" in telemetry.note
    plain = Telemetry.for_uuid(nvml, "0a1b", 0)
    assert plain is not None
    assert plain.handle == "gpu-handle"
    assert plain.note is None


def test_15_training_steps_count_alike_whether_sgd_loops_or_uses_foreach():
    def counts(foreach: bool):
        torch.manual_seed(0)
        module = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.Conv2d(4, 2, 1))
        sgd = torch.optim.SGD(module.parameters(), lr=1e-3, foreach=foreach)
        x = torch.randn(2, 3, 8, 8)

        def step():
            module(x).mean().backward()
            sgd.step()
            sgd.zero_grad(set_to_none=True)

        return count_call(step, [*module.parameters(), *module.buffers(), x])

    looped, foreach = counts(False), counts(True)  # the CPU's default, and CUDA's
    assert looped.ops == foreach.ops
    assert looped.ops["aten.add_"] >= 6  # one per parameter
    assert counted_as("aten.cudnn_batch_norm_backward", ()) == (
        "aten.native_batch_norm_backward",
        1,
    )
    assert counted_as("aten._foreach_add_", ([1, 2, 3], [4, 5, 6])) == ("aten.add_", 3)


# --- 14: the workflow's merge base, and gpu_checks.sh -------------------------------------------


def git(cwd: Path, *args: str) -> str:
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@t",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@t",
    }
    return subprocess.run(
        ["git", *args], cwd=cwd, check=True, capture_output=True, text=True, env=env
    ).stdout.strip()


def test_14_the_merge_base_is_found_on_a_dispatch_from_a_branch_without_local_main(tmp_path):
    origin, clone = tmp_path / "origin", tmp_path / "clone"
    origin.mkdir()
    git(origin, "init", "-q", "-b", "main")
    git(origin, "commit", "-q", "--allow-empty", "-m", "base")
    base = git(origin, "rev-parse", "HEAD")
    git(tmp_path, "clone", "-q", str(origin), str(clone))
    git(clone, "checkout", "-q", "-b", "feature")
    git(clone, "branch", "-q", "-D", "main")  # as actions/checkout leaves a dispatched branch
    git(clone, "commit", "-q", "--allow-empty", "-m", "change")
    script = str(REPO / "scripts" / "merge_base.sh")
    found = subprocess.run(["bash", script, "main"], cwd=clone, capture_output=True, text=True)
    assert found.returncode == 0, found.stderr
    assert found.stdout.strip() == base
    unknown = subprocess.run(["bash", script, "nope"], cwd=clone, capture_output=True, text=True)
    assert unknown.returncode == 4
    assert "neither nope nor origin/nope" in unknown.stderr
    assert "scripts/merge_base.sh" in (REPO / ".github" / "workflows" / "gpu.yml").read_text()


FAKE_PYTHON = """#!/usr/bin/env bash
# a stand-in interpreter for gpu_checks.sh: the full suite outlasts its budget, the others
# write a minimal run where they are asked to
case "$*" in
    *gpu_summary.py*) exec {python} "$@" ;;
    *cuda-run.json*) trap 'echo interrupted; exit 2' INT; sleep 30 & wait; exit 2 ;;
esac
for arg in "$@"; do
    case $arg in
        --benchmark-json=*) echo '{{"machine_info": {{}}, "benchmarks": [{{"name": "c", \
"stats": {{"median": 0.002}}, "extra_info": {{"do_bench_median_s": 0.001}}}}]}}' \
> "${{arg#--benchmark-json=}}" ;;
    esac
done
echo "fake python: $*"
"""


def test_14_gpu_checks_stops_a_stage_at_its_budget_and_still_writes_the_summary(tmp_path):
    fake = tmp_path / "python"
    fake.write_text(FAKE_PYTHON.format(python=sys.executable))
    fake.chmod(0o755)
    out = tmp_path / "out"
    env = {**os.environ, "GPU_CHECKS_PYTHON": str(fake), "GPU_CHECKS_SCALE": "0.01"}
    dry = subprocess.run(
        ["bash", "scripts/gpu_checks.sh", "--dry-run"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
    )
    assert "full suite, baseline saved" in dry.stdout
    assert "total" in dry.stdout
    assert not out.exists()
    proc = subprocess.run(
        ["bash", "scripts/gpu_checks.sh", "--out", str(out)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert "full suite, baseline saved: stopped at its budget" in proc.stdout, proc.stdout
    assert "quick tier with do_bench: ok" in proc.stdout
    assert "A/A of the quick tier:" in proc.stdout  # the stages after it still ran
    summary = (out / "summary.md").read_text()
    assert "| full suite, baseline saved | 1.50 |" in summary
    assert "| c | 2.000 | 1.000 | 2.000 |" in summary  # median / do_bench of the quick tier
    assert len([p for p in out.rglob("*") if p.is_file()]) <= 8
