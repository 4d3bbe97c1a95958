"""The SDK end to end against an embedded fake with latency and faults (`make demo`).

    python examples/demo.py [--concurrency 32] [--sample 40]

It pages through the products, shows one product's feature sets and prices, creates an order
and reads it back, then fetches the items of every order at once and compares that with
fetching them one order at a time. It needs `godeploy[cli]` (for rich) and nothing else.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

from attrs import define
from demo_output import DemoFailedError, Output
from rich.progress import Progress
from rich.table import Table

from godeploy import FeatureSet, GoDeployClient, Order, OrderItem, Product
from godeploy.testing import FakeGoDeploy, Fault

FAKE_SEED = 7
ORDERS_PAGE_SIZE = 100

PRODUCTS_PAGE_SIZE = 25
"""Small pages, so that paging through the products takes several requests."""
LATENCY_SECONDS = 0.020
LATENCY_JITTER_SECONDS = 0.030
"""Every request of the fake takes 20-50 ms, like a real API not too far away."""


def table(title: str, columns: dict[str, Callable[[Any], object]], rows: Sequence[Any]) -> Table:
    """A table of `rows`, one column per header and how to read its cell."""
    shown = Table(*columns, title=f"{title} ({len(rows)})", title_justify="left")
    for row in rows:
        shown.add_row(*(str(cell(row)) for cell in columns.values()))
    return shown


def product_table(products: Sequence[Product]) -> Table:
    """The products: id, code, name."""
    return table(
        "Products",
        {"id": lambda p: p.id, "code": lambda p: p.code, "name": lambda p: p.name},
        products,
    )


def feature_set_table(feature_sets: Sequence[FeatureSet]) -> Table:
    """Feature sets with their prices."""
    return table(
        "Feature sets",
        {
            "id": lambda fs: fs.id,
            "name": lambda fs: fs.name,
            "access days": lambda fs: fs.course_access_period_days,
            # Each value exactly as the API sent it (`48.0000`): Decimal, never a float.
            "prices": lambda fs: ", ".join(f"{p.currency} {p.value}" for p in fs.prices) or "-",
        },
        feature_sets,
    )


def order_item_table(items: Sequence[OrderItem]) -> Table:
    """Order items."""
    return table(
        "Order items",
        {
            "order": lambda i: i.order_id,
            "id": lambda i: i.id,
            "feature set": lambda i: i.feature_set_id,
            "qty": lambda i: i.quantity,
            "description": lambda i: i.description,
        },
        items,
    )


async def stream_all_orders(
    client: GoDeployClient, *, total_known: Callable[[int], None]
) -> AsyncIterator[Order]:
    """Every order, page by page; `total_known` gets the API's count from the first page."""
    first = True
    async for page in client.orders.list(page_size=ORDERS_PAGE_SIZE).pages():
        if first:
            total_known(page.page_info.total_item_count)
            first = False
        for order in page.items:
            yield order


@define(frozen=True, kw_only=True)
class FanOutOutcome:
    """What the concurrent fetch of every order's items did.

    Attributes:
        order_ids: every order, in the order the results came.
        items: the items fetched.
        failed: orders whose items could not be fetched after retries.
        seconds: wall time.
        requests: requests sent (retries included).
        retries: requests that were retries.
    """

    order_ids: list[int]
    items: int
    failed: int
    seconds: float
    requests: int
    retries: int


@define(frozen=True, kw_only=True)
class SequentialSample:
    """Some orders fetched one at a time, to estimate what a sequential fetch of all costs.

    Attributes:
        orders: how many orders were fetched.
        seconds: their wall time.
    """

    orders: int
    seconds: float

    def estimate(self, total_orders: int) -> float:
        """Seconds that `total_orders` would take one at a time, at the sample's pace."""
        return self.seconds / self.orders * total_orders


