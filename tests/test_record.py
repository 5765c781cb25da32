"""The typed record of one case: every run file written since the first release reads into it
and writes back the same ``extra_info``; nothing outside the record reads a case's results by
string key."""

from __future__ import annotations

import json
import re
from dataclasses import fields
from pathlib import Path

import pytest

from unet.bench.results.record import (
    COST_FIELDS,
    FIELD_DOCS,
    SCHEMA,
    SECTIONS,
    CaseRecord,
    Identity,
    field_reference,
)
from unet.bench.results.runs import load_run

REPO = Path(__file__).resolve().parents[1]
ERAS = sorted((REPO / "tests" / "fixtures" / "runs").glob("*.json"))


def test_there_is_a_fixture_of_every_era():
    names = {p.stem for p in ERAS}
    assert names >= {
        "2026-11-27-first-release",  # the suite's first run files: costs only
        "2026-11-29-counters-profiles",  # exact counters and kept profiles
        "2026-11-29-axes-compiled",  # --compile: compile time, graph breaks
        "2026-11-29-axes-train",  # --mode train: backward FLOPs
        "constructed-cuda-fields",  # CUDA figures and telemetry (built by hand: no GPU run yet)
    }


@pytest.mark.parametrize("path", ERAS, ids=lambda p: p.stem)
def test_every_era_reads_and_writes_back_the_same_fields(path):
    for entry in json.loads(path.read_text())["benchmarks"]:
        record = CaseRecord.from_entry(entry)
        assert record.name == entry["name"]
        assert record.median_s == entry["stats"]["median"]
        written = record.to_extra()
        assert written.pop("schema") == SCHEMA
        stored = {k: v for k, v in entry["extra_info"].items() if k != "schema"}
        # a stored None and an absent field read alike
        assert written == {k: v for k, v in stored.items() if v is not None}
        assert CaseRecord.from_entry({**entry, "extra_info": record.to_extra()}) == (
            CaseRecord.from_entry({**entry, "extra_info": {**stored, "schema": SCHEMA}})
        )


def test_fields_are_typed_by_section():
    (cuda,) = [p for p in ERAS if p.stem == "constructed-cuda-fields"]
    run = load_run(cuda)
    (name,) = run.cases
    record = run.case(name)
    assert record.identity.choices == {
        "conv": "standard",
        "norm": "batch",
        "upsample": "interpolate",
    }
    assert record.identity.device == "cuda"
    assert record.device.device_time_s == pytest.approx(0.000912)
    assert record.kernel_signatures == ["3f2a9c1d0b7e", "77aa01c2d3e4"]
    assert record.throttled == ["hw_thermal_slowdown"]
    assert record.counters.counted_on == "cuda/float32"
    assert record.counted
    assert set(COST_FIELDS) <= set(record.cost_entry())
    first = load_run(next(p for p in ERAS if p.stem == "2026-11-27-first-release"))
    old = first.case(next(iter(first.cases)))
    assert old.schema == 1
    assert old.counters.counted_on is None  # before counters: none, not zero
    assert "counters" not in old.cost_entry()


# Reading a case's results by string key: the record's job alone. Writers (the runner and the
# measuring stages it calls) fill extra_info; readers use Run.case(name).
READS = re.compile(r"""\["extra_info"\]|\.get\("extra_info"|\["stats"\]|\.get\("stats"|"stats"\)""")
RECORD = REPO / "unet" / "bench" / "results" / "record.py"


def test_no_module_but_the_record_reads_a_case_by_string_key():
    found = [
        f"{p.relative_to(REPO)}:{n}: {line.strip()}"
        for p in sorted((REPO / "unet").rglob("*.py"))
        if p != RECORD
        for n, line in enumerate(p.read_text().splitlines(), 1)
        if READS.search(line) and "_counters()" not in line and "counters[" not in line
    ]
    assert found == []


def test_the_read_pattern_finds_what_it_must():
    assert READS.search('e = case["extra_info"]')
    assert READS.search('case.get("extra_info", {})')
    assert READS.search('median = entry["stats"]["median"]')


def test_every_field_has_a_line_in_the_reference():
    documented = {k for docs in FIELD_DOCS.values() for key in docs for k in key.split(", ")}
    sections = {f.name for kind in SECTIONS.values() for f in fields(kind)}
    identity = {f.name for f in fields(Identity) if f.name != "choices"}
    written = {"per_application_s", "ab_rounds_per_block", "telemetry", "profile", "schema"}
    written |= {"p50_s", "p90_s", "p99_s"}
    choices = {"conv", "norm", "upsample"}
    choices |= {"capacity", "layers_per_block", "block_expansion", "max_features"}
    assert documented == sections | identity | written | choices


def test_the_site_shows_the_reference_generated_from_the_record():
    page = (REPO / "docs" / "reference" / "record-fields.md").read_text()
    assert field_reference() in page, "regenerate: python -m unet.bench.docs"


def test_the_runner_writes_through_the_record_and_an_undeclared_field_is_an_error():
    """A stage that produced a field the record does not declare would lose it silently; the
    runner's one write refuses it instead (``strict``)."""
    extra = {"conv": "standard", "batch_size": 1, "params": 3, "new_figure_ms": 1.5}
    with pytest.raises(ValueError, match="fields the record does not declare: new_figure_ms"):
        CaseRecord.from_extra("c", "", extra, strict=True)
    assert "new_figure_ms" not in CaseRecord.from_extra("c", "", extra).to_extra()
