"""Run FakeGoDeploy on its own: `python -m godeploy.testing --port 8080`.

It prints the URL, the token and the business unit id, then serves on 127.0.0.1 until Ctrl-C
(or SIGTERM), and prints one last line, `stats: {json}`: requests, rate_limited (429s),
busiest_window (the most requests in any one second) and requests_per_window.

With `--export` it prints what a shell can source instead: `export GODEPLOY_TOKEN=...`,
`GODEPLOY_BUSINESS_UNIT_ID` and `GODEPLOY_BASE_URL` lines, everything else as `# ` comments.

`godeploy fake-server` is this same runner: its options are defined here, once.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import shlex
import signal
import sys

from godeploy._json import dumps
from godeploy.testing._server import FakeGoDeploy

PROG = "python -m godeploy.testing"


def _parser(prog: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog,
        description="Serve a fake go deploy Order API on 127.0.0.1 until Ctrl-C.",
    )
    parser.add_argument("--port", type=int, default=8080, help="port (0: any free one)")
    parser.add_argument("--seed", type=int, default=7, help="data and token seed")
    parser.add_argument("--orders", type=int, default=4150, help="stored orders of the unit")
    parser.add_argument("--products", type=int, default=287, help="products of the unit")
    parser.add_argument(
        "--latency-ms", type=float, default=0.0, help="added to every answer, in milliseconds"
    )
    parser.add_argument(
        "--rate-limit",
        type=int,
        default=None,
        metavar="R",
        help="answer 429 (with Retry-After) above R requests per second",
    )
    parser.add_argument(
        "--export",
        action="store_true",
        help="print `export GODEPLOY_...=...` lines for a shell to source (the rest as comments)",
    )
    return parser


def _banner(fake: FakeGoDeploy, cap: str, *, export: bool) -> str:
    """What the runner prints once it listens: plain lines, or a script a shell can source."""
    lines = [
        f"go deploy fake serving on {fake.url}",
        f"token: {fake.token}",
        f"business unit id: {fake.business_unit_id}",
        f"other business unit id: {fake.other_business_unit_id}",
        f"rate limit: {cap}",
        "Press Ctrl-C to stop.",
    ]
    if not export:
        return "".join(f"{line}\n" for line in lines)
    exports = [f"export {name}={shlex.quote(value)}" for name, value in fake.environment.items()]
    comments = [f"# {line}" for line in (lines[0], *lines[3:])]
    return "".join(f"{line}\n" for line in (*comments[:1], *exports, *comments[1:]))


async def _serve(arguments: argparse.Namespace) -> None:
    fake = FakeGoDeploy(
        seed=arguments.seed,
        port=arguments.port,
        order_count=arguments.orders,
        product_count=arguments.products,
        log_size=1000,
        rate_limit=arguments.rate_limit,
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
    cap = "none" if arguments.rate_limit is None else f"{arguments.rate_limit} requests/s"
    async with fake:
        sys.stdout.write(_banner(fake, cap, export=arguments.export))
        sys.stdout.flush()
        await stop.wait()
        # For demos and benchmarks that run the fake in its own process: what it saw.
        stats = {
            "requests": fake.count(),
            "rate_limited": fake.count(status=429),
            "busiest_window": fake.busiest_window(),
            "requests_per_window": fake.requests_per_window,
        }
        comment = "# " if arguments.export else ""
        sys.stdout.write(f"{comment}stats: {dumps(stats)}\n")
        sys.stdout.flush()


def main(argv: list[str] | None = None, *, prog: str = PROG) -> int:
    """Parse the arguments and serve until interrupted; return the exit status.

    Args:
        argv: the options (`sys.argv[1:]` by default).
        prog: the command's name in the help and in usage errors.
    """
    arguments = _parser(prog).parse_args(argv)
    if (
        arguments.orders < 0
        or arguments.products < 1
        or arguments.latency_ms < 0
        or (arguments.rate_limit is not None and arguments.rate_limit < 1)
    ):
        sys.stderr.write(
            "--orders must be >= 0, --products >= 1, --latency-ms >= 0, --rate-limit >= 1\n"
        )
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
