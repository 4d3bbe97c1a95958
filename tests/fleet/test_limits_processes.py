"""FleetLimits across real processes: one Redis, one fake, three workers, one fleet."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from godeploy.testing import FakeGoDeploy, Fault, RedisServer

ROOT = Path(__file__).resolve().parents[2]
WORKERS = 3


async def run_workers(
    fake: FakeGoDeploy,
    redis_server: RedisServer,
    *,
    per_worker: int,
    meanwhile: Callable[[], Awaitable[None]] | None = None,
    **config: Any,
) -> list[dict[str, Any]]:
    """Start the workers, let them go at once (then run `meanwhile`), return their summaries."""
    ids = fake.order_ids()
    ids = ids * (WORKERS * per_worker // len(ids) + 1)
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
                    "tests._support.limits_worker",
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
        if meanwhile is not None:
            await meanwhile()
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


@pytest.mark.slow  # three worker processes and Redis (~6 s each)
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


@pytest.mark.slow  # three worker processes and Redis (~6 s)
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


@pytest.mark.slow
async def test_a_stalled_redis_holds_no_call_past_its_deadline_nor_the_fleet_past_its_cap(
    redis_server: RedisServer,
):
    # Redis stops answering (SIGSTOP: connections stay open, nothing comes back) for 3 s
    # under load from three processes. Each falls back to its share within a round trip's
    # bound, and comes back without a fresh burst, keeping its share for a while as the
    # others may still spend theirs: every 1-s window at the API stays within cap + burst.
    # The margin for arrival jitter is wide (0.5 s): three processes start at once on a
    # shared, loaded machine, and their first requests arrive late.
    rate, burst, deadline, per_worker = 40, 10, 2.0, 80
    pid = redis_server.pid
    assert pid is not None

    async def stall() -> None:
        await asyncio.sleep(2.0)
        os.kill(pid, signal.SIGSTOP)
        try:
            await asyncio.sleep(3.0)
        finally:
            os.kill(pid, signal.SIGCONT)

    async with FakeGoDeploy(seed=3, order_count=200, rate_limit=rate + burst) as fake:
        summaries = await run_workers(
            fake,
            redis_server,
            per_worker=per_worker,
            meanwhile=stall,
            mode="fleet",
            rate=rate,
            burst=burst,
            jitter=0.5,
            concurrency=4,
            timeout=deadline,
        )
        assert [s["errors"] for s in summaries] == [[]] * WORKERS
        assert sum(s["ok"] for s in summaries) == WORKERS * per_worker
        assert fake.count(status=429) == 0, fake.requests_per_window
        assert fake.busiest_window() <= rate + burst, fake.requests_per_window
        # Every call ended by its deadline, the stalled round trips included.
        assert max(s["slowest"] for s in summaries) / deadline < 1.0
        assert [s["warnings"] for s in summaries] == [1] * WORKERS  # each fell back, once
