"""`FleetWorker`: godeploy's arq job (fetch one chunk's order items), its client and settings.

Run it on its own (`godeploy fleet worker`, or `await FleetWorker(...).run(redis_url)`), or put
its function and hooks into the `WorkerSettings` of an arq app you already have::

    fleet = FleetWorker(lambda: GoDeployClient(token, unit), concurrency=8)

    class WorkerSettings:
        functions = [your_job, fleet.function]
        on_startup = fleet.startup        # or await it from your own on_startup
        on_shutdown = fleet.shutdown
        job_serializer = job_serializer   # JSON, from godeploy.fleet: never pickle
        job_deserializer = job_deserializer

and submit with `Fleet(redis_url, queue_name="arq:queue")`, your worker's queue.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import defaultdict, deque
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, Final

from arq.connections import ArqRedis
from arq.constants import retry_key_prefix
from arq.worker import Function, Retry, Worker, func
from redis.asyncio import ConnectionPool
from redis.exceptions import RedisError

from godeploy._client import GoDeployClient
from godeploy._config import check_option, integer_at_least, is_callable, number_in
from godeploy._exceptions import ClientClosedError
from godeploy.fleet import _json
from godeploy.fleet._scripts import Scripts
from godeploy.fleet._store import JOB_FUNCTION, RunKeys, encode_result
from godeploy.fleet._trace import chunk_span
from godeploy.resources.order_items import OrderItemsResult

__all__ = ["FleetWorker", "ResultHook", "connect", "default_queue_name"]

logger = logging.getLogger("godeploy.fleet")

ResultHook = Callable[[OrderItemsResult], Awaitable[None]]
"""Runs in the worker for each result before it is recorded (store the items where they go)."""

_PAUSE_POLL: Final = 0.1
"""Seconds between a paused job's looks at its run's unread results."""
_PAUSED_RETRY: Final = 0.5
"""Seconds before a paused chunk (too many unread results) is tried again."""
MAX_JOBS: Final = 2
"""Chunks one worker runs at once: the next starts while the last orders of one finish.
All of them share the worker's `concurrency`."""
_REDIS_RETRY: Final = 1.0
"""Seconds between a worker's attempts to reach a Redis that went away."""
POLL_DELAY: Final = 0.05
"""Seconds between arq's looks at the queue (its default 0.5 s would idle between chunks)."""


def default_queue_name(namespace: str) -> str:
    """The arq queue of a namespace: godeploy's jobs stay out of an app's default queue."""
    return f"{namespace}:queue"


def connect(redis_url: str, *, queue_name: str) -> ArqRedis:
    """An arq Redis client with JSON serialisation (redis-py parses the URL and its password)."""
    pool = ConnectionPool.from_url(redis_url)
    return ArqRedis(
        pool,
        job_serializer=_json.job_serializer,
        job_deserializer=_json.job_deserializer,
        default_queue_name=queue_name,
    )


