"""The client process of section 5: `python -m tests.benchmarks._memory_client URL TOKEN UNIT`.

It streams `for_orders(client.orders.list(page_size=100))` to the end, keeping only counts, and
prints one JSON line: its peak RSS in KiB at the start (imports done) and at the end, the
orders, items and failures it saw and the seconds it took. A fresh process per run, so each
peak is its own. The peak is VmHWM of /proc/self/status where there is one: Linux carries
getrusage's ru_maxrss over an exec, so in a child it starts at its parent's size.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import resource
import sys
import time
from pathlib import Path

from godeploy import GoDeployClient


async def stream_every_order(url: str, token: str, unit: str) -> dict[str, int]:
    """Fetch the items of every order of the unit; count what came back."""
    counts = {"orders": 0, "items": 0, "failed": 0}
    async with (
        GoDeployClient(token, unit, base_url=url) as client,
        client.order_items.for_orders(client.orders.list(page_size=100)) as results,
    ):
        async for result in results:
            counts["orders"] += 1
            counts["items"] += len(result.items)
            counts["failed"] += result.error is not None
    return counts


def peak_rss_kib() -> int:
    """This process's peak resident set size so far, in KiB."""
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def main() -> None:
    """Run once and report."""
    url, token, unit = sys.argv[1:4]
    start_rss = peak_rss_kib()
    started = time.perf_counter()
    counts = asyncio.run(stream_every_order(url, token, unit))
    peak = peak_rss_kib()
    seconds = time.perf_counter() - started
    report = {**counts, "start_rss_kib": start_rss, "max_rss_kib": peak, "seconds": seconds}
    sys.stdout.write(json.dumps(report) + "\n")


if __name__ == "__main__":
    main()
