"""Find the docs' and README's Python examples and run them against a fake (tests/test_docs*.py).

Conventions of the docs' ```python blocks:
- Every block runs. Top-level `await` is allowed (as in `python -m asyncio`); a block that uses
  `client` without binding it gets an open `GoDeployClient` on the fake.
- The environment has `GODEPLOY_TOKEN`, `GODEPLOY_BUSINESS_UNIT_ID` and `GODEPLOY_BASE_URL`
  pointing at a `FakeGoDeploy` (seed 7) served from a thread of the test.
- A block meant not to run says why on the line before its fence: `<!-- not-run: reason -->`.
- A block with a title (```python title="app.py"```) is a file of a small project; the page's
  own test (tests/test_docs_application.py) writes and runs those.
"""

from __future__ import annotations

import ast
import asyncio
import inspect
import logging
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from godeploy import GoDeployClient
from godeploy.testing import FakeGoDeploy

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"

_FENCE = re.compile(r"^```(?P<language>[a-z]+)(?P<attributes>[^\n]*)$")
_TITLE = re.compile(r'title="(?P<title>[^"]+)"')
_NOT_RUN = re.compile(r"^<!-- not-run: (?P<reason>.+) -->$")


@dataclass(frozen=True)
class Snippet:
    """One ```python block of a markdown file (or a titled block, a file of any language)."""

    path: Path
    language: str
    line: int  # of the opening fence, 1-based
    source: str
    title: str | None
    not_run: str | None  # why it does not run, when it says so

    @property
    def name(self) -> str:
        """`docs/guide/pagination.md:12`, the test id."""
        return f"{_relative(self.path)}:{self.line}"


def snippets(path: Path) -> list[Snippet]:
    """The ```python blocks of one markdown file, and its titled blocks of any language."""
    lines = path.read_text(encoding="utf-8").splitlines()
    found: list[Snippet] = []
    index = 0
    while index < len(lines):
        fence = _FENCE.match(lines[index])
        if fence is None or not (fence["language"] == "python" or "title=" in fence["attributes"]):
            index += 1
            continue
        start = index
        index += 1
        body: list[str] = []
        while index < len(lines) and lines[index] != "```":
            body.append(lines[index])
            index += 1
        if index == len(lines):
            raise ValueError(f"{path}:{start + 1}: a ```python block is never closed")
        index += 1
        previous = lines[start - 1] if start > 0 else ""
        not_run = _NOT_RUN.match(previous)
        title = _TITLE.search(fence["attributes"])
        found.append(
            Snippet(
                path=path,
                language=fence["language"],
                line=start + 1,
                source="\n".join(body) + "\n",
                title=None if title is None else title["title"],
                not_run=None if not_run is None else not_run["reason"],
            )
        )
    return found


def markdown_files() -> list[Path]:
    """The docs' pages and the README."""
    return [*sorted(DOCS.rglob("*.md")), ROOT / "README.md"]


def _uses_unbound_client(tree: ast.AST) -> bool:
    loads = binds = False
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and node.id == "client":
            if isinstance(node.ctx, ast.Load):
                loads = True
            else:
                binds = True
        elif isinstance(node, ast.arg) and node.arg == "client":
            binds = True
    return loads and not binds


def run_snippet(snippet: Snippet, fake: ServedFake) -> None:
    """Run one block in a namespace of its own (and its own event loop, when it awaits)."""
    tree = ast.parse(snippet.source, filename=snippet.name)
    code = compile(tree, snippet.name, "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
    namespace: dict[str, Any] = {"__name__": "__docs__"}
    needs_client = _uses_unbound_client(tree)
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    try:
        if not needs_client and not code.co_flags & inspect.CO_COROUTINE:
            exec(code, namespace)
            return

        async def main() -> None:
            if needs_client:
                async with GoDeployClient(
                    fake.token, fake.business_unit_id, base_url=fake.url
                ) as client:
                    namespace["client"] = client
                    await _evaluate(code, namespace)
            else:
                await _evaluate(code, namespace)

        asyncio.run(main())
    finally:
        # A block may configure logging, as an application would; the next one starts clean.
        root.handlers[:], root.level = handlers, level


async def _evaluate(code: Any, namespace: dict[str, Any]) -> None:
    result = eval(code, namespace)
    if asyncio.iscoroutine(result):
        await result


class ServedFake:
    """A `FakeGoDeploy` served by an event loop in a thread of its own, for sync callers."""

    def __init__(self, **options: Any) -> None:
        self._options = options
        self._ready = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._fake: FakeGoDeploy | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._serve, name="docs-fake", daemon=True)

    def _serve(self) -> None:
        async def serve() -> None:
            self._loop = asyncio.get_running_loop()
            self._stop = asyncio.Event()
            async with FakeGoDeploy(**self._options) as fake:
                self._fake = fake
                self._ready.set()
                await self._stop.wait()

        try:
            asyncio.run(serve())
        except BaseException as error:  # noqa: BLE001 - re-raised in the test thread by __enter__
            self._error = error
        finally:
            self._ready.set()

    def __enter__(self) -> ServedFake:
        self._thread.start()
        self._ready.wait()
        if self._fake is None:
            raise RuntimeError("the fake did not start") from self._error
        return self

    def __exit__(self, *exc_info: object) -> None:
        assert self._loop is not None and self._stop is not None
        self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join()

    @property
    def fake(self) -> FakeGoDeploy:
        """The fake (read its counters; its faults are not thread-safe to change)."""
        assert self._fake is not None
        return self._fake

    @property
    def token(self) -> str:
        """The fake's token."""
        return self.fake.token

    @property
    def business_unit_id(self) -> str:
        """The fake's business unit."""
        return str(self.fake.business_unit_id)

    @property
    def url(self) -> str:
        """The fake's base URL."""
        return str(self.fake.url)

    def environment(self) -> Iterator[tuple[str, str]]:
        """The `GODEPLOY_*` variables that point a client at the fake."""
        yield "GODEPLOY_TOKEN", self.token
        yield "GODEPLOY_BUSINESS_UNIT_ID", self.business_unit_id
        yield "GODEPLOY_BASE_URL", self.url


def _relative(path: Path) -> Path:
    return path.relative_to(ROOT) if path.is_relative_to(ROOT) else path
