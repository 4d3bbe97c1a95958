"""A virtual clock: tests see exactly how long the SDK waited, in no real time, on any machine.

`VirtualTimeLoop` is an asyncio event loop whose clock (`loop.time()`) starts at 0 and moves only
when the loop has nothing left to run but its next timer: it then jumps to that timer at once.
Every wait of the SDK is a timer on the loop's clock (a retry's backoff, the 429 pause and a
rate-limit slot go through `loop.call_later`, deadlines through `loop.time()` and
`asyncio.timeout_at`), and `clocked_client` gives the pacing (`LocalLimits`) the same clock. So a
test asserts "the next request left no sooner than Retry-After" on the loop's clock: exact, and
the same on a loaded machine as on a quiet one.

Only for tests without real I/O (`godeploy.MockTransport`): an answer still on its way from a
socket or a thread would be overtaken by the jump. Tests take it with `@virtual_time`::

    @virtual_time
    async def test_retry_after_is_honoured():
        api = ClockedAPI()
        ...
"""

from __future__ import annotations

import asyncio
import functools
import json
import selectors
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from typing import Any

from attrs import define

from godeploy import (
    GoDeployClient,
    LocalLimits,
    MockTransport,
    TransportRequest,
    TransportResponse,
)
from tests._support import FAST_RETRIES
from tests._support.reference_examples import REFERENCE_EXAMPLES

__all__ = [
    "BASE_URL",
    "EPSILON",
    "ORDER_ID",
    "PRODUCT_ID",
    "ClockedAPI",
    "Sent",
    "VirtualTimeLoop",
    "clocked_client",
    "status",
    "virtual_time",
]

BASE_URL = "https://api.example.invalid/"
UNIT = "8d5a7c1e-1f0e-4a36-9d07-2b7f4c1d9e01"
JSON = {"Content-Type": "application/json"}

_BODIES = {e.operation_id: e.text.encode() for e in REFERENCE_EXAMPLES if e.kind == "Response"}
ORDER_ID: int = json.loads(_BODIES["getOrder"])["id"]
PRODUCT_ID: str = json.loads(_BODIES["getProduct"])["id"]

EPSILON = 1e-9
"""How far apart two sums of the same waits on the virtual clock may be (float rounding, not
timing: the clock moves by exactly what the loop's timers say)."""

_IDLE_GUARD = 30.0
"""Real seconds the loop may wait for I/O with no timer pending before it calls it a deadlock."""


class _JumpingSelector(selectors.BaseSelector):
    """The platform's selector, except that waiting for a timer moves the virtual clock instead."""

    def __init__(self, loop: VirtualTimeLoop) -> None:
        self._inner = selectors.DefaultSelector()
        self._loop = loop

    def register(self, fileobj: Any, events: int, data: Any = None) -> selectors.SelectorKey:
        return self._inner.register(fileobj, events, data)

    def unregister(self, fileobj: Any) -> selectors.SelectorKey:
        return self._inner.unregister(fileobj)

    def modify(self, fileobj: Any, events: int, data: Any = None) -> selectors.SelectorKey:
        return self._inner.modify(fileobj, events, data)

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        ready = self._inner.select(0)
        if ready or (timeout is not None and timeout <= 0):
            return ready
        if timeout is None:
            # No timer at all: only a thread or a socket could wake the loop (the loop's own
            # wake-up pair is registered here too). In-memory tests never get there.
            ready = self._inner.select(_IDLE_GUARD)
            if not ready:
                raise RuntimeError("VirtualTimeLoop: nothing to run, no timer, no I/O: deadlock")
            return ready
        # Nothing to do until the next timer: it is due now.
        self._loop.advance(timeout)
        return []

    def get_map(self) -> Mapping[Any, selectors.SelectorKey]:
        return self._inner.get_map()

    def close(self) -> None:
        self._inner.close()


