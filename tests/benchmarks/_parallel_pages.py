"""Section 9: listing 10,000 orders at 100 a page with 35 ms latency, concurrency 1 vs 8.

The fake runs in its own process on its own core (as in section 1). Each round lists every
order at both concurrencies (the order alternating between rounds) and checks that the two
walks gave the same orders in the same order.
"""

from __future__ import annotations

import asyncio
import time

from godeploy import GoDeployClient

from ._harness import Cores, Fake, Samples, fake_process, rotations
from ._report import Row, Target, seconds, times

ORDERS = 10_000
PAGE_SIZE = 100
LATENCY_MS = 35.0
CONCURRENCIES = (1, 8)


async def _walk(fake: Fake, concurrency: int) -> tuple[float, float, list[int]]:
    """List every order; return the wall and CPU seconds and the ids in the order they came."""
    async with GoDeployClient(fake.token, fake.business_unit_id, base_url=fake.url) as client:
        started, cpu = time.perf_counter(), time.process_time()
        pager = client.orders.list(page_size=PAGE_SIZE, concurrency=concurrency)
        ids = [order.id async for order in pager]
        return time.perf_counter() - started, time.process_time() - cpu, ids


def run(cores: Cores, runs: int) -> list[Row]:
    """`runs` rounds after one warm-up; every round walks at each concurrency once.

    The ideal speed-up is bounded by the client's CPU (decoding 10,000 orders): reported too.
    """
    samples = Samples()
    with fake_process(cores, orders=ORDERS, latency_ms=LATENCY_MS) as fake:
        asyncio.run(_walk(fake, max(CONCURRENCIES)))  # warm-up
        for order in rotations(CONCURRENCIES, runs):
            walks: dict[int, list[int]] = {}
            for concurrency in order:
                elapsed, cpu, walks[concurrency] = asyncio.run(_walk(fake, concurrency))
                samples.add(f"wall {concurrency}", elapsed)
                samples.add(f"cpu {concurrency}", cpu)
            if walks[1] != walks[8] or len(walks[1]) != ORDERS:
                raise RuntimeError("the concurrent walk did not yield the serial walk's orders")
    label = f"list {ORDERS:,} orders, {PAGE_SIZE}/page, {LATENCY_MS:.0f} ms"
    same = "same orders, same order (checked every round)"
    return [
        Row("9", f"{label}: wall, concurrency 1", samples.figure("wall 1"), seconds),
        Row("9", f"{label}: wall, concurrency 8", samples.figure("wall 8"), seconds, note=same),
        Row(
            "9",
            f"{label}: client CPU, concurrency 8",
            samples.figure("cpu 8"),
            seconds,
            note="the floor of the wall time at any concurrency",
        ),
        Row(
            "9",
            f"{label}: speed-up 8 vs 1",
            samples.ratio("wall 1", "wall 8"),
            times,
            Target(">=", 6.0),
        ),
    ]
