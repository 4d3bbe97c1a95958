"""`Fleet`: submit a fan-out of order items to arq workers, read its results, report, cancel."""

from __future__ import annotations

import contextlib
import uuid
import weakref
from collections import deque
from collections.abc import AsyncGenerator, AsyncIterable, Iterable
from datetime import timedelta
from typing import Any, Final, Self

from arq.connections import ArqRedis
from arq.constants import in_progress_key_prefix, job_key_prefix
from attrs import define
from redis.exceptions import RedisError

from godeploy._config import check_option, integer_at_least, word
from godeploy._exceptions import ClientClosedError, RequestValidationError
from godeploy._generated.models import Order
from godeploy._lifecycle import AsyncClosing
from godeploy._otel import trace_headers
from godeploy.fleet._limits import NAMESPACE, RUN_ID, redact_url
from godeploy.fleet._scripts import Scripts
from godeploy.fleet._store import (
    JOB_FUNCTION,
    RunKeys,
    chunk_digest,
    decode_result,
    job_id,
)
from godeploy.fleet._worker import connect, default_queue_name
from godeploy.resources.order_items import OrderItemsResult

__all__ = ["Fleet", "FleetReport", "FleetResults", "FleetRun"]

_READ_BATCH: Final = 100
"""Results taken from Redis per round trip."""
_IDLE_WAIT: Final = 0.5
"""Seconds a reader blocks for the next result before it checks whether the run is over."""


@define(frozen=True, kw_only=True)
class FleetRun:
    """A submitted run.

    Attributes:
        id: the run's id (pass it to `submit(..., run_id=...)` to resubmit the same run).
        total: the orders submitted.
        chunks: the chunks they were cut into.
        enqueued: the chunks this submit put in the queue (0 for a resubmit of a run whose
            chunks are all queued, running or finished).
    """

    id: str
    total: int
    chunks: int
    enqueued: int


@define(frozen=True, kw_only=True)
class FleetReport:
    """Where a run stands. `total == succeeded + failed + missing + in_flight`.

    Attributes:
        total: the orders submitted (so far, while the submit still reads them).
        succeeded: orders recorded with their items.
        failed: orders recorded with an error (after the client's retries).
        duplicates_suppressed: results of orders already recorded (a chunk run again after a
            crash, or run twice at once), dropped.
        missing: orders of chunks that ended without recording them (cancelled, or given up
            by arq after `max_tries`).
        in_flight: orders of chunks still queued or running.
        skipped_on_rerun: orders a chunk run again did not fetch again, because an earlier
            run of it had recorded them.
        cancelled: whether the run was cancelled.
    """

    total: int
    succeeded: int
    failed: int
    duplicates_suppressed: int
    missing: int
    in_flight: int
    skipped_on_rerun: int = 0
    cancelled: bool = False

    @property
    def finished(self) -> bool:
        """Whether no order is in flight any more."""
        return self.in_flight == 0


