"""GoDeployClient on FleetLimits: the retry budget runs out for every client, Redis may die."""

from __future__ import annotations

import asyncio
import logging

import pytest

from godeploy import GoDeployClient, RetryPolicy, ServiceUnavailableError
from godeploy.fleet import FleetLimits
from godeploy.testing import FakeGoDeploy, Fault, RedisServer


def client_for(fake: FakeGoDeploy, limits: FleetLimits, **options) -> GoDeployClient:
    return GoDeployClient(
        fake.token, fake.business_unit_id, base_url=fake.url, limits=limits, **options
    )


async def test_the_shared_retry_budget_runs_out_for_every_client(redis_server: RedisServer):
    policy = RetryPolicy(max_retries=5, backoff_base=0, backoff_cap=0)
    async with FakeGoDeploy(seed=3, order_count=20) as fake:
        fake.faults.add(Fault.status(503), route="getOrder")
        order_id = fake.order_ids()[0]
        one = FleetLimits(redis_server.url, max_requests_per_second=100, retry_budget=10)
        other = FleetLimits(redis_server.url, max_requests_per_second=100, retry_budget=10)
        async with (
            one,
            other,
            client_for(fake, one, retry_policy=policy) as first,
            client_for(fake, other, retry_policy=policy) as second,
        ):
            with pytest.raises(ServiceUnavailableError):
                await first.orders.get(order_id)
            # Two retries of 5 tokens emptied the fleet's budget of 10.
            assert fake.count("getOrder") == 3
            assert first.stats["retries"] == 2
            with pytest.raises(ServiceUnavailableError):
                await second.orders.get(order_id)
            assert fake.count("getOrder") == 4  # the other client tried once, no retry
            assert second.stats["retries"] == 0
            assert other.budget() == (0.0, 10.0)


async def test_redis_killed_mid_run_the_calls_finish_on_local_limits(
    redis_server: RedisServer, caplog
):
    caplog.set_level(logging.INFO, logger="godeploy.fleet")
    async with FakeGoDeploy(seed=3, order_count=80) as fake:
        fake.faults.latency(fixed=0.01)
        ids = fake.order_ids()
        limits = FleetLimits(redis_server.url, max_requests_per_second=400, burst=10)
        async with limits, client_for(fake, limits) as client:
            gate = asyncio.Semaphore(4)
            done: list[int] = []

            async def get(order_id: int) -> None:
                async with gate:
                    done.append((await client.orders.get(order_id)).id)
                    if len(done) == 20:
                        redis_server.kill()

            async with asyncio.TaskGroup() as group:
                for order_id in ids[:60]:
                    group.create_task(get(order_id))
            assert sorted(done) == sorted(ids[:60])
            assert limits.falling_back
            warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
            assert len(warnings) == 1
            assert warnings[0].name == "godeploy.fleet"
            assert "falls back to local limits" in warnings[0].getMessage()

            # Back: within a probe or two of Redis answering, pacing is fleet-wide again.
            redis_server.start()
            for order_id in ids[60:80]:
                await client.orders.get(order_id)
                if not limits.falling_back:
                    break
                await asyncio.sleep(0.2)
            assert not limits.falling_back
            assert "answers again" in caplog.records[-1].getMessage()
            assert len([r for r in caplog.records if r.levelno == logging.WARNING]) == 1


async def test_an_answer_sent_before_the_outage_does_not_end_it(caplog):
    """Two round trips in flight when Redis dies: the one answered late proves nothing."""
    from redis.exceptions import ConnectionError as RedisConnectionError

    caplog.set_level(logging.INFO, logger="godeploy.fleet")
    limits = FleetLimits("redis://127.0.0.1:1/0", max_requests_per_second=400)
    failed, answered = asyncio.Event(), asyncio.Event()

    async def fails() -> str:
        await failed.wait()
        raise RedisConnectionError("the server went away")

    async def answers_late() -> str:
        await answered.wait()
        return "sent before the outage"

    async def locally(local: object) -> str:
        return "local"

    try:
        async with asyncio.TaskGroup() as group:
            first = group.create_task(limits._redis_else_local(fails, locally))
            late = group.create_task(limits._redis_else_local(answers_late, locally))
            await asyncio.sleep(0)  # both round trips started while Redis was up
            failed.set()
            assert await first == "local"
            answered.set()
            assert await late == "sent before the outage"
        assert limits.falling_back
        back = [r for r in caplog.records if "pacing is fleet-wide again" in r.getMessage()]
        assert back == []
    finally:
        await limits.aclose()