async def run_demo(output: Output, *, concurrency: int, sample_size: int) -> None:
    """Run the demo; print its steps on stdout and its progress on stderr.

    Args:
        output: where to print.
        concurrency: orders fetched at once by the fan-out.
        sample_size: orders fetched one at a time for the comparison.

    Raises:
        DemoFailedError: the items of some orders could not be fetched despite the retries.
    """
    started = time.perf_counter()
    # The demo reads no request back: a short log spares recording thousands of them.
    async with FakeGoDeploy(seed=FAKE_SEED, log_size=0) as fake:
        _inject_faults(fake)
        output.notice(
            f"note: embedded fake server at {fake.url}: 20-50 ms per request, "
            "a few 429 and 503 answers injected"
        )
        async with GoDeployClient(fake.token, fake.business_unit_id, base_url=fake.url) as client:
            products = await _page_through_products(client, output)
            feature_set = await _show_feature_sets(client, output, products)
            created = await _create_and_read_back(client, output, feature_set)
            outcome = await _fan_out(client, output, concurrency)
            sample = await _fetch_one_at_a_time(client, outcome.order_ids[:sample_size])
            totals = client.stats
    _print_summary(
        output,
        outcome,
        sample,
        created=created,
        concurrency=concurrency,
        total_requests=totals["requests"],
        total_seconds=time.perf_counter() - started,
    )
    if outcome.failed:
        raise DemoFailedError(f"the items of {outcome.failed} orders could not be fetched")


def _inject_faults(fake: FakeGoDeploy) -> None:
    """Realistic latency, and a few transient errors for the retries to absorb."""
    fake.faults.latency(fixed=LATENCY_SECONDS, jitter=LATENCY_JITTER_SECONDS)
    fake.faults.add(Fault.status(503), route="listProducts", skip=2, times=1)
    fake.faults.add(Fault.status(503), route="listOrders", skip=10, times=1)
    # Retry-After pauses the whole client for that long: two of them cost the fan-out ~2 s.
    fake.faults.add(Fault.status(429, retry_after=1), route="listOrderItems", skip=800, times=2)
    fake.faults.add(Fault.status(503), route="listOrderItems", skip=1500, times=3)


async def _page_through_products(client: GoDeployClient, output: Output) -> list[Product]:
    """Step 1: every product, page after page, with `async for`."""
    output.stdout.rule("1. Every product, paged with async for")
    started = time.perf_counter()
    requests_before = client.stats["requests"]
    products = [product async for product in client.products.list(page_size=PRODUCTS_PAGE_SIZE)]
    output.stdout.print(
        f"{len(products)} products in {time.perf_counter() - started:.2f} s "
        f"({client.stats['requests'] - requests_before} requests of {PRODUCTS_PAGE_SIZE} "
        "products, a 503 retried on the way). The first five:"
    )
    output.stdout.print(product_table(products[:5]))
    return products


async def _show_feature_sets(
    client: GoDeployClient, output: Output, products: Sequence[Product]
) -> FeatureSet:
    """Step 2: the feature sets and prices of the first product that has any."""
    output.stdout.rule("2. A product's feature sets and prices")
    for product in products:
        feature_sets = [fs async for fs in client.feature_sets.list(product.id)]
        if feature_sets:
            output.stdout.print(f"{product.code}: {product.name}")
            output.stdout.print(feature_set_table(feature_sets))
            return feature_sets[0]
    raise DemoFailedError("no product has a feature set to order")


async def _create_and_read_back(
    client: GoDeployClient, output: Output, feature_set: FeatureSet
) -> Order:
    """Step 3: order the feature set, then read the order and its items back."""
    output.stdout.rule("3. Create an order and read it back")
    created = await client.orders.create(
        purchase_order_reference=f"DEMO-{int(time.time())}",
        email_keys=True,
        contact_email="demo@example.com",
        order_items=[{"feature_set_id": feature_set.id, "quantity": 3}],
    )
    read_back = await client.orders.get(created.id)
    items = [item async for item in client.order_items.list(created.id)]
    output.stdout.print(
        f"created order {created.id} ({created.order_status}); read back: "
        f"reference {read_back.purchasing_order_reference!r}, status {read_back.order_status}, "
        f"created {read_back.created:%Y-%m-%d %H:%M:%S} UTC"
    )
    output.stdout.print(order_item_table(items))
    return created


