"""The docs' and the README's Python examples run against the fake, so they cannot rot.

The conventions are in tests/docs_snippets.py. The page "Using godeploy in your application"
(docs/guide/application.md) is a small project of titled files: tests/test_docs_application.py
runs it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from tests.docs_snippets import DOCS, ROOT, ServedFake, Snippet, markdown_files, run_snippet
from tests.docs_snippets import snippets as snippets_of

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


def test_a_failing_example_fails(served_fake: ServedFake, tmp_path: os.PathLike[str]) -> None:
    page = tmp_path / "page.md"  # type: ignore[operator]
    page.write_text("Text.\n\n```python\nawait client.orders.get(-5)\n```\n")
    (snippet,) = snippets_of(page)
    from godeploy import RequestValidationError

    with pytest.raises(RequestValidationError):
        run_snippet(snippet, served_fake)
