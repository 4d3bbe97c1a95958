"""`godeploy fleet demo` (`make demo-fleet`): the fleet end to end, a worker killed mid-run.

It starts, each in its own process, the bundled redis-server, a fake API (35 ms a request,
capped at 200 requests/s) and three `godeploy fleet worker`s sharing a fleet-wide rate; submits
all 4150 orders, SIGKILLs one worker a third of the way through, and checks that every order
comes back exactly once. Then one worker alone fetches a sample, for the comparison. Every
process it started is stopped on the way out, on Ctrl-C and on failure too.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Final

from attrs import define

from godeploy import GoDeployClient, loads
from godeploy._lifecycle import stop_process
from godeploy.cli._errors import EXIT_INTERRUPTED, CommandError
from godeploy.cli._fleet import until_created
from godeploy.cli._render import Output

__all__ = ["FakeProcess", "FleetProcesses", "fleet_processes", "run_fleet_demo"]

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
_STOP_GRACE: Final = 5.0


@define(frozen=True, kw_only=True)
class FakeProcess:
    """A fake API in its own process: where it listens and how to talk to it."""

    process: subprocess.Popen[bytes]
    url: str
    token: str
    business_unit_id: str

    def stop(self) -> dict[str, Any]:
        """Stop it (SIGTERM) and return what it saw: `requests`, `rate_limited`, ..."""
        if self.process.poll() is None:
            self.process.terminate()
        return _fake_stats(self.process)


class FleetProcesses:
    """Every process the demo (or the benchmark) starts, stopped last-started first.

    Stopping is SIGTERM, then SIGKILL after a grace period; `stop_all()` runs on the way out
    of `fleet_processes()`, whatever happened.
    """

    def __init__(self, logs: Path) -> None:
        self._logs = logs
        self._running: list[subprocess.Popen[bytes]] = []

    def start(
        self, name: str, argv: list[str], env: dict[str, str] | None = None
    ) -> subprocess.Popen[bytes]:
        """Start a child in its own session (a Ctrl-C reaches only the demo, which stops it)."""
        log = (self._logs / f"{name}.log").open("wb")
        try:
            process = subprocess.Popen(  # noqa: S603 - our own interpreter and modules
                argv,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE if name == "fake" else log,
                stderr=log,
                env=env,
                start_new_session=True,
            )
        finally:
            log.close()
        self._running.append(process)
        return process

    def log(self, name: str) -> str:
        """What a child wrote to its log so far."""
        return (self._logs / f"{name}.log").read_text(errors="replace")

    def stop(self, process: subprocess.Popen[bytes]) -> None:
        """Stop one child and reap it; nothing if it is gone already."""
        stop_process(process, _STOP_GRACE)
        if process in self._running:
            self._running.remove(process)

    def stop_all(self) -> None:
        """Stop every child still running, the last started first."""
        for process in reversed(list(self._running)):
            self.stop(process)

    async def start_fake(
        self, *, latency_ms: float, rate_limit: int | None, orders: int = 4150
    ) -> FakeProcess:
        """`python -m godeploy.testing` on a free port; wait until it is ready."""
        argv = [sys.executable, "-m", "godeploy.testing", "--port", "0", "--orders", str(orders)]
        argv += ["--latency-ms", str(latency_ms)]
        if rate_limit is not None:
            argv += ["--rate-limit", str(rate_limit)]
        process = self.start("fake", argv)
        return await asyncio.to_thread(_read_fake, process)

    def start_worker(
        self,
        name: str,
        redis_url: str,
        fake: FakeProcess,
        *,
        concurrency: int,
        rate: float | None,
        job_timeout: float = 20.0,
    ) -> subprocess.Popen[bytes]:
        """`godeploy fleet worker` on the fake (connection in its environment, as in production)."""
        env = {
            **os.environ,
            "GODEPLOY_TOKEN": fake.token,
            "GODEPLOY_BUSINESS_UNIT_ID": fake.business_unit_id,
            "GODEPLOY_BASE_URL": fake.url,
        }
        argv = [sys.executable, "-m", "godeploy.cli", "fleet", "worker", "--redis", redis_url]
        argv += ["--concurrency", str(concurrency), "--job-timeout", str(job_timeout)]
        if rate is not None:
            argv += ["--max-requests-per-second", str(rate)]
        return self.start(name, argv, env)

    async def until_ready(self, names: list[str], timeout: float = 60) -> None:
        """Wait until each worker printed its first line (it is set up)."""
        deadline = time.monotonic() + timeout
        while not all("fleet worker" in self.log(name) for name in names):
            if time.monotonic() > deadline:
                raise CommandError("a fleet worker did not start:\n" + self.log(names[0]))
            await asyncio.sleep(0.05)


@contextmanager
def fleet_processes() -> Iterator[FleetProcesses]:
    """A `FleetProcesses` whose children are all stopped on the way out."""
    with tempfile.TemporaryDirectory(prefix="godeploy-fleet-") as logs:
        processes = FleetProcesses(Path(logs))
        try:
            yield processes
        finally:
            processes.stop_all()


async def run_fleet_demo(output: Output) -> None:
    """Run the demo; print its steps and results on stdout.

    SIGINT and SIGTERM stop it (and every process it started), even when it runs in the
    background, where a shell starts it with SIGINT ignored.

    Raises:
        CommandError: an order came back twice, or not at all; or the demo was interrupted.
    """
    task = asyncio.current_task()
    assert task is not None
    loop = asyncio.get_running_loop()
    for signal_number in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signal_number, task.cancel)
    try:
        await _demo(output)
    except asyncio.CancelledError:
        raise CommandError(
            "interrupted: every process the demo started is stopped", EXIT_INTERRUPTED
        ) from None
    finally:
        for signal_number in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signal_number)


async def _demo(output: Output) -> None:
    """The demo's steps (see the module's docstring)."""
    from godeploy.fleet import Fleet, FleetLimits
    from godeploy.testing import RedisServer

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
            submit = asyncio.create_task(
                fleet.submit(
                    client.orders.list(page_size=100), chunk_size=CHUNK_SIZE, run_id="demo"
                )
            )
            await until_created(fleet, "demo", submit)
            seen: dict[int, int] = {}
            killed_at = None
            async for result in fleet.results("demo"):
                seen[result.order_id] = seen.get(result.order_id, 0) + 1
                if killed_at is None and len(seen) >= 4150 // 3:
                    os.kill(workers[0].pid, signal.SIGKILL)
                    killed_at = time.perf_counter() - started
                    output.notice(f"SIGKILLed worker {workers[0].pid} at {killed_at:.1f} s")
            wall = time.perf_counter() - started
            run = await submit
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
        raise CommandError("the fleet lost or doubled orders")


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


def _read_fake(process: subprocess.Popen[bytes]) -> FakeProcess:
    """The fake's URL, token and business unit, from the lines it prints when ready."""
    assert process.stdout is not None
    fields: dict[str, str] = {}
    for raw in process.stdout:
        line = raw.decode().strip()
        if match := re.match(r"go deploy fake serving on (\S+)", line):
            fields["url"] = match[1]
        elif line.startswith("token: "):
            fields["token"] = line.removeprefix("token: ")
        elif line.startswith("business unit id: "):
            fields["business_unit_id"] = line.removeprefix("business unit id: ")
        elif line.startswith("Press Ctrl-C"):
            return FakeProcess(process=process, **fields)
    raise CommandError(f"the fake API exited before it was ready ({process.wait()})")


def _fake_stats(process: subprocess.Popen[bytes]) -> dict[str, Any]:
    """The `stats: {...}` line the fake prints when it stops."""
    assert process.stdout is not None
    for raw in process.stdout:
        line = raw.decode()
        if line.startswith("stats: "):
            stats: dict[str, Any] = loads(line.removeprefix("stats: "))
            process.stdout.close()
            return stats
    raise CommandError("the fake API stopped without its stats")
