"""--cache cold (issue 23): the caches evicted before every timed call, outside the timed
region; part of the run's identity; its costs are the warm case's."""

from __future__ import annotations

import json

import pytest
import torch
from drive import in_process, saved_files, suite

from unet.bench.measure.cache import Evictor, last_level_cache_bytes
from unet.bench.results.axes import cost_key, differing_axes, id_suffix, key_suffix

# the fake eviction: 50x the 2 ms case it precedes. A round that held it would last >= 100 ms;
# the longest round seen without it was 15 ms (a round right after the sleep can be slow)
SLEEP_S = 0.1


def test_the_cpu_cache_size_comes_from_sysfs(tmp_path):
    for index, (kind, level, size) in enumerate(
        [
            ("Data", 1, "48K"),
            ("Instruction", 1, "32K"),
            ("Unified", 2, "2048K"),
            ("Unified", 3, "36M"),
        ]
    ):
        d = tmp_path / f"index{index}"
        d.mkdir()
        (d / "type").write_text(kind + "\n")
        (d / "level").write_text(f"{level}\n")
        (d / "size").write_text(size + "\n")
    assert last_level_cache_bytes(tmp_path) == (36 * 2**20, "L3 36 MiB (sysfs)")


def test_without_sysfs_a_size_is_still_found_or_assumed(tmp_path):
    size, where = last_level_cache_bytes(tmp_path / "none")
    assert size > 0
    assert "sysconf" in where or "assumed" in where


def test_an_eviction_writes_the_whole_buffer_with_a_new_value():
    evictor = Evictor(torch.zeros(4096, dtype=torch.uint8), "test")
    assert evictor.evictions == 0  # the timing evictions at build time are not counted
    assert evictor.seconds > 0
    evictor.evict()
    first = evictor.buffer.clone()
    evictor.evict()
    assert bool((first == first[0]).all())
    assert bool((evictor.buffer == evictor.buffer[0]).all())
    assert int(first[0]) != int(evictor.buffer[0])
    assert evictor.evictions == 2


def test_the_cache_axis_is_part_of_the_identity_and_not_of_the_costs():
    cold = {"cache": "cold"}
    assert id_suffix(cold) == "-cache=cold"
    assert key_suffix({"mode": "train", **cold}) == "-mode_train-cache_cold"
    assert id_suffix({"cache": "warm"}) == ""  # the default: ids of warm runs unchanged
    assert differing_axes({"cache": "cold"}, {}) == {"cache": ("warm", "cold")}
    name = "test_model[conv=standard-norm=batch-up=interpolate-bs=1-mode=train-cache=cold]"
    assert cost_key(name) == "test_model[conv=standard-norm=batch-up=interpolate-bs=1-mode=train]"
    assert cost_key("test_norm[norm=batch-bs=1]") == "test_norm[norm=batch-bs=1]"


def test_a_bad_cache_value_names_the_option(pytester, tmp_path):
    proc = in_process(pytester, tmp_path, "--cache", "cool")
    assert proc.returncode == 4
    assert "--cache" in proc.stdout
    assert "'cool'" in proc.stdout
    assert "warm" in proc.stdout


# the fake eviction, injected into the suite's process: it sleeps and counts, on a tiny buffer
SLOW_EVICTIONS = f"""
import json, os, time
import torch
from unet.bench.measure.cache import Evictor

def evict(self):
    self.evictions += 1
    time.sleep({SLEEP_S})

Evictor.evict = evict
tiny = torch.empty(64, dtype=torch.uint8)
Evictor.for_device = classmethod(lambda cls, device: cls(tiny, "fake cache"))

def pytest_sessionfinish(session):
    state = session.config.pluginmanager.get_plugin("unet-bench").state
    with open(os.environ["EVICTIONS_OUT"], "w") as f:
        json.dump(state.runner.evictor.evictions, f)
"""


@pytest.mark.e2e
def test_the_eviction_runs_before_every_round_and_outside_the_timed_region(tmp_path):
    out, count = tmp_path / "run.json", tmp_path / "evictions.json"
    proc = suite(
        tmp_path,
        "--quick",
        "-k",
        "test_upsample and interpolate",
        "--cache",
        "cold",
        "--benchmark-max-time=0.05",
        "--benchmark-min-rounds=5",
        "--warmup-time=0",
        f"--benchmark-json={out}",
        plugin=SLOW_EVICTIONS,
        env={"EVICTIONS_OUT": str(count)},
    )
    assert proc.returncode == 0, proc.stdout  # the cost gate found the warm case's entry
    assert "cold caches: 0 MiB written before every timed call (2x the fake cache" in proc.stdout
    data = json.loads(out.read_text())
    (bench,) = data["benchmarks"]
    assert bench["name"] == "test_upsample[up=interpolate-bs=1-cache=cold]"
    assert bench["extra_info"]["cache"] == "cold"
    assert data["machine_info"]["unet_bench"]["key"].endswith("-cache_cold")
    stats = bench["stats"]
    # one eviction per round, none inside one: every round is far shorter than the sleep
    assert json.loads(count.read_text()) == stats["rounds"]
    assert stats["iterations"] == 1
    assert stats["max"] < SLEEP_S / 2
    # rounds sized with the eviction counted: 0.05 s / (call + 100 ms) is 1, so min rounds
    assert stats["rounds"] == 5


@pytest.mark.e2e
def test_a_cold_run_refuses_to_compare_with_a_warm_one(tmp_path):
    fast = ["--quick", "-k", "test_upsample and interpolate", "--benchmark-max-time=0.01"]
    saved = suite(tmp_path, *fast, "--warmup-time=0", "--benchmark-autosave")
    assert saved.returncode == 0, saved.stdout
    (warm_run,) = saved_files(tmp_path / "store")
    proc = suite(tmp_path, *fast, "--cache=cold", f"--benchmark-compare={warm_run}")
    assert proc.returncode == 4, proc.stdout
    assert "cache: saved 'warm', here 'cold'" in proc.stdout


def test_the_evictor_is_built_only_for_a_cold_run_and_its_time_sizes_the_rounds():
    from unet.bench.measure.runner import CaseRunner
    from unet.bench.measure.settings import SuiteOptions

    cpu = torch.device("cpu")
    warm = CaseRunner(SuiteOptions.defaults(cpu))
    assert warm.evictor is None
    assert warm.round_plan().setup is None
    assert warm.round_plan().rounds(0.001) == 1000  # pytest-benchmark's: 1 s of 1 ms calls
    evictor = Evictor(torch.empty(8, dtype=torch.uint8), "x")
    evictor.seconds = 0.0625  # binary-exact, so the rounds are too
    plan = CaseRunner(SuiteOptions.defaults(cpu), evictor=evictor).round_plan()
    assert plan.setup == evictor.evict
    assert plan.rounds(0.0625) == 8  # 1 s of 62.5 ms calls, each after a 62.5 ms eviction
    assert plan.rounds(0.5) == 5  # never under pytest-benchmark's min rounds
