"""The async pager: `async for item in client.orders.list()` walks every page.

`AsyncPager` owns the paging loop; a `Page` supplies its items and what comes next. The API's
next link carries only `_page` (`/api/v2/orders?_page=2`), so the pager merges the call's own
query (`_pageSize`; the core adds `businessUnitId`) into it. A link to another origin is refused
before anything is sent there, and a server that answers another page than the one asked, or
the same page twice, raises `PaginationError` instead of looping forever.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Any, Generic, Protocol, TypeVar

from attrs import define
from yarl import URL

from godeploy._base_client import CallOptions, ClientCore
from godeploy._exceptions import PaginationError, RequestValidationError
from godeploy._generated.models import Links, PageInfo

__all__ = ["AsyncPager", "Page"]

T = TypeVar("T")
T_co = TypeVar("T_co", covariant=True)


class _PageModel(Protocol[T_co]):
    """What the generated page models (`OrderPage`, ...) have in common."""

    @property
    def items(self) -> Sequence[T_co]: ...

    @property
    def page_info(self) -> PageInfo: ...

    @property
    def links(self) -> Links: ...


@define(frozen=True, kw_only=True)
class Page(Generic[T]):
    """One page of a listing.

    Attributes:
        items: the page's items.
        page_info: the API's `_pageInfo`, all ten fields.
        number: the page number (1-based).
        links: the API's `_links` (`next` only when there is a next page).
    """

    items: list[T]
    page_info: PageInfo
    number: int
    links: Links

    @property
    def has_next(self) -> bool:
        """Whether another page follows (an empty page ends the listing whatever it says)."""
        return bool(self.items) and self.page_info.has_next_page and not self.page_info.is_last_page


class AsyncPager(Generic[T]):
    """Pages through a listing lazily; nothing is sent until iteration starts.

    Iterate it for items (`async for order in pager`), or call `pages()` for whole pages.
    """

    def __init__(
        self,
        core: ClientCore,
        url: URL,
        page_type: type[_PageModel[T]],
        options: CallOptions,
        *,
        page_size: int | None = None,
        start_page: int = 1,
        max_items: int | None = None,
    ) -> None:
        _check_positive("page_size", page_size, allow_none=True)
        _check_positive("start_page", start_page)
        _check_positive("max_items", max_items, allow_none=True, allow_zero=True)
        self._core = core
        self._url = url
        self._page_type = page_type
        self._options = options
        self.page_size = page_size
        self.start_page = start_page
        self.max_items = max_items

    def __aiter__(self) -> AsyncIterator[T]:
        return self._items()

    async def _items(self) -> AsyncIterator[T]:
        """Every item of every page, up to `max_items`."""
        remaining = self.max_items
        if remaining == 0:
            return
        async for page in self.pages():
            for item in page.items:
                yield item
                if remaining is not None:
                    remaining -= 1
                    if remaining == 0:
                        return

    async def pages(self) -> AsyncIterator[Page[T]]:
        """Yield whole pages, from `start_page` until the last (or an empty) page."""
        query: dict[str, str | int] = {"_page": self.start_page}
        if self.page_size is not None:
            query["_pageSize"] = self.page_size
        url = self._url
        expected = self.start_page
        seen: set[int] = set()
        yielded_items = 0
        while True:
            model = await self._core.request(
                "GET", url, self._page_type, self._options, query=query
            )
            page = Page(
                items=list(model.items),
                page_info=model.page_info,
                number=model.page_info.page_number,
                links=model.links,
            )
            if page.number != expected:
                raise PaginationError(
                    f"asked {url.path} for page {expected}, the API answered page {page.number}"
                )
            if page.number in seen:
                raise PaginationError(f"the API answered page {page.number} of {url.path} twice")
            seen.add(page.number)
            yield page
            yielded_items += len(page.items)
            if self.max_items is not None and yielded_items >= self.max_items:
                return
            if not page.has_next:
                return
            url, query, expected = self._next(url, query, page)

    def _next(
        self, url: URL, query: dict[str, str | int], page: Page[T]
    ) -> tuple[URL, dict[str, str | int], int]:
        """Where the next page is: the next link with our query merged in, or `_page` + 1."""
        if page.links.next is None:
            return url, {**query, "_page": page.number + 1}, page.number + 1
        link = URL(page.links.next)
        target = url.join(link)
        if target.origin() != self._core.base_url.origin():
            raise PaginationError(
                f"refusing a next link to another origin ({target.origin()}); nothing was sent"
            )
        merged: dict[str, Any] = dict(target.query)
        # The API's link carries only `_page`: keep the call's own page size.
        if self.page_size is not None:
            merged["_pageSize"] = self.page_size
        expected = _page_number(merged.get("_page"), default=page.number + 1)
        merged["_page"] = expected
        return target.with_query(None), merged, expected


def _page_number(value: object, *, default: int) -> int:
    """Read `_page` from a next link."""
    if value is None:
        return default
    try:
        number = int(str(value))
    except ValueError:
        raise PaginationError(f"the next link has a bad _page: {value!r}") from None
    if number < 1:
        raise PaginationError(f"the next link has a bad _page: {value!r}")
    return number


def _check_positive(
    name: str, value: int | None, *, allow_none: bool = False, allow_zero: bool = False
) -> None:
    """Check a paging option before anything is sent."""
    if value is None and allow_none:
        return
    lowest = 0 if allow_zero else 1
    if isinstance(value, bool) or not isinstance(value, int) or value < lowest:
        raise RequestValidationError(f"{name} must be an integer >= {lowest}, got {value!r}")
