"""The docs' and the README's Python examples run against the fake, so they cannot rot.

The conventions are in tests/_support/docs_snippets.py. The page "Using godeploy in your
application" (docs/guide/application.md) is a small project of titled files:
tests/test_docs_application.py runs it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests._support.docs_snippets import (
    DOCS,
    ROOT,
    ServedFake,
    Snippet,
    markdown_files,
    run_snippet,
)
from tests._support.docs_snippets import snippets as snippets_of
from tests.benchmarks import _page

APPLICATION_PAGE = DOCS / "guide" / "application.md"

SNIPPETS = [
    snippet
    for path in markdown_files()
    if path != APPLICATION_PAGE
    for snippet in snippets_of(path)
    if snippet.language == "python"
]


@pytest.fixture(scope="module")
def served_fake() -> Iterator[ServedFake]:
    with ServedFake(seed=7) as served:
        yield served


@pytest.mark.parametrize("snippet", SNIPPETS, ids=[snippet.name for snippet in SNIPPETS])
def test_example_runs(
    snippet: Snippet, served_fake: ServedFake, monkeypatch: pytest.MonkeyPatch
) -> None:
    if snippet.not_run is not None:
        pytest.skip(f"marked not-run: {snippet.not_run}")
    for name, value in served_fake.environment():
        monkeypatch.setenv(name, value)
    run_snippet(snippet, served_fake)


def test_examples_are_found() -> None:
    pages = {snippet.path for snippet in SNIPPETS}
    assert ROOT / "README.md" in pages
    assert DOCS / "guide" / "pagination.md" in pages
    # A titled block is a file of a project that only its page's own test knows how to run.
    assert [snippet.name for snippet in SNIPPETS if snippet.title] == []


def test_a_failing_example_fails(served_fake: ServedFake, tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text("Text.\n\n```python\nawait client.orders.get(-5)\n```\n")
    (snippet,) = snippets_of(page)
    from godeploy import RequestValidationError

    with pytest.raises(RequestValidationError):
        run_snippet(snippet, served_fake)


def test_the_benchmarks_page_is_written_from_its_source() -> None:
    # Never edited by hand: `make bench` writes both (tests/benchmarks/_page.py).
    stored = json.loads((DOCS / "benchmarks.json").read_text(encoding="utf-8"))
    assert stored["sections"]
    assert (DOCS / "benchmarks.md").read_text(encoding="utf-8") == _page.render(stored)


def _bench_run(tmp_path: Path, date: str, figures: dict[str, str]) -> Path:
    rows = [
        {
            "section": section,
            "measure": f"measure of {section}",
            "verdict": None,
            "cells": {"median": value, "min": value, "max": value, "target": "", "note": ""},
        }
        for section, value in figures.items()
    ]
    path = tmp_path / f"bench-{date}.json"
    run = {"date": date, "command": "make bench", "runs": 1, "titles": {}, "rows": rows}
    path.write_text(json.dumps(run))
    return path


def test_a_run_replaces_the_sections_it_measured_and_keeps_the_others(tmp_path: Path) -> None:
    store, page = tmp_path / "benchmarks.json", tmp_path / "benchmarks.md"
    _page.update(_bench_run(tmp_path, "2026-12-01", {"1": "5.1 s", "2": "7,040/s"}), store, page)
    _page.update(_bench_run(tmp_path, "2026-12-07", {"2": "7,719/s"}), store, page)
    _page.update(_bench_run(tmp_path, "2026-12-07", {"2": "7,719/s"}), store, page)  # again
    text = page.read_text()
    assert "| measure of 1 | 5.1 s |" in text
    assert "| measure of 2 | 7,719/s |" in text
    assert "7,040/s" not in text
    assert text.count("| measure of 2 |") == 1
    assert text.index("Finished 2026-12-01") < text.index("Finished 2026-12-07")
