"""Cancellation at points hypothesis chooses: during pagination, a retry sleep, a token refresh
and a fan-out. Whatever the point, nothing is left behind: no task pending, no connection
acquired, no ResourceWarning, no error logged by the event loop.

Each test shares one fake, serving from its own thread (`ThreadedFake`); each example runs in a
fresh event loop of its own (`LoopAudit`), so the loop holds only the SDK's tasks and the
client's connections. The cancellation point is a number of event-loop steps plus a delay.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from godeploy import GoDeployClient, GoDeployError, RetryPolicy, Timeout
from godeploy.testing import FakeGoDeploy, Fault
from tests._support import acquired_connections, make_client
from tests._support.reliability import (
    LoopAudit,
    ThreadedFake,
    other_tasks,
    record_figures,
)

# Each test runs 20 hypothesis examples against a threaded fake with latency (~5-15 s each).
pytestmark = pytest.mark.slow

EXAMPLES = settings(
    max_examples=20,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)

steps = st.integers(min_value=0, max_value=400)
delays = st.sampled_from([0.0, 0.001, 0.003, 0.01, 0.02, 0.05, 0.1])
ways = st.sampled_from(["cancel", "timeout"])


@dataclass
class Outcome:
    """How one example ended, for the checks across examples."""

    cancelled: bool
    requests_before: int
    detail: Any = None


async def cancel_at(
    work: Awaitable[Any], steps: int, delay: float, way: str
) -> tuple[bool, asyncio.Task[Any]]:
    """Start `work`, let the loop run `steps` steps and `delay` seconds, then cancel it.

    Returns whether the cancellation struck before the work was done, and the task.
    """
    task = asyncio.ensure_future(work)
    if way == "timeout":
        # asyncio.timeout cancels from a timer callback rather than from another task.
        async def bounded() -> Any:
            for _ in range(steps):
                await asyncio.sleep(0)
            async with asyncio.timeout(delay):
                return await task

        with contextlib.suppress(TimeoutError, GoDeployError):
            await bounded()
        return task.cancelled(), task
    for _ in range(steps):
        await asyncio.sleep(0)
    if delay:
        await asyncio.sleep(delay)
    done_before = task.done()
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError, GoDeployError):
        await task
    return not done_before and task.cancelled(), task


async def audited(
    server: ThreadedFake,
    make: Callable[[FakeGoDeploy], GoDeployClient],
    scenario: Callable[[GoDeployClient], Awaitable[Outcome]],
) -> Outcome:
    """Run a scenario with a fresh client; check what it leaves behind before closing it."""
    client = make(server.fake)
    try:
        outcome = await scenario(client)
        await asyncio.sleep(0)  # let done-callbacks run
        assert acquired_connections(client) == 0
        assert other_tasks() == [], other_tasks()
    finally:
        await client.aclose()
    return outcome


def run_example(server: ThreadedFake, coroutine: Awaitable[Outcome]) -> Outcome:
    audit = LoopAudit()
    outcome = audit.run(coroutine)
    server.settle()
    assert audit.warnings == [], audit.warnings
    assert audit.loop_errors == [], audit.loop_errors
    return outcome


def check_spread(outcomes: list[Outcome], name: str) -> None:
    """The examples cancelled at many different points, most of them mid-flight."""
    cancelled = [o for o in outcomes if o.cancelled]
    record_figures(
        f"cancellation/{name}",
        {
            "examples": len(outcomes),
            "cancelled_mid_flight": len(cancelled),
            "requests_before_cancel": sorted({o.requests_before for o in cancelled}),
        },
    )
    assert len(cancelled) >= len(outcomes) // 2, outcomes
    assert len({o.requests_before for o in cancelled}) >= 3, outcomes


def test_cancel_during_pagination():
    outcomes: list[Outcome] = []
    with ThreadedFake(seed=5, order_count=400) as server:
        server.fake.faults.latency(fixed=0.002, jitter=0.008)

        @EXAMPLES
        @given(steps=steps, delay=delays, way=ways)
        def example(steps: int, delay: float, way: str) -> None:
            async def scenario(client: GoDeployClient) -> Outcome:
                before = server.count("listOrders")

                async def walk() -> list[int]:
                    return [order.id async for order in client.orders.list(page_size=20)]

                cancelled, task = await cancel_at(walk(), steps, delay, way)
                if not cancelled:
                    assert task.result() == server.fake.order_ids()
                return Outcome(cancelled, server.count("listOrders") - before)

            outcomes.append(run_example(server, audited(server, make_client, scenario)))

        example()
    check_spread(outcomes, "pagination")


def test_cancel_during_a_retry_sleep():
    outcomes: list[Outcome] = []
    policy = RetryPolicy(max_retries=3, backoff_base=0.02, backoff_cap=0.05)

    def make(fake: FakeGoDeploy) -> GoDeployClient:
        return make_client(fake, retry_policy=policy)

    with ThreadedFake(seed=5, order_count=50) as server:
        order_id = server.fake.order_ids()[0]
        server.fake.faults.add(Fault.status(503), route="getOrder")

        @EXAMPLES
        @given(steps=steps, delay=delays, way=ways)
        def example(steps: int, delay: float, way: str) -> None:
            async def scenario(client: GoDeployClient) -> Outcome:
                before = server.count("getOrder")
                cancelled, _ = await cancel_at(client.orders.get(order_id), steps, delay, way)
                retries = client.stats["retries"]
                return Outcome(cancelled, server.count("getOrder") - before, retries)

            outcomes.append(run_example(server, audited(server, make, scenario)))

        example()
    check_spread(outcomes, "retry-sleep")
    # Some examples were cancelled while sleeping between attempts.
    assert any(o.cancelled and o.detail >= 1 for o in outcomes), outcomes


def test_cancel_during_a_token_refresh():
    outcomes: list[Outcome] = []
    with ThreadedFake(seed=5, order_count=50) as server:
        fake = server.fake
        order_ids = fake.order_ids()[:4]

        @EXAMPLES
        @given(steps=steps, delay=delays)
        def example(steps: int, delay: float) -> None:
            asked = 0

            async def token() -> str:
                nonlocal asked
                asked += 1
                await asyncio.sleep(0.02)
                return fake.token

            def make(_: FakeGoDeploy) -> GoDeployClient:
                return GoDeployClient(
                    token, fake.business_unit_id, base_url=fake.url, timeout=Timeout(total=10)
                )

            async def scenario(client: GoDeployClient) -> Outcome:
                await client.orders.get(order_ids[0])
                server.run(fake.rotate_token)  # the client's token is stale from now on
                before = asked
                tasks = [asyncio.ensure_future(client.orders.get(i)) for i in order_ids]
                cancelled, _ = await cancel_at(tasks[0], steps, delay, "cancel")
                # The others go on: one of them refreshes if the cancelled one did not finish.
                orders = await asyncio.gather(*tasks[1:])
                assert [o.id for o in orders] == order_ids[1:]
                assert client.stats["token_refreshes"] >= 1
                return Outcome(cancelled, asked - before, steps)

            outcomes.append(run_example(server, audited(server, make, scenario)))

        example()
    cancelled = [o for o in outcomes if o.cancelled]
    record_figures(
        "cancellation/token-refresh",
        {
            "examples": len(outcomes),
            "cancelled_mid_flight": len(cancelled),
            "refreshes_per_example": sorted({o.requests_before for o in outcomes}),
        },
    )
    assert len(cancelled) >= len(outcomes) // 2, outcomes
    # Cancelling the refreshing request costs at most one more refresh.
    assert all(1 <= o.requests_before <= 2 for o in outcomes), outcomes
    assert any(o.requests_before == 2 for o in cancelled), "no cancel struck mid-refresh"


@pytest.mark.parametrize("ordered", [False, True], ids=["as-completed", "ordered"])
def test_cancel_during_a_fan_out(ordered):
    outcomes: list[Outcome] = []
    with ThreadedFake(seed=5, order_count=300) as server:
        fake = server.fake
        fake.faults.latency(fixed=0.001, jitter=0.01)
        fake.faults.add(Fault.status(503), route="listOrderItems", rate=0.05)
        order_ids = fake.order_ids()

        @EXAMPLES
        @given(steps=steps, delay=delays, way=ways)
        def example(steps: int, delay: float, way: str) -> None:
            async def scenario(client: GoDeployClient) -> Outcome:
                before = server.count("listOrderItems")

                async def consume() -> list[int]:
                    fan_out = client.order_items.for_orders(
                        order_ids, concurrency=16, ordered=ordered
                    )
                    async with fan_out as results:
                        return [result.order_id async for result in results]

                cancelled, task = await cancel_at(consume(), steps, delay, way)
                if not cancelled:
                    assert sorted(task.result()) == order_ids
                return Outcome(cancelled, server.count("listOrderItems") - before)

            outcomes.append(run_example(server, audited(server, make_client, scenario)))

        example()
    check_spread(outcomes, f"fan-out-{'ordered' if ordered else 'as-completed'}")
