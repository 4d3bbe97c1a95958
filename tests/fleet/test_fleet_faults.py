"""What goes wrong in a fleet: a killed worker, a chunk run twice, a cancel, a slow reader,
a pickle planted in the queue. A real redis-server, the fake, real arq workers."""

from __future__ import annotations

import asyncio
import os
import pickle
import signal
import time

import pytest
from arq.constants import in_progress_key_prefix, job_key_prefix

from godeploy.fleet import Fleet, FleetWorker
from godeploy.testing import FakeGoDeploy, RedisServer

from .conftest import client_of, read_all, run_burst, spawn_worker, stop, wait_ready, wait_until


@pytest.mark.slow
async def test_a_killed_workers_chunks_are_finished_by_another_each_order_once(
    fake_godeploy: FakeGoDeploy, redis_server: RedisServer, fleet: Fleet, order_ids: list[int]
):
    fake_godeploy.faults.latency(fixed=0.03)
    workers = [
        spawn_worker(redis_server.url, fake_godeploy, concurrency=2, job_timeout=2)
        for _ in range(2)
    ]
    try:
        await asyncio.gather(*(wait_ready(process) for process in workers))
        ids = order_ids[:160]
        run = await fleet.submit(ids, chunk_size=20)
        seen: list[int] = []
        async for result in fleet.results(run):
            seen.append(result.order_id)
            if len(seen) == 10:
                # Mid-chunk: the victim holds two chunks in progress, partly recorded.
                os.kill(workers[0].pid, signal.SIGKILL)
                workers[0].wait()
    finally:
        for process in workers:
            stop(process)
    assert workers[0].returncode == -signal.SIGKILL
    assert sorted(seen) == sorted(ids)  # every order, exactly once
    report = await fleet.report(run)
    assert (report.succeeded, report.failed, report.missing, report.in_flight) == (160, 0, 0, 0)
    # The survivor reran the victim's chunks after arq's in-progress key expired, and did
    # not fetch again what the victim had recorded.
    assert report.skipped_on_rerun > 0


async def test_a_chunk_run_twice_at_once_records_each_order_once(
    fake_godeploy: FakeGoDeploy, redis_server: RedisServer, fleet: Fleet, order_ids: list[int]
):
    fake_godeploy.faults.latency(fixed=0.05)
    ids = order_ids[:40]
    run = await fleet.submit(ids, chunk_size=40, run_id="twice")
    first = asyncio.create_task(
        FleetWorker(client_of(fake_godeploy), concurrency=2).run(redis_server.url, burst=True)
    )
    second = None
    try:
        await wait_until(lambda: _succeeded_at_least(fleet, run, 6))
        # As if the first worker's in-progress key expired while it lived (a partition):
        # arq gives the chunk to a second worker while the first still runs it.
        await fleet.redis.delete(f"{in_progress_key_prefix}godeploy:twice:0")
        second = asyncio.create_task(
            FleetWorker(client_of(fake_godeploy), concurrency=2).run(redis_server.url, burst=True)
        )
        results = await read_all(fleet, run)
        await asyncio.gather(first, second)
    finally:
        for task in (first, second):
            if task is not None:
                task.cancel()
        await asyncio.gather(first, *([second] if second else []), return_exceptions=True)
    assert sorted(r.order_id for r in results) == sorted(ids)
    report = await fleet.report(run)
    assert report.succeeded == 40
    assert report.duplicates_suppressed > 0
    assert report.skipped_on_rerun >= 6


async def _succeeded_at_least(fleet: Fleet, run, count: int) -> bool:
    return (await fleet.report(run)).succeeded >= count


async def test_cancel_stops_the_run(
    fake_godeploy: FakeGoDeploy, redis_server: RedisServer, fleet: Fleet, order_ids: list[int]
):
    fake_godeploy.faults.latency(fixed=0.02)
    run = await fleet.submit(order_ids, chunk_size=20)
    worker = asyncio.create_task(
        FleetWorker(client_of(fake_godeploy), concurrency=4).run(redis_server.url)
    )
    try:
        await wait_until(lambda: _succeeded_at_least(fleet, run, 40))
        removed = await fleet.cancel(run)
        # The reader ends: nothing is left running.
        results = await asyncio.wait_for(read_all(fleet, run), 10)
        assert await fleet.redis.zcard(fleet.queue_name) == 0
        await asyncio.sleep(1.0)
        requests = fake_godeploy.count("listOrderItems")
        await asyncio.sleep(0.5)
        assert fake_godeploy.count("listOrderItems") == requests  # the workers stopped
    finally:
        worker.cancel()
        await asyncio.gather(worker, return_exceptions=True)
    assert removed > 0
    report = await fleet.report(run)
    assert report.cancelled
    assert report.missing > 0
    assert report.in_flight == 0
    assert report.succeeded + report.failed + report.missing == 400
    assert report.succeeded == requests  # one request per order: every fetch was recorded
    assert len({r.order_id for r in results}) == len(results) <= report.succeeded