class Fleet(AsyncClosing):
    """Fan out the order items of many orders over arq workers on other processes or machines.

    Workers (`godeploy fleet worker`, or `FleetWorker` in your own arq app) share the Redis and
    the namespace. Use it as an async context manager::

        async with Fleet("redis://localhost:6379/0") as fleet:
            run = await fleet.submit(client.orders.list(page_size=100), chunk_size=100)
            async for result in fleet.results(run):
                ...

    Args:
        redis_url: `redis://[:password@]host:port/db`, `rediss://...` or `unix:///path`.
            The password never appears in a repr, log line or error of the fleet.
        namespace: keeps this fleet's runs and queue apart from others on the same Redis
            (1-100 characters without ':' or spaces, the same rule as `FleetLimits`).
        queue_name: the arq queue to enqueue to; `<namespace>:queue` by default (the one
            `godeploy fleet worker` reads).
    """

    def __init__(
        self, redis_url: str, *, namespace: str = "godeploy", queue_name: str | None = None
    ) -> None:
        check_option("namespace", namespace, NAMESPACE)
        if queue_name is not None:
            check_option("queue_name", queue_name, _QUEUE_NAME)
        self._url = redis_url
        self.namespace = namespace
        self.queue_name = queue_name or default_queue_name(namespace)
        self._redis: ArqRedis | None = None
        self._scripts: Scripts | None = None
        self._closed = False
        # Readers not closed yet: aclose() acknowledges what they handed out first.
        self._readers: weakref.WeakSet[FleetResults] = weakref.WeakSet()

    def __repr__(self) -> str:
        state = "open" if self._redis is not None else "closed"
        return f"<Fleet {state} {redact_url(self._url)} namespace={self.namespace!r}>"

    async def __aenter__(self) -> Self:
        await self.open()
        return self

    async def open(self) -> None:
        """Connect to Redis (and check it answers).

        Raises:
            ClientClosedError: the fleet was closed (a closed fleet stays closed).
        """
        if self._closed:
            raise ClientClosedError("the Fleet is closed")
        if self._redis is None:
            redis = connect(self._url, queue_name=self.queue_name)
            try:
                await redis.ping()
            except BaseException:
                await redis.aclose(close_connection_pool=True)
                raise
            self._redis = redis
            self._scripts = Scripts(redis)

    async def aclose(self) -> None:
        """Close the open `results()` readers, then the connections; idempotent."""
        self._closed = True
        for reader in list(self._readers):
            await reader.aclose()
        redis, self._redis = self._redis, None
        if redis is not None:
            await redis.aclose(close_connection_pool=True)

    @property
    def redis(self) -> ArqRedis:
        """The Redis client (arq's), while open.

        Raises:
            ClientClosedError: the fleet is not open, or closed.
        """
        if self._redis is None:
            state = "closed" if self._closed else "not open: use `async with Fleet(...)`"
            raise ClientClosedError(f"the Fleet is {state}")
        return self._redis

    @property
    def scripts(self) -> Scripts:
        """The fleet's Lua scripts, registered on its Redis client."""
        self.redis  # noqa: B018 - raises when not open
        assert self._scripts is not None
        return self._scripts

    async def submit(
        self,
        orders: Iterable[int | Order] | AsyncIterable[int | Order],
        *,
        chunk_size: int = 100,
        run_id: str | None = None,
        max_unread: int = 1000,
        ttl: timedelta = timedelta(days=1),
    ) -> FleetRun:
        """Cut the orders into chunks and enqueue one job per chunk, as they are read.

        Orders are read lazily (from a pager too): workers start on the first chunk while
        the rest are still being read. A chunk's job id is the run id and the chunk's index,
        so submitting the same run again (same `run_id`, same orders) enqueues nothing that is
        queued, running or finished; it enqueues only chunks that arq gave up on.

        Args:
            orders: order ids or `Order` models, from an iterable or an async iterable.
            chunk_size: orders per job (arq runs about 500 jobs/s: keep it in the 50-200s).
            run_id: the run's id; a new random one by default. Pass your own (a date, a
                batch name) to make a resubmit after a crash idempotent.
            max_unread: workers pause while the run holds this many unread results.
            ttl: how long the run's state stays in Redis after this submit.

        Returns:
            The run.

        If reading the orders fails, the error says (in a note) which run it was: the chunks
        enqueued so far go on, and submitting the same orders with that `run_id` enqueues the
        rest. The run's results end only once a submit of it has finished.

        Raises:
            RequestValidationError: a bad argument, or a resubmit of `run_id` whose chunk
                size or orders differ from the first submit.
        """
        check_option("chunk_size", chunk_size, integer_at_least(1))
        check_option("max_unread", max_unread, integer_at_least(1))
        run_id = uuid.uuid4().hex if run_id is None else check_option("run_id", run_id, RUN_ID)
        if not isinstance(ttl, timedelta) or ttl < timedelta(seconds=1):
            raise RequestValidationError(
                f"ttl must be a timedelta of at least one second, got {ttl!r}",
                {"ttl": ["a timedelta >= 1 s"]},
            )
        keys = RunKeys(self.namespace, run_id)
        redis: Any = self.redis  # redis-py's asyncio stubs: see _scripts.Scripts
        stride = (chunk_size + 7) // 8 * 8
        ttl_ms = int(ttl.total_seconds() * 1000)
        stored = await self.scripts.open_run(keys.all(), chunk_size, stride, max_unread, ttl_ms)
        if int(stored) != chunk_size:
            raise RequestValidationError(
                f"run {run_id} was submitted with chunk_size={stored}, not {chunk_size}"
            )
        total = chunks = enqueued = 0
        batch: list[int] = []
        # The submitter's trace context rides along in each job: workers continue its trace.
        trace = trace_headers() or None
        try:
            async with contextlib.aclosing(_each(orders)) as each:
                async for order in each:
                    batch.append(_order_id(order))
                    total += 1
                    if len(batch) == chunk_size:
                        enqueued += await self._enqueue(keys, chunks, batch, trace)
                        chunks += 1
                        batch = []
            if batch:
                enqueued += await self._enqueue(keys, chunks, batch, trace)
                chunks += 1
        except Exception as error:
            error.add_note(
                f"fleet run {run_id}: {chunks} chunks were enqueued and go on; submit the same "
                f"orders with run_id={run_id!r} to enqueue the rest"
            )
            raise
        known = await redis.hmget(keys.meta, ["submitted", "total"])
        if known[0] is not None and int(known[0]) and int(known[1]) != total:
            raise RequestValidationError(
                f"run {run_id} was submitted with {int(known[1])} orders, not {total}"
            )
        await redis.hset(keys.meta, mapping={"total": total, "chunks": chunks, "submitted": 1})
        return FleetRun(id=run_id, total=total, chunks=chunks, enqueued=enqueued)

    async def _enqueue(
        self, keys: RunKeys, chunk: int, order_ids: list[int], trace: dict[str, str] | None
    ) -> int:
        """Enqueue one chunk unless it is finished or already queued; 1 if enqueued."""
        redis: Any = self.redis  # redis-py's asyncio stubs: see _scripts.Scripts
        plan = await self.scripts.plan_chunk(
            [keys.meta, keys.digests, keys.done], chunk, chunk_digest(order_ids)
        )
        if int(plan) < 0:
            raise RequestValidationError(
                f"run {keys.run_id}: chunk {chunk} holds other orders than when first submitted"
            )
        job = None
        if int(plan) == 1:
            job = await redis.enqueue_job(
                JOB_FUNCTION,
                keys.namespace,
                keys.run_id,
                chunk,
                order_ids,
                **({} if trace is None else {"trace": trace}),
                _job_id=job_id(keys, chunk),
                _queue_name=self.queue_name,
            )
        # Counted once queued, so that a report never takes it for a chunk that ended.
        await redis.hset(keys.meta, "chunks", chunk + 1)
        return 0 if job is None else 1

    def results(self, run: FleetRun | str) -> FleetResults:
        """One `OrderItemsResult` per recorded order, as workers finish them, each once.

        A result leaves Redis once it is read, so each is yielded to one reader only. Results
        are taken a batch at a time into the run's `reading` list and acknowledged (dropped
        from it) once handed out: a reader that dies (or loses Redis) mid-batch loses nothing,
        and the next reader gets that batch's unacknowledged results first (so after a crash,
        at most one batch, 100 results, may come twice). Iteration ends once every chunk is
        finished, cancelled or given up; `report()` then says how many orders are `missing`.

        Close the reader when you stop early: `async with fleet.results(run) as results:`
        (or `contextlib.aclosing`) acknowledges what it handed out before the block exits,
        an exception included. `Fleet.aclose()` closes the readers it still has.

        Args:
            run: the run, or its id.

        Returns:
            An async iterator of each order's result, in the order workers recorded them.

        Raises:
            RequestValidationError: a bad run id; or, while iterating, no such run in this
                namespace (or it expired).
        """
        reader = FleetResults(self, RunKeys(self.namespace, _run_id_of(run)))
        self._readers.add(reader)
        return reader

    async def report(self, run: FleetRun | str) -> FleetReport:
        """Where the run stands: recorded, failed, duplicates, missing, in flight.

        Raises:
            RequestValidationError: no such run in this namespace (or it expired).
        """
        run_id = _run_id_of(run)
        state = await self._report(RunKeys(self.namespace, run_id))
        if state is None:
            raise RequestValidationError(f"no run {run_id!r} in namespace {self.namespace!r}")
        return state[2]

    async def _report(self, keys: RunKeys) -> tuple[bool, bool, FleetReport] | None:
        """(submitted, settled, report), or None when the run does not exist."""
        state = await self.scripts.settle(
            [keys.meta, keys.recorded, keys.done, self.queue_name], keys.job_prefix
        )
        values = [int(value) for value in state]
        exists, total, submitted, cancelled, succeeded, failed, duplicates, skipped = values[:8]
        unsettled, missing = values[8:]
        if not exists:
            return None
        in_flight = max(0, total - succeeded - failed - missing)
        settled = unsettled == 0
        if settled and submitted:
            missing, in_flight = missing + in_flight, 0
        report = FleetReport(
            total=total,
            succeeded=succeeded,
            failed=failed,
            duplicates_suppressed=duplicates,
            missing=missing,
            in_flight=in_flight,
            skipped_on_rerun=skipped,
            cancelled=bool(cancelled),
        )
        return bool(submitted), settled, report

    async def cancel(self, run: FleetRun | str) -> int:
        """Cancel a run: queued chunks leave the queue, running ones stop within a second.

        Results recorded before the cancel stay readable.

        Returns:
            How many queued chunks were taken out of the queue.

        Raises:
            RequestValidationError: no such run in this namespace (or it expired).
        """
        run_id = _run_id_of(run)
        keys = RunKeys(self.namespace, run_id)
        removed = await self.scripts.cancel(
            [keys.meta, keys.done, self.queue_name],
            keys.job_prefix,
            in_progress_key_prefix,
            job_key_prefix,
        )
        if int(removed) < 0:
            raise RequestValidationError(f"no run {run_id!r} in namespace {self.namespace!r}")
        return int(removed)


