"""Soak: 50,000 orders' items through one fan-out, every fault kind on, default retry budget.

No result may be lost or duplicated, the connector must hold no connection at the end, no task
may be left pending, and memory after 50,000 requests may not have grown with the number of
requests since a warm-up of 10,000. The figures go to build/reliability.json (and stdout
under `-s`).
"""

from __future__ import annotations

import gc
import time
from collections import Counter

import psutil
import pytest

from godeploy import ResponseValidationError, Timeout
from godeploy.testing import FakeGoDeploy, Fault
from tests._support import acquired_connections, make_client
from tests._support.reliability import (
    only_handler,
    other_tasks,
    record_figures,
    sdk_tasks,
)

ORDERS = 50_000
WARM_UP = 20_000
"""Orders before memory is measured: past the fake's own cache of derived orders (16,384, in
this process too), so what grows after it is the SDK's."""
CONCURRENCY = 64

FAULTS = {
    "latency-beyond-timeout": (Fault.stall(2), 0.0005),
    "429-retry-after": (Fault.status(429, retry_after="0.005"), 0.002),
    "500": (Fault.status(500), 0.005),
    "502": (Fault.status(502), 0.005),
    "503": (Fault.status(503), 0.005),
    "504": (Fault.status(504), 0.005),
    "reset": (Fault.reset(), 0.003),
    "truncated": (Fault.truncated(), 0.001),
    "malformed": (Fault.malformed(), 0.001),
    "html-502": (Fault.html(502), 0.003),
    "after-storing-500": (Fault.status(500, after_handler=True), 0.002),
}
"""Each fault with its rate: about 3% of all requests, of every kind."""

RSS_GROWTH_LIMIT = 16 * 2**20
"""16 MiB over 30,000 requests: a leak of 400 bytes a request would show. Without a leak RSS
grows a few MiB while the allocator settles."""

OBJECT_GROWTH_LIMIT = 4_000
"""Objects the garbage collector tracks: a leak of one object per ten requests would show."""


def memory() -> tuple[int, int]:
    """(RSS in bytes, objects tracked by the garbage collector), after a full collection."""
    gc.collect()
    return psutil.Process().memory_info().rss, len(gc.get_objects())


@pytest.mark.slow
async def test_soak_50k_requests_no_loss_no_leak(token_guard):
    with only_handler("godeploy", token_guard):
        await soak(token_guard)


async def soak(token_guard):
    started = time.monotonic()
    # A short request log: the fake's own memory must not grow with the requests either.
    async with FakeGoDeploy(seed=11, order_count=ORDERS, log_size=100) as fake:
        rules = {
            name: fake.faults.add(fault, route="listOrderItems", rate=rate)
            for name, (fault, rate) in FAULTS.items()
        }
        order_ids = fake.order_ids()
        assert len(order_ids) == ORDERS
        seen: Counter[int] = Counter()  # the test's own memory: about 2 MiB more at the end
        errors: Counter[str] = Counter()
        # Attempts time out well inside the 2 s stall, with room for a loaded machine.
        timeout = Timeout(connect=5, attempt=1.0, total=60)
        client = make_client(fake, timeout=timeout)  # the default retry budget
        start_rss, start_objects = memory()
        async with client:
            async with client.order_items.for_orders(order_ids, concurrency=CONCURRENCY) as out:
                async for result in out:
                    seen[result.order_id] += 1
                    if result.error is not None:
                        errors[type(result.error).__name__] += 1
                    if len(seen) == WARM_UP:
                        warm_rss, warm_objects = memory()
                        warm_requests = fake.count("listOrderItems")
            end_rss, end_objects = memory()
            leaked_connections = acquired_connections(client)
            pending = sdk_tasks()
            stats = client.stats
        elapsed = time.monotonic() - started
        requests = fake.count("listOrderItems")
        fired = {name: rule.fired for name, rule in rules.items()}
    left_behind = other_tasks()

    duplicates = sum(count - 1 for count in seen.values())
    figures = {
        "orders": ORDERS,
        "concurrency": CONCURRENCY,
        "requests_made": requests,
        "client_attempts": stats["requests"],
        "client_retries": stats["retries"],
        "results": sum(seen.values()),
        "distinct_orders": len(seen),
        "lost": len(set(order_ids) - set(seen)),
        "duplicates": duplicates,
        "errors_by_type": dict(errors),
        "faults_injected_by_kind": fired,
        "faults_injected_total": sum(fired.values()),
        "leaked_connections": leaked_connections,
        "pending_tasks": len(pending) + len(left_behind),
        "memory_at_start": {
            "requests": 0,
            "rss_mib": round(start_rss / 2**20, 1),
            "gc_objects": start_objects,
        },
        "memory_after_warm_up": {
            "requests": warm_requests,
            "rss_mib": round(warm_rss / 2**20, 1),
            "gc_objects": warm_objects,
        },
        "memory_at_end": {
            "requests": requests,
            "rss_mib": round(end_rss / 2**20, 1),
            "gc_objects": end_objects,
        },
        "rss_growth_mib": round((end_rss - warm_rss) / 2**20, 2),
        "gc_object_growth": end_objects - warm_objects,
        "log_records_checked_for_tokens": token_guard.checked,
        "seconds": round(elapsed, 1),
        "requests_per_second": round(requests / elapsed),
    }
    record_figures("soak", figures)

    assert requests >= ORDERS and stats["requests"] == requests
    assert sorted(seen) == order_ids  # none lost
    assert duplicates == 0
    assert all(count >= 5 for count in fired.values()), fired
    # Each order ended with one success, or with the fault that outlived its retries.
    assert requests == ORDERS + sum(fired.values()) - sum(errors.values())
    # An unreadable body is not retried; nearly every other fault is absorbed by retries.
    assert errors["ResponseValidationError"] == fired["truncated"] + fired["malformed"]
    assert sum(errors.values()) - errors[ResponseValidationError.__name__] <= 5, errors
    assert leaked_connections == 0
    assert pending == [] and left_behind == []
    assert end_rss - warm_rss < RSS_GROWTH_LIMIT, figures
    assert end_objects - warm_objects < OBJECT_GROWTH_LIMIT, figures
    assert token_guard.checked >= requests  # one DEBUG line per attempt, every one checked
