"""What each command does, as coroutines over an open client (`_app` wires them to typer).

Every async generator here is closed by its consumer with `closing()`, and closes the
iterators it reads the same way: when a consumer stops early (a closed pipe, Ctrl-C, an
error), their cleanup has run before the consumer's `async with` exits, never later from
asyncio's finaliser.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any, TypeVar

from rich.progress import Progress, TaskID

from godeploy import AsyncPager, GoDeployClient, Order, OrderItemsResult
from godeploy.cli._errors import CommandError, describe_error
from godeploy.cli._render import (
    FEATURE_SET_VIEW,
    ORDER_ITEM_VIEW,
    ORDER_VIEW,
    PRODUCT_VIEW,
    Output,
    TableView,
)

__all__ = [
    "ORDERS_PAGE_SIZE",
    "closing",
    "create_order",
    "fan_out_order_items",
    "get_feature_set",
    "get_order",
    "get_product",
    "list_feature_sets",
    "list_order_items",
    "list_orders",
    "list_products",
    "stream_all_orders",
    "total_setter",
]

T = TypeVar("T")

ORDERS_PAGE_SIZE = 100
"""Orders per page when streaming every order into a fan-out: 42 requests for 4150 orders."""


@asynccontextmanager
async def closing(iterator: AsyncIterator[T]) -> AsyncIterator[AsyncIterator[T]]:
    """`contextlib.aclosing` for any async iterator: its `aclose()`, if it has one, on exit.

    An async generator left suspended is otherwise closed by asyncio's finaliser, at some
    later time, after whatever its cleanup needs (a connection, a Redis pool) may be gone.
    """
    try:
        yield iterator
    finally:
        aclose = getattr(iterator, "aclose", None)
        if aclose is not None:
            await aclose()


def effective_page_size(page_size: int, limit: int | None) -> int:
    """No bigger a page than the limit needs (`--limit 5` asks for 5 items, not 100).

    A limit below 1 leaves the page size alone: the SDK refuses it under its own name.
    """
    return page_size if limit is None or limit < 1 else min(page_size, limit)


async def list_products(
    client: GoDeployClient, output: Output, *, limit: int | None, page_size: int
) -> None:
    """`godeploy products list`."""
    pager = client.products.list(page_size=effective_page_size(page_size, limit), max_items=limit)
    await print_listing(output, pager, PRODUCT_VIEW, limit=limit)


async def get_product(client: GoDeployClient, output: Output, product_id: str) -> None:
    """`godeploy products get PRODUCT_ID`."""
    product = await client.products.get(product_id)
    output.show_one(product, f"Product {product.code}")


async def list_feature_sets(
    client: GoDeployClient,
    output: Output,
    product_id: str,
    *,
    limit: int | None,
    page_size: int,
) -> None:
    """`godeploy feature-sets list PRODUCT_ID`."""
    pager = client.feature_sets.list(
        product_id, page_size=effective_page_size(page_size, limit), max_items=limit
    )
    await print_listing(output, pager, FEATURE_SET_VIEW, limit=limit)


async def get_feature_set(
    client: GoDeployClient, output: Output, product_id: str, feature_set_id: str
) -> None:
    """`godeploy feature-sets get PRODUCT_ID FEATURE_SET_ID`."""
    feature_set = await client.feature_sets.get(product_id, feature_set_id)
    output.show_one(feature_set, f"Feature set {feature_set.name}")


async def list_orders(
    client: GoDeployClient,
    output: Output,
    *,
    limit: int | None,
    page_size: int,
    concurrency: int = 1,
) -> None:
    """`godeploy orders list [--concurrency N]`."""
    pager = client.orders.list(
        page_size=effective_page_size(page_size, limit), max_items=limit, concurrency=concurrency
    )
    await print_listing(output, pager, ORDER_VIEW, limit=limit)


async def get_order(client: GoDeployClient, output: Output, order_id: int) -> None:
    """`godeploy orders get ORDER_ID`."""
    order = await client.orders.get(order_id)
    output.show_one(order, f"Order {order.id}")


async def create_order(
    client: GoDeployClient, output: Output, order: dict[str, Any], *, once: bool = False
) -> None:
    """`godeploy orders create --file order.json [--once]`: `order` is the file, as keywords."""
    create = client.orders.create_once if once else client.orders.create
    created = await create(**order)
    output.show_one(created, f"Order {created.id}" if once else f"Order {created.id} created")


async def list_order_items(
    client: GoDeployClient,
    output: Output,
    order_id: int,
    *,
    limit: int | None,
    page_size: int,
) -> None:
    """`godeploy order-items list ORDER_ID`."""
    pager = client.order_items.list(
        order_id, page_size=effective_page_size(page_size, limit), max_items=limit
    )
    await print_listing(output, pager, ORDER_ITEM_VIEW, limit=limit)


async def fan_out_order_items(
    client: GoDeployClient,
    output: Output,
    order_ids: list[int],
    *,
    all_orders: bool,
    concurrency: int,
) -> None:
    """`godeploy order-items fan-out (ORDER_ID... | --all) --concurrency N`.

    Items come out in the order of the orders. An order that fails does not stop the others:
    it gets a `warning:` line, and the command exits 1 at the end.

    Raises:
        CommandError: some orders could not be fetched.
    """
    started = time.perf_counter()
    sink = output.items(ORDER_ITEM_VIEW)
    orders = items = failed = 0
    with output.progress(transient=True) as progress:
        task = progress.add_task("order items", total=len(order_ids) or None)
        all_orders_stream = stream_all_orders(client, total_known=total_setter(progress, task))
        async with closing(all_orders_stream):
            source = order_ids or all_orders_stream
            async with client.order_items.for_orders(
                source, concurrency=concurrency, ordered=True
            ) as results:
                async for result in results:
                    orders += 1
                    items += len(result.items)
                    failed += _report_failure(output, result)
                    for item in result.items:
                        sink.add(item)
                    progress.advance(task)
    sink.finish()
    stats = client.stats
    output.notice(
        f"fetched {items} items of {orders} orders in {time.perf_counter() - started:.1f}s "
        f"({stats['requests']} requests, {stats['retries']} retries, concurrency {concurrency})"
    )
    if failed:
        raise CommandError(f"the items of {failed} of {orders} orders could not be fetched")


def _report_failure(output: Output, result: OrderItemsResult) -> int:
    """Print a warning for a failed order; return 1 if it failed, else 0."""
    if result.error is None:
        return 0
    output.stderr.print(
        f"warning: order {result.order_id}: {describe_error(result.error)}", soft_wrap=True
    )
    return 1


def total_setter(progress: Progress, task: TaskID) -> Callable[[int], None]:
    """A callback that gives the progress bar its total once the first page tells it."""

    def set_total(total: int) -> None:
        progress.update(task, total=total)

    return set_total


async def stream_all_orders(
    client: GoDeployClient, *, total_known: Callable[[int], None]
) -> AsyncIterator[Order]:
    """Every order, streamed from `client.orders.list(page_size=100)` page by page.

    Args:
        client: the client.
        total_known: called once with the API's total order count, from the first page.

    Yields:
        Each order, as soon as its page arrives.
    """
    first = True
    async with closing(client.orders.list(page_size=ORDERS_PAGE_SIZE).pages()) as pages:
        async for page in pages:
            if first:
                total_known(page.page_info.total_item_count)
                first = False
            for order in page.items:
                yield order


async def print_listing(
    output: Output, pager: AsyncPager[T], view: TableView[T], *, limit: int | None
) -> None:
    """Print every item of a listing, with a progress bar when it spans several pages."""
    sink = output.items(view)
    items = _items_with_progress(output, pager, limit=limit, description=view.title)
    async with closing(items):
        async for item in items:
            sink.add(item)
    sink.finish()


async def _items_with_progress(
    output: Output, pager: AsyncPager[T], *, limit: int | None, description: str
) -> AsyncIterator[T]:
    """The pager's items (at most `limit`); a transient progress bar once a second page is due."""
    progress: Progress | None = None
    task: TaskID | None = None
    emitted = 0
    try:
        async with closing(pager.pages()) as pages:
            async for page in pages:
                wanted = page.page_info.total_item_count if limit is None else limit
                wanted = min(wanted, page.page_info.total_item_count)
                if progress is None and page.has_next and wanted > len(page.items):
                    progress = output.progress(transient=True)
                    progress.start()
                    task = progress.add_task(description, total=wanted)
                for item in page.items[: None if limit is None else limit - emitted]:
                    yield item
                    emitted += 1
                if progress is not None and task is not None:
                    progress.update(task, completed=emitted)
    finally:
        if progress is not None:
            progress.stop()
