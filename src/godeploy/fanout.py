"""Bounded-concurrency fan-out: run one fetch per input, at most N at a time, lazily.

`FanOut` pulls inputs from an iterable or async iterable only when a slot is free, so memory
and the number of tasks are bounded by the concurrency, not by the number of inputs. Results
come as they complete, or in input order with `ordered=True` (through a bounded reorder
buffer). Closing it (`async with`, `aclose()`, or the end of iteration) cancels what is still in
flight and waits for it, so every connection is back in the pool when it returns.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Iterable
from types import TracebackType
from typing import Any, Generic, TypeVar

from attrs import define, field

from godeploy._exceptions import GoDeployError, RequestValidationError
from godeploy._generated.models import OrderItem
from godeploy._telemetry import FanOutScope

__all__ = ["FanOut", "OrderItemsResult"]

In = TypeVar("In")
Out = TypeVar("Out")


@define(frozen=True, kw_only=True)
class OrderItemsResult:
    """The items of one order, or why they could not be fetched.

    Attributes:
        order_id: the order, as it was given.
        items: every item of the order, from every page (empty when `error` is set).
        error: the error that remained after retries, or None.
    """

    order_id: int
    items: list[OrderItem] = field(factory=list)
    error: GoDeployError | None = None

    @property
    def ok(self) -> bool:
        """Whether the items were fetched."""
        return self.error is None


class FanOut(Generic[In, Out]):
    """Runs `work` over every input with at most `concurrency` in flight.

    Iterate it once with `async for`. Use `async with` (or `aclose()`) when you may stop early,
    so in-flight work is cancelled at once rather than when the iterator is garbage-collected.

    Args:
        inputs: an iterable or async iterable, consumed lazily.
        work: the coroutine function run per input. An exception it raises ends the fan-out
            (wrap expected failures into results instead).
        concurrency: the most inputs in flight at once.
        ordered: yield results in input order instead of completion order.
        scope: the telemetry of this fan-out (its span, opened when the iteration starts and
            closed when it ends); `work` is expected to be wrapped by it already.
    """

    def __init__(
        self,
        inputs: Iterable[In] | AsyncIterable[In],
        work: Callable[[In], Awaitable[Out]],
        *,
        concurrency: int = 16,
        ordered: bool = False,
        scope: FanOutScope | None = None,
    ) -> None:
        if isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency < 1:
            raise RequestValidationError(
                f"concurrency must be an integer >= 1, got {concurrency!r}"
            )
        self._inputs = inputs
        self._work = work
        self.concurrency = concurrency
        self.ordered = ordered
        # In order, a slow head-of-line input may hold finished results back; the buffer holds at
        # most this many, then no new input starts until the head finishes.
        self.reorder_window = 2 * concurrency
        self._iterator: AsyncIterator[Out] | None = None
        self._scope = scope

    def __aiter__(self) -> AsyncIterator[Out]:
        if self._iterator is not None:
            raise RuntimeError("a FanOut can be iterated only once")
        self._iterator = self._run()
        return self._iterator

    async def aclose(self) -> None:
        """Cancel what is in flight and wait for it; idempotent."""
        iterator = self._iterator
        if iterator is not None and hasattr(iterator, "aclose"):
            await iterator.aclose()

    async def __aenter__(self) -> FanOut[In, Out]:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def _run(self) -> AsyncIterator[Out]:
        """The fan-out loop: hand out what finished, fill free slots, sleep until woken.

        Each task reports its own completion (a done callback), so a wake-up costs the same
        whatever the concurrency; asyncio.wait would add and remove a callback on every task in
        flight each time one finishes.
        """
        scope = self._scope
        if scope is not None:
            scope.start()
        error: BaseException | None = None
        inputs = _as_async_iterator(self._inputs)
        # A reader task reads ahead (at most `concurrency` inputs) so that a slow input, such as
        # the order pager fetching its next page, never leaves the slots idle meanwhile.
        ahead: asyncio.Queue[In] = asyncio.Queue(maxsize=self.concurrency)
        alarm = _Alarm()
        completed: deque[asyncio.Future[Out]] = deque()

        def on_done(task: asyncio.Future[Out]) -> None:
            completed.append(task)
            alarm.ring()

        reader = asyncio.ensure_future(_read_into(inputs, ahead, alarm))
        reader.add_done_callback(alarm.ring)
        running: dict[asyncio.Future[Out], int] = {}
        finished: dict[int, Out] = {}
        next_index = 0
        next_to_yield = 0
        try:
            while True:
                while completed:
                    task = completed.popleft()
                    index = running.pop(task)
                    result = task.result()
                    if self.ordered:
                        finished[index] = result
                    else:
                        yield result
                while next_to_yield in finished:
                    yield finished.pop(next_to_yield)
                    next_to_yield += 1
                while self._has_room(running, finished) and not ahead.empty():
                    task = asyncio.ensure_future(self._work(ahead.get_nowait()))
                    task.add_done_callback(on_done)
                    running[task] = next_index
                    next_index += 1
                if reader.done() and ahead.empty():
                    reader.result()  # an input that failed fails the fan-out
                    if not running:
                        return
                if not completed:
                    await alarm.wait()
        except BaseException as failure:
            error = failure
            raise
        finally:
            pending: list[asyncio.Future[Any]] = [*running, reader]
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
            close = getattr(inputs, "aclose", None)
            if close is not None:
                await close()
            if scope is not None:
                scope.end(error)

    def _has_room(self, running: dict[Any, int], finished: dict[int, Any]) -> bool:
        """Whether another input may start (a free slot, and room in the reorder buffer)."""
        if len(running) >= self.concurrency:
            return False
        return not self.ordered or len(running) + len(finished) < self.reorder_window


class _Alarm:
    """Wakes the fan-out loop: a task finished, an input arrived or the input ended."""

    __slots__ = ("_waiter",)

    def __init__(self) -> None:
        self._waiter: asyncio.Future[None] | None = None

    def ring(self, _: object = None) -> None:
        """Wake the loop if it sleeps (a done callback, hence the ignored argument)."""
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def wait(self) -> None:
        """Sleep until the next ring."""
        self._waiter = asyncio.get_running_loop().create_future()
        try:
            await self._waiter
        finally:
            self._waiter = None


async def _read_into(inputs: AsyncIterator[In], ahead: asyncio.Queue[In], alarm: _Alarm) -> None:
    """Move inputs into the bounded queue (waiting while it is full); ring for each."""
    async for value in inputs:
        await ahead.put(value)
        alarm.ring()


async def _iterate(inputs: Iterable[Any]) -> AsyncIterator[Any]:
    """An async iterator over a plain iterable."""
    for value in inputs:
        yield value


def _as_async_iterator(inputs: Iterable[In] | AsyncIterable[In]) -> AsyncIterator[In]:
    """Accept either kind of iterable."""
    if isinstance(inputs, AsyncIterable):
        return aiter(inputs)
    return _iterate(inputs)
