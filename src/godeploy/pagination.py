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

from attrs import define, evolve
from yarl import URL

from godeploy._config import check_option, integer_at_least, optional
from godeploy._core import CallOptions, ClientCore
from godeploy._exceptions import PaginationError
from godeploy._generated.models import Links, PageInfo
from godeploy._generated.operations import Operation

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
        operation: Operation,
        url: URL,
        page_type: type[_PageModel[T]],
        options: CallOptions,
        *,
        page_size: int | None = None,
        start_page: int = 1,
        max_items: int | None = None,
    ) -> None:
        check_option("page_size", page_size, optional(integer_at_least(1)))
        check_option("start_page", start_page, integer_at_least(1))
        check_option("max_items", max_items, optional(integer_at_least(0)))
        self._core = core
        self._operation = operation
        self._url = url
        self._page_type = page_type
        self._options = options
        self.page_size = page_size
        self.start_page = start_page
        self.max_items = max_items

    def __aiter__(self) -> AsyncIterator[T]:
        return _Items(_Walk(self))

    def pages(self) -> AsyncIterator[Page[T]]:
        """Whole pages, from `start_page` until the last (or an empty) page.

        With `max_items`, the pages stop once that many items have come, and the last page's
        `items` is cut to the limit (its `page_info` still tells what the server sent).
        """
        return _Pages(_Walk(self))

    async def collect(self) -> list[T]:
        """Every item of every page, in one list (what `[x async for x in pager]` gives).

        A walk of whole pages: no await per item, which counts when `for_orders` collects the
        items of thousands of orders.
        """
        walk = _Walk(self)
        items: list[T] = []
        while (page := await walk.next_page()) is not None:
            items += page.items
        return items

    def _next(
        self, url: URL, query: dict[str, str | int], page: Page[T]
    ) -> tuple[URL, dict[str, str | int], int]:
        """Where the next page is: the next link with our query merged in, or `_page` + 1."""
        if page.links.next is None:
            return url, {**query, "_page": page.number + 1}, page.number + 1
        try:
            target = url.join(URL(page.links.next))
            origin = target.origin()
        except ValueError:  # not a URL, or not one with a host (`javascript:`, `file:`)
            raise PaginationError(
                f"refusing a next link that is not an http URL: {page.links.next[:200]!r}"
            ) from None
        if origin != self._core.base_url.origin():
            raise PaginationError(
                f"refusing a next link to another origin ({origin}); nothing was sent"
            )
        if target.user is not None or target.password is not None:
            # aiohttp would send them as Basic credentials (or refuse them beside the token).
            raise PaginationError("refusing a next link with credentials in it; nothing was sent")
        merged: dict[str, Any] = dict(target.query)
        # The API's link carries only `_page`: keep the call's own page size.
        if self.page_size is not None:
            merged["_pageSize"] = self.page_size
        expected = _page_number(merged.get("_page"), default=page.number + 1)
        merged["_page"] = expected
        return target.with_query(None), merged, expected


class _Walk(Generic[T]):
    """One walk through a listing's pages: what was asked, what came, where to go next.

    The next page's URL is worked out only when it is asked for, so a bad next link fails
    after the page that carried it has been handed out, not before.
    """

    def __init__(self, pager: AsyncPager[T]) -> None:
        self._pager = pager
        self._url = pager._url
        self._query: dict[str, str | int] = {"_page": pager.start_page}
        if pager.page_size is not None:
            self._query["_pageSize"] = pager.page_size
        self._expected = pager.start_page
        self._seen: set[int] = set()
        self._remaining = pager.max_items
        self._last: Page[T] | None = None
        self._finished = self._remaining == 0

    async def next_page(self) -> Page[T] | None:
        """Fetch and check the next page (cut to `max_items`); None after the last one."""
        if self._finished:
            return None
        pager = self._pager
        if self._last is not None:
            self._url, self._query, self._expected = pager._next(self._url, self._query, self._last)
        model = await pager._core.request(
            pager._operation, self._url, pager._page_type, pager._options, query=self._query
        )
        page = Page(
            items=list(model.items),
            page_info=model.page_info,
            number=model.page_info.page_number,
            links=model.links,
        )
        self._check(page)
        self._last = page
        self._finished = not page.has_next
        if self._remaining is not None:
            if len(page.items) >= self._remaining:
                page = evolve(page, items=page.items[: self._remaining])
                self._finished = True
            self._remaining -= len(page.items)
        return page

    def stop(self) -> None:
        """Fetch no further page."""
        self._finished = True

    def _check(self, page: Page[T]) -> None:
        """Refuse another page than the one asked, or a page seen before."""
        path = self._url.path
        if page.number != self._expected:
            raise PaginationError(
                f"asked {path} for page {self._expected}, the API answered page {page.number}"
            )
        if page.number in self._seen:
            raise PaginationError(f"the API answered page {page.number} of {path} twice")
        self._seen.add(page.number)


class _Items(Generic[T]):
    """The items of a walk.

    A plain async iterator: no async generator to register and finalise per listing, which
    counts when `for_orders` walks the items of thousands of orders, and nothing left for the
    garbage collector to close when a consumer breaks out of its loop.
    """

    __slots__ = ("_index", "_items", "_walk")

    def __init__(self, walk: _Walk[T]) -> None:
        self._walk = walk
        self._items: list[T] = []
        self._index = 0

    def __aiter__(self) -> _Items[T]:
        return self

    async def __anext__(self) -> T:
        while self._index >= len(self._items):
            page = await self._walk.next_page()
            if page is None:
                raise StopAsyncIteration
            self._items, self._index = page.items, 0
        item = self._items[self._index]
        self._index += 1
        return item

    async def aclose(self) -> None:
        """Stop: no further page is fetched."""
        self._walk.stop()
        self._items, self._index = [], 0


class _Pages(Generic[T]):
    """The pages of a walk; a plain async iterator, like `_Items`."""

    __slots__ = ("_walk",)

    def __init__(self, walk: _Walk[T]) -> None:
        self._walk = walk

    def __aiter__(self) -> _Pages[T]:
        return self

    async def __anext__(self) -> Page[T]:
        page = await self._walk.next_page()
        if page is None:
            raise StopAsyncIteration
        return page

    async def aclose(self) -> None:
        """Stop: no further page is fetched."""
        self._walk.stop()


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