async def test_workers_pause_while_results_are_unread(
    fake_godeploy: FakeGoDeploy, redis_server: RedisServer, fleet: Fleet, order_ids: list[int]
):
    ids = order_ids[:200]
    run = await fleet.submit(ids, chunk_size=20, max_unread=30)
    # max_tries=2 and chunks that give their slot back every second while paused: a paused
    # chunk's tries are not counted, or arq would give the run up.
    worker = FleetWorker(client_of(fake_godeploy), concurrency=4, job_timeout=2, max_tries=2)
    task = asyncio.create_task(worker.run(redis_server.url))
    results_key = f"godeploy:run:{run.id}:results"
    try:
        await wait_until(lambda: _at_least(fleet.redis.llen(results_key), 30))
        started = time.monotonic()
        peak = 0
        while time.monotonic() - started < 2.5:
            peak = max(peak, await fleet.redis.llen(results_key))
            await asyncio.sleep(0.05)
        # At most the orders in flight (concurrency) and one per running chunk beyond it.
        assert 30 <= peak <= 30 + 4 + 2
        results = await read_all(fleet, run)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    assert sorted(r.order_id for r in results) == sorted(ids)
    report = await fleet.report(run)
    assert (report.succeeded, report.missing) == (200, 0)


async def _at_least(count, minimum: int) -> bool:
    return await count >= minimum


class _Exploit:
    """Unpickling this makes a directory: proof that the payload's code ran."""

    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self):
        return (os.mkdir, (self.path,))


async def test_a_pickle_planted_in_the_queue_is_refused_unread(
    fake_godeploy: FakeGoDeploy, redis_server: RedisServer, fleet: Fleet, order_ids, tmp_path
):
    proof = tmp_path / "unpickled"
    payload = pickle.dumps(
        {"t": 1, "f": "godeploy_fleet_chunk", "a": [_Exploit(str(proof))], "k": {}, "et": 0}
    )
    # The payload is live: pickle would run it.
    pickle.loads(pickle.dumps(_Exploit(str(tmp_path / "live"))))
    assert (tmp_path / "live").is_dir()
    await fleet.redis.set(f"{job_key_prefix}planted", payload)
    await fleet.redis.zadd(fleet.queue_name, {"planted": 1})
    run = await fleet.submit(order_ids[:30], chunk_size=10)
    worker = await run_burst(FleetWorker(client_of(fake_godeploy), concurrency=4), redis_server.url)
    assert not proof.exists()
    assert worker.jobs_failed == 1  # the planted job, refused
    assert worker.jobs_complete == 3  # the real chunks went on
    assert await fleet.redis.exists(f"{job_key_prefix}planted") == 0
    assert len(await read_all(fleet, run)) == 30


async def test_a_worker_waits_out_a_redis_outage(
    fake_godeploy: FakeGoDeploy, redis_server: RedisServer, order_ids: list[int], caplog
):
    worker = FleetWorker(client_of(fake_godeploy), concurrency=4)
    task = asyncio.create_task(worker.run(redis_server.url))
    try:
        async with Fleet(redis_server.url) as fleet:
            before = await fleet.submit(order_ids[:20], chunk_size=10)
            assert len(await read_all(fleet, before)) == 20
        redis_server.kill()
        await wait_until(lambda: _logged(caplog, "Redis is unreachable"))
        assert not task.done()
        redis_server.start()  # empty: persistence is off
        async with Fleet(redis_server.url) as fleet:
            after = await fleet.submit(order_ids[20:50], chunk_size=10)
            results = await asyncio.wait_for(read_all(fleet, after), 20)
        assert sorted(r.order_id for r in results) == sorted(order_ids[20:50])
        assert _logged_now(caplog, "Redis is back")
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def _logged(caplog, text: str) -> bool:
    return _logged_now(caplog, text)


def _logged_now(caplog, text: str) -> bool:
    return any(text in record.getMessage() for record in caplog.records)
