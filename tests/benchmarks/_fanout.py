"""Section 1: latency-bound fan-out against the ideal ceil(N / C) x latency."""

from __future__ import annotations

import asyncio
import math
import time

from godeploy import GoDeployClient

from ._harness import Cores, Fake, Samples, fake_process, rotations
from ._report import Row, Target, seconds, times

LATENCY_MS = 50.0
ORDERS = 1000
SERIAL_ORDERS = 100
"""Concurrency 1 fetches fewer orders: 1,000 would take 50 s a run."""
CONCURRENCIES = (1, 10, 50, 100)
TARGET_CONCURRENCY = 50
TARGET = Target("<=", 1.15)


def order_count(concurrency: int) -> int:
    """How many orders a run at this concurrency fetches."""
    return SERIAL_ORDERS if concurrency == 1 else ORDERS


def ideal_seconds(orders: int, concurrency: int) -> float:
    """Full waves of `concurrency` requests, each wave one added latency long."""
    return math.ceil(orders / concurrency) * LATENCY_MS / 1000


async def timed_fan_out(fake: Fake, order_ids: list[int], concurrency: int) -> float:
    """Fetch the items of every order with `for_orders`; return the wall seconds."""
    async with GoDeployClient(fake.token, fake.business_unit_id, base_url=fake.url) as client:
        started = time.perf_counter()
        failed = 0
        async with client.order_items.for_orders(order_ids, concurrency=concurrency) as results:
            async for result in results:
                failed += result.error is not None
        elapsed = time.perf_counter() - started
    if failed:
        raise RuntimeError(f"{failed} orders failed at concurrency {concurrency}")
    return elapsed


def run(cores: Cores, runs: int) -> list[Row]:
    """Every concurrency once per round (rotating), `runs` rounds after one warm-up."""
    samples = Samples()
    with fake_process(cores, orders=ORDERS, latency_ms=LATENCY_MS, ids=ORDERS) as fake:
        asyncio.run(timed_fan_out(fake, fake.order_ids, max(CONCURRENCIES)))  # warm-up
        for order in rotations(CONCURRENCIES, runs):
            for concurrency in order:
                ids = fake.order_ids[: order_count(concurrency)]
                elapsed = asyncio.run(timed_fan_out(fake, ids, concurrency))
                samples.add(f"wall {concurrency}", elapsed)
                samples.add(f"ratio {concurrency}", elapsed / ideal_seconds(len(ids), concurrency))
    return [row for concurrency in CONCURRENCIES for row in _rows(samples, concurrency)]


def _rows(samples: Samples, concurrency: int) -> list[Row]:
    orders = order_count(concurrency)
    ideal = ideal_seconds(orders, concurrency)
    label = f"fan-out C={concurrency}, {orders:,} orders"
    note = "fewer orders: C=1 is serial" if concurrency == 1 else ""
    target = TARGET if concurrency == TARGET_CONCURRENCY else None
    return [
        Row("1", f"{label}: wall", samples.figure(f"wall {concurrency}"), seconds, note=note),
        Row(
            "1",
            f"{label}: wall / ideal {ideal:.2f} s",
            samples.figure(f"ratio {concurrency}"),
            times,
            target,
        ),
    ]
