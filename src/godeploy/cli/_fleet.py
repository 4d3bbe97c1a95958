"""`godeploy fleet worker|status|cancel` and `godeploy order-items fan-out --fleet REDIS_URL`.

The fleet needs its extra (`pip install 'godeploy[fleet]'`: arq and redis-py); it is imported
only when a fleet command runs, so the rest of the command works without it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from typing import TYPE_CHECKING, Annotated, Any

import typer

from godeploy import GoDeployClient
from godeploy.cli._commands import _report_failure as report_failure
from godeploy.cli._commands import closing, stream_all_orders, total_setter
from godeploy.cli._connection import ConnectionSettings, with_connection
from godeploy.cli._errors import EXIT_USAGE, CommandError, run_async
from godeploy.cli._render import ORDER_ITEM_VIEW, Output

if TYPE_CHECKING:
    from godeploy.fleet import Fleet, FleetReport

__all__ = ["fan_out_on_fleet", "fleet_app", "until_created", "with_reports"]

_MISSING_EXTRA = "the fleet needs its extra: pip install 'godeploy[fleet]'"
_REPORT_EVERY = 1.0
"""Seconds between the progress bar's looks at the run's counters (failed, duplicates)."""

fleet_app = typer.Typer(
    help="Fan-out across worker processes and machines (arq + Redis).", no_args_is_help=True
)

RedisUrl = Annotated[
    str,
    typer.Option(
        "--redis",
        envvar="GODEPLOY_REDIS_URL",
        help="The Redis of the fleet, redis://[:password@]host:port/db. Never printed.",
        show_default=False,
    ),
]
Namespace = Annotated[
    str, typer.Option("--namespace", help="Keeps fleets apart on one Redis (and its queue).")
]
RunId = Annotated[str, typer.Argument(help="The run's id (printed by fan-out --fleet).")]


@contextlib.contextmanager
def _fleet_extra() -> Iterator[None]:
    """Turn a missing arq or redis-py into one line that says what to install."""
    try:
        yield
    except ImportError as error:
        if (error.name or "").partition(".")[0] not in {"arq", "redis"}:
            raise
        raise CommandError(_MISSING_EXTRA, EXIT_USAGE) from None


def _open_fleet(redis_url: str, namespace: str) -> Fleet:
    with _fleet_extra():
        from godeploy.fleet import Fleet
    return Fleet(redis_url, namespace=namespace)


@fleet_app.command("worker")
@with_connection
def worker(
    connection: ConnectionSettings,
    redis_url: RedisUrl,
    concurrency: Annotated[
        int, typer.Option("--concurrency", "-c", min=1, help="Orders in flight in this worker.")
    ] = 16,
    max_requests_per_second: Annotated[
        float | None,
        typer.Option(
            "--max-requests-per-second",
            min=0.001,
            help="The fleet-wide request rate (none by default); the 429 pause and the "
            "retry budget are shared through Redis in any case (FleetLimits).",
        ),
    ] = None,
    namespace: Namespace = "godeploy",
    job_timeout: Annotated[
        float,
        typer.Option(
            "--job-timeout",
            min=2.0,
            help="Seconds a chunk may run; a dead worker's chunk reruns 10 s after it.",
        ),
    ] = 20.0,
    burst: Annotated[bool, typer.Option("--burst", help="Stop once the queue is empty.")] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log every chunk.")] = False,
) -> None:
    """Run one arq worker that fetches order items for the fleet, until Ctrl-C or SIGTERM.

    The API connection comes from GODEPLOY_TOKEN, GODEPLOY_BUSINESS_UNIT_ID and
    GODEPLOY_BASE_URL; the token stays in this process (jobs carry only order ids).
    """
    output = Output(json_lines=False)
    run_async(
        lambda: run_worker(
            connection,
            output,
            redis_url=redis_url,
            concurrency=concurrency,
            max_requests_per_second=max_requests_per_second,
            namespace=namespace,
            job_timeout=job_timeout,
            burst=burst,
            verbose=verbose,
        )
    )


async def run_worker(
    settings: ConnectionSettings,
    output: Output,
    *,
    redis_url: str,
    concurrency: int,
    max_requests_per_second: float | None,
    namespace: str,
    job_timeout: float,
    burst: bool,
    verbose: bool,
) -> None:
    """`godeploy fleet worker`: an arq worker with one client, stopped by SIGINT or SIGTERM."""
    if settings.fake or settings.token is None:
        # Each worker would start its own fake, with its own data: not one fleet.
        raise CommandError(
            "a fleet worker needs the real connection options, not --fake", EXIT_USAGE
        )
    with _fleet_extra():
        from godeploy.fleet import FleetLimits, FleetWorker
    token, unit, base_url = settings.token, settings.business_unit_id, settings.base_url
    insecure = settings.allow_insecure_http
    # The 429 pause, the retry budget and the rate (if any) shared by every worker.
    limits = FleetLimits(
        redis_url, max_requests_per_second=max_requests_per_second, namespace=namespace
    )

    def make_client() -> GoDeployClient:
        return GoDeployClient(
            token, unit, base_url=base_url, limits=limits, allow_insecure_http=insecure
        )

    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, stream=sys.stderr)
    fleet_worker = FleetWorker(make_client, concurrency=concurrency, job_timeout=job_timeout)
    runner = asyncio.current_task()
    assert runner is not None
    loop = asyncio.get_running_loop()
    for signal_number in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(signal_number, runner.cancel)
    output.notice(
        f"fleet worker {os.getpid()}: queue {namespace}:queue, concurrency {concurrency}, "
        f"fleet-wide rate {max_requests_per_second or 'unlimited'} requests/s, API {base_url}"
    )
    try:
        worker = await fleet_worker.run(redis_url, namespace=namespace, burst=burst)
    except asyncio.CancelledError:
        # Its chunks went back to the queue: another worker takes them at once.
        output.notice(f"fleet worker {os.getpid()}: stopped")
        return
    finally:
        for signal_number in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signal_number)
        await limits.aclose()
    output.notice(
        f"fleet worker {os.getpid()}: {worker.jobs_complete} chunks done, "
        f"{worker.jobs_retried} handed back, {worker.jobs_failed} failed"
    )


@fleet_app.command("status")
def status(
    run_id: RunId,
    redis_url: RedisUrl,
    namespace: Namespace = "godeploy",
    json_lines: Annotated[bool, typer.Option("--json", help="One JSON object.")] = False,
) -> None:
    """Show where a run stands: recorded, failed, duplicates, missing, in flight."""
    output = Output(json_lines=json_lines)
    run_async(lambda: show_status(output, run_id, redis_url=redis_url, namespace=namespace))


async def show_status(output: Output, run_id: str, *, redis_url: str, namespace: str) -> None:
    """`godeploy fleet status RUN`."""
    async with _open_fleet(redis_url, namespace) as fleet:
        report = await fleet.report(run_id)
    output.show_one(_report_fields(report), f"Run {run_id}")


@fleet_app.command("cancel")
def cancel(run_id: RunId, redis_url: RedisUrl, namespace: Namespace = "godeploy") -> None:
    """Cancel a run: its queued chunks leave the queue, running ones stop within a second."""
    output = Output(json_lines=False)
    run_async(lambda: cancel_run(output, run_id, redis_url=redis_url, namespace=namespace))


async def cancel_run(output: Output, run_id: str, *, redis_url: str, namespace: str) -> None:
    """`godeploy fleet cancel RUN`."""
    async with _open_fleet(redis_url, namespace) as fleet:
        removed = await fleet.cancel(run_id)
    output.notice(f"run {run_id} cancelled: {removed} queued chunks removed")


def _report_fields(report: FleetReport) -> dict[str, Any]:
    """A report as the fields `Output.show_one` prints."""
    return {
        "total": report.total,
        "succeeded": report.succeeded,
        "failed": report.failed,
        "duplicatesSuppressed": report.duplicates_suppressed,
        "missing": report.missing,
        "inFlight": report.in_flight,
        "skippedOnRerun": report.skipped_on_rerun,
        "cancelled": report.cancelled,
    }


async def fan_out_on_fleet(
    client: GoDeployClient,
    output: Output,
    order_ids: list[int],
    *,
    all_orders: bool,
    redis_url: str,
    chunk_size: int,
    namespace: str = "godeploy",
) -> None:
    """`godeploy order-items fan-out (ORDER_ID... | --all) --fleet REDIS_URL`.

    Submits the orders to the fleet and prints the items as workers record them (in the order
    they finish). Interrupting it cancels the run.

    Raises:
        CommandError: some orders failed or are missing.
    """
    started = time.perf_counter()
    run_id = uuid.uuid4().hex
    output.notice(f"fleet run {run_id} (see `godeploy fleet status {run_id}`)")
    async with contextlib.AsyncExitStack() as stack:
        fleet = await stack.enter_async_context(_open_fleet(redis_url, namespace))
        sink = output.items(ORDER_ITEM_VIEW)
        progress = stack.enter_context(output.progress(transient=True))
        task = progress.add_task("order items", total=len(order_ids) or None)
        source: list[int] | AsyncIterator[Any] = order_ids
        if all_orders:
            source = await stack.enter_async_context(
                closing(stream_all_orders(client, total_known=total_setter(progress, task)))
            )

        def describe(report: FleetReport) -> None:
            progress.update(
                task,
                description=f"order items (failed {report.failed}, "
                f"duplicates {report.duplicates_suppressed})",
            )

        orders = items = 0
        try:
            async with asyncio.TaskGroup() as group:
                submit = group.create_task(
                    fleet.submit(source, chunk_size=chunk_size, run_id=run_id)
                )
                await until_created(fleet, run_id, submit)
                async with closing(with_reports(fleet, run_id, describe)) as results:
                    async for result in results:
                        orders += 1
                        items += len(result.items)
                        report_failure(output, result)
                        for item in result.items:
                            sink.add(item)
                        progress.advance(task)
        except BaseException as error:
            with contextlib.suppress(Exception):
                await asyncio.shield(fleet.cancel(run_id))
            output.notice(f"fleet run {run_id} cancelled")
            if isinstance(error, BaseExceptionGroup):
                raise error.exceptions[0] from None  # the submit's own error, unwrapped
            raise
        report = await fleet.report(run_id)
    sink.finish()
    output.notice(
        f"fetched {items} items of {orders} orders in {time.perf_counter() - started:.1f}s "
        f"on the fleet (run {run_id}: {report.failed} failed, "
        f"{report.duplicates_suppressed} duplicates suppressed, {report.missing} missing)"
    )
    if report.failed or report.missing:
        raise CommandError(
            f"{report.failed} of {report.total} orders failed, {report.missing} are missing"
        )


async def with_reports(
    fleet: Fleet, run_id: str, describe: Callable[[FleetReport], None]
) -> AsyncIterator[Any]:
    """The run's results; about once a second, the run's counters for the progress bar."""
    last = time.monotonic()
    async with closing(fleet.results(run_id)) as results:
        async for result in results:
            yield result
            if time.monotonic() - last >= _REPORT_EVERY:
                last = time.monotonic()
                describe(await fleet.report(run_id))


async def until_created(fleet: Fleet, run_id: str, submit: asyncio.Task[Any]) -> None:
    """Wait until the submit has created the run (its first step), so results can be read."""
    from godeploy import RequestValidationError

    while not submit.done():
        try:
            await fleet.report(run_id)
        except RequestValidationError:
            await asyncio.sleep(0.01)
        else:
            return
