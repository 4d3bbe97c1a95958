"""Section 6: the fleet. W worker processes, how requests/s scale with W, the fleet-wide cap.

Each configuration gets a fresh fake process (50 ms a request) so that its request count and
busiest second are its own; `godeploy fleet worker` processes (concurrency 4 each) fetch 4,000
orders in chunks of 50 through one redis-server. Then, once per run, 4 workers under a fleet
cap of 200/s (FleetLimits, burst 10, its default margin for arrival jitter) against a fake
that answers 429 above cap + burst: its 429s and its achieved rate over the cap; and the cost
per request of FleetLimits against local limits.
"""

from __future__ import annotations

import asyncio
import os
import time

from examples.fleet_processes import FleetProcesses, fleet_processes

from godeploy.fleet import Fleet
from godeploy.testing import FakeGoDeploy, RedisServer

from . import _limits_cost
from ._harness import Cores, Figure, Samples, rotations
from ._report import Row, Target, per_second, times

LATENCY_MS = 50.0
ORDERS = 4000
CHUNK_SIZE = 50
CONCURRENCY = 4
WORKER_COUNTS = (1, 2, 4)
CAP = 200
BURST = 10
"""FleetLimits' default burst: the most the cap lets through in any one second is cap + burst."""
CAPPED_WORKERS = 4
"""Four workers ask for 320 requests/s, well over the cap."""
SCALING_TARGETS = {2: Target(">=", 1.8), 4: Target(">=", 3.2)}


def run(cores: Cores, runs: int) -> list[Row]:
    """Scaling: one round per five runs (about 1.5 minutes), at least one. The cap: each run."""
    return asyncio.run(_run(cores, max(1, runs // 5), max(1, runs)))


async def _run(cores: Cores, rounds: int, capped_runs: int) -> list[Row]:
    samples = Samples()
    # The fake process is started with the same seed: the same order ids.
    order_ids = FakeGoDeploy(seed=7, order_count=ORDERS).order_ids()
    with fleet_processes() as processes, RedisServer() as redis:
        async with Fleet(redis.url) as fleet:
            number = 0
            for order in rotations(WORKER_COUNTS, rounds):
                for workers in order:
                    number += 1
                    stats, seconds, results = await _one(
                        processes, fleet, redis.url, cores, order_ids, workers, f"w{number}"
                    )
                    if results != ORDERS:
                        raise RuntimeError(f"{results} results of {ORDERS} with W={workers}")
                    samples.add(f"rps {workers}", stats["requests"] / seconds)
                for workers in WORKER_COUNTS[1:]:
                    last = [samples.values[f"rps {w}"][-1] for w in (workers, 1)]
                    samples.add(f"scaling {workers}", last[0] / last[1])
            for _ in range(capped_runs):
                number += 1
                stats, seconds, results = await _one(
                    processes,
                    fleet,
                    redis.url,
                    cores,
                    order_ids,
                    CAPPED_WORKERS,
                    f"capped{number}",
                    cap=CAP,
                )
                samples.add("capped busiest", stats["busiest_window"] / (CAP + BURST))
                samples.add("capped 429s", stats["rate_limited"])
                samples.add("capped results", results)
                samples.add("capped rps", stats["requests"] / seconds)
                samples.add("capped rate", stats["requests"] / seconds / CAP)
    cost = await _limits_cost.measure(runs=5)
    return _rows(samples, cost)


async def _one(
    processes: FleetProcesses,
    fleet: Fleet,
    redis_url: str,
    cores: Cores,
    order_ids: list[int],
    workers: int,
    run_id: str,
    *,
    cap: int | None = None,
) -> tuple[dict[str, int], float, int]:
    """One configuration: a fresh fake, W workers, every order; (fake stats, seconds, results)."""
    fake = await processes.start_fake(
        latency_ms=LATENCY_MS, rate_limit=None if cap is None else cap + BURST, orders=ORDERS
    )
    if cores.server is not None:
        os.sched_setaffinity(fake.process.pid, {cores.server})
    names = [f"{run_id}-worker-{index}" for index in range(workers)]
    started_workers = [
        processes.start_worker(name, redis_url, fake, concurrency=CONCURRENCY, rate=cap)
        for name in names
    ]
    if cores.server is not None and cores.client is not None:
        # They inherit this process's pin to the client core: give them both cores.
        for process in started_workers:
            os.sched_setaffinity(process.pid, {cores.server, cores.client})
    try:
        await processes.until_ready(names)
        started = time.perf_counter()
        await fleet.submit(order_ids, chunk_size=CHUNK_SIZE, run_id=run_id)
        results = 0
        async for _ in fleet.results(run_id):
            results += 1
        seconds = time.perf_counter() - started
    finally:
        for process in started_workers:
            processes.stop(process)
    return fake.stop(), seconds, results


def _rows(samples: Samples, cost: dict[str, Figure]) -> list[Row]:
    setting = f"{ORDERS:,} orders, chunks of {CHUNK_SIZE}, C={CONCURRENCY} per worker"
    rows = [
        Row(
            "6",
            f"W={workers}: requests/s ({setting})",
            samples.figure(f"rps {workers}"),
            per_second,
        )
        for workers in WORKER_COUNTS
    ]
    rows += [
        Row(
            "6",
            f"scaling W{workers}/W1",
            samples.figure(f"scaling {workers}"),
            times,
            SCALING_TARGETS[workers],
        )
        for workers in WORKER_COUNTS[1:]
    ]
    capped = f"W={CAPPED_WORKERS}, fleet cap {CAP}/s"
    rows += [
        Row("6", f"{capped}: requests/s", samples.figure("capped rps"), per_second),
        Row(
            "6",
            f"{capped}: busiest 1-s window / (cap + burst {BURST})",
            samples.figure("capped busiest"),
            times,
            Target("<=", 1.0),
            note=f"the fake answers 429 above {CAP + BURST}/s",
        ),
        Row(
            "6",
            f"{capped}: 429s per run",
            samples.figure("capped 429s"),
            _count,
            Target("<=", 0),
            note="each run: " + ", ".join(_count(v) for v in samples.values["capped 429s"]),
        ),
        Row(
            "6",
            f"{capped}: achieved requests/s / cap",
            samples.figure("capped rate"),
            times,
            Target(">=", 0.9),
            note="FleetLimits books 1/(1 + jitter 0.05) of the cap: room for arrival jitter",
        ),
        Row(
            "6",
            f"{capped}: results",
            samples.figure("capped results"),
            _count,
            note=f"exactly {ORDERS:,} expected",
        ),
    ]
    fleet, local = cost["fleet"], cost["local"]
    rows += [
        Row(
            "6",
            "FleetLimits: pacing per request",
            fleet,
            _microseconds,
            note="admit + refund, loopback redis-server",
        ),
        Row("6", "local limits: pacing per request", local, _microseconds),
    ]
    return rows


def _count(value: float) -> str:
    return f"{value:,.0f}"


def _microseconds(value: float) -> str:
    return f"{value * 1e6:,.1f} µs"
