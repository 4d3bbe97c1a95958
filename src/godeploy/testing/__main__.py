"""Run FakeGoDeploy on its own: `python -m godeploy.testing --port 8080`.

It prints the URL, the token and the business unit id, then serves on 127.0.0.1 until Ctrl-C
(or SIGTERM).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys

from godeploy.testing._server import FakeGoDeploy


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m godeploy.testing",
        description="Serve a fake go deploy Order API on 127.0.0.1 until Ctrl-C.",
    )
    parser.add_argument("--port", type=int, default=8080, help="port (0: any free one)")
    parser.add_argument("--seed", type=int, default=7, help="data and token seed")
    parser.add_argument("--orders", type=int, default=4150, help="stored orders of the unit")
    parser.add_argument("--products", type=int, default=287, help="products of the unit")
    parser.add_argument(
        "--latency-ms", type=float, default=0.0, help="added to every answer, in milliseconds"
    )
    return parser


async def _serve(arguments: argparse.Namespace) -> None:
    fake = FakeGoDeploy(
        seed=arguments.seed,
        port=arguments.port,
        order_count=arguments.orders,
        product_count=arguments.products,
        log_size=1000,
    )
    if arguments.latency_ms:
        fake.faults.latency(fixed=arguments.latency_ms / 1000)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signal_number in (signal.SIGINT, signal.SIGTERM):
        # Explicit handlers: a shell starts background jobs with SIGINT ignored, which would
        # otherwise make Ctrl-C (or `kill -INT`) do nothing.
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(signal_number, stop.set)
    async with fake:
        sys.stdout.write(
            f"go deploy fake serving on {fake.url}\n"
            f"token: {fake.token}\n"
            f"business unit id: {fake.business_unit_id}\n"
            f"other business unit id: {fake.other_business_unit_id}\n"
            "Press Ctrl-C to stop.\n"
        )
        sys.stdout.flush()
        await stop.wait()


def main(argv: list[str] | None = None) -> int:
    """Parse the arguments and serve until interrupted; return the exit status."""
    arguments = _parser().parse_args(argv)
    if arguments.orders < 0 or arguments.products < 1 or arguments.latency_ms < 0:
        sys.stderr.write("--orders must be >= 0, --products >= 1, --latency-ms >= 0\n")
        return 2
    try:
        asyncio.run(_serve(arguments))
    except KeyboardInterrupt:
        pass
    except OSError as error:
        sys.stderr.write(f"cannot serve on port {arguments.port}: {error}\n")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
