"""Fleet tests: a real redis-server (the harness) and the fake on loopback, no mocks."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from godeploy import GoDeployClient
from godeploy.fleet import Fleet, FleetWorker
from godeploy.testing import FakeGoDeploy, RedisServer


@pytest.fixture
def fake_godeploy_options() -> dict[str, Any]:
    return {"seed": 7, "order_count": 400, "log_size": 0}


def client_of(fake: FakeGoDeploy) -> Callable[[], GoDeployClient]:
    """What a FleetWorker calls at startup: a client on the fake."""
    return lambda: GoDeployClient(fake.token, fake.business_unit_id, base_url=fake.url)


@pytest.fixture
async def fleet(redis_server: RedisServer) -> AsyncIterator[Fleet]:
    async with Fleet(redis_server.url) as opened:
        yield opened


async def run_burst(worker: FleetWorker, redis_url: str) -> Any:
    """Run an in-process arq worker until the queue is empty."""
    return await worker.run(redis_url, burst=True)


async def read_all(fleet: Fleet, run: Any) -> list[Any]:
    return [result async for result in fleet.results(run)]


async def wait_until(predicate: Callable[[], Any], *, timeout: float = 20.0) -> None:
    """Poll an async predicate until it holds (a generous timeout: a shared, noisy machine)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not await predicate():
        if loop.time() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.05)


@pytest.fixture
async def order_ids(fake_godeploy: FakeGoDeploy) -> list[int]:
    """Every order id of the fake's main unit, in listing order."""
    async with client_of(fake_godeploy)() as client:
        return [order.id async for order in client.orders.list(page_size=100)]
