"""The fake server process of the benchmarks: `python -m tests.benchmarks._fake --orders N`.

It starts `FakeGoDeploy` on a free loopback port, writes one JSON line to stdout (url, token,
business unit id and the first `--ids` order ids of the unit) and serves until its standard
input closes or it gets SIGTERM. The parent pins it to its own core.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import sys

from godeploy.testing import FakeGoDeploy


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m tests.benchmarks._fake")
    parser.add_argument("--orders", type=int, required=True, help="stored orders of the unit")
    parser.add_argument("--seed", type=int, default=7, help="data seed")
    parser.add_argument("--latency-ms", type=float, default=0.0, help="added to every answer")
    parser.add_argument("--ids", type=int, default=0, help="how many order ids to print")
    return parser


def _stop_when_stdin_closes(stop: asyncio.Event) -> None:
    """Set `stop` once the parent closes our standard input (or dies)."""
    loop = asyncio.get_running_loop()
    descriptor = sys.stdin.fileno()

    def readable() -> None:
        if not os.read(descriptor, 4096):
            loop.remove_reader(descriptor)
            stop.set()

    loop.add_reader(descriptor, readable)


async def _serve(arguments: argparse.Namespace) -> None:
    fake = FakeGoDeploy(seed=arguments.seed, order_count=arguments.orders, log_size=16)
    if arguments.latency_ms:
        fake.faults.latency(fixed=arguments.latency_ms / 1000)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    with contextlib.suppress(NotImplementedError):
        loop.add_signal_handler(signal.SIGTERM, stop.set)
    async with fake:
        ready = {
            "url": str(fake.url),
            "token": fake.token,
            "business_unit_id": str(fake.business_unit_id),
            "order_ids": fake.order_ids()[: arguments.ids],
        }
        sys.stdout.write(json.dumps(ready) + "\n")
        sys.stdout.flush()
        _stop_when_stdin_closes(stop)
        await stop.wait()


def main() -> None:
    """Serve until stdin closes or SIGTERM."""
    asyncio.run(_serve(_parser().parse_args()))


if __name__ == "__main__":
    main()