async def _fan_out(client: GoDeployClient, output: Output, concurrency: int) -> FanOutOutcome:
    """Step 4: the items of every order, `concurrency` orders at once, orders streamed in."""
    output.stdout.rule(f"4. The items of every order, {concurrency} orders at once")
    before = client.stats
    started = time.perf_counter()
    order_ids: list[int] = []
    items = failed = 0
    # A bar on stderr when it is a terminal; nothing in a pipe or a log.
    with Progress(console=output.stderr, disable=not output.stderr.is_terminal) as progress:
        task = progress.add_task("orders", total=None)
        orders = stream_all_orders(
            client, total_known=lambda total: progress.update(task, total=total)
        )
        async with client.order_items.for_orders(orders, concurrency=concurrency) as results:
            async for result in results:
                order_ids.append(result.order_id)
                items += len(result.items)
                failed += 0 if result.ok else 1
                progress.update(task, advance=1, description=f"orders ({items} items)")
    after = client.stats
    return FanOutOutcome(
        order_ids=order_ids,
        items=items,
        failed=failed,
        seconds=time.perf_counter() - started,
        requests=after["requests"] - before["requests"],
        retries=after["retries"] - before["retries"],
    )


async def _fetch_one_at_a_time(client: GoDeployClient, order_ids: list[int]) -> SequentialSample:
    """Step 5: the same fetch, one order after the other, on a sample of the orders."""
    started = time.perf_counter()
    for order_id in order_ids:
        async for _ in client.order_items.list(order_id, page_size=100):
            pass
    return SequentialSample(orders=len(order_ids), seconds=time.perf_counter() - started)


def _print_summary(
    output: Output,
    outcome: FanOutOutcome,
    sample: SequentialSample,
    *,
    created: Order,
    concurrency: int,
    total_requests: int,
    total_seconds: float,
) -> None:
    """The figures of the run, and the concurrent fetch against the sequential estimate."""
    orders = len(outcome.order_ids)
    sequential = sample.estimate(orders)
    table = Table("", "", show_header=False)
    made_by_demo = created.id in outcome.order_ids
    table.add_row(
        "orders",
        f"{orders:,} ({orders - 1:,} stored, and order {created.id} made by the demo)"
        if made_by_demo
        else f"{orders:,}",
    )
    table.add_row("order items", f"{outcome.items:,}")
    table.add_row("failed orders", f"{outcome.failed}")
    table.add_row("requests", f"{outcome.requests:,} for the items ({total_requests:,} in all)")
    table.add_row("retries", f"{outcome.retries} (429 and 503 answers absorbed)")
    table.add_row("wall time", f"{outcome.seconds:.1f} s at concurrency {concurrency}")
    table.add_row(
        "one order at a time",
        f"~{sequential:.0f} s (estimated from a sample of {sample.orders} orders: "
        f"{sample.seconds:.1f} s), {sequential / outcome.seconds:.0f}x slower",
    )
    table.add_row("demo total", f"{total_seconds:.1f} s")
    output.stdout.rule("Summary")
    output.stdout.print(table)


def main() -> int:
    """Parse the options, run the demo; the exit status."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--concurrency", type=int, default=32, help="orders fetched at once")
    parser.add_argument(
        "--sample", type=int, default=40, help="orders fetched one at a time, for the comparison"
    )
    arguments = parser.parse_args()
    output = Output()
    try:
        asyncio.run(
            run_demo(output, concurrency=arguments.concurrency, sample_size=arguments.sample)
        )
    except DemoFailedError as failure:
        output.notice(f"error: {failure}")
        return 1
    except KeyboardInterrupt:
        output.notice("interrupted")
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