class FleetWorker:
    """godeploy's arq job function, with the one client its jobs share.

    A job fetches the items of one chunk of orders with the client's bounded fan-out and
    records each order once (first writer wins: a chunk run again after a crash skips what
    was recorded, and a duplicate is counted, never kept). It stops taking orders when the
    run is cancelled, waits while the run holds `max_unread` unread results, and hands the
    chunk back to the queue (arq's `Retry`) before `job_timeout` runs out.

    Args:
        client: makes the `GoDeployClient` at startup; the worker owns it and closes it at
            shutdown. The token stays in this process: jobs carry only order ids.
        concurrency: the most orders in flight in this worker, over all its chunks.
        on_result: runs for each result before it is recorded. With it, only the status
            goes through Redis (results read by `Fleet.results` have no items). It may run
            again for an order whose worker died before recording it: make it idempotent.
            If it raises, the chunk is tried again (arq's `max_tries`).
        job_timeout: seconds a chunk may run. arq gives a chunk whose worker died to
            another worker `job_timeout` + 10 s after it started, so it also bounds how long
            a crash holds orders up.
        max_tries: runs of a chunk, crashes included, before arq gives it up (its missing
            orders are then reported as `missing`).
        page_size: items per page of each order's listing.
    """

    def __init__(
        self,
        client: Callable[[], GoDeployClient],
        *,
        concurrency: int = 16,
        on_result: ResultHook | None = None,
        job_timeout: float = 20.0,
        max_tries: int = 5,
        page_size: int = 100,
    ) -> None:
        check_option("client", client, is_callable)
        check_option("concurrency", concurrency, integer_at_least(1))
        if on_result is not None:
            check_option("on_result", on_result, is_callable)
        # Half of it is the soft deadline of a chunk's orders: at least a second of work.
        check_option("job_timeout", job_timeout, number_in(2))
        check_option("max_tries", max_tries, integer_at_least(1))
        check_option("page_size", page_size, integer_at_least(1))
        self._make_client = client
        self.concurrency = concurrency
        self.on_result = on_result
        self.job_timeout = float(job_timeout)
        self.max_tries = max_tries
        self.page_size = page_size
        self._client: GoDeployClient | None = None
        self._slots: asyncio.Semaphore | None = None
        self._redis_lost = False

    @property
    def function(self) -> Function:
        """The arq function to list in `WorkerSettings.functions`."""
        return func(
            self._run_chunk,
            name=JOB_FUNCTION,
            timeout=self.job_timeout,
            keep_result=0,
            max_tries=self.max_tries,
        )

    @property
    def client(self) -> GoDeployClient:
        """The client, between startup and shutdown."""
        if self._client is None:
            raise ClientClosedError("the FleetWorker is not started: arq calls startup() first")
        return self._client

    async def startup(self, ctx: dict[str, Any] | None = None) -> None:
        """Arq's `on_startup`: open the client (call it from your own `on_startup` if any)."""
        if self._redis_lost:
            logger.warning("fleet worker: Redis is back")
            self._redis_lost = False
        if self._client is None:
            self._client = self._make_client()
            self._slots = asyncio.Semaphore(self.concurrency)

    async def shutdown(self, ctx: dict[str, Any] | None = None) -> None:
        """Arq's `on_shutdown`: close the client; idempotent."""
        client, self._client = self._client, None
        if client is not None:
            await client.aclose()

    def settings(
        self, redis_url: str, *, namespace: str = "godeploy", **overrides: Any
    ) -> dict[str, Any]:
        """Keyword arguments for `arq.worker.Worker` that run only godeploy's chunks.

        Args:
            redis_url: the Redis the `Fleet` submits to.
            namespace: the `Fleet`'s namespace (its queue is `<namespace>:queue`).
            **overrides: any other `Worker` argument (`burst=True` in tests).
        """
        queue = default_queue_name(namespace)
        return {
            "functions": [self.function],
            "queue_name": queue,
            "redis_pool": connect(redis_url, queue_name=queue),
            "on_startup": self.startup,
            "on_shutdown": self.shutdown,
            "max_jobs": MAX_JOBS,
            "poll_delay": POLL_DELAY,
            "keep_result": 0,
            "job_serializer": _json.job_serializer,
            "job_deserializer": _json.job_deserializer,
            **overrides,
        }

    async def run(
        self,
        redis_url: str,
        *,
        namespace: str = "godeploy",
        burst: bool = False,
        handle_signals: bool = False,
    ) -> Worker:
        """Run an arq worker on this job until cancelled (or, with `burst`, the queue is empty).

        When Redis goes away the worker stops taking chunks (the ones it runs go back to the
        queue), logs one WARNING and tries again every second until Redis answers.

        Returns:
            The arq `Worker`, stopped (its counters say what it did).
        """
        try:
            while True:
                settings = self.settings(
                    redis_url, namespace=namespace, burst=burst, handle_signals=handle_signals
                )
                worker = Worker(**settings)
                try:
                    await worker.async_run()
                except (RedisError, OSError) as error:
                    if not self._redis_lost:
                        logger.warning(
                            "fleet worker: Redis is unreachable (%s: %s); waiting for it",
                            type(error).__name__,
                            error,
                        )
                        self._redis_lost = True
                else:
                    return worker
                finally:
                    await _stop(worker, settings["redis_pool"])
                await asyncio.sleep(_REDIS_RETRY)
        finally:
            await self.shutdown()

    async def _run_chunk(
        self,
        ctx: dict[str, Any],
        namespace: str,
        run_id: str,
        chunk: int,
        order_ids: list[int],
        trace: dict[str, str] | None = None,
    ) -> str:
        """The job: fetch and record the orders of one chunk that are not recorded yet.

        `trace` is the submitter's trace context: the chunk's calls continue its trace.
        """
        redis: Any = ctx["redis"]  # arq's ArqRedis; redis-py's stubs: see _scripts.Scripts
        keys = RunKeys(namespace, run_id)
        started = time.monotonic()
        traced = chunk_span(self.client, run_id, chunk, trace)
        try:
            async with asyncio.timeout(self.job_timeout * 0.9):
                with traced:
                    outcome = await self._fetch_chunk(
                        redis, Scripts(redis), keys, chunk, order_ids, started
                    )
        except TimeoutError:
            # Orders in flight are dropped unrecorded: the next run fetches them again.
            raise Retry(defer=0) from None
        except RedisError as error:
            logger.warning("chunk %s of run %s: Redis failed (%s), retrying", chunk, run_id, error)
            raise Retry(defer=1) from None
        if outcome in ("paused", "deadline"):
            # Not a failure: the chunk gives its slot back. Its try is not counted, so a run
            # nobody reads for a while does not use up arq's max_tries.
            await redis.decr(retry_key_prefix + ctx["job_id"])
            raise Retry(defer=_PAUSED_RETRY if outcome == "paused" else 0)
        return outcome

    async def _fetch_chunk(
        self,
        redis: Any,
        scripts: Scripts,
        keys: RunKeys,
        chunk: int,
        order_ids: list[int],
        started: float,
    ) -> str:
        """Fetch and record; return why it stopped: done, cancelled, gone, paused, deadline."""
        client, slots = self.client, self._slots
        assert slots is not None
        meta = await redis.hmget(keys.meta, ["stride"])
        if meta[0] is None:
            return "gone"
        base = chunk * int(meta[0])
        first, last = base // 8, (base + max(len(order_ids), 1) - 1) // 8
        state = await scripts.chunk_state([keys.meta, keys.recorded, keys.results], first, last)
        exists, cancelled, max_unread, unread, recorded = state
        if not exists:
            return "gone"
        if cancelled:
            return "cancelled"
        if unread >= max_unread:
            return "paused"
        todo = [
            (base + index, order_id)
            for index, order_id in enumerate(order_ids)
            if not _bit(recorded, base + index - first * 8)
        ]
        if len(todo) < len(order_ids):
            # A run of this chunk recorded these before it stopped (a crash, a timeout).
            await redis.hincrby(keys.meta, "skipped_on_rerun", len(order_ids) - len(todo))
        if not todo:
            await scripts.mark_done([keys.meta, keys.done], chunk)
            return "done"
        gate = _Gate(redis, keys, max_unread, soft_deadline=started + self.job_timeout / 2)
        positions: dict[int, deque[int]] = defaultdict(deque)
        held = 0

        async def feed() -> AsyncIterator[int]:
            nonlocal held
            for position, order_id in todo:
                if not await gate.open():
                    return
                await slots.acquire()
                held += 1
                positions[order_id].append(position)
                yield order_id

        try:
            async with client.order_items.for_orders(
                feed(), concurrency=self.concurrency, page_size=self.page_size
            ) as results:
                async for result in results:
                    held -= 1
                    slots.release()
                    position = positions[result.order_id].popleft()
                    await self._record(scripts, keys, position, result)
        finally:
            # Slots of orders read but never finished (a cancel, a timeout) go back.
            for _ in range(held):
                slots.release()
            held = 0
        if gate.stopped is not None:
            return gate.stopped
        await scripts.mark_done([keys.meta, keys.done], chunk)
        return "done"

    async def _record(
        self, scripts: Scripts, keys: RunKeys, position: int, result: OrderItemsResult
    ) -> None:
        """Run the hook, then record the result unless another run of the chunk did."""
        if self.on_result is not None:
            try:
                await self.on_result(result)
            except Exception:
                logger.exception("on_result failed for order %s", result.order_id)
                raise Retry(defer=1) from None
        body = encode_result(result, with_items=self.on_result is None)
        outcome = "succeeded" if result.ok else "failed"
        await scripts.record([keys.meta, keys.recorded, keys.results], position, outcome, body)

    def __repr__(self) -> str:
        state = "started" if self._client is not None else "stopped"
        return f"<FleetWorker {state} concurrency={self.concurrency}>"


