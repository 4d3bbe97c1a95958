"""Helpers of the reliability suite: clients, a fake on its own thread, leak checks, figures.

Imported as `from tests._support.reliability import ...`. The clients of the fake
and the connection check are the suite-wide ones of `tests._support`, re-exported here.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import logging
import re
import threading
import warnings
from collections.abc import Awaitable, Callable, Iterator
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from aiohttp import web
from yarl import URL

from godeploy.testing import FakeGoDeploy

# Re-exported (for modules that import them from here): defined once, in tests._support.
from tests._support import FAST_RETRIES as FAST_RETRIES
from tests._support import acquired_connections as acquired_connections
from tests._support import make_client as make_client

T = TypeVar("T")

ROOT = Path(__file__).resolve().parents[2]
FIGURES_PATH = ROOT / "build" / "reliability.json"

JWT = re.compile(r"eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}")
"""Any JWT (the fake's tokens are JWTs): none may show up where the token must not."""


def other_tasks() -> list[asyncio.Task[Any]]:
    """The tasks of the running loop that are not done, except the current one."""
    current = asyncio.current_task()
    return [task for task in asyncio.all_tasks() if task is not current and not task.done()]


def sdk_tasks() -> list[asyncio.Task[Any]]:
    """Pending tasks that are not the in-process fake's server handlers (same-loop fakes)."""
    return [
        task
        for task in other_tasks()
        if not getattr(task.get_coro(), "__qualname__", "").startswith("RequestHandler.")
    ]


BEARER = re.compile(r"Bearer\s+(?!\*\*\*)(?!(?:realm|scope|error)\b)\S")
"""A bearer credential that is not masked (`Bearer ***` is how the fake masks it). A server's
challenge (`WWW-Authenticate: Bearer error="invalid_token"`, kept in an error's response
headers) is not a credential."""


def leaks_in(texts: Iterator[str] | list[str], secrets: set[str]) -> list[str]:
    """The texts that contain a secret or anything shaped like a JWT or a bearer credential."""
    return [
        text
        for text in texts
        if JWT.search(text) or BEARER.search(text) or any(s in text for s in secrets if s)
    ]


def exception_texts(error: BaseException) -> list[str]:
    """str and repr of an error, its args and attributes, and of every error it chains to."""
    texts: list[str] = []
    seen: set[int] = set()
    pending: list[BaseException | None] = [error]
    while pending:
        current = pending.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        texts += [str(current), repr(current), repr(current.args)]
        texts += [repr(value) for value in vars(current).values()]
        texts += [str(note) for note in getattr(current, "__notes__", [])]
        pending += [current.__cause__, current.__context__]
        if isinstance(current, BaseExceptionGroup):
            pending += list(current.exceptions)
    return texts


class TokenGuard(logging.Handler):
    """A handler that checks every record for secrets; `leaks` keeps the offending lines."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.secrets: set[str] = set()
        self.checked = 0
        self.leaks: list[str] = []
        self._formatter = logging.Formatter("%(name)s %(levelname)s %(message)s")
        self._lock_secrets = threading.Lock()

    def add_secret(self, secret: str) -> None:
        with self._lock_secrets:
            self.secrets.add(secret)

    def emit(self, record: logging.LogRecord) -> None:
        with self._lock_secrets:
            secrets = set(self.secrets)
        text = self._formatter.format(record)
        self.checked += 1
        if leaks_in([text, repr(record.args), repr(record.msg)], secrets):
            self.leaks.append(text)


class ThreadedFake:
    """A FakeGoDeploy serving from its own thread and event loop.

    Tests that run their own event loops (hypothesis examples under `asyncio.run`) share one
    fake this way, and the test's loop holds only the SDK's tasks, so "no task left pending"
    can be checked exactly. Read the fake's counters through `run` (on the fake's thread):
    its handlers write them while requests are in flight.
    """

    def __init__(self, **options: Any) -> None:
        self._options = options
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="threaded-fake", daemon=True
        )
        self.fake = FakeGoDeploy(**options)

    def __enter__(self) -> ThreadedFake:
        self._thread.start()
        self.call(self.fake.start())
        return self

    def __exit__(self, *exc_info: object) -> None:
        try:
            self.call(self.fake.aclose())
            self.call(self._loop.shutdown_asyncgens())
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(30)
            self._loop.close()

    def call(self, coroutine: Awaitable[T], timeout: float = 60) -> T:
        """Run a coroutine on the fake's loop and wait for its result."""
        future = asyncio.run_coroutine_threadsafe(coroutine, self._loop)  # type: ignore[arg-type]
        return future.result(timeout)

    def run(self, function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Call a plain function on the fake's thread (between its handlers) and return."""
        future: Future[T] = Future()

        def invoke() -> None:
            try:
                future.set_result(function(*args, **kwargs))
            except BaseException as error:  # noqa: BLE001 - handed to the caller
                future.set_exception(error)

        self._loop.call_soon_threadsafe(invoke)
        return future.result(30)

    def settle(self) -> None:
        """Let the fake's loop finish what the client's going away set off."""
        self.call(asyncio.sleep(0.02))

    def count(self, route: str | None = None, *, status: int | None = None) -> int:
        """`fake.count`, read on the fake's thread."""
        return self.run(self.fake.count, route, status=status)


@dataclass
class CannedResponse:
    """What `BodyServer` answers every request with."""

    status: int = 200
    body: bytes = b"{}"
    headers: dict[str, str] = field(default_factory=lambda: {"Content-Type": "application/json"})


class BodyServer:
    """A tiny aiohttp server on loopback, on its own thread, that answers every request (any
    method, any path) with `response`. Tests set `response` between requests."""

    def __init__(self) -> None:
        self.response = CannedResponse()
        self.hits = 0
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="body-server", daemon=True
        )
        self._runner: web.AppRunner | None = None
        self.url = URL()

    async def _handle(self, request: web.Request) -> web.Response:
        await request.read()
        self.hits += 1
        response = self.response
        return web.Response(status=response.status, body=response.body, headers=response.headers)

    async def _start(self) -> None:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        host, port = self._runner.addresses[0][:2]
        self.url = URL.build(scheme="http", host=host, port=port)

    def __enter__(self) -> BodyServer:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(30)
        return self

    def __exit__(self, *exc_info: object) -> None:
        try:
            if self._runner is not None:
                runner = self._runner
                asyncio.run_coroutine_threadsafe(runner.cleanup(), self._loop).result(30)
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(30)
            self._loop.close()


