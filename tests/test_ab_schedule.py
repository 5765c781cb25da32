"""The paired A/B coordinator's turn-taking, driven by simulated workers (no processes)."""

from __future__ import annotations

import io
import json
import math
import subprocess
from types import SimpleNamespace

import pytest

from unet.bench.ab import runner
from unet.bench.ab.result import ABResult
from unet.bench.ab.runner import takes_more
from unet.bench.ab.schedule import SIDES, Schedule, WorkerState
from unet.bench.ab.settings import ABSettings
from unet.bench.commands.common import ab_settings
from unet.bench.defaults import LATER_PAIRED_WORKERS, PAIRED_WORKERS
from unet.bench.measure import turns as abworker
from unet.bench.stats.sequential import sequential_verdict
from unet.bench.suite import paired
from unet.cli import build_parser


def make_workers(cases: dict[str, list[str]]) -> list[WorkerState]:
    """Workers in the coordinator's order: base-0, head-0, base-1, head-1."""
    return [
        WorkerState(side=side, slot=i, name=f"{side}-{i}", cases=cases[side])
        for i in range(2)
        for side in ("base", "head")
    ]


def simulate(workers: list[WorkerState], schedule: Schedule) -> list[tuple[str, str, str, bool]]:
    """Run the workers through their cases as the real ones would; return the turns given."""
    plan = {w.name: [(c, abworker.SETUP) for c in w.cases] for w in workers}
    position = dict.fromkeys(plan, 0)
    samples: dict[str, list[float]] = {}

    def ask(w: WorkerState) -> None:
        """The worker's next request after its last reply."""
        if position[w.name] >= len(plan[w.name]):
            return schedule.record(w, {"case": "", "stage": abworker.FINAL, "samples": []})
        case, stage = plan[w.name][position[w.name]]
        schedule.record(w, {"case": case, "stage": stage, "samples": samples.pop(w.name, [])})

    for w in workers:
        ask(w)
    turns = []
    while True:
        live = [w for w in workers if w.alive]
        if not live:
            return turns
        ending = all(w.finished for w in live)
        grants = schedule.decide(live)
        replied = [g.worker for g in grants]
        assert all(w.request is None for w in replied), "a granted worker no longer waits"
        if ending:  # all may write their results now
            assert replied == live
            for w in live:
                w.alive = False
            continue
        assert len(grants) == 1, "exactly one worker may hold the turn"
        w = replied[0]
        reply = grants[0].message()
        case, stage = plan[w.name][position[w.name]]
        turns.append((w.name, case, str(stage), reply["go"]))
        if stage == abworker.SETUP:
            plan[w.name][position[w.name]] = (case, 0)
        elif reply["go"]:
            samples[w.name] = [1.0 + 0.001 * k for k in range(5)]
            plan[w.name][position[w.name]] = (case, stage + 1)
        else:
            position[w.name] += 1
        ask(w)


def letters(turns: list[tuple[str, str, str, bool]], case: str, stage_filter) -> str:
    return " ".join(
        f"{w[0].upper()}{w[-1]}" for w, c, s, go in turns if c == case and stage_filter(s, go)
    )


def test_setup_then_abba_blocks_split_over_both_workers_of_each_side():
    workers = make_workers({"base": ["c1", "c2"], "head": ["c1", "c2"]})
    schedule = Schedule(workers, side_blocks=6)
    turns = simulate(workers, schedule)
    for case in ("c1", "c2"):
        assert letters(turns, case, lambda s, go: s == "setup") == "B0 H0 B1 H1"
        blocks = letters(turns, case, lambda s, go: s != "setup" and go)
        assert blocks == "B0 H0 H1 B1 B0 H0 H1 B1 B0 H0 H1 B1"
        # each worker's rounds are kept apart: three blocks of five rounds
        for side in ("base", "head"):
            assert {w: len(r) for w, r in schedule.samples[side][case].items()} == {
                f"{side}-0": 15,
                f"{side}-1": 15,
            }
    # c2 starts only after every worker was told c1 is done
    first_c2 = next(i for i, t in enumerate(turns) if t[1] == "c2")
    assert all(t[1] == "c1" for t in turns[:first_c2])


