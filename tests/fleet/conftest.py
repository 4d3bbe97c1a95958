"""Fleet tests: a real redis-server (the harness) and the fake on loopback, no mocks.

Nothing here imports arq at import time: the FleetLimits tests also run without it (and on
every redis-py major, see test_limits_without_arq.py).
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING, Any

import pytest

from godeploy import GoDeployClient
from godeploy._lifecycle import stop_process
from godeploy.testing import FakeGoDeploy, RedisServer

if TYPE_CHECKING:
    from godeploy.fleet import Fleet, FleetWorker


@pytest.fixture
def fake_godeploy_options() -> dict[str, Any]:
    return {"seed": 7, "order_count": 400, "log_size": 0}


def client_of(fake: FakeGoDeploy) -> Callable[[], GoDeployClient]:
    """What a FleetWorker calls at startup: a client on the fake."""
    return lambda: GoDeployClient(fake.token, fake.business_unit_id, base_url=fake.url)


@pytest.fixture
async def fleet(redis_server: RedisServer) -> AsyncIterator[Fleet]:
    from godeploy.fleet import Fleet

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


def spawn_worker(
    redis_url: str, fake: FakeGoDeploy, *, concurrency: int, job_timeout: float
) -> subprocess.Popen[bytes]:
    """`godeploy fleet worker` in its own process, on the fake; wait until it is up."""
    environment = {
        **os.environ,
        "GODEPLOY_TOKEN": fake.token,
        "GODEPLOY_BUSINESS_UNIT_ID": str(fake.business_unit_id),
        "GODEPLOY_BASE_URL": str(fake.url),
    }
    command = [sys.executable, "-m", "godeploy.cli", "fleet", "worker", "--redis", redis_url]
    command += ["--concurrency", str(concurrency), "--job-timeout", str(job_timeout)]
    return subprocess.Popen(command, env=environment, stderr=subprocess.PIPE)


async def wait_ready(process: subprocess.Popen[bytes]) -> None:
    """Wait for the worker's first line on stderr (it prints it once it is set up)."""
    assert process.stderr is not None
    line = await asyncio.to_thread(process.stderr.readline)
    assert b"fleet worker" in line, line


def stop(process: subprocess.Popen[bytes]) -> None:
    """Make sure a worker process is gone (it may be SIGKILLed already)."""
    stop_process(process, 10)
    if process.stderr is not None:
        process.stderr.close()
