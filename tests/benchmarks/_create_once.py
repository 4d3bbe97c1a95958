"""Section 8: `create_once`, requests per call and creates that went through twice.

The figures are counts, not times, so the fake runs in this process (its counters and its
stored orders are read directly). Each run: 200 calls with distinct references against a fake
holding 4,150 orders, then 200 more under 10% dropped-after-store faults on the create (the
fault `create_once` exists for), with a new client each time.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

from godeploy import GoDeployClient
from godeploy.testing import FakeGoDeploy, Fault

from ._harness import Cores, Samples
from ._report import Row, Target

ORDERS = 4150
CALLS = 200
FAULT_RATE = 0.10


def _count(value: float) -> str:
    return f"{value:.2f}"


async def _calls(fake: FakeGoDeploy, prefix: str) -> tuple[float, float, int]:
    """CALLS create_once calls in a row; (requests of the first, per later call, twice made)."""
    product = fake.products()[0]
    feature_set = fake.feature_sets(product["id"])[0]
    order: dict[str, Any] = {
        "email_keys": False,
        "order_items": [{"feature_set_id": feature_set["id"], "quantity": 1}],
    }
    async with GoDeployClient(fake.token, fake.business_unit_id, base_url=fake.url) as client:
        before = fake.count()
        await client.orders.create_once(purchase_order_reference=f"{prefix}-0", **order)
        first = fake.count() - before
        for number in range(1, CALLS):
            await client.orders.create_once(purchase_order_reference=f"{prefix}-{number}", **order)
        later = (fake.count() - before - first) / (CALLS - 1)
    made = Counter(
        o["purchasingOrderReference"]
        for o in fake.created_orders
        if o["purchasingOrderReference"].startswith(f"{prefix}-")
    )
    if len(made) != CALLS:
        raise RuntimeError(f"{CALLS - len(made)} references got no order")
    return first, later, sum(1 for count in made.values() if count > 1)


async def _run(seed: int, samples: Samples) -> None:
    async with FakeGoDeploy(seed=seed, order_count=ORDERS, log_size=16) as fake:
        first, later, twice = await _calls(fake, "BENCH")
        samples.add("first", first)
        samples.add("later", later)
        samples.add("twice", twice)
        rule = fake.faults.add(Fault.drop(after_handler=True), route="createOrder", rate=FAULT_RATE)
        _, later, twice = await _calls(fake, "FAULTED")
        samples.add("faulted later", later)
        samples.add("faulted twice", twice)
        samples.add("faults", rule.fired)


def run(cores: Cores, runs: int) -> list[Row]:
    """`runs` runs, each with its own fake seed (so its own fault draws)."""
    samples = Samples()
    for seed in range(runs):
        asyncio.run(_run(seed, samples))
    label = f"create_once, {CALLS} calls, {ORDERS:,} orders"
    faulted = f"{label}, {FAULT_RATE:.0%} dropped after store"
    return [
        Row("8", f"{label}: requests of the first call", samples.figure("first"), _count),
        Row(
            "8",
            f"{label}: requests per later call",
            samples.figure("later"),
            _count,
            Target("<=", 2.0),
        ),
        Row("8", f"{label}: orders made twice", samples.figure("twice"), _count),
        Row("8", f"{faulted}: faults that struck", samples.figure("faults"), _count),
        Row("8", f"{faulted}: requests per later call", samples.figure("faulted later"), _count),
        Row(
            "8",
            f"{faulted}: orders made twice",
            samples.figure("faulted twice"),
            _count,
            Target("<=", 0.0),
        ),
    ]
