"""The processes of the fleet demo and of `make bench`'s fleet section, each stopped on exit.

`fleet_processes()` gives a `FleetProcesses` that starts a fake API (`python -m
godeploy.testing`) and `godeploy fleet worker`s, each in its own process and session, and
stops every one of them on the way out, on Ctrl-C and on failure too.
"""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Final

from attrs import define

from godeploy import loads
from godeploy._lifecycle import stop_process

__all__ = ["FakeProcess", "FleetProcesses", "ProcessFailedError", "fleet_processes"]

_STOP_GRACE: Final = 5.0


class ProcessFailedError(Exception):
    """A child did not start, or stopped without saying what it saw."""


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
                raise ProcessFailedError("a fleet worker did not start:\n" + self.log(names[0]))
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
    raise ProcessFailedError(f"the fake API exited before it was ready ({process.wait()})")


def _fake_stats(process: subprocess.Popen[bytes]) -> dict[str, Any]:
    """The `stats: {...}` line the fake prints when it stops."""
    assert process.stdout is not None
    for raw in process.stdout:
        line = raw.decode()
        if line.startswith("stats: "):
            stats: dict[str, Any] = loads(line.removeprefix("stats: "))
            process.stdout.close()
            return stats
    raise ProcessFailedError("the fake API stopped without its stats")
