"""The fake serves benchmarks: it must answer thousands of requests per second on loopback."""

from __future__ import annotations

import asyncio
import time

from tests.testing.fake_support import Api


async def test_sequential_requests_are_fast(api, fake):
    ids = fake.order_ids()
    paths = [f"/api/v2/orders/{ids[i * 7]}" for i in range(300)]
    paths += [f"/api/v2/orders/{ids[i * 7]}/items" for i in range(300)]
    paths += [f"/api/v2/orders?_page={page}" for page in range(1, 301)]
    await api.get(paths[0])  # connect first
    started = time.perf_counter()
    for path in paths:
        path, _, query = path.partition("?")
        params = dict([query.split("=")]) if query else None
        assert (await api.get(path, params=params)).status == 200
    rate = len(paths) / (time.perf_counter() - started)
    # The client shares the loop and the core; the fake alone is several times faster.
    assert rate > 400, f"{rate:.0f} requests/s"


async def test_full_pages_of_100_orders_are_fast(session):
    from godeploy.testing import FakeGoDeploy

    async with FakeGoDeploy(seed=5) as fake:
        api = Api(fake, session)
        started = time.perf_counter()
        replies = await asyncio.gather(
            *(
                api.get("/api/v2/orders", params={"_page": str(p), "_pageSize": "100"})
                for p in range(1, 43)
            )
        )
        assert sum(len(r.json()["items"]) for r in replies) == 4150
        assert time.perf_counter() - started < 3