class _Gate:
    """Whether a job may start its next order: not cancelled, not paused, not out of time.

    It asks Redis before every order (one round trip, a fraction of a millisecond): unread
    results then exceed `max_unread` by at most the orders in flight.
    """

    def __init__(self, redis: Any, keys: RunKeys, max_unread: int, *, soft_deadline: float) -> None:
        self._redis = redis
        self._keys = keys
        self._max_unread = max_unread
        self._soft_deadline = soft_deadline
        self.stopped: str | None = None

    async def open(self) -> bool:
        """Wait while the run is paused; False once the job must stop taking orders."""
        while True:
            if time.monotonic() >= self._soft_deadline:
                self.stopped = "deadline"
                return False
            async with self._redis.pipeline(transaction=False) as pipe:
                pipe.hget(self._keys.meta, "cancelled")
                pipe.llen(self._keys.results)
                cancelled, unread = await pipe.execute()
            if cancelled is None or int(cancelled):
                self.stopped = "cancelled"
                return False
            if unread < self._max_unread:
                return True
            await asyncio.sleep(_PAUSE_POLL)


async def _stop(worker: Worker, pool: ArqRedis) -> None:
    """Stop an arq worker: its chunks go back to the queue, its connections are closed.

    Not `worker.close()`: it calls redis-py's deprecated `close()`. A chunk cancelled here is
    handed back at once (arq retries a job cancelled by CancelledError).
    """
    tasks = list(worker.tasks.values())
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    try:
        with contextlib.suppress(RedisError, OSError):
            await pool.delete(worker.health_check_key)
    finally:
        await pool.aclose(close_connection_pool=True)


def _bit(data: bytes, index: int) -> bool:
    """Bit `index` of a Redis bitmap (bit 0 is the high bit of byte 0)."""
    byte = index // 8
    return byte < len(data) and bool(data[byte] & (0x80 >> (index % 8)))
