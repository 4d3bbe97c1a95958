"""Submit, work, read: every order exactly once, the report adds up, resubmits are no-ops."""

from __future__ import annotations

from godeploy.fleet import Fleet, FleetWorker
from godeploy.testing import FakeGoDeploy, RedisServer

from .conftest import client_of, read_all, run_burst


async def test_every_order_comes_back_once(
    fake_godeploy: FakeGoDeploy, redis_server: RedisServer, fleet: Fleet, order_ids: list[int]
):
    ids = order_ids[:250]
    run = await fleet.submit(ids, chunk_size=40)
    assert (run.total, run.chunks, run.enqueued) == (250, 7, 7)
    await run_burst(FleetWorker(client_of(fake_godeploy), concurrency=8), redis_server.url)
    results = await read_all(fleet, run)
    assert sorted(r.order_id for r in results) == sorted(ids)
    assert [r for r in results if not (r.ok and r.items)] == []
    assert all(item.order_id == r.order_id for r in results for item in r.items)
    report = await fleet.report(run)
    assert (report.total, report.succeeded, report.failed) == (250, 250, 0)
    assert (report.missing, report.in_flight, report.duplicates_suppressed) == (0, 0, 0)
    # Read once: nothing is left in Redis.
    assert await read_all(fleet, run) == []
