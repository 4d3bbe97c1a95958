"""Section 5: peak RSS of a client streaming every order's items, 10,000 against 100,000 orders.

Each run is a fresh client process (`_memory_client`) on the client core; the two fakes run at
once in their own processes on the server core, and the runs alternate between them.
"""

from __future__ import annotations

import json
import subprocess
import sys
from contextlib import ExitStack

from ._harness import ROOT, Cores, Fake, Samples, fake_process, rotations
from ._report import Row, Target, mebibytes, seconds, times

SIZES = {"10k": 10_000, "100k": 100_000}
TARGET = Target("<=", 1.2)


def client_run(fake: Fake, expected_orders: int) -> dict[str, float]:
    """One fresh client process over one fake; its report."""
    command = [sys.executable, "-m", "tests.benchmarks._memory_client"]
    command += [fake.url, fake.token, fake.business_unit_id]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=True)
    report: dict[str, float] = json.loads(result.stdout)
    if report["orders"] != expected_orders or report["failed"]:
        raise RuntimeError(f"expected {expected_orders} orders without failures: {report}")
    return report


def run(cores: Cores, runs: int) -> list[Row]:
    """Alternate the two fakes for `runs` rounds."""
    samples = Samples()
    with ExitStack() as stack:
        fakes = {
            name: stack.enter_context(fake_process(cores, orders=orders))
            for name, orders in SIZES.items()
        }
        for order in rotations(list(SIZES), runs):
            for name in order:
                report = client_run(fakes[name], SIZES[name])
                samples.add(f"rss {name}", report["max_rss_kib"])
                samples.add(f"growth {name}", report["max_rss_kib"] - report["start_rss_kib"])
                samples.add(f"seconds {name}", report["seconds"])
    return [
        Row("5", "peak RSS, 10,000 orders", samples.figure("rss 10k"), mebibytes),
        Row("5", "peak RSS, 100,000 orders", samples.figure("rss 100k"), mebibytes),
        Row("5", "peak RSS 100k / 10k", samples.ratio("rss 100k", "rss 10k"), times, TARGET),
        Row("5", "growth after imports, 10,000 orders", samples.figure("growth 10k"), mebibytes),
        Row("5", "growth after imports, 100,000 orders", samples.figure("growth 100k"), mebibytes),
        Row("5", "client run time, 100,000 orders", samples.figure("seconds 100k"), seconds),
    ]
