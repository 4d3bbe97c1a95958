"""Section 7: what telemetry costs per request, on section 2's job (for_orders, C=32).

Three variants alternate, in rotating order: telemetry off (no hooks, no SDK configured: the
default), a no-op `on_call` hook, and the OpenTelemetry SDK on (a tracer provider with a batch
processor whose exporter drops the spans, and a meter provider with a reader): every span,
attribute, event and metric is made and processed, only the export is skipped.

`python -m tests.benchmarks._telemetry --variants off --runs 7` prints the per-round client
CPU per request of the chosen variants as JSON: run it with `PYTHONPATH` pointing at another
checkout's `src` to compare the "off" figure across versions.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

from godeploy import GoDeployClient

from ._harness import Cores, Fake, Samples, fake_process, pin_cores, rotations
from ._report import Row, microseconds, per_second, times

ORDERS = 2000
CONCURRENCY = 32

Options = Callable[[], dict[str, Any]]


def _off() -> dict[str, Any]:
    return {}


def _hooks() -> dict[str, Any]:
    from godeploy import Hooks

    return {"hooks": Hooks(on_call=lambda event: None)}


def _otel() -> dict[str, Any]:
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import (
        BatchSpanProcessor,
        SpanExporter,
        SpanExportResult,
    )

    class Drop(SpanExporter):
        def export(self, spans: Sequence[Any]) -> SpanExportResult:
            return SpanExportResult.SUCCESS

    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(BatchSpanProcessor(Drop()))
    meter_provider = MeterProvider(metric_readers=[InMemoryMetricReader()])
    return {"tracer_provider": tracer_provider, "meter_provider": meter_provider}


VARIANTS: dict[str, Options] = {"off": _off, "hooks": _hooks, "otel": _otel}


async def job(fake: Fake, options: dict[str, Any]) -> int:
    """Section 2's job: the items of every order through `for_orders`."""
    items = 0
    async with (
        GoDeployClient(fake.token, fake.business_unit_id, base_url=fake.url, **options) as client,
        client.order_items.for_orders(fake.order_ids, concurrency=CONCURRENCY) as results,
    ):
        async for result in results:
            if result.error is not None:
                raise result.error
            items += len(result.items)
    return items


def measure(fake: Fake, make_options: Options) -> tuple[float, float, int]:
    """One run in a fresh loop: (wall seconds, CPU seconds of this process, items)."""
    options = make_options()

    async def timed() -> tuple[float, float, int]:
        gc.collect()
        cpu, wall = time.process_time(), time.perf_counter()
        items = await job(fake, options)
        return time.perf_counter() - wall, time.process_time() - cpu, items

    result = asyncio.run(timed())
    provider = options.get("tracer_provider")
    if provider is not None:
        provider.shutdown()  # the batch processor's thread, flushed within the process's time
    return result


def sample(cores: Cores, variants: list[str], runs: int) -> Samples:
    """Alternate the variants for `runs` rounds after one warm-up round."""
    samples = Samples()
    with fake_process(cores, orders=ORDERS, ids=ORDERS) as fake:
        for number, order in enumerate(rotations(variants, runs + 1)):
            outcomes = {name: measure(fake, VARIANTS[name]) for name in order}
            if len({items for _, _, items in outcomes.values()}) != 1:
                raise RuntimeError(f"the variants disagree on the items: {outcomes}")
            if number == 0:
                continue
            for name, (wall, cpu, _) in outcomes.items():
                samples.add(f"{name} rps", ORDERS / wall)
                samples.add(f"{name} cpu", cpu / ORDERS)
    return samples


def run(cores: Cores, runs: int) -> list[Row]:
    """The section's rows."""
    samples = sample(cores, list(VARIANTS), runs)
    where = f"{ORDERS:,} orders, C={CONCURRENCY}"
    return [
        Row("7", f"telemetry off ({where}): requests/s", samples.figure("off rps"), per_second),
        Row("7", "telemetry off: client CPU / request", samples.figure("off cpu"), microseconds),
        Row("7", "a no-op hook: client CPU / request", samples.figure("hooks cpu"), microseconds),
        Row("7", "OTel SDK on: client CPU / request", samples.figure("otel cpu"), microseconds),
        Row("7", "OTel SDK on / off: CPU / request", samples.ratio("otel cpu", "off cpu"), times),
    ]


def main(argv: list[str] | None = None) -> int:
    """Print the chosen variants' per-round CPU per request (seconds) as JSON."""
    parser = argparse.ArgumentParser(prog="python -m tests.benchmarks._telemetry")
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--runs", type=int, default=5)
    arguments = parser.parse_args(argv)
    variants = [name for name in arguments.variants.split(",") if name]
    samples = sample(pin_cores(), variants, arguments.runs)
    json.dump(samples.values, sys.stdout)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
