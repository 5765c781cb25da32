"""The documentation site (issue 21): its reference pages are generated from the code and current,
and every command, argument, pytest option and record field appears in them."""

from __future__ import annotations

import argparse
import re

from unet.bench import docs
from unet.bench.results.record import FIELD_DOCS
from unet.cli import build_parser


def test_the_committed_reference_pages_are_what_the_code_generates():
    assert docs.stale() == [], "regenerate: python -m unet.bench.docs"


def test_a_page_edited_by_hand_or_missing_is_stale(tmp_path, monkeypatch):
    monkeypatch.setattr(docs, "REFERENCE", tmp_path)
    pages = docs.generated()
    for path, text in pages.items():
        path.write_text(text)
    assert docs.stale() == []
    cli = tmp_path / "cli.md"
    cli.write_text(cli.read_text().replace("--min-effect", "--min-efect"))
    (tmp_path / "record-fields.md").unlink()
    assert sorted(p.name for p in docs.stale()) == ["cli.md", "record-fields.md"]
    assert docs.main(["--check"]) == 1


def test_every_command_and_argument_is_in_the_cli_page():
    page = docs.cli_page()
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    for name, command in sub.choices.items():
        assert f"\n## {name}\n" in page
        for action in command._actions:
            if isinstance(action, argparse._HelpAction):
                continue  # -h: every command's
            for flag in action.option_strings:
                assert f"`{flag}`" in page, (name, flag)


def test_every_pytest_option_of_the_plugin_is_in_its_page():
    recorder = docs._Recorder()
    from unet.bench.suite.options import add_options

    add_options(recorder)
    page = docs.pytest_options_page()
    assert len(recorder.options) > 10
    for names, _ in recorder.options:
        assert all(f"`{n}`" in page for n in names)
    assert "==SUPPRESS==" not in page  # hidden options say they are hidden


def test_every_record_field_is_in_its_page():
    page = docs.record_page()
    for section, fields in FIELD_DOCS.items():
        for key in fields:
            assert f"| {section} | `{key}` |" in page


def test_the_pages_are_the_same_in_every_clone():
    """A default path shown absolute made the page differ between checkouts (a fresh clone's
    CI found the committed page stale)."""
    for text in docs.generated().values():
        assert str(docs.REPO) not in text


def _lists_glued_to_a_paragraph(text: str) -> list[str]:
    """Lines that start a list straight after a paragraph line: Python-Markdown (mkdocs) then
    renders the list as part of the paragraph ('Where it applies: - a - b' on one line)."""
    glued, fence, prev = [], False, ""
    for line in text.splitlines():
        if line.startswith("```"):
            fence = not fence
        item = re.match(r"([-*]|\d+\.) ", line)
        paragraph = prev.strip() and not re.match(r"( |([-*]|\d+\.) |\||#)", prev)
        if not fence and item and paragraph:
            glued.append(line)
        prev = line
    return glued


def test_the_glued_list_check_finds_one():
    assert _lists_glued_to_a_paragraph("Where:\n- a\n- b\n") == ["- a"]
    assert _lists_glued_to_a_paragraph("Where:\n\n- a\n  more\n- b\n") == []


def test_every_list_in_the_docs_starts_after_a_blank_line():
    pages = [*sorted((docs.REPO / "docs").rglob("*.md")), docs.REPO / "README.md"]
    glued = {
        str(p.relative_to(docs.REPO)): _lists_glued_to_a_paragraph(p.read_text()) for p in pages
    }
    assert {name: lines for name, lines in glued.items() if lines} == {}


def test_a_placeholder_in_help_text_survives_as_text():
    """'benchmarks/baselines/<key>/' rendered as 'benchmarks/baselines//': the browser took
    <key> for a tag."""
    page = docs.cli_page()
    assert "baselines/&lt;key&gt;/" in page
    body = page.split("\n", 1)[1]  # after the generated-by comment
    assert re.search(r"<(?!!--)[a-z]", body) is None