_QUEUE_NAME: Final = word(200, forbidden="")
"""A queue name: arq's own (`arq:queue`) has a ':', so only spaces are refused."""


def _run_id_of(run: FleetRun | str) -> str:
    return run.id if isinstance(run, FleetRun) else check_option("run", run, RUN_ID)


def _order_id(order: int | Order) -> int:
    """The id of an order given as an id or a model; a bad one is refused before enqueueing."""
    order_id = order.id if isinstance(order, Order) else order
    if isinstance(order_id, bool) or not isinstance(order_id, int) or order_id < 1:
        raise RequestValidationError(
            f"an order must be an id >= 1 or an Order, got {order!r}",
            {"orders": ["ids >= 1 or Orders"]},
        )
    return order_id


async def _each(orders: Iterable[Any] | AsyncIterable[Any]) -> AsyncGenerator[Any]:
    """Either kind of iterable, read lazily."""
    if isinstance(orders, AsyncIterable):
        async for order in orders:
            yield order
    else:
        for order in orders:
            yield order


class FleetResults(AsyncClosing):
    """The results of one run as they are recorded: what `Fleet.results()` returns.

    An async iterator that owns a reader's place in Redis. `aclose()` (or leaving
    `async with`) acknowledges the results it handed out, so they are not handed out again,
    and leaves the rest for the next reader; it is idempotent, and iteration ends after it.
    """

    def __init__(self, fleet: Fleet, keys: RunKeys) -> None:
        self._fleet = fleet
        self._keys = keys
        self._pending: deque[bytes] = deque()
        self._handed = 0
        """Results handed out from the run's `reading` list and not acknowledged yet."""
        self._closed = False

    def __repr__(self) -> str:
        state = "closed" if self._closed else "open"
        return f"<FleetResults {state} run={self._keys.run_id!r}>"

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> OrderItemsResult:
        keys, fleet = self._keys, self._fleet
        while not self._closed:
            if self._pending:
                body = self._pending.popleft()
                self._handed += 1
                return decode_result(body)
            redis: Any = fleet.redis  # redis-py's asyncio stubs: see _scripts.Scripts
            if self._handed:
                # Every result taken was handed out: acknowledge them.
                await redis.delete(keys.reading)
                self._handed = 0
            batch = await fleet.scripts.take([keys.results, keys.reading, keys.meta], _READ_BATCH)
            if batch:
                self._pending.extend(batch)
                continue
            report = await fleet._report(keys)
            if report is None:
                raise RequestValidationError(
                    f"no run {keys.run_id!r} in namespace {keys.namespace!r}",
                    {"run": ["a run of this namespace"]},
                )
            if report[0] and report[1]:
                # Settled: drain what the last chunks recorded meanwhile, then stop.
                if await redis.llen(keys.results):
                    continue
                self._closed = True
                break
            # Sleep until a result arrives (or a while passes), moving it safely.
            moved = await redis.blmove(keys.results, keys.reading, _IDLE_WAIT)
            if moved is not None:
                self._pending.append(moved)
        raise StopAsyncIteration

    async def aclose(self) -> None:
        """Acknowledge the results handed out (the rest stay for the next reader); idempotent."""
        self._closed = True
        handed, self._handed = self._handed, 0
        self._pending.clear()
        self._fleet._readers.discard(self)
        redis: Any = self._fleet._redis  # redis-py's asyncio stubs: see _scripts.Scripts
        if handed and redis is not None:
            with contextlib.suppress(RedisError, OSError):
                await redis.ltrim(self._keys.reading, handed, -1)