class VirtualTimeLoop(asyncio.SelectorEventLoop):
    """An event loop on a virtual clock that jumps to the next timer whenever the loop is idle."""

    def __init__(self) -> None:
        self._now = 0.0
        super().__init__(_JumpingSelector(self))

    def time(self) -> float:
        """The virtual clock: seconds the loop has waited since it was made."""
        return self._now

    def advance(self, seconds: float) -> None:
        """Move the clock on (the selector does, when the loop would sleep)."""
        self._now += seconds


def virtual_time(test: Callable[..., Coroutine[Any, Any, None]]) -> Callable[..., None]:
    """Run an async test on a fresh `VirtualTimeLoop` (to pytest it is a plain test)."""

    @functools.wraps(test)
    def run(*args: Any, **kwargs: Any) -> None:
        with asyncio.Runner(loop_factory=VirtualTimeLoop) as runner:
            runner.run(test(*args, **kwargs))

    return run


@define(frozen=True)
class Sent:
    """One request as the transport got it: when (on the loop's clock), where, the answer."""

    at: float
    path: str
    status: int


class ClockedAPI:
    """A `MockTransport` handler acting the API in memory, noting when each request arrived.

    A GET of an order, a product or an order's items gets the reference's example body, unless
    `answer()` queued something else for that operation first.

    Args:
        latency: seconds (on the loop's clock) each answer takes, so that several requests can
            be in flight at once; 0: answered at once, before the caller's task yields.
    """

    def __init__(self, *, latency: float = 0.0) -> None:
        self.sent: list[Sent] = []
        self.latency = latency
        self._queued: dict[str, list[TransportResponse]] = {}

    def answer(self, operation: str, *responses: TransportResponse) -> None:
        """Answer the next requests of `operation` (`getOrder`, ...) with `responses`, in turn."""
        self._queued.setdefault(operation, []).extend(responses)

    def count(self, operation: str | None = None) -> int:
        """Requests of `operation` received (None: all)."""
        return len(self.times(operation))

    def times(self, operation: str | None = None) -> list[float]:
        """When the requests of `operation` (None: all) arrived, on the loop's clock."""
        return [s.at for s in self.sent if operation is None or _operation(s.path) == operation]

    def __call__(
        self, request: TransportRequest
    ) -> TransportResponse | Awaitable[TransportResponse]:
        operation = _operation(request.url.path)
        queued = self._queued.get(operation)
        if queued:
            response = queued.pop(0)
        else:
            response = TransportResponse(status=200, headers=JSON, body=_BODIES[operation])
        now = asyncio.get_running_loop().time()
        self.sent.append(Sent(now, request.url.path, response.status))
        return self._later(response) if self.latency else response

    async def _later(self, response: TransportResponse) -> TransportResponse:
        await asyncio.sleep(self.latency)
        return response


def _operation(path: str) -> str:
    """The operation of a path the SDK sends (the three GETs these tests make)."""
    if path.endswith("/items"):
        return "listOrderItems"
    if "/products/" in path:
        return "getProduct"
    if "/orders/" in path:
        return "getOrder"
    raise AssertionError(f"ClockedAPI does not serve {path}")


def status(code: int, **headers: str) -> TransportResponse:
    """An error answer with `headers` (`status(429, **{"Retry-After": "1"})`)."""
    return TransportResponse(status=code, headers={**JSON, **headers}, body=b'{"title": "no"}')


def clocked_client(api: ClockedAPI, **options: Any) -> GoDeployClient:
    """A client of `api` whose pacing reads the running loop's clock; fast retries by default.

    `max_requests_per_second=` and `burst=` go to its `LocalLimits`.
    """
    limits = LocalLimits(
        max_requests_per_second=options.pop("max_requests_per_second", None),
        burst=options.pop("burst", None),
        clock=asyncio.get_running_loop().time,
    )
    options.setdefault("retry_policy", FAST_RETRIES)
    return GoDeployClient(
        "a-token", UNIT, base_url=BASE_URL, transport=MockTransport(api), limits=limits, **options
    )
