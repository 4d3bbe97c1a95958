"""Order items: the items of one order, and of many orders at once (`for_orders`)."""

from __future__ import annotations

from collections.abc import AsyncIterable, Iterable, Mapping
from typing import Unpack
from uuid import UUID

from attrs import define, field

from godeploy._config import Timeout, check_option, integer_at_least, optional
from godeploy._exceptions import GoDeployError
from godeploy._generated.models import Order, OrderItem, OrderItemPage
from godeploy._generated.operations import LIST_ORDER_ITEMS
from godeploy._observers import Telemetry
from godeploy._slots import new, setters
from godeploy.fanout import FanOut
from godeploy.pagination import AsyncPager
from godeploy.resources._base import ListOptions, Resource, check_order_id

__all__ = ["OrderItems", "OrderItemsResult"]


@define(frozen=True, kw_only=True)
class OrderItemsResult:
    """The items of one order, or why they could not be fetched.

    Attributes:
        order_id: the order, as it was given.
        items: every item of the order, from every page (empty when `error` is set).
        error: the error that remained after retries, or None.
    """

    order_id: int
    items: list[OrderItem] = field(factory=list)
    error: GoDeployError | None = None

    @property
    def ok(self) -> bool:
        """Whether the items were fetched."""
        return self.error is None


# A result is made for every order of `for_orders`: slot by slot, for 40% less.
_RESULT_SLOTS = setters(OrderItemsResult, ("order_id", "items", "error"))


def _items_of(order_id: int, items: list[OrderItem]) -> OrderItemsResult:
    """`OrderItemsResult(order_id=..., items=...)`, slot by slot (`godeploy._slots`)."""
    result: OrderItemsResult = new(OrderItemsResult)
    _RESULT_SLOTS[0](result, order_id)
    _RESULT_SLOTS[1](result, items)
    _RESULT_SLOTS[2](result, None)
    return result


class OrderItems(Resource):
    """The items of orders."""

    def list(self, order_id: int, **options: Unpack[ListOptions]) -> AsyncPager[OrderItem]:
        """Page through the items of one order (`GET /api/v2/orders/{orderId}/items`).

        Args:
            order_id: the order.
            **options: `page_size`, `start_page`, `max_items`, `concurrency`,
                `business_unit_id`, `timeout`, `max_retries`, `extra_headers`,
                `extra_query` (see `ListOptions`).

        Returns:
            A pager: `async for item in ...`, or `.pages()`.
        """
        url = self._core.url("api/v2/orders", check_order_id(order_id), "items")
        return self._pager(LIST_ORDER_ITEMS, url, OrderItemPage, options)

    def for_orders(
        self,
        orders: Iterable[int | Order] | AsyncIterable[int | Order],
        *,
        concurrency: int = 16,
        ordered: bool = False,
        page_size: int | None = 100,
        business_unit_id: UUID | str | None = None,
        timeout: float | Timeout | None = None,
        max_retries: int | None = None,
        extra_headers: Mapping[str, str] | None = None,
        extra_query: Mapping[str, str | int] | None = None,
    ) -> FanOut[int | Order, OrderItemsResult]:
        """Fetch the items of many orders at once, at most `concurrency` requests in flight.

        `orders` is consumed lazily, so it can stream straight from the order pager::

            async with client.order_items.for_orders(client.orders.list(page_size=100)) as results:
                async for result in results:
                    ...

        Exactly one `OrderItemsResult` comes out per input order: an order that still fails
        after its retries carries the error in `.error`, and the others go on. The fan-out
        shares the client's retry budget, 429 pause and rate limit. Leaving the loop early
        (`break`, an exception) cancels the fetches in flight at once; `async with` also waits
        until they have finished, so their connections are back in the pool when it ends.

        Args:
            orders: order ids or `Order` models, from an iterable or an async iterable.
            concurrency: the most orders fetched at once.
            ordered: yield results in input order (through a bounded reorder buffer) instead
                of as they complete.
            page_size: items per page of each order's listing.
            business_unit_id: overrides the client's business unit.
            timeout: seconds, or a `Timeout`, for each request.
            max_retries: overrides the client's retries.
            extra_headers: headers to add to the request(s) (not `Authorization`).
            extra_query: query parameters to add (not `businessUnitId`, `_page`, `_pageSize`).

        Returns:
            A `FanOut` to iterate with `async for`.
        """
        options = self._options(business_unit_id, timeout, max_retries, extra_headers, extra_query)
        check_option("page_size", page_size, optional(integer_at_least(1)))

        async def fetch(order: int | Order) -> OrderItemsResult:
            order_id = order.id if isinstance(order, Order) else order
            try:
                pager = AsyncPager(
                    self._core,
                    LIST_ORDER_ITEMS,
                    self._core.url("api/v2/orders", check_order_id(order_id), "items"),
                    OrderItemPage,
                    options,
                    page_size=page_size,
                )
                items = await pager.collect()
            except GoDeployError as error:
                return OrderItemsResult(order_id=order_id, error=error)
            return _items_of(order_id, items)

        telemetry = self._core.telemetry
        scope = None if telemetry is None else telemetry.fan_out(Telemetry.total_of(orders))
        work = fetch if scope is None else scope.wrap(fetch, failed=_failed)
        return FanOut(
            orders,
            work,
            concurrency=concurrency,
            ordered=ordered,
            max_connections=getattr(self._core.transport, "max_connections", None),
            scope=scope,
        )


def _failed(result: OrderItemsResult) -> bool:
    """Whether an order's items could not be fetched (for the fan-out's telemetry)."""
    return result.error is not None
