"""What every resource shares: the client core, per-call options, and the one way to page."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, TypedDict, TypeVar
from uuid import UUID

from yarl import URL

from godeploy._config import Timeout
from godeploy._core import CallOptions, ClientCore
from godeploy._exceptions import RequestValidationError
from godeploy._generated.operations import Operation
from godeploy.pagination import AsyncPager

if TYPE_CHECKING:
    from godeploy.pagination import _PageModel

__all__ = ["ListOptions", "Resource", "check_order_id"]

T = TypeVar("T")


class ListOptions(TypedDict, total=False):
    """The keywords every `list()` takes, besides the path arguments of its resource.

    Attributes:
        page_size: items per page (the API's default is 10).
        start_page: the first page to fetch (default 1).
        max_items: stop after this many items (default: all of them).
        concurrency: the most pages fetched at once once the first page has said how many
            there are (default 1: one after the other). Items and pages still come in page
            order.
        business_unit_id: overrides the client's business unit.
        timeout: seconds, or a `Timeout`, for each page's request.
        max_retries: overrides the client's retries.
        extra_headers: headers to add to every page's request (not `Authorization`).
        extra_query: query parameters to add to every page's request (not `businessUnitId`,
            `_page`, `_pageSize`).
    """

    page_size: int | None
    start_page: int
    max_items: int | None
    concurrency: int
    business_unit_id: UUID | str | None
    timeout: float | Timeout | None
    max_retries: int | None
    extra_headers: Mapping[str, str] | None
    extra_query: Mapping[str, str | int] | None


_LIST_KEYS = frozenset(ListOptions.__optional_keys__)


class Resource:
    """A group of API operations over one client core."""

    def __init__(self, core: ClientCore) -> None:
        self._core = core

    def _options(
        self,
        business_unit_id: object,
        timeout: float | Timeout | None,
        max_retries: int | None,
        extra_headers: Mapping[str, str] | None = None,
        extra_query: Mapping[str, str | int] | None = None,
    ) -> CallOptions:
        """Check and resolve a call's overrides before any I/O."""
        return self._core.options(
            business_unit_id=business_unit_id,
            timeout=timeout,
            max_retries=max_retries,
            extra_headers=extra_headers,
            extra_query=extra_query,
        )

    def _pager(
        self,
        operation: Operation,
        url: URL,
        page_type: type[_PageModel[T]],
        options: ListOptions,
    ) -> AsyncPager[T]:
        """The pager of a `list()` call, its options checked before any I/O."""
        unknown = sorted(set(options) - _LIST_KEYS)
        if unknown:
            # What Python says of an unexpected keyword: `**options` would take it silently.
            raise TypeError(f"list() got unexpected keyword arguments: {', '.join(unknown)}")
        return AsyncPager(
            self._core,
            operation,
            url,
            page_type,
            self._options(
                options.get("business_unit_id"),
                options.get("timeout"),
                options.get("max_retries"),
                options.get("extra_headers"),
                options.get("extra_query"),
            ),
            page_size=options.get("page_size"),
            start_page=options.get("start_page", 1),
            max_items=options.get("max_items"),
            concurrency=options.get("concurrency", 1),
        )


def check_order_id(value: object) -> int:
    """Return an order id (a positive integer), or raise before any I/O."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise RequestValidationError(
            f"orderId must be a positive integer, got {value!r}", {"orderId": ["must be >= 1"]}
        )
    return value