def test_a_case_on_one_side_only_runs_alone_without_stalling_the_others():
    workers = make_workers({"base": ["c1", "c2"], "head": ["new", "c1", "c2"]})
    schedule = Schedule(workers, side_blocks=4)
    turns = simulate(workers, schedule)
    assert "new" in schedule.samples["head"]
    assert "new" not in schedule.samples["base"]
    assert {w[0] for w, c, *_ in turns if c == "new"} == {"h"}
    # the shared cases are still paired ABBA
    assert letters(turns, "c1", lambda s, go: s != "setup" and go) == "B0 H0 H1 B1 B0 H0 H1 B1"


def test_cases_in_different_orders_finish_instead_of_waiting_for_each_other():
    workers = make_workers({"base": ["c1", "c2"], "head": ["c2", "c1"]})
    schedule = Schedule(workers, side_blocks=2)
    turns = simulate(workers, schedule)
    for side in ("base", "head"):
        assert set(schedule.samples[side]) == {"c1", "c2"}
    assert turns  # and simulate returned: every worker reached its final turn


@pytest.mark.parametrize("blocks", [1, 2, 6])
def test_each_side_runs_its_blocks(blocks):
    workers = make_workers({"base": ["c1"], "head": ["c1"]})
    schedule = Schedule(workers, side_blocks=blocks)
    simulate(workers, schedule)
    per_worker = -(-blocks // 2)
    for side in ("base", "head"):
        rounds = schedule.samples[side]["c1"]
        assert sorted(map(len, rounds.values())) == [5 * per_worker, 5 * per_worker]


def test_every_grant_carries_the_schedules_rounds_share():
    workers = make_workers({"base": ["c1"], "head": ["c1"]})
    schedule = Schedule(workers, side_blocks=2, rounds_share=0.25)
    for w in workers:
        schedule.record(w, {"case": "c1", "stage": abworker.SETUP, "samples": []})
    (grant,) = schedule.decide(workers)
    assert grant.message() == {"go": True, "blocks": 1, "side_blocks": 2, "share": 0.25}


def test_a_later_generation_splits_its_sides_rounds_over_the_blocks_it_runs():
    """Four workers a side take two of six blocks each: the side runs eight, and its rounds
    are split over those eight (not timed 8/6 over); each process's minimum is shared out."""
    workers = [
        WorkerState(side=side, slot=i, name=f"{side}-{i}", cases=["c1"])
        for i in range(4)
        for side in SIDES
    ]
    schedule = Schedule(workers, side_blocks=6, per_side=4, rounds_share=0.2, own_share=0.5)
    for w in workers:
        schedule.record(w, {"case": "c1", "stage": abworker.SETUP, "samples": []})
    grant = schedule.decide(workers)[0]
    assert grant.message() == {
        "go": True,
        "blocks": 2,
        "side_blocks": 8,
        "share": 0.2,
        "own_share": 0.5,
    }


class FakeChannel:
    """A worker's end of the socket: every turn granted, as the coordinator set it up."""

    def __init__(self, blocks: int, side_blocks: int, share: float) -> None:
        self.blocks, self.side_blocks, self.share = blocks, side_blocks, share
        self.own_share = 1.0
        self.turns: list[tuple[str, object, int]] = []

    def turn(self, case, stage, samples=()) -> bool:
        self.turns.append((case, stage, len(samples)))
        return True


class FakeBenchmark:
    """pytest-benchmark's fixture as time_in_turns uses it: pedantic rounds, their samples."""

    def __init__(self) -> None:
        self.stats = None

    def pedantic(self, fn, setup, rounds, iterations):
        data: list[float] = []
        self.stats = type("Stats", (), {"stats": type("S", (), {"data": data})()})()
        for _ in range(rounds):
            setup()
            fn()
            data.append(1e-3)


@pytest.mark.parametrize(
    ("per_call", "share", "rounds"),
    [
        # 1 s of 1 ms rounds is 1000 a suite run; a side's share 0.2 is 200, this worker's
        # half of the side's 6 blocks 100
        (1e-3, 0.2, 3 * round(200 / 6)),
        (1e-3, 1.0, 3 * round(1000 / 6)),
        # a 100 ms case: 2 rounds at share 0.2, but a process's median needs its own rounds
        (0.1, 0.2, 3 * -(-abworker.MIN_PROCESS_ROUNDS // 3)),
        # a 1.7 s case, 5 rounds to a suite run: no more of its own than that (in whole blocks)
        (1.7, 0.2, 3 * -(-5 // 3)),
    ],
)
def test_a_worker_times_its_share_of_a_suite_runs_rounds(per_call, share, rounds):
    channel = FakeChannel(blocks=3, side_blocks=6, share=share)
    benchmark = FakeBenchmark()
    plan = abworker.RoundPlan(max_time=1.0, min_rounds=5)
    found = abworker.time_in_turns(channel, benchmark, "c1", lambda: None, per_call, plan)
    assert len(benchmark.stats.stats.data) == rounds
    assert found["ab_rounds_per_block"] == rounds // 3
    # a turn before each of its 3 round blocks, and one to report the last
    assert [stage for _, stage, _ in channel.turns] == [0, 1, 2, 3]


@pytest.mark.parametrize(
    ("per_call", "rounds"),
    [
        # 1 ms: the side's 200 rounds over the 8 blocks it runs, 25 each, two of them
        (1e-3, 2 * 25),
        # 100 ms: half of a process's 9, 5, in whole blocks of 3
        (0.1, 2 * 3),
        # 1.7 s, five to a suite run: half of 5, 3, in blocks of 2
        (1.7, 2 * 2),
    ],
)
def test_a_worker_of_a_larger_generation_times_its_share_of_the_minimum(per_call, rounds):
    channel = FakeChannel(blocks=2, side_blocks=8, share=0.2)
    channel.own_share = 0.5  # four processes a side share what two would each time
    benchmark = FakeBenchmark()
    plan = abworker.RoundPlan(max_time=1.0, min_rounds=5)
    abworker.time_in_turns(channel, benchmark, "c1", lambda: None, per_call, plan)
    assert len(benchmark.stats.stats.data) == rounds


@pytest.mark.parametrize(
    ("protocol", "per_side", "share"), [(2, 4, 0.5), (1, 4, None), (2, 2, None)]
)
def test_a_process_shares_its_minimum_rounds_only_where_the_base_follows(
    tmp_path, protocol, per_side, share
):
    """A base of protocol 1 ignores own_share and would time more rounds a process than the
    head: then both sides time them all."""
    turns = tmp_path / "unet" / "bench" / "measure" / "turns.py"
    turns.parent.mkdir(parents=True)
    turns.write_text(f"PROTOCOL = {protocol}\n")
    assert runner.speaks_paired_protocol(tmp_path)
    assert runner.own_share(tmp_path, per_side) == share
    turns.write_text("PROTOCOL = 0\n")
    assert not runner.speaks_paired_protocol(tmp_path)
    assert runner.own_share(tmp_path, per_side) is None


@pytest.mark.parametrize(
    ("confirm", "effect", "more"),
    [
        (False, 0.005, True),  # the gate settles every case it can
        (True, 0.005, False),  # a confirmation: below min_effect, no longer a suspect
        (True, 0.08, True),  # still a change as estimated: more generations can confirm it
    ],
)
def test_a_confirmation_gives_more_generations_only_to_cases_still_estimated_a_change(
    tmp_path, confirm, effect, more
):
    """--verdict's paired confirmation of a noisy full suite took four generations to settle
    cases as "no change" that no longer looked like changes after the first."""

    spread = [0.9, 1.1]  # processes 20 % apart: one generation settles nothing
    head = [m * (1 + effect) for m in spread]
    generation = ([[m * 1e-3] * 9 for m in spread], [[m * 1e-3] * 9 for m in head])
    verdict = sequential_verdict("c", [generation], 0.03)
    assert verdict.outcome == "unsure"
    assert math.isclose(verdict.change, effect, rel_tol=1e-6)
    settings = ABSettings(repo=tmp_path, out=tmp_path, confirm=confirm)
    assert takes_more(settings, verdict) is more


def test_the_paired_confirmation_asks_the_ab_to_confirm_only(tmp_path, monkeypatch):

    seen = []

    def fake_run(command, **kwargs):
        seen.append(command)
        out = next(a.split("=", 1)[1] for a in command if a.startswith("--out="))
        (tmp_path / "ab").mkdir(exist_ok=True)
        (tmp_path / "ab" / "ab.json").write_text(json.dumps({"verdicts": []}))
        assert out == str(tmp_path / "ab")
        return subprocess.CompletedProcess(command, 0)

    monkeypatch.setattr(paired.tempfile, "mkdtemp", lambda prefix: str(tmp_path))
    monkeypatch.setattr(paired.subprocess, "run", fake_run)
    options = SimpleNamespace(  # the suite options the A/B's command is built from
        device="cpu",
        min_effect=0.03,
        gate_on="median",
        batch_sizes=(1,),
        quick=True,
        dtype="float32",
        mode="eval",
        channels_last=False,
        autocast=None,
        compile=None,
        cache="warm",
    )
    assert paired.confirm_paired(tmp_path, "abc", ["t::c"], options) == {}
    (command,) = seen
    assert "--confirm" in command[: command.index("--")]


def test_node_ids_after_the_double_dash_select_cases_and_are_not_passed_on(tmp_path):
    """A later generation selects its unsettled cases by node id: the ids given to ``ab`` are
    its cases, not pytest arguments of every process, or each generation would time them all."""

    ids = ["benchmarks/test_norm.py::test_norm[norm=batch-bs=1]", "b/t.py::t[x]"]
    out = str(tmp_path / "o")
    command = ["ab", "--base", "HEAD", "--device", "cpu", "--out", out]
    args = build_parser().parse_args([*command, "--", "-k", "a::b", "--quick", *ids])
    settings = ab_settings(args, "ab")
    assert list(settings.cases) == ids
    assert list(settings.pytest_args) == ["-k", "a::b", "--quick"]  # an option's value stays
    later = settings.command("head-2", ids[:1], [])
    assert later.count(ids[0]) == 1
    assert ids[1] not in later


@pytest.mark.parametrize(
    ("gate_on", "later"), [("median", LATER_PAIRED_WORKERS), ("p90", PAIRED_WORKERS)]
)
def test_later_generations_start_more_workers_for_the_sequential_gate_only(
    tmp_path, monkeypatch, gate_on, later
):
    """The sequential gate's later generations start LATER_PAIRED_WORKERS a side (each is
    another process's evidence, and their start is most of such a generation's cost); the tail
    gate's confirmation keeps two, whose floor is the widest spread within a generation. Worker
    names go on from the last generation's."""
    started = []

    def fake_generation(settings, trees, cases, generation):
        first, per_side = generation.first, generation.per_side
        started.append((first, per_side, cases, generation.own_share))
        names = {side: [f"{side}-{first + i}" for i in range(per_side)] for side in SIDES}
        schedule = Schedule([], 6, per_side)
        # 2 % apart within a side, head +50 %: a suspect at once, confirmed later (40 rounds a
        # process: a p90 needs 64 a side)
        for side, scale in (("base", 1.0), ("head", 1.5)):
            schedule.samples[side]["c"] = {
                name: [scale * (1 + 0.02 * (i % 2)) * (1 + 0.001 * k) * 1e-3 for k in range(40)]
                for i, name in enumerate(names[side])
            }
        workers = [
            SimpleNamespace(state=WorkerState(side, 0, n)) for side in SIDES for n in names[side]
        ]
        return schedule, workers

    side_run = SimpleNamespace(cases={"c": {"fullname": "benchmarks/t.py::c"}}, key=None)
    monkeypatch.setattr(runner, "run_generation", fake_generation)
    monkeypatch.setattr(runner, "_side_run", lambda settings, workers, side: side_run)
    monkeypatch.setattr(runner, "_finish", lambda settings, workers, gens, measured, r: r)
    settings = ABSettings(repo=tmp_path, out=tmp_path, gate_on=gate_on, log=io.StringIO())
    turns = tmp_path / "unet" / "bench" / "measure" / "turns.py"
    turns.parent.mkdir(parents=True)
    turns.write_text(f"PROTOCOL = {abworker.PROTOCOL}\n")  # the base speaks today's protocol
    trees = {"base": tmp_path, "head": tmp_path}
    result = runner.measure_paired(settings, trees, ABResult(base_rev="HEAD"))
    assert [v.outcome for v in result.verdicts] == ["regression"]
    assert started[0][:2] == (0, PAIRED_WORKERS)
    assert started[0][3] is None  # the first generation's processes time their whole minimum
    assert len(started) >= 2
    numbered = PAIRED_WORKERS
    for first, per_side, cases, own in started[1:]:
        assert (first, per_side) == (numbered, later)
        assert own == (PAIRED_WORKERS / later if later > PAIRED_WORKERS else None)
        assert cases == {"base": ["benchmarks/t.py::c"], "head": ["benchmarks/t.py::c"]}
        numbered += per_side
