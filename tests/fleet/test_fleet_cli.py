"""`godeploy order-items fan-out --fleet`, `godeploy fleet status|cancel|worker`, as a user runs
them: the console script in a subprocess, a worker, the fake and a password-protected Redis."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from godeploy.fleet import Fleet, FleetWorker
from godeploy.testing import FakeGoDeploy, RedisServer
from tests.cli.conftest import clean_environment, run_command

from .conftest import client_of

PASSWORD = "fleet-pw-7c1e"


@pytest.fixture
async def locked_redis() -> AsyncIterator[RedisServer]:
    async with RedisServer(password=PASSWORD) as server:
        yield server


@pytest.mark.slow  # a worker and CLI processes over Redis (~7 s)
async def test_fan_out_on_the_fleet_prints_every_orders_items(
    fake_godeploy: FakeGoDeploy, locked_redis: RedisServer, order_ids: list[int]
):
    ids = order_ids[:30]
    worker = asyncio.create_task(
        FleetWorker(client_of(fake_godeploy), concurrency=4).run(locked_redis.url)
    )
    try:
        result = await run_command(
            "order-items",
            "fan-out",
            *map(str, ids),
            "--fleet",
            locked_redis.url,
            "--chunk-size",
            "7",
            "--json",
            env=clean_environment(
                GODEPLOY_TOKEN=fake_godeploy.token,
                GODEPLOY_BUSINESS_UNIT_ID=str(fake_godeploy.business_unit_id),
                GODEPLOY_BASE_URL=str(fake_godeploy.url),
            ),
            secret=PASSWORD,
        )
    finally:
        worker.cancel()
        await asyncio.gather(worker, return_exceptions=True)
    assert result.exit_code == 0, result.stderr
    items = result.json_lines()
    assert {item["orderId"] for item in items} == set(ids)
    assert "fetched" in result.stderr and "0 missing" in result.stderr
    run_id = result.stderr.split("fleet run ", 1)[1].split()[0]

    status = await run_command(
        "fleet", "status", run_id, "--redis", locked_redis.url, "--json", secret=PASSWORD
    )
    assert status.exit_code == 0, status.stderr
    [report] = status.json_lines()
    assert (report["total"], report["succeeded"], report["missing"]) == (30, 30, 0)


@pytest.mark.slow  # three CLI processes over Redis (~7 s)
async def test_fleet_cancel_and_an_unknown_run(locked_redis: RedisServer):
    async with Fleet(locked_redis.url) as fleet:
        run = await fleet.submit([1, 2, 3], chunk_size=2)  # no worker: the chunks stay queued
    cancelled = await run_command(
        "fleet", "cancel", run.id, "--redis", locked_redis.url, secret=PASSWORD
    )
    assert cancelled.exit_code == 0, cancelled.stderr
    assert "2 queued chunks removed" in cancelled.stderr
    unknown = await run_command(
        "fleet", "status", "no-such-run", "--redis", locked_redis.url, secret=PASSWORD
    )
    assert unknown.exit_code == 2
    assert unknown.error_lines == [
        "error: invalid input: no run 'no-such-run' in namespace 'godeploy'"
    ]


async def test_a_worker_needs_its_connection_from_the_environment(locked_redis: RedisServer):
    result = await run_command(
        "fleet", "worker", "--redis", locked_redis.url, env=clean_environment(), secret=PASSWORD
    )
    assert result.exit_code == 2
    assert "GODEPLOY_TOKEN" in result.error_lines[0]
