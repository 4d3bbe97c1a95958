"""FleetLimits across real processes: one Redis, one fake, three workers, one fleet."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Any

import pytest

from godeploy.testing import FakeGoDeploy, Fault, RedisServer

ROOT = Path(__file__).resolve().parents[2]
WORKERS = 3


async def run_workers(
    fake: FakeGoDeploy, redis_server: RedisServer, *, per_worker: int, **config: Any
) -> list[dict[str, Any]]:
    """Start the workers, let them go at once, and return their summaries."""
    ids = fake.order_ids()
    processes = []
    try:
        for number in range(WORKERS):
            worker = {
                "redis": redis_server.url,
                "base_url": str(fake.url),
                "token": fake.token,
                "unit": str(fake.business_unit_id),
                "orders": ids[number * per_worker : (number + 1) * per_worker],
                **config,
            }
            processes.append(
                await asyncio.create_subprocess_exec(
                    sys.executable,
                    "-m",
                    "tests.fleet.limits_worker",
                    json.dumps(worker),
                    cwd=ROOT,
                    stdin=asyncio.subprocess.PIPE,
                    stdout=asyncio.subprocess.PIPE,
                )
            )
        for process in processes:
            assert process.stdout is not None
            assert await asyncio.wait_for(process.stdout.readline(), 60) == b"ready\n"
        for process in processes:
            assert process.stdin is not None
            process.stdin.write(b"go\n")
        outputs = await asyncio.wait_for(
            asyncio.gather(*(process.communicate() for process in processes)), 120
        )
    finally:
        for process in processes:
            if process.returncode is None:
                process.kill()
                await process.wait()
    assert [process.returncode for process in processes] == [0] * WORKERS
    return [json.loads(stdout.splitlines()[-1]) for stdout, _ in outputs]


@pytest.mark.parametrize("mode", ["fleet", "local"])
async def test_the_cap_holds_across_three_processes_within_one_burst(redis_server, mode):
    # GCRA lets at most burst + rate requests go within any one second. Late wake-ups and a
    # busy loop only move arrivals later: under 1/rate (50 ms) they cannot add one more.
    rate, burst = 20, 5
    # The API's own cap is the fleet's, burst included: exceed it and it answers 429.
    async with FakeGoDeploy(seed=3, order_count=200, rate_limit=rate + burst) as fake:
        per_worker = 15
        summaries = await run_workers(
            fake,
            redis_server,
            per_worker=per_worker,
            mode=mode,
            rate=rate,
            burst=burst,
            concurrency=4,
        )
        busiest = fake.busiest_window()
        if mode == "local":
            # Three clients that each keep the cap send three times it: the API says 429.
            assert busiest > rate + burst
            assert fake.count(status=429) > 0
            return
        assert [s["errors"] for s in summaries] == [[]] * WORKERS
        assert sum(s["ok"] for s in summaries) == WORKERS * per_worker
        assert fake.count(route="getOrder") == WORKERS * per_worker
        assert fake.count(status=429) == 0
        assert busiest <= rate + burst
        assert busiest >= rate * 0.8  # the fleet did press against the cap
        assert [s["warnings"] for s in summaries] == [0] * WORKERS


async def test_a_429_in_one_process_pauses_the_others(redis_server):
    async with FakeGoDeploy(seed=3, order_count=200) as fake:
        fake.faults.latency(fixed=0.05)
        fake.faults.add(Fault.status(429, retry_after=1), route="getOrder", times=1)
        summaries = await run_workers(
            fake, redis_server, per_worker=20, mode="fleet", rate=1000, burst=100, concurrency=2
        )
        assert fake.count(status=429) == 1
        assert [s["errors"] for s in summaries] == [[]] * WORKERS
        assert sum(s["ok"] for s in summaries) == WORKERS * 20
        # Every worker's later admissions were held by the pause, not only the one that got
        # the 429 (with local limits, the others would not know of it).
        assert all(s["held"] > 0 for s in summaries), summaries
