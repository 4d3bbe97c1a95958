"""One worker process of the fleet-limits tests: `python -m tests._support.limits_worker CONFIG`.

CONFIG is JSON: redis, base_url, token, unit, orders (ids to GET), rate, burst, concurrency,
mode ("fleet": FleetLimits on the shared Redis; "local": the client's own local limits),
optionally timeout (each call's deadline, seconds) and jitter (FleetLimits' margin). It
prints `ready`, waits for a line on stdin (so every worker starts at once), GETs the orders
through one GoDeployClient, and prints one JSON line: ok, errors, held (admissions that a
429 pause held), warnings (WARNING records of godeploy.fleet), slowest (the longest call, in
seconds).
"""

from __future__ import annotations

import asyncio
import json
import logging
import sys
import time
from typing import Any

from godeploy import Admission, GoDeployClient, GoDeployError, Limits
from godeploy.fleet import FleetLimits


class CountingLimits(FleetLimits):
    """FleetLimits that count the admissions a pause held."""

    held = 0

    async def admit(self, max_wait: float | None) -> Admission:
        admission = await super().admit(max_wait)
        if admission.paused:
            self.held += 1
        return admission


class Counter(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.count = 0

    def emit(self, record: logging.LogRecord) -> None:
        self.count += 1


async def run(config: dict[str, Any]) -> dict[str, Any]:
    warnings = Counter()
    logging.getLogger("godeploy.fleet").addHandler(warnings)
    limits: Limits | None = None
    options: dict[str, Any] = {}
    if config["mode"] == "fleet":
        margin = {"jitter": config["jitter"]} if "jitter" in config else {}
        limits = CountingLimits(
            config["redis"],
            max_requests_per_second=config["rate"],
            burst=config["burst"],
            **margin,
        )
        options["limits"] = limits
    else:
        options["max_requests_per_second"] = config["rate"]
    if "timeout" in config:
        options["timeout"] = config["timeout"]
    sys.stdout.write("ready\n")
    sys.stdout.flush()
    await asyncio.to_thread(sys.stdin.readline)
    ok, errors, slowest = 0, [], 0.0
    gate = asyncio.Semaphore(config["concurrency"])
    async with GoDeployClient(
        config["token"], config["unit"], base_url=config["base_url"], **options
    ) as client:

        async def get(order_id: int) -> None:
            nonlocal ok, slowest
            async with gate:
                started = time.monotonic()
                try:
                    await client.orders.get(order_id)
                except GoDeployError as error:
                    errors.append(f"{type(error).__name__}: {error}")
                else:
                    ok += 1
                finally:
                    slowest = max(slowest, time.monotonic() - started)

        async with asyncio.TaskGroup() as group:
            for order_id in config["orders"]:
                group.create_task(get(order_id))
    held = 0
    if isinstance(limits, CountingLimits):
        held = limits.held
        await limits.aclose()
    return {
        "ok": ok,
        "errors": errors,
        "held": held,
        "warnings": warnings.count,
        "slowest": slowest,
    }


def main() -> int:
    summary = asyncio.run(run(json.loads(sys.argv[1])))
    sys.stdout.write(json.dumps(summary) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
