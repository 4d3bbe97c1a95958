"""What every section shares: core pinning, the fake's process, figures and alternation."""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

ROOT = Path(__file__).resolve().parents[2]
BUILD = ROOT / "build"

T = TypeVar("T")


@dataclass(frozen=True)
class Cores:
    """Which core the fake runs on and which the client runs on (None: not pinned)."""

    server: int | None
    client: int | None

    def describe(self) -> str:
        """Say how the processes were placed, for the report."""
        if self.server is None:
            return "not pinned (fewer than 2 cores usable)"
        return f"fake on core {self.server}, client on core {self.client}"


def pin_cores() -> Cores:
    """Pin this (the client's) process to one core and keep another for the fake."""
    if not hasattr(os, "sched_setaffinity"):
        return Cores(None, None)
    usable = sorted(os.sched_getaffinity(0))
    if len(usable) < 2:
        return Cores(None, None)
    server, client = usable[0], usable[-1]
    os.sched_setaffinity(0, {client})
    return Cores(server, client)


@dataclass(frozen=True)
class Fake:
    """A running fake: where it listens and how to talk to it."""

    url: str
    token: str
    business_unit_id: str
    order_ids: list[int]
    pid: int


@contextmanager
def fake_process(
    cores: Cores, *, orders: int, latency_ms: float = 0.0, ids: int = 0
) -> Iterator[Fake]:
    """Run `tests.benchmarks._fake` in its own process on the server core."""
    command = [
        sys.executable,
        "-m",
        "tests.benchmarks._fake",
        f"--orders={orders}",
        f"--latency-ms={latency_ms}",
        f"--ids={ids}",
    ]
    process = subprocess.Popen(command, cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    try:
        if cores.server is not None:
            os.sched_setaffinity(process.pid, {cores.server})
        assert process.stdout is not None
        line = process.stdout.readline()
        if not line:
            raise RuntimeError(f"the fake exited before it was ready: {process.wait()}")
        ready = json.loads(line)
        yield Fake(
            url=ready["url"],
            token=ready["token"],
            business_unit_id=ready["business_unit_id"],
            order_ids=ready["order_ids"],
            pid=process.pid,
        )
    finally:
        _stop(process)


def _stop(process: subprocess.Popen[bytes]) -> None:
    """Close the fake's stdin (it stops), then make sure it is gone."""
    if process.stdin is not None:
        process.stdin.close()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
    if process.stdout is not None:
        process.stdout.close()


@dataclass(frozen=True)
class Figure:
    """One measured figure: the median of the samples, with their min and max."""

    median: float
    low: float
    high: float
    samples: tuple[float, ...]

    @classmethod
    def of(cls, samples: Sequence[float]) -> Figure:
        """Summarise samples (at least one)."""
        return cls(statistics.median(samples), min(samples), max(samples), tuple(samples))

    def as_json(self) -> dict[str, Any]:
        """The figure for build/bench.json."""
        return {
            "median": self.median,
            "min": self.low,
            "max": self.high,
            "samples": list(self.samples),
        }


@dataclass
class Samples:
    """Samples collected per name, in the order they were taken."""

    values: dict[str, list[float]] = field(default_factory=dict)

    def add(self, name: str, value: float) -> None:
        """Record one sample."""
        self.values.setdefault(name, []).append(value)

    def figure(self, name: str) -> Figure:
        """The figure of one name."""
        return Figure.of(self.values[name])

    def ratio(self, numerator: str, denominator: str) -> Figure:
        """Per-round ratios of two names measured in the same rounds."""
        pairs = zip(self.values[numerator], self.values[denominator], strict=True)
        return Figure.of([a / b for a, b in pairs])


def rotations(names: Sequence[T], rounds: int) -> Iterator[list[T]]:
    """Yield each round's running order; each round starts one further on (no position bias)."""
    for number in range(rounds):
        shift = number % len(names)
        yield [*names[shift:], *names[:shift]]