class LoopAudit:
    """Runs a coroutine in a fresh event loop and collects what it leaves behind.

    Afterwards `warnings` holds every ResourceWarning / RuntimeWarning raised during the run
    and the garbage collection after it (unclosed sessions, transports, never-awaited
    coroutines), and `loop_errors` every error the loop logged ("Task was destroyed but it is
    pending", "Unclosed client session").
    """

    def __init__(self) -> None:
        self.warnings: list[str] = []
        self.loop_errors: list[str] = []

    def run(self, coroutine: Awaitable[T]) -> T:
        handler = _ListHandler()
        asyncio_logger = logging.getLogger("asyncio")
        asyncio_logger.addHandler(handler)
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                try:
                    return asyncio.run(coroutine)  # type: ignore[arg-type]
                finally:
                    gc.collect()
                    self.warnings += [
                        f"{w.category.__name__}: {w.message}"
                        for w in caught
                        if issubclass(w.category, (ResourceWarning, RuntimeWarning))
                    ]
        finally:
            asyncio_logger.removeHandler(handler)
            self.loop_errors += [
                record.getMessage() for record in handler.records if record.levelno >= 40
            ]


class _ListHandler(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@contextlib.contextmanager
def only_handler(logger_name: str, keep: logging.Handler) -> Iterator[None]:
    """Detach every handler of a logger but `keep` for a while (pytest's log capture keeps
    every record in memory, which a soak must not measure as its own)."""
    logger = logging.getLogger(logger_name)
    others = [handler for handler in logger.handlers if handler is not keep]
    for handler in others:
        logger.removeHandler(handler)
    try:
        yield
    finally:
        for handler in others:
            logger.addHandler(handler)


def record_figures(section: str, figures: dict[str, Any]) -> None:
    """Merge one section of figures into build/reliability.json and print them (`-s`)."""
    FIGURES_PATH.parent.mkdir(parents=True, exist_ok=True)
    data: dict[str, Any] = {}
    with contextlib.suppress(FileNotFoundError, ValueError):
        data = json.loads(FIGURES_PATH.read_text())
    data[section] = figures
    FIGURES_PATH.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    print(f"\n[reliability] {section}: {json.dumps(figures, sort_keys=True)}")
